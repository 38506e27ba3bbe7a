//! Convolution and pooling layers over NCHW images, on the kernels of src/ops/conv.rs and
//! src/ops/pool.rs.

use std::panic::Location;

use super::{Init, Module, Parameter};
use crate::device::Device;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// Geometry of a 2-D window operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dSpec {
    pub stride: (usize, usize),
    pub padding: (usize, usize),
    pub dilation: (usize, usize),
    pub groups: usize,
}

impl Default for Conv2dSpec {
    fn default() -> Conv2dSpec {
        Conv2dSpec {
            stride: (1, 1),
            padding: (0, 0),
            dilation: (1, 1),
            groups: 1,
        }
    }
}

impl Tensor {
    /// 2-D convolution (cross-correlation, as PyTorch): input [N, C, H, W], weight
    /// [O, C/groups, KH, KW], optional bias [O] -> [N, O, OH, OW].
    #[track_caller]
    pub fn conv2d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        spec: &Conv2dSpec,
    ) -> Result<Tensor> {
        let location = Location::caller();
        let mismatch = |why: String| Error::ShapeMismatch {
            op: "conv2d",
            lhs: self.shape().to_vec(),
            rhs: weight.shape().to_vec(),
            why,
            location,
        };
        if weight.rank() != 4 || self.rank() != 4 {
            return Err(mismatch(
                "input [N, C, H, W] and weight [O, C/groups, KH, KW]".into(),
            ));
        }
        let (c, o, g) = (self.shape()[1], weight.shape()[0], spec.groups);
        if g == 0 || c % g != 0 || o % g != 0 || weight.shape()[1] != c / g {
            return Err(mismatch(format!(
                "{c} input channels, {o} outputs and {g} groups do not fit the weight"
            )));
        }
        let geometry = crate::ops::conv::Geometry {
            stride: spec.stride,
            padding: spec.padding,
            dilation: spec.dilation,
            groups: g,
        };
        let (kh, kw) = (weight.shape()[2], weight.shape()[3]);
        let pointwise = (kh, kw) == (1, 1) && spec.stride == (1, 1) && spec.padding == (0, 0);
        let out = if pointwise && g == 1 {
            // A 1×1 convolution is W [O, C] times each image as [C, H·W]: a plain product
            // on the matrix kernels (their gradients too).
            let (n, h, w) = (self.shape()[0], self.shape()[2], self.shape()[3]);
            let pixels = self.reshape_usize(&[n, c, h * w])?;
            weight
                .reshape_usize(&[o, c])?
                .matmul(&pixels)?
                .reshape_usize(&[n, o, h, w])?
        } else {
            crate::ops::conv::conv2d(self, weight, geometry)?
        };
        match bias {
            Some(b) => out.add(&b.reshape(&[o as isize, 1, 1])?),
            None => Ok(out),
        }
    }

    /// 1-D convolution: input [N, C, L], weight [O, C/groups, K], optional bias [O] ->
    /// [N, O, OL], with the spec's second (column) stride, padding and dilation. It runs on
    /// the 2-D kernels over images one row high.
    #[track_caller]
    pub fn conv1d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        spec: &Conv2dSpec,
    ) -> Result<Tensor> {
        if self.rank() != 3 || weight.rank() != 3 {
            return Err(Error::ShapeMismatch {
                op: "conv1d",
                lhs: self.shape().to_vec(),
                rhs: weight.shape().to_vec(),
                why: "input [N, C, L] and weight [O, C/groups, K]".into(),
                location: Location::caller(),
            });
        }
        let flat = Conv2dSpec {
            stride: (1, spec.stride.1),
            padding: (0, spec.padding.1),
            dilation: (1, spec.dilation.1),
            groups: spec.groups,
        };
        self.unsqueeze(2)?
            .conv2d(&weight.unsqueeze(2)?, bias, &flat)?
            .squeeze(2)
    }
}

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
