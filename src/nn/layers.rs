//! Layers composed from primitives: normalization, dropout and embeddings.

use std::sync::Mutex;

use crate::device::Device;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::Tensor;
use crate::nn::{Init, Module, Parameter};
use crate::ops::BinaryOp;

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
        x.layer_norm(self.eps)?
            .mul(&self.weight.get())?
            .add(&self.bias.get())
    }

    fn parameters(&self) -> Vec<(String, Parameter)> {
        vec![
            ("weight".into(), self.weight.clone()),
            ("bias".into(), self.bias.clone()),
        ]
    }
}

/// A lookup table of `count` vectors of size `dim`; i32 indices select rows through
/// `index_select`, and the table's gradient adds
/// each row's gradients in index order. An index that names no row is an error on the CPU
/// path and reads NaN on the GPU.
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
        let mut shape: Vec<isize> = indices.shape().iter().map(|&d| d as isize).collect();
        shape.push(weight.shape()[1] as isize);
        crate::error::Error::expect_indices("embedding", indices.dtype())?;
        let rows = indices.reshape(&[-1])?;
        weight.index_select(0, &rows)?.reshape(&shape)
    }

    fn parameters(&self) -> Vec<(String, Parameter)> {
        vec![("weight".into(), self.weight.clone())]
    }
}

/// Zeroes each element with probability `p` in training and scales the rest by 1/(1−p);
/// the identity in evaluation. The mask is drawn on the device from a seed that advances
/// every call (wrapping at 2^24, the integers an f32 seed holds exactly), so runs with the
/// same seed drop the same elements on every device, and no step builds a new plan.
///
/// The next seed is a buffer, `seed`, so checkpoints keep it and a resumed run draws the
/// masks the uninterrupted one would have. The host keeps a copy to build each call's seed
/// without reading the device; it rereads the buffer only after someone else set it (a
/// loaded checkpoint).
pub struct Dropout {
    pub p: f64,
    training: bool,
    next: Parameter,
    /// The next seed, and the buffer value that holds it as this module last set it.
    host: Mutex<(u32, Tensor)>,
}

/// Seeds wrap here: an f32 holds every integer below it exactly.
const SEEDS: u32 = 1 << 24;

impl Dropout {
    pub fn new(p: f64, seed: u64) -> Result<Dropout> {
        if !(0.0..1.0).contains(&p) {
            return Err(Error::invalid(
                "dropout",
                format!("p must be in [0, 1), got {p}"),
            ));
        }
        let first = (seed % u64::from(SEEDS)) as u32;
        let value = Dropout::seed_tensor(first, &Device::cpu())?;
        Ok(Dropout {
            p,
            training: true,
            next: Parameter::buffer(value.clone()),
            host: Mutex::new((first, value)),
        })
    }

    /// Whether `forward` drops anything: in training, with p > 0.
    pub fn active(&self) -> bool {
        self.training && self.p > 0.0
    }

    fn seed_tensor(seed: u32, device: &Device) -> Result<Tensor> {
        Tensor::from_vec(vec![seed as f32], &[], device)
    }

    /// This call's seed on `device`, advancing the buffer, which moves to `device` (where
    /// the optimizer realizes it with the model's parameters).
    fn draw(&self, device: &Device) -> Result<Tensor> {
        let mut host = self.host.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.next.get();
        if !std::sync::Arc::ptr_eq(&current.node, &host.1.node) {
            let loaded = current.item::<f32>()?;
            if !(loaded >= 0.0 && loaded < SEEDS as f32 && loaded.fract() == 0.0) {
                return Err(Error::invalid(
                    "dropout",
                    format!("the seed buffer holds {loaded}, not an integer in [0, 2^24)"),
                ));
            }
            host.0 = loaded as u32;
        }
        let seed = if current.device() == device && current.dtype() == DType::F32 {
            current
        } else {
            Dropout::seed_tensor(host.0, device)?
        };
        let next = (host.0 + 1) % SEEDS;
        let value = Dropout::seed_tensor(next, device)?;
        self.next.set(value.clone());
        *host = (next, value);
        Ok(seed)
    }
}

impl Module for Dropout {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if !self.training || self.p == 0.0 {
            return Ok(x.clone());
        }
        let seed = self.draw(x.device())?;
        let keep = Tensor::random_like_seed(x.shape(), &seed, x.dtype())?
            .binary_scalar(BinaryOp::Ge, self.p)?;
        x.mul(&keep)?.mul_scalar(1.0 / (1.0 - self.p))
    }

    fn parameters(&self) -> Vec<(String, Parameter)> {
        vec![("seed".into(), self.next.clone())]
    }

    fn set_training(&mut self, training: bool) {
        self.training = training;
    }
}

