//! Matrix products: 2-D, batched, with NumPy's broadcasting of batch dimensions and its
//! promotion of 1-D operands. Operands are read through their strides (a transpose is
//! free). Here: the `Tensor` method, its shape rule and gradient; the kernels are cpu.rs
//! (the plain kernel, and the route to gemm_blocks.rs: `gemm` on blocks cut per thread) and
//! gpu.rs.

pub(crate) mod cpu;
mod gemm_blocks;
pub(crate) mod gpu;
pub(crate) mod packed_right;

use std::panic::Location;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::Tensor;
use crate::ops::op::Op;
use crate::shape::broadcast_shapes;

impl Tensor {
    /// `self @ rhs` as NumPy's `matmul`: [..., M, K] @ [..., K, N] -> [..., M, N]; a 1-D
    /// left operand is a row vector and a 1-D right operand a column vector, their unit
    /// dimension removed from the result.
    #[track_caller]
    pub fn matmul(&self, rhs: &Tensor) -> Result<Tensor> {
        let device = self.same_device("matmul", rhs)?;
        self.same_dtype("matmul", rhs)?;
        if self.dtype() == DType::I32 {
            return Err(Error::integer_arithmetic("matmul"));
        }
        let mismatch = |why: String| Error::ShapeMismatch {
            op: "matmul",
            lhs: self.shape().to_vec(),
            rhs: rhs.shape().to_vec(),
            why,
            location: Location::caller(),
        };
        if self.rank() == 0 || rhs.rank() == 0 {
            return Err(mismatch("both operands need at least one dimension".into()));
        }
        let a = if self.rank() == 1 {
            self.unsqueeze(0)?
        } else {
            self.clone()
        };
        let b = if rhs.rank() == 1 {
            rhs.unsqueeze(1)?
        } else {
            rhs.clone()
        };
        let (m, k) = (a.shape()[a.rank() - 2], a.shape()[a.rank() - 1]);
        let (k2, n) = (b.shape()[b.rank() - 2], b.shape()[b.rank() - 1]);
        if k != k2 {
            return Err(mismatch(format!("inner dimensions differ: {k} vs {k2}")));
        }
        // A batch against one matrix (a linear layer on [batch, time, features]) is one
        // product of all the batch's rows: its weight gradient is then one product too, where
        // a batched one would need a sum over the batch after. Rows that do not lie as one
        // matrix (a transposed batch) are copied into one first, K values per row for the
        // K·N products each row takes.
        if a.rank() > 2 && b.rank() == 2 {
            // Counted from the shape, not as numel / k: with k = 0 there are rows of nothing.
            let shape = [a.shape()[..a.rank() - 1].iter().product(), k];
            let rows = match a.layout.reshape(&shape) {
                Some(rows) => a.view(rows),
                None => a.contiguous().reshape_usize(&shape)?,
            };
            let mut out_shape = a.shape()[..a.rank() - 1].to_vec();
            if rhs.rank() > 1 {
                out_shape.push(n);
            }
            return rows.matmul(&b)?.reshape_usize(&out_shape);
        }
        let batch = broadcast_shapes(
            "matmul",
            &a.shape()[..a.rank() - 2],
            &b.shape()[..b.rank() - 2],
        )
        .map_err(|e| match e {
            Error::ShapeMismatch { why, .. } => mismatch(format!("batch dimensions: {why}")),
            other => other,
        })?;
        let with = |tail: [usize; 2]| -> Vec<usize> { batch.iter().copied().chain(tail).collect() };
        let inputs = vec![a.expand_view(&with([m, k])), b.expand_view(&with([k, n]))];
        let out = Tensor::from_op(Op::Matmul, inputs, with([m, n]), self.dtype(), device);
        let mut shape = batch.clone();
        if self.rank() > 1 {
            shape.push(m);
        }
        if rhs.rank() > 1 {
            shape.push(n);
        }
        out.reshape_usize(&shape)
    }
}

/// Gradients of `a @ b` for the upstream `g`: dA = G Bᵀ and dB = Aᵀ G. Each is computed in
/// its operand's memory order: for a transposed operand (a weight used as Wᵀ) the product
/// is formed transposed and returned as a transposed view, so the gradient reaches the
/// weight's buffer with no copy.
pub(crate) fn grad(a: &Tensor, b: &Tensor, g: &Tensor) -> Result<(Tensor, Tensor)> {
    let column_major = |t: &Tensor| {
        let r = t.rank();
        t.strides()[r - 2] < t.strides()[r - 1]
    };
    let da = if column_major(a) {
        b.matmul(&g.t()?)?.t()?
    } else {
        g.matmul(&b.t()?)?
    };
    let db = if column_major(b) {
        g.t()?.matmul(a)?.t()?
    } else {
        a.t()?.matmul(g)?
    };
    Ok((da, db))
}
