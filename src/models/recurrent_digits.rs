//! Recurrent classifiers of the digits set read as sequences: each 8×8 image is 8 timesteps
//! of one 8-pixel row, a recurrent layer (RNN, LSTM or GRU) of 64 units reads them, and a
//! linear layer classifies its last output. Parameter names are PyTorch's
//! (`recurrent.weight_ih_l0`, `head.weight`).

use crate::device::Device;
use crate::dtype::DType;
use crate::error::Result;
use crate::graph::Tensor;
use crate::models::{Prepared, Settings};
use crate::nn::{prefixed, CellKind, Linear, Module, Parameter, Recurrent, RecurrentConfig};

/// Units of the recurrent layer.
pub const HIDDEN: usize = 64;

pub const DEFAULTS: Settings = Settings {
    epochs: 40,
    batch_size: 32,
    lr: 5e-3,
};

pub struct RecurrentDigits {
    pub recurrent: Recurrent,
    pub head: Linear,
}

impl RecurrentDigits {
    pub fn new(kind: CellKind, seed: u64, device: &Device) -> Result<RecurrentDigits> {
        let config = RecurrentConfig {
            batch_first: true,
            ..RecurrentConfig::new(8, HIDDEN)
        };
        Ok(RecurrentDigits {
            recurrent: Recurrent::new(kind, config, seed, DType::F32, device)?,
            head: Linear::new(HIDDEN, 10, true, seed + 1, DType::F32, device)?,
        })
    }
}

impl Module for RecurrentDigits {
    // x: [N, 64] pixels (8 rows of 8, row-major) -> [N, 10] logits
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let rows = self.recurrent.forward(&x.reshape(&[-1, 8, 8])?)?;
        self.head.forward(&rows.slice(1, 7, 8, 1)?.squeeze(1)?)
    }

    fn parameters(&self) -> Vec<(String, Parameter)> {
        let mut out = prefixed("recurrent", self.recurrent.parameters());
        out.extend(prefixed("head", self.head.parameters()));
        out
    }
}

pub fn prepare(
    kind: CellKind,
    settings: &Settings,
    seed: u64,
    device: &Device,
) -> Result<Prepared> {
    super::classifier(
        Box::new(RecurrentDigits::new(kind, seed, device)?),
        super::image_set::digits(seed)?,
        settings,
    )
}
