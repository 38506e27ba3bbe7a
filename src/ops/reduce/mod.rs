//! Reductions over any set of axes: sum, mean, max, min, product, and the positions of the
//! maximum and minimum. The reduced axes are permuted to the end (a view), so every kernel
//! reduces the trailing axes of a strided input. Here: the `Tensor` methods, shape rules and
//! gradients; the kernels are cpu.rs and gpu.rs (row and column passes).

pub(crate) mod cpu;
pub(crate) mod gpu;

use std::panic::Location;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::Tensor;
use crate::ops::op::{Op, ReduceOp};
use crate::shape::{normalize_axis, numel};

/// The longest row positions are searched in: two GPU passes of 2^14 (reduce/gpu.rs's
/// chunks, then one merge of at most as many winners).
const MAX_POSITIONS: usize = 1 << 28;

impl Tensor {
    /// Sum over `axes` (negative counts from the end; empty means every axis).
    #[track_caller]
    pub fn sum(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        self.reduce(ReduceOp::Sum, axes, keepdim)
    }

    /// Mean over `axes` (empty means every axis).
    #[track_caller]
    pub fn mean(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        self.reduce(ReduceOp::Mean, axes, keepdim)
    }

    /// Maximum over `axes` (empty means every axis).
    #[track_caller]
    pub fn max(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        self.reduce(ReduceOp::Max, axes, keepdim)
    }

    /// Minimum over `axes` (empty means every axis).
    #[track_caller]
    pub fn min(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        self.reduce(ReduceOp::Min, axes, keepdim)
    }

    /// Product over `axes` (empty means every axis).
    #[track_caller]
    pub fn prod(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        self.reduce(ReduceOp::Prod, axes, keepdim)
    }

    /// Position of the maximum along `axis`, or in the row-major flattened tensor for None;
    /// f32 (f64 for f64 input). Ties go to the first position; NaN elements are passed over.
    #[track_caller]
    pub fn argmax(&self, axis: Option<isize>, keepdim: bool) -> Result<Tensor> {
        self.reduce(ReduceOp::ArgMax, axis.as_slice(), keepdim)
    }

    /// Position of the minimum, as [`Tensor::argmax`] finds the maximum's.
    #[track_caller]
    pub fn argmin(&self, axis: Option<isize>, keepdim: bool) -> Result<Tensor> {
        self.reduce(ReduceOp::ArgMin, axis.as_slice(), keepdim)
    }

    #[track_caller]
    pub fn reduce(&self, op: ReduceOp, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        let rank = self.rank();
        let mut reduced = vec![false; rank];
        if axes.is_empty() {
            reduced.iter_mut().for_each(|r| *r = true);
        }
        for &axis in axes {
            let a = normalize_axis(op.name(), axis, rank)?;
            if reduced[a] {
                return Err(Error::InvalidArgument {
                    op: op.name(),
                    message: format!("axis {axis} appears twice in {axes:?}"),
                    location: Location::caller(),
                });
            }
            reduced[a] = true;
        }
        let kept: Vec<usize> = (0..rank).filter(|&d| !reduced[d]).collect();
        let gone: Vec<usize> = (0..rank).filter(|&d| reduced[d]).collect();
        let order: Vec<usize> = kept.iter().chain(&gone).copied().collect();
        let input = self.view(self.layout.permute(&order));
        let out_shape: Vec<usize> = kept.iter().map(|&d| self.shape()[d]).collect();
        let count = numel(&input.shape()[kept.len()..]);
        if count == 0 && matches!(op, ReduceOp::Max | ReduceOp::Min) {
            return Err(Error::InvalidArgument {
                op: op.name(),
                message: format!(
                    "the reduced axes of shape {:?} hold no elements, and so no {}imum",
                    self.shape(),
                    op.name()
                ),
                location: Location::caller(),
            });
        }
        let dtype = if op.is_arg() {
            if count == 0 || count > MAX_POSITIONS {
                return Err(Error::InvalidArgument {
                    op: op.name(),
                    message: format!(
                        "the reduced axes hold {count} elements; positions exist for 1 to \
                         {MAX_POSITIONS} (2^28)"
                    ),
                    location: Location::caller(),
                });
            }
            DType::I32
        } else {
            self.dtype()
        };
        let out = Tensor::from_op(
            Op::Reduce {
                op,
                reduced: gone.len(),
            },
            vec![input],
            out_shape,
            dtype,
            self.device().clone(),
        );
        if !keepdim {
            return Ok(out);
        }
        let kept_shape: Vec<usize> = (0..rank)
            .map(|d| if reduced[d] { 1 } else { self.shape()[d] })
            .collect();
        let layout = out
            .layout
            .reshape(&kept_shape)
            .expect("a dense result reshapes as a view");
        Ok(out.view(layout))
    }
}

/// Gradient of a reduction with respect to its permuted input `x` ([kept..., reduced...]),
/// given the output `y` and its gradient `g` (both [kept...]).
pub(crate) fn grad(
    op: ReduceOp,
    reduced: usize,
    x: &Tensor,
    y: &Tensor,
    g: &Tensor,
) -> Result<Option<Tensor>> {
    let kept = x.rank() - reduced;
    let mut ones_shape: Vec<usize> = x.shape()[..kept].to_vec();
    ones_shape.extend(std::iter::repeat_n(1, reduced));
    let spread =
        |t: &Tensor| -> Result<Tensor> { t.reshape_usize(&ones_shape)?.broadcast_to(x.shape()) };
    let axes: Vec<isize> = (kept..x.rank()).map(|d| d as isize).collect();
    let dx = match op {
        ReduceOp::Sum => spread(g)?,
        ReduceOp::Mean => spread(&g.mul_scalar(1.0 / numel(&x.shape()[kept..]) as f64)?)?,
        // Ties share the gradient evenly.
        ReduceOp::Max | ReduceOp::Min => {
            let hit = x.eq(&spread(y)?)?;
            let count = hit.sum(&axes, true)?;
            hit.mul(&spread(g)?)?.div(&count)?
        }
        // ∂/∂x_i Π x = Π_{j≠i} x_j, which y / x_i gives only without zeros. With one zero,
        // that element's gradient is the product of the others and the rest get 0; with two
        // or more, every gradient is 0.
        ReduceOp::Prod => {
            let zero = Tensor::constant(0.0, x.dtype(), x.device())?;
            let one = Tensor::constant(1.0, x.dtype(), x.device())?;
            let is_zero = x.eq(&zero)?;
            let others = spread(&is_zero.where_cond(&one, x)?.prod(&axes, false)?)?;
            let zeros = spread(&is_zero.sum(&axes, false)?)?;
            let no_zero = others.div(&is_zero.where_cond(&one, x)?)?;
            let lone_zero = is_zero.mul(&zeros.eq(&one)?)?.mul(&others)?;
            zeros
                .eq(&zero)?
                .where_cond(&no_zero, &lone_zero)?
                .mul(&spread(g)?)?
        }
        ReduceOp::ArgMax | ReduceOp::ArgMin => return Ok(None),
    };
    Ok(Some(dx))
}
