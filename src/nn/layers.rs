//! Layers composed from primitives: normalization, dropout and embeddings.

use std::sync::atomic::{AtomicU64, Ordering};

use super::{Init, Module, Parameter};
use crate::device::Device;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// Layer normalization over the last dimension, with a learned scale and shift:
/// y = (x − mean) / sqrt(var + eps) · weight + bias (biased variance, as PyTorch).
pub struct LayerNorm {
    pub weight: Parameter,
    pub bias: Parameter,
    pub eps: f64,
}

impl LayerNorm {
    pub fn new(features: usize, dtype: DType, device: &Device) -> Result<LayerNorm> {
        Ok(LayerNorm {
            weight: Parameter::new(Tensor::ones(&[features], dtype, device)?),
            bias: Parameter::new(Tensor::zeros(&[features], dtype, device)?),
            eps: 1e-5,
        })
    }
}

impl Module for LayerNorm {
    // x: [..., features] -> same shape
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let centered = x.sub(&x.mean(&[-1], true)?)?;
        let var = centered.square().mean(&[-1], true)?;
        let normalized = centered.mul(&var.add_scalar(self.eps)?.rsqrt())?;
        normalized.mul(&self.weight.get())?.add(&self.bias.get())
    }

    fn parameters(&self) -> Vec<(String, Parameter)> {
        vec![
            ("weight".into(), self.weight.clone()),
            ("bias".into(), self.bias.clone()),
        ]
    }
}

/// A lookup table of `count` vectors of size `dim`; indices (stored as floats) select rows.
/// The lookup is a one-hot matrix product, so its gradient is a matrix product too.
pub struct Embedding {
    pub weight: Parameter,
}

impl Embedding {
    /// Rows drawn from N(0, 1), as PyTorch initializes them.
    pub fn new(
        count: usize,
        dim: usize,
        seed: u64,
        dtype: DType,
        device: &Device,
    ) -> Result<Embedding> {
        Ok(Embedding {
            weight: Parameter::new(Init::Normal(1.0).tensor(&[count, dim], seed, dtype, device)?),
        })
    }
}

impl Module for Embedding {
    // indices: [...] -> [..., dim]
    fn forward(&self, indices: &Tensor) -> Result<Tensor> {
        let weight = self.weight.get();
        let count = weight.shape()[0];
        if indices.dtype() != weight.dtype() {
            return Err(Error::invalid(
                "embedding",
                format!("indices must be stored as {}", weight.dtype()),
            ));
        }
        indices.one_hot(count)?.matmul(&weight)
    }

    fn parameters(&self) -> Vec<(String, Parameter)> {
        vec![("weight".into(), self.weight.clone())]
    }
}

/// Zeroes each element with probability `p` in training and scales the rest by 1/(1−p);
/// the identity in evaluation. The mask is drawn on the device from a seed that advances
/// every call (wrapping at 2^24, the integers an f32 seed holds exactly), so runs with the
/// same seed drop the same elements on every device, and no step builds a new plan.
pub struct Dropout {
    pub p: f64,
    training: bool,
    seed: u64,
    calls: AtomicU64,
}

impl Dropout {
    pub fn new(p: f64, seed: u64) -> Result<Dropout> {
        if !(0.0..1.0).contains(&p) {
            return Err(Error::invalid(
                "dropout",
                format!("p must be in [0, 1), got {p}"),
            ));
        }
        Ok(Dropout {
            p,
            training: true,
            seed,
            calls: AtomicU64::new(0),
        })
    }
}

impl Module for Dropout {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if !self.training || self.p == 0.0 {
            return Ok(x.clone());
        }
        let call = self.calls.fetch_add(1, Ordering::Relaxed);
        let seed = (self.seed.wrapping_add(call) % (1 << 24)) as f32;
        let seed = Tensor::from_vec(vec![seed], &[], x.device())?;
        let keep = Tensor::random_like_seed(x.shape(), &seed, x.dtype())?
            .binary_scalar(crate::BinaryOp::Ge, self.p)?;
        x.mul(&keep)?.mul_scalar(1.0 / (1.0 - self.p))
    }

    fn parameters(&self) -> Vec<(String, Parameter)> {
        Vec::new()
    }

    fn set_training(&mut self, training: bool) {
        self.training = training;
    }
}
