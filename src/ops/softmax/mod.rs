//! Softmax, log_softmax and logsumexp along one axis, each one kernel. The axis is moved last
//! (a view). Each row's sum of exponentials is taken relative to its maximum m (the CPU path
//! finds m first; the GPU keeps a running maximum and rescales), so every exponent is ≤ 0
//! and inputs of ±1e4 give neither inf nor NaN. Here: the `Tensor` methods and gradients.

pub(crate) mod cpu;
pub(crate) mod dense_rows;
pub(crate) mod gpu;

use crate::error::Result;
use crate::graph::Tensor;
use crate::ops::op::{Op, SoftmaxKind};
use crate::shape::normalize_axis;

impl Tensor {
    /// exp(x) / Σ exp(x) along `axis`.
    #[track_caller]
    pub fn softmax(&self, axis: isize) -> Result<Tensor> {
        self.along_rows(SoftmaxKind::Softmax, axis)
    }

    /// log(softmax(x)) along `axis`, computed without forming the softmax.
    #[track_caller]
    pub fn log_softmax(&self, axis: isize) -> Result<Tensor> {
        self.along_rows(SoftmaxKind::LogSoftmax, axis)
    }

    /// log Σ exp(x) along `axis`; −inf for an empty or all −inf row.
    #[track_caller]
    pub fn logsumexp(&self, axis: isize, keepdim: bool) -> Result<Tensor> {
        let out = self.along_rows(SoftmaxKind::LogSumExp, axis)?;
        if keepdim {
            out.unsqueeze(axis)
        } else {
            Ok(out)
        }
    }

    #[track_caller]
    fn along_rows(&self, kind: SoftmaxKind, axis: isize) -> Result<Tensor> {
        let rank = self.rank();
        let a = normalize_axis(kind.name(), axis, rank)?;
        let order: Vec<usize> = (0..rank).filter(|&d| d != a).chain([a]).collect();
        let input = self.view(self.layout.permute(&order));
        let mut shape = input.shape().to_vec();
        if kind == SoftmaxKind::LogSumExp {
            shape.pop();
        }
        let out = Tensor::from_op(
            Op::Softmax(kind),
            vec![input],
            shape,
            self.dtype(),
            self.device().clone(),
        );
        if kind == SoftmaxKind::LogSumExp {
            return Ok(out);
        }
        let mut back = vec![0; rank];
        for (k, &d) in order.iter().enumerate() {
            back[d] = k;
        }
        Ok(out.view(out.layout.permute(&back)))
    }
}

/// Gradient with respect to the row-last input `x`, given the output `y` and its gradient `g`.
pub(crate) fn grad(kind: SoftmaxKind, x: &Tensor, y: &Tensor, g: &Tensor) -> Result<Tensor> {
    match kind {
        // J = diag(y) − y yᵀ per row.
        SoftmaxKind::Softmax => y.mul(&g.sub(&g.mul(y)?.sum(&[-1], true)?)?),
        // ∂(x − lse)/∂x = I − 1 softmaxᵀ, and softmax = exp(y).
        SoftmaxKind::LogSoftmax => g.sub(&y.exp().mul(&g.sum(&[-1], true)?)?),
        SoftmaxKind::LogSumExp => g.unsqueeze(-1)?.mul(&x.sub(&y.unsqueeze(-1)?)?.exp()),
    }
}
