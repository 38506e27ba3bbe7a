//! Movement: reshape, permute, expand, slice, squeeze and unsqueeze are views (a new layout
//! over the same buffer); concat and pad are kernels that copy into a new buffer.

pub(crate) mod cpu;
pub(crate) mod gpu;

use std::panic::Location;

use crate::error::{Error, Result};
use crate::graph::Tensor;
use crate::ops::op::Op;
use crate::shape::{check_shape, contiguous_strides, normalize_axis, numel, Layout};

impl Tensor {
    /// The same elements with a new shape; one dimension may be -1 (inferred). A view when
    /// strides allow, else a copy.
    #[track_caller]
    pub fn reshape(&self, shape: &[isize]) -> Result<Tensor> {
        let err = || Error::ReshapeNumel {
            from: self.shape().to_vec(),
            from_numel: self.numel(),
            to: shape.to_vec(),
            location: Location::caller(),
        };
        let inferred: Vec<usize> = shape
            .iter()
            .enumerate()
            .filter(|(_, &d)| d == -1)
            .map(|(i, _)| i)
            .collect();
        if inferred.len() > 1 || shape.iter().any(|&d| d < -1) {
            return Err(err());
        }
        let known: usize = shape
            .iter()
            .filter(|&&d| d >= 0)
            .map(|&d| d as usize)
            .product();
        let mut resolved: Vec<usize> = shape.iter().map(|&d| d.max(0) as usize).collect();
        if let Some(&i) = inferred.first() {
            if known == 0 || !self.numel().is_multiple_of(known) {
                return Err(err());
            }
            resolved[i] = self.numel() / known;
        }
        if numel(&resolved) != self.numel() {
            return Err(err());
        }
        self.reshape_usize(&resolved)
    }

    #[track_caller]
    pub(crate) fn reshape_usize(&self, shape: &[usize]) -> Result<Tensor> {
        check_shape("reshape", shape)?;
        if numel(shape) != self.numel() {
            return Err(Error::invalid(
                "reshape",
                format!("{:?} does not hold the elements of {shape:?}", self.shape()),
            ));
        }
        if let Some(layout) = self.layout.reshape(shape) {
            return Ok(self.view(layout));
        }
        let dense = self.contiguous();
        let layout = dense
            .layout
            .reshape(shape)
            .expect("a dense tensor reshapes as a view");
        Ok(dense.view(layout))
    }

    /// Reorder the axes: result axis i is input axis `axes[i]`.
    #[track_caller]
    pub fn permute(&self, axes: &[isize]) -> Result<Tensor> {
        let rank = self.rank();
        if axes.len() != rank {
            return Err(Error::invalid(
                "permute",
                format!("{} axes given for a tensor of rank {rank}", axes.len()),
            ));
        }
        let mut seen = vec![false; rank];
        let mut resolved = Vec::with_capacity(rank);
        for &a in axes {
            let d = normalize_axis("permute", a, rank)?;
            if std::mem::replace(&mut seen[d], true) {
                return Err(Error::invalid(
                    "permute",
                    format!("axis {a} appears twice in {axes:?}"),
                ));
            }
            resolved.push(d);
        }
        Ok(self.view(self.layout.permute(&resolved)))
    }

    /// Swap two axes.
    #[track_caller]
    pub fn transpose(&self, a: isize, b: isize) -> Result<Tensor> {
        let rank = self.rank();
        let (a, b) = (
            normalize_axis("transpose", a, rank)?,
            normalize_axis("transpose", b, rank)?,
        );
        let mut axes: Vec<usize> = (0..rank).collect();
        axes.swap(a, b);
        Ok(self.view(self.layout.permute(&axes)))
    }

    /// The transpose of a 2-D tensor (swaps the last two axes of a batched one).
    #[track_caller]
    pub fn t(&self) -> Result<Tensor> {
        self.transpose(-2, -1)
    }

    /// Broadcast to `shape` with NumPy rules (a view: broadcast axes have stride 0).
    #[track_caller]
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Tensor> {
        check_shape("broadcast_to", shape)?;
        let full = crate::shape::broadcast_shapes("broadcast_to", self.shape(), shape)?;
        if full != shape {
            return Err(Error::ShapeMismatch {
                op: "broadcast_to",
                lhs: self.shape().to_vec(),
                rhs: shape.to_vec(),
                why: "the tensor does not broadcast to the target shape".into(),
                location: Location::caller(),
            });
        }
        Ok(self.expand_view(shape))
    }

    /// Alias of [`Tensor::broadcast_to`].
    #[track_caller]
    pub fn expand(&self, shape: &[usize]) -> Result<Tensor> {
        self.broadcast_to(shape)
    }

    /// Broadcast view for a shape already known to be compatible.
    pub(crate) fn expand_view(&self, shape: &[usize]) -> Tensor {
        if self.shape() == shape {
            return self.clone();
        }
        self.view(self.layout.expand(shape))
    }

