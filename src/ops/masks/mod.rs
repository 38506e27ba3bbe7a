//! Masks: the triangles of a matrix (`tril`, `triu`), `masked_fill` and the causal mask of
//! attention. Each is `where_cond` over a mask built from `arange`, so the planner fuses it
//! into the elementwise kernels around it and its gradient is `where_cond`'s: none through
//! the masked elements. A family with no kernels of its own.

use crate::device::Device;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::Tensor;
use crate::ops::elementwise::table::BinaryOp;
use crate::shape::check_shape;

/// 1 where element (i, j) of an [n, m] matrix lies on the kept side of diagonal `k` (j − i ≤ k
/// for the lower triangle, j − i ≥ k for the upper), else 0. Built in f32, exact for indices
/// below 2^24 (f16 would be exact only below 2049), and cast to `dtype`.
fn triangle(
    (n, m): (usize, usize),
    k: i64,
    lower: bool,
    dtype: DType,
    device: &Device,
) -> Result<Tensor> {
    check_shape("triangle", &[n, m])?;
    if n.max(m) > 1 << 24 {
        return Err(Error::invalid(
            "triangle",
            format!("a [{n}, {m}] mask: its f32 positions are exact only up to 2^24"),
        ));
    }
    let rows = Tensor::arange(0.0, n as f64, 1.0, DType::F32, device)?.reshape(&[n as isize, 1])?;
    let cols = Tensor::arange(0.0, m as f64, 1.0, DType::F32, device)?.reshape(&[1, m as isize])?;
    let offset = cols.sub(&rows)?;
    let side = if lower { BinaryOp::Le } else { BinaryOp::Ge };
    offset.binary_scalar(side, k as f64)?.cast(dtype)
}

impl Tensor {
    /// The lower triangle of the last two axes (PyTorch's `tril`): element (i, j) kept where
    /// j − i ≤ `k`, else 0; `k` = 0 is the main diagonal, positive above it.
    #[track_caller]
    pub fn tril(&self, k: i64) -> Result<Tensor> {
        self.keep_triangle("tril", k, true)
    }

    /// The upper triangle of the last two axes (PyTorch's `triu`): element (i, j) kept where
    /// j − i ≥ `k`, else 0.
    #[track_caller]
    pub fn triu(&self, k: i64) -> Result<Tensor> {
        self.keep_triangle("triu", k, false)
    }

    #[track_caller]
    fn keep_triangle(&self, op: &'static str, k: i64, lower: bool) -> Result<Tensor> {
        let r = self.rank();
        if r < 2 {
            return Err(Error::invalid(
                op,
                format!(
                    "needs a matrix or a batch of them, got shape {:?}",
                    self.shape()
                ),
            ));
        }
        let shape = (self.shape()[r - 2], self.shape()[r - 1]);
        let keep = triangle(shape, k, lower, self.dtype(), self.device())?;
        let zero = Tensor::constant(0.0, self.dtype(), self.device())?;
        keep.where_cond(self, &zero)
    }

    /// `value` where `mask` is nonzero, else this tensor's element (PyTorch's `masked_fill`);
    /// `mask` has this tensor's dtype and broadcasts to its shape.
    #[track_caller]
    pub fn masked_fill(&self, mask: &Tensor, value: f64) -> Result<Tensor> {
        let filled =
            mask.where_cond(&Tensor::constant(value, self.dtype(), self.device())?, self)?;
        if filled.shape() != self.shape() {
            return Err(Error::ShapeMismatch {
                op: "masked_fill",
                lhs: self.shape().to_vec(),
                rhs: mask.shape().to_vec(),
                why: "the mask must broadcast to the filled tensor's shape".into(),
                location: std::panic::Location::caller(),
            });
        }
        Ok(filled)
    }

    /// The causal mask of `t` positions, to add to attention scores [.., t, t]: 0 where key j
    /// ≤ query i, −inf where the key lies in the query's future (PyTorch's
    /// `generate_square_subsequent_mask`).
    pub fn causal_mask(t: usize, dtype: DType, device: &Device) -> Result<Tensor> {
        let future = triangle((t, t), 1, false, dtype, device)?;
        Tensor::zeros(&[t, t], dtype, device)?.masked_fill(&future, f64::NEG_INFINITY)
    }
}
