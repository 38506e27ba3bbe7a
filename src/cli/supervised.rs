//! The families that train by epochs over a data set (linreg, mlp, cnn, rnn, lstm, gru):
//! their defaults and their model, optimizer and data, for `train` and `profile`.

use lepton::models::image_set::ImageSet;
use lepton::models::{self, Prepared, Settings};
use lepton::nn::CellKind;
use lepton::Device;

use crate::cli::train::Family;

/// Which such family, on which data, from which seed.
#[derive(Clone, Copy)]
pub struct Choice<'a> {
    pub family: Family,
    /// linreg: the y = 2x toy problem.
    pub toy: bool,
    /// mlp and cnn: `--data` (the digits when absent).
    pub data: Option<&'a str>,
    pub seed: u64,
}

impl Choice<'_> {
    fn image_set(&self) -> ImageSet {
        self.data.map_or(ImageSet::Digits, ImageSet::parse)
    }

    pub fn defaults(&self) -> Settings {
        match self.family {
            Family::Linreg if self.toy => models::linreg::TOY_DEFAULTS,
            Family::Linreg => models::linreg::DEFAULTS,
            Family::Mlp => self.image_set().defaults(models::mlp::DEFAULTS),
            Family::Cnn => self.image_set().defaults(models::cnn::DEFAULTS),
            Family::Rnn | Family::Lstm | Family::Gru => models::recurrent_digits::DEFAULTS,
            other => unreachable!("{other:?} trains in its own file"),
        }
    }

    /// The model, optimizer and data.
    pub fn prepare(&self, settings: &Settings, device: &Device) -> lepton::Result<Prepared> {
        let seed = self.seed;
        match self.family {
            Family::Linreg => models::linreg::prepare(self.toy, settings, seed, device),
            Family::Mlp => models::mlp::prepare(&self.image_set(), settings, seed, device),
            Family::Cnn => models::cnn::prepare(&self.image_set(), settings, seed, device),
            Family::Rnn | Family::Lstm | Family::Gru => {
                let kind = match self.family {
                    Family::Rnn => CellKind::RnnTanh,
                    Family::Lstm => CellKind::Lstm,
                    _ => CellKind::Gru,
                };
                models::recurrent_digits::prepare(kind, settings, seed, device)
            }
            other => unreachable!("{other:?} trains in its own file"),
        }
    }
}