/// Batch normalization over the channel axis (axis 1): statistics over the batch (and, for
/// images, the spatial axes) in training, running statistics in evaluation, as PyTorch's
/// BatchNorm1d and BatchNorm2d: y = (x − mean) / sqrt(var + eps) · weight + bias, with the
/// running statistics updated by momentum 0.1 from the batch mean and unbiased variance.
/// The running statistics are buffers: optimizers realize them with each step, and
/// checkpoints keep them.
pub struct BatchNorm {
    pub weight: Parameter,
    pub bias: Parameter,
    pub running_mean: Parameter,
    pub running_var: Parameter,
    pub momentum: f64,
    pub eps: f64,
    spatial: bool,
    training: bool,
}

impl BatchNorm {
    fn new(features: usize, spatial: bool, dtype: DType, device: &Device) -> Result<BatchNorm> {
        Ok(BatchNorm {
            weight: Parameter::new(Tensor::ones(&[features], dtype, device)?),
            bias: Parameter::new(Tensor::zeros(&[features], dtype, device)?),
            running_mean: Parameter::buffer(Tensor::zeros(&[features], dtype, device)?),
            running_var: Parameter::buffer(Tensor::ones(&[features], dtype, device)?),
            momentum: 0.1,
            eps: 1e-5,
            spatial,
            training: true,
        })
    }

    /// For [N, C] inputs.
    pub fn new_1d(features: usize, dtype: DType, device: &Device) -> Result<BatchNorm> {
        BatchNorm::new(features, false, dtype, device)
    }

    /// For [N, C, H, W] inputs.
    pub fn new_2d(features: usize, dtype: DType, device: &Device) -> Result<BatchNorm> {
        BatchNorm::new(features, true, dtype, device)
    }
}

impl Module for BatchNorm {
    // x: [N, C] or [N, C, H, W] -> same shape
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let channels = self.weight.shape()[0];
        let (rank, axes, per_channel): (usize, &[isize], Vec<usize>) = if self.spatial {
            (4, &[0, 2, 3], vec![channels, 1, 1])
        } else {
            (2, &[0], vec![channels])
        };
        if x.rank() != rank || x.shape()[1] != channels {
            return Err(Error::invalid(
                "batch_norm",
                format!(
                    "expected a rank-{rank} input with {channels} channels on axis 1, got {:?}",
                    x.shape()
                ),
            ));
        }
        let (mean, var) = if self.training {
            let mean = x.mean(axes, true)?;
            let var = x.sub(&mean)?.square().mean(axes, true)?;
            let count = x.numel() / channels;
            let m = self.momentum;
            crate::graph::no_grad(|| -> Result<()> {
                let unbiased = var
                    .mul_scalar(count as f64 / (count.max(2) - 1) as f64)?
                    .reshape_usize(&[channels])?;
                let batch_mean = mean.reshape_usize(&[channels])?;
                self.running_mean.set(
                    self.running_mean
                        .get()
                        .mul_scalar(1.0 - m)?
                        .add(&batch_mean.mul_scalar(m)?)?,
                );
                self.running_var.set(
                    self.running_var
                        .get()
                        .mul_scalar(1.0 - m)?
                        .add(&unbiased.mul_scalar(m)?)?,
                );
                Ok(())
            })?;
            (mean, var)
        } else {
            (
                self.running_mean.get().reshape_usize(&per_channel)?,
                self.running_var.get().reshape_usize(&per_channel)?,
            )
        };
        let weight = self.weight.get().reshape_usize(&per_channel)?;
        let bias = self.bias.get().reshape_usize(&per_channel)?;
        x.sub(&mean)?
            .mul(&var.add_scalar(self.eps)?.rsqrt())?
            .mul(&weight)?
            .add(&bias)
    }

    fn parameters(&self) -> Vec<(String, Parameter)> {
        vec![
            ("weight".into(), self.weight.clone()),
            ("bias".into(), self.bias.clone()),
            ("running_mean".into(), self.running_mean.clone()),
            ("running_var".into(), self.running_var.clone()),
        ]
    }

    fn set_training(&mut self, training: bool) {
        self.training = training;
    }
}
