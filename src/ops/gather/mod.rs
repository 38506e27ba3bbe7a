//! Gathering along an axis: `gather` (PyTorch's: each output element reads the source at the
//! position its index names along the axis) and `index_select` (whole slices by a list of
//! positions, a gather through a broadcast index). The gradient is the adjoint, a scatter-add
//! of the output's gradient into the source's shape: one kernel, each of its elements
//! summing the terms that land on it in index order, so the result is the same every run.
//! Indices are i32 tensors; one that names no position is an error on the CPU path and
//! reads NaN on the GPU (cpu.rs, gpu.rs).

pub(crate) mod cpu;
pub(crate) mod gpu;

use std::panic::Location;

use crate::error::{Error, Result};
use crate::graph::Tensor;
use crate::ops::op::Op;
use crate::shape::normalize_axis;

impl Tensor {
    /// PyTorch's `gather`: the output has `index`'s shape, and element p reads this tensor
    /// at p with its `axis` coordinate replaced by `index[p]`. `index` is i32, of this
    /// tensor's rank, and no larger than it along the other axes.
    #[track_caller]
    pub fn gather(&self, axis: isize, index: &Tensor) -> Result<Tensor> {
        let device = self.same_device("gather", index)?;
        let d = normalize_axis("gather", axis, self.rank())?;
        Error::expect_indices("gather", index.dtype())?;
        let fits = index.rank() == self.rank()
            && (0..self.rank()).all(|k| k == d || index.shape()[k] <= self.shape()[k]);
        if !fits {
            return Err(Error::ShapeMismatch {
                op: "gather",
                lhs: self.shape().to_vec(),
                rhs: index.shape().to_vec(),
                why: format!(
                    "the index must have the source's rank and fit it along every axis but {d}"
                ),
                location: Location::caller(),
            });
        }
        Ok(Tensor::from_op(
            Op::Gather { axis: d },
            vec![self.clone(), index.clone()],
            index.shape().to_vec(),
            self.dtype(),
            device,
        ))
    }

    /// PyTorch's `index_select`: the slices of this tensor at the positions `indices` (i32,
    /// one axis) lists along `axis`, in that order, repeats allowed.
    #[track_caller]
    pub fn index_select(&self, axis: isize, indices: &Tensor) -> Result<Tensor> {
        let d = normalize_axis("index_select", axis, self.rank())?;
        Error::expect_indices("index_select", indices.dtype())?;
        if indices.rank() != 1 {
            return Err(Error::invalid(
                "index_select",
                format!(
                    "the indices must be one axis, got shape {:?}",
                    indices.shape()
                ),
            ));
        }
        let mut along = vec![1isize; self.rank()];
        along[d] = indices.numel() as isize;
        let mut shape = self.shape().to_vec();
        shape[d] = indices.numel();
        self.gather(d as isize, &indices.reshape(&along)?.broadcast_to(&shape)?)
    }
}

/// The gradient of `x.gather(axis, index)` with respect to `x`: `g` scattered back and
/// added where indices repeat.
pub(crate) fn grad(axis: usize, x: &Tensor, index: &Tensor, g: &Tensor) -> Tensor {
    Tensor::from_op(
        Op::ScatterAdd { axis },
        vec![g.clone(), index.clone()],
        x.shape().to_vec(),
        g.dtype(),
        g.device().clone(),
    )
}
