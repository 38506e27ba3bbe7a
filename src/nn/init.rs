//! Seeded parameter initialization.

use crate::device::Device;
use crate::dtype::DType;
use crate::error::Result;
use crate::graph::Tensor;

/// How to draw a parameter's initial values.
#[derive(Clone, Copy, Debug)]
pub enum Init {
    /// Uniform in ±bound.
    Uniform(f64),
    /// Normal with mean 0 and this standard deviation.
    Normal(f64),
    /// Kaiming (He) uniform for ReLU networks: bound sqrt(6 / fan_in).
    KaimingUniform {
        fan_in: usize,
    },
    /// Xavier (Glorot) uniform: bound sqrt(6 / (fan_in + fan_out)).
    XavierUniform {
        fan_in: usize,
        fan_out: usize,
    },
    Zeros,
}

impl Init {
    pub fn tensor(
        self,
        shape: &[usize],
        seed: u64,
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor> {
        let uniform = |bound: f64| Tensor::rand_uniform(shape, -bound, bound, seed, dtype, device);
        match self {
            Init::Uniform(bound) => uniform(bound),
            Init::Normal(std) => Tensor::rand_normal(shape, 0.0, std, seed, dtype, device),
            Init::KaimingUniform { fan_in } => uniform((6.0 / fan_in.max(1) as f64).sqrt()),
            Init::XavierUniform { fan_in, fan_out } => {
                uniform((6.0 / (fan_in + fan_out).max(1) as f64).sqrt())
            }
            Init::Zeros => Tensor::zeros(shape, dtype, device),
        }
    }
}