    /// Elements `start, start+step, ...` below `end` along `axis`, as Python's
    /// `a[start:end:step]`: negative indices count from the end, out-of-range ones clamp.
    #[track_caller]
    pub fn slice(&self, axis: isize, start: isize, end: isize, step: usize) -> Result<Tensor> {
        let d = normalize_axis("slice", axis, self.rank())?;
        if step == 0 {
            return Err(Error::invalid("slice", "step must be at least 1"));
        }
        let size = self.shape()[d] as isize;
        let clamp = |i: isize| {
            if i < 0 {
                (i + size).max(0)
            } else {
                i.min(size)
            }
        };
        let (s, e) = (clamp(start), clamp(end));
        let len = if e > s {
            ((e - s) as usize).div_ceil(step)
        } else {
            0
        };
        Ok(self.view(self.layout.slice(d, s as usize, len, step)))
    }

    /// Insert an axis of size 1 at `axis` (which may equal the rank, to append).
    #[track_caller]
    pub fn unsqueeze(&self, axis: isize) -> Result<Tensor> {
        let d = normalize_axis("unsqueeze", axis, self.rank() + 1)?;
        let mut shape = self.shape().to_vec();
        shape.insert(d, 1);
        self.reshape_usize(&shape)
    }

    /// Remove `axis`, which must have size 1.
    #[track_caller]
    pub fn squeeze(&self, axis: isize) -> Result<Tensor> {
        let d = normalize_axis("squeeze", axis, self.rank())?;
        if self.shape()[d] != 1 {
            return Err(Error::invalid(
                "squeeze",
                format!("axis {axis} has size {}, not 1", self.shape()[d]),
            ));
        }
        let mut shape = self.shape().to_vec();
        shape.remove(d);
        self.reshape_usize(&shape)
    }

    /// Join tensors along `axis`; all other dimensions must agree.
    #[track_caller]
    pub fn concat(tensors: &[&Tensor], axis: isize) -> Result<Tensor> {
        let first = *tensors
            .first()
            .ok_or_else(|| Error::invalid("concat", "no tensors given"))?;
        let d = normalize_axis("concat", axis, first.rank())?;
        let mut shape = first.shape().to_vec();
        shape[d] = 0;
        for t in tensors {
            first.same_device("concat", t)?;
            first.same_dtype("concat", t)?;
            let compatible = t.rank() == first.rank()
                && (0..t.rank()).all(|i| i == d || t.shape()[i] == first.shape()[i]);
            if !compatible {
                return Err(Error::ShapeMismatch {
                    op: "concat",
                    lhs: first.shape().to_vec(),
                    rhs: t.shape().to_vec(),
                    why: format!("all dimensions but axis {d} must agree"),
                    location: Location::caller(),
                });
            }
            shape[d] += t.shape()[d];
        }
        if let [only] = tensors {
            // Joining one tensor is that tensor: no copy.
            return Ok((*only).clone());
        }
        let inputs = tensors.iter().map(|t| (*t).clone()).collect();
        Ok(Tensor::from_op(
            Op::Concat { axis: d },
            inputs,
            shape,
            first.dtype(),
            first.device().clone(),
        ))
    }

    /// The tensors, all of one shape, joined along a new axis `axis` (PyTorch's `stack`).
    #[track_caller]
    pub fn stack(tensors: &[&Tensor], axis: isize) -> Result<Tensor> {
        let first = *tensors
            .first()
            .ok_or_else(|| Error::invalid("stack", "no tensors given"))?;
        let d = normalize_axis("stack", axis, first.rank() + 1)?;
        let mut unsqueezed = Vec::with_capacity(tensors.len());
        for t in tensors {
            if t.shape() != first.shape() {
                return Err(Error::ShapeMismatch {
                    op: "stack",
                    lhs: first.shape().to_vec(),
                    rhs: t.shape().to_vec(),
                    why: "stacked tensors must have one shape".into(),
                    location: Location::caller(),
                });
            }
            unsqueezed.push(t.unsqueeze(d as isize)?);
        }
        Tensor::concat(&unsqueezed.iter().collect::<Vec<_>>(), d as isize)
    }

    /// Pad with `value`: `pads[d] = (before, after)` elements around dimension d.
    #[track_caller]
    pub fn pad(&self, pads: &[(usize, usize)], value: f64) -> Result<Tensor> {
        if pads.len() != self.rank() {
            return Err(Error::invalid(
                "pad",
                format!(
                    "{} pad pairs given for a tensor of rank {}",
                    pads.len(),
                    self.rank()
                ),
            ));
        }
        let shape: Vec<usize> = self
            .shape()
            .iter()
            .zip(pads)
            .map(|(s, (b, a))| s.checked_add(*b)?.checked_add(*a))
            .collect::<Option<_>>()
            .ok_or_else(|| Error::invalid("pad", format!("pads {pads:?} overflow a size")))?;
        check_shape("pad", &shape)?;
        let strides = contiguous_strides(&shape);
        let region = Layout {
            shape: self.shape().to_vec(),
            offset: pads.iter().zip(&strides).map(|((b, _), s)| b * s).sum(),
            strides,
        };
        Ok(self.place(region, shape, value))
    }

    /// A `value`-filled tensor of `shape` whose elements at `region` (an injective strided
    /// view of it, of this tensor's shape) are this tensor's.
    pub(crate) fn place(&self, region: Layout, shape: Vec<usize>, value: f64) -> Tensor {
        Tensor::from_op(
            Op::Place {
                region,
                value: value.to_bits(),
            },
            vec![self.clone()],
            shape,
            self.dtype(),
            self.device().clone(),
        )
    }
}
