//! Layer normalization's core: each row along the last axis to (x − mean)/sqrt(var + eps),
//! var the biased variance, as one row kernel, and its gradient as another
//! (x̂ the normalized row, r = 1/sqrt(var + eps): dx = r·(g − mean(g) − x̂·mean(g·x̂))).
//! `nn::LayerNorm` applies its scale and shift after it. Composed from means, differences,
//! squares and products, the normalization and its gradient were some thirty kernels per
//! layer of a transformer's step, each a pass over the activations.

pub(crate) mod cpu;
pub(crate) mod gpu;

use crate::error::{Error, Result};
use crate::graph::Tensor;
use crate::ops::op::Op;

impl Tensor {
    /// (x − mean)/sqrt(var + eps) along the last axis, with the biased variance: PyTorch's
    /// `layer_norm` over the last axis without weight and bias.
    #[track_caller]
    pub fn layer_norm(&self, eps: f64) -> Result<Tensor> {
        if self.rank() == 0 {
            return Err(Error::invalid("layer_norm", "needs at least one axis"));
        }
        if !self.dtype().is_float() {
            return Err(Error::invalid(
                "layer_norm",
                format!("needs floating-point data, got {}", self.dtype()),
            ));
        }
        if !(eps.is_finite() && eps >= 0.0) {
            return Err(Error::invalid(
                "layer_norm",
                format!("eps must be finite and ≥ 0, got {eps}"),
            ));
        }
        Ok(Tensor::from_op(
            Op::LayerNorm(eps.to_bits()),
            vec![self.contiguous()],
            self.shape().to_vec(),
            self.dtype(),
            self.device().clone(),
        ))
    }
}

/// The gradient with respect to `x` given the output's gradient `g`.
pub(crate) fn grad(eps: u64, x: &Tensor, g: &Tensor) -> Tensor {
    Tensor::from_op(
        Op::LayerNormGrad(eps),
        vec![x.clone(), g.contiguous()],
        x.shape().to_vec(),
        x.dtype(),
        x.device().clone(),
    )
}
