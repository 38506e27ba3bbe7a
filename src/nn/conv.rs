//! Convolution and pooling layers over NCHW images, on the ops of src/ops/conv and
//! src/ops/pool.

use crate::device::Device;
use crate::dtype::DType;
use crate::error::Result;
use crate::graph::Tensor;
use crate::nn::{Init, Module, Parameter};
use crate::ops::conv::geometry::Conv2dSpec;

/// A 2-D convolution layer with PyTorch's initialization (uniform in ±1/sqrt(fan_in)).
pub struct Conv2d {
    pub weight: Parameter,
    pub bias: Option<Parameter>,
    pub spec: Conv2dSpec,
}

impl Conv2d {
    pub fn new(
        inputs: usize,
        outputs: usize,
        kernel: (usize, usize),
        spec: Conv2dSpec,
        seed: u64,
        dtype: DType,
        device: &Device,
    ) -> Result<Conv2d> {
        let fan_in = (inputs / spec.groups.max(1)) * kernel.0 * kernel.1;
        let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
        let shape = [outputs, inputs / spec.groups.max(1), kernel.0, kernel.1];
        Ok(Conv2d {
            weight: Parameter::new(Init::Uniform(bound).tensor(&shape, seed, dtype, device)?),
            bias: Some(Parameter::new(Init::Uniform(bound).tensor(
                &[outputs],
                seed ^ 0xb1a5,
                dtype,
                device,
            )?)),
            spec,
        })
    }
}

impl Module for Conv2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let bias = self.bias.as_ref().map(Parameter::get);
        x.conv2d(&self.weight.get(), bias.as_ref(), &self.spec)
    }

    fn parameters(&self) -> Vec<(String, Parameter)> {
        let mut out = vec![("weight".to_string(), self.weight.clone())];
        if let Some(b) = &self.bias {
            out.push(("bias".to_string(), b.clone()));
        }
        out
    }
}

/// Pooling layers.
#[derive(Clone, Copy, Debug)]
pub enum Pool2d {
    Max {
        kernel: (usize, usize),
        spec: Conv2dSpec,
    },
    Avg {
        kernel: (usize, usize),
        spec: Conv2dSpec,
    },
}

impl Module for Pool2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Pool2d::Max { kernel, spec } => x.max_pool2d(*kernel, spec),
            Pool2d::Avg { kernel, spec } => x.avg_pool2d(*kernel, spec),
        }
    }

    fn parameters(&self) -> Vec<(String, Parameter)> {
        Vec::new()
    }
}

/// [N, ...] -> [N, product of the rest].
pub struct Flatten;

impl Module for Flatten {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.reshape(&[x.shape().first().map_or(1, |&n| n as isize), -1])
    }

    fn parameters(&self) -> Vec<(String, Parameter)> {
        Vec::new()
    }
}
