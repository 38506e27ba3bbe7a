//! Model families, one file each: the data a family trains on, its model, its loss and how
//! it is evaluated. The CLI and the examples build on these.

pub mod charlm;
pub mod cnn;
pub mod dqn;
pub mod gan;
pub mod generate;
pub mod image_set;
pub mod linreg;
pub mod mlp;
pub mod policy_gradient;
pub mod qlearn;
pub mod recurrent_digits;
mod run_state;
pub mod saved;
pub mod vae;

pub(crate) use run_state::{check_run, environment_state, run_field, run_metadata, RunState};

use crate::data::Dataset;
use crate::device::Device;
use crate::error::Result;
use crate::graph::no_grad;
use crate::graph::Tensor;
use crate::nn::{loss, Module};
use crate::optim::Optimizer;

/// What a model is trained to do.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Task {
    /// One value per row, mean squared error.
    Regression,
    /// Class indices, cross-entropy on logits; training smooths the labels by
    /// `label_smoothing` (evaluation reports the plain cross-entropy).
    Classification {
        classes: usize,
        label_smoothing: f64,
    },
}

/// Input values per forward pass of an evaluation, whose rows run in passes of this many:
/// a convolution's activations are several times its input, and a device may bind at most
/// 128 MiB of them (60,000 28×28 images through 16 channels are 3 GB).
const EVALUATED_VALUES: usize = 1 << 20;

/// Loss (and accuracy, for classification) over a whole data set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    pub loss: f64,
    pub accuracy: Option<f64>,
}

impl Task {
    pub fn loss(&self, output: &Tensor, targets: &Tensor) -> Result<Tensor> {
        match self {
            Task::Regression => loss::mse(&output.squeeze(-1)?, targets),
            Task::Classification {
                label_smoothing, ..
            } => loss::cross_entropy(output, targets, *label_smoothing),
        }
    }

    /// Evaluate `model` on all of `data`, in forward passes of about `EVALUATED_VALUES`
    /// input values over its rows as they lie; the metrics are computed in f64 on the host
    /// from the outputs.
    pub fn evaluate(
        &self,
        model: &dyn Module,
        data: &Dataset,
        device: &Device,
    ) -> Result<Evaluation> {
        let mut out: Vec<f32> = Vec::new();
        let rows_per_pass = (EVALUATED_VALUES / data.cols.max(1)).max(1);
        for start in (0..data.rows).step_by(rows_per_pass) {
            let end = (start + rows_per_pass).min(data.rows);
            let x = Tensor::from_slice(
                &data.features[start * data.cols..end * data.cols],
                &[end - start, data.cols],
                device,
            )?;
            out.extend(no_grad(|| model.forward(&x))?.to_vec::<f32>()?);
        }
        let n = data.rows.max(1) as f64;
        Ok(match self {
            Task::Regression => Evaluation {
                loss: out
                    .iter()
                    .zip(&data.targets)
                    .map(|(p, t)| (*p as f64 - *t as f64).powi(2))
                    .sum::<f64>()
                    / n,
                accuracy: None,
            },
            Task::Classification { classes, .. } => {
                let (mut loss, mut correct) = (0.0, 0usize);
                for (row, &t) in out.chunks(*classes).zip(&data.targets) {
                    let max = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
                    let lse = max
                        + row
                            .iter()
                            .map(|&v| (v as f64 - max).exp())
                            .sum::<f64>()
                            .ln();
                    loss += lse - row[t as usize] as f64;
                    let best = row
                        .iter()
                        .enumerate()
                        .fold(0, |b, (i, &v)| if v > row[b] { i } else { b });
                    correct += (best == t as usize) as usize;
                }
                Evaluation {
                    loss: loss / n,
                    accuracy: Some(correct as f64 / n),
                }
            }
        })
    }
}

/// A family ready to train: model, data split, task and the settings it trains well with.
pub struct Prepared {
    pub model: Box<dyn Module>,
    pub optimizer: Box<dyn Optimizer>,
    pub train: Dataset,
    pub test: Dataset,
    pub task: Task,
}

/// The classes of a classification split: one past the largest label of either set.
pub(crate) fn class_count(train: &Dataset, test: &Dataset) -> usize {
    train.classes.max(test.classes).unwrap_or(10)
}

/// A classifier of `data` (training and test sets) trained with AdamW, a cosine schedule
/// over the run and label smoothing: the recipe the image families share.
pub(crate) fn classifier(
    model: Box<dyn Module>,
    (train, test): (Dataset, Dataset),
    settings: &Settings,
) -> Result<Prepared> {
    let classes = class_count(&train, &test);
    let schedule = crate::optim::Schedule::Cosine {
        total: settings.steps(train.rows),
        min_lr: 0.0,
    };
    let optimizer =
        Box::new(crate::optim::Adam::adamw(model.parameters(), settings.lr).schedule(schedule));
    Ok(Prepared {
        model,
        optimizer,
        train,
        test,
        task: Task::Classification {
            classes,
            label_smoothing: mlp::LABEL_SMOOTHING,
        },
    })
}

/// How long and how fast to train; each family has defaults it trains well with.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
}

impl Settings {
    /// Optimizer steps in a run over `rows` training rows.
    pub fn steps(&self, rows: usize) -> u64 {
        (self.epochs * rows.div_ceil(self.batch_size.max(1))) as u64
    }
}
