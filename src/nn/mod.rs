//! Layers: parameters, the `Module` trait with PyTorch-style names (`layers.0.weight`), and
//! the layers built from primitive ops.

mod attention;
mod conv;
pub mod functional;
mod init;
mod kv_cache;
mod layers;
pub mod loss;
mod recurrent;
mod transformer;

use std::sync::{Arc, RwLock};

pub use crate::ops::conv::geometry::Conv2dSpec;
pub use attention::{
    composed_attention, fused_attention, scaled_dot_product_attention, MultiheadAttention,
};
pub use conv::{Conv2d, Flatten, Pool2d};
pub use init::Init;
pub use kv_cache::{KvCache, Position};
pub use layers::{BatchNorm, Dropout, Embedding, LayerNorm};
pub use recurrent::{CellKind, Recurrent, RecurrentConfig, RecurrentState};
pub use transformer::{TransformerBlock, TransformerConfig};

use crate::device::Device;
use crate::dtype::DType;
use crate::error::Result;
use crate::graph::Tensor;

/// A tensor of a module's state shared with its optimizer: trainable (a weight: the optimizer
/// replaces it each step) or a buffer (running statistics: the module replaces it in
/// training, and the optimizer realizes the new value with its step). Both are saved in
/// checkpoints.
#[derive(Clone)]
pub struct Parameter {
    value: Arc<RwLock<Tensor>>,
    trainable: bool,
}

impl Parameter {
    /// A trainable parameter.
    pub fn new(value: Tensor) -> Parameter {
        value.set_requires_grad(true);
        Parameter {
            value: Arc::new(RwLock::new(value)),
            trainable: true,
        }
    }

    /// State that is not trained, such as running statistics.
    pub fn buffer(value: Tensor) -> Parameter {
        Parameter {
            value: Arc::new(RwLock::new(value)),
            trainable: false,
        }
    }

    pub fn is_trainable(&self) -> bool {
        self.trainable
    }

    pub fn get(&self) -> Tensor {
        self.value.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replace the value (an optimizer's update, a loaded checkpoint, new statistics).
    pub fn set(&self, value: Tensor) {
        if self.trainable {
            value.set_requires_grad(true);
        }
        *self.value.write().unwrap_or_else(|e| e.into_inner()) = value;
    }

    pub fn shape(&self) -> Vec<usize> {
        self.get().shape().to_vec()
    }
}

/// A layer or a model: a function of tensors with named parameters.
pub trait Module: Send + Sync {
    fn forward(&self, x: &Tensor) -> Result<Tensor>;

    /// Every parameter and buffer with its dotted name, nested modules included.
    fn parameters(&self) -> Vec<(String, Parameter)>;

    /// Switch between training and evaluation behaviour (dropout, batch norm).
    fn set_training(&mut self, _training: bool) {}
}

/// Names of a nested module's parameters, prefixed with the field that holds it.
pub fn prefixed(prefix: &str, params: Vec<(String, Parameter)>) -> Vec<(String, Parameter)> {
    params
        .into_iter()
        .map(|(n, p)| (format!("{prefix}.{n}"), p))
        .collect()
}

/// `y = x Wᵀ + b`, with W stored [out, in] as PyTorch does.
pub struct Linear {
    pub weight: Parameter,
    pub bias: Option<Parameter>,
}

impl Linear {
    /// PyTorch's default initialization: W and b uniform in ±1/sqrt(in).
    pub fn new(
        inputs: usize,
        outputs: usize,
        bias: bool,
        seed: u64,
        dtype: DType,
        device: &Device,
    ) -> Result<Linear> {
        let bound = 1.0 / (inputs.max(1) as f64).sqrt();
        let weight = Init::Uniform(bound).tensor(&[outputs, inputs], seed, dtype, device)?;
        let bias = if bias {
            Some(Parameter::new(Init::Uniform(bound).tensor(
                &[outputs],
                seed ^ 0xb1a5,
                dtype,
                device,
            )?))
        } else {
            None
        };
        Ok(Linear {
            weight: Parameter::new(weight),
            bias,
        })
    }
}

impl Module for Linear {
    // x: [..., in] -> [..., out]
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = x.matmul(&self.weight.get().t()?)?;
        match &self.bias {
            Some(b) => y.add(&b.get()),
            None => Ok(y),
        }
    }

    fn parameters(&self) -> Vec<(String, Parameter)> {
        let mut out = vec![("weight".to_string(), self.weight.clone())];
        if let Some(b) = &self.bias {
            out.push(("bias".to_string(), b.clone()));
        }
        out
    }
}

/// Elementwise activations as layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    Relu,
    Gelu,
    Tanh,
    Sigmoid,
}

impl Module for Activation {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Activation::Relu => x.relu(),
            Activation::Gelu => x.gelu(),
            Activation::Tanh => x.tanh(),
            Activation::Sigmoid => x.sigmoid(),
        })
    }

    fn parameters(&self) -> Vec<(String, Parameter)> {
        Vec::new()
    }
}

/// Modules applied in order; parameters are named by position (`0.weight`, `2.bias`).
#[derive(Default)]
pub struct Sequential {
    layers: Vec<Box<dyn Module>>,
}

impl Sequential {
    pub fn new() -> Sequential {
        Sequential::default()
    }

    pub fn push(mut self, layer: impl Module + 'static) -> Sequential {
        self.layers.push(Box::new(layer));
        self
    }
}

impl Module for Sequential {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.layers
            .iter()
            .try_fold(x.clone(), |h, layer| layer.forward(&h))
    }

    fn parameters(&self) -> Vec<(String, Parameter)> {
        self.layers
            .iter()
            .enumerate()
            .flat_map(|(i, l)| prefixed(&i.to_string(), l.parameters()))
            .collect()
    }

    fn set_training(&mut self, training: bool) {
        self.layers
            .iter_mut()
            .for_each(|l| l.set_training(training));
    }
}
