//! A model that `lepton train <family> --save FILE` wrote, rebuilt for inference: the family
//! from the checkpoint's metadata, the sizes from its tensors' shapes, the parameters loaded
//! and checked by name, the model in evaluation mode. What a program embedding the engine (or
//! the C ABI) runs: rows in, the family's outputs (logits, or the regression's value) out.

use std::panic::Location;
use std::path::Path;

use crate::checkpoint::{header, load_run, Shapes};
use crate::device::Device;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::{no_grad, Tensor};
use crate::models::cnn::Cnn;
use crate::models::linreg;
use crate::models::mlp::Mlp;
use crate::models::recurrent_digits::RecurrentDigits;
use crate::nn::{Activation, CellKind, Linear, Module};

/// The families whose checkpoints rebuild here, as their metadata names them.
pub const FAMILIES: [&str; 6] = ["Linreg", "Mlp", "Cnn", "Rnn", "Lstm", "Gru"];

/// A trained model of one of [`FAMILIES`], ready to run.
pub struct SavedModel {
    family: String,
    model: Box<dyn Module>,
    inputs: usize,
    outputs: usize,
    /// The training inputs' means and standard deviations, which `forward` standardizes
    /// with, where the checkpoint holds them (linreg's).
    standardize: Option<(Tensor, Tensor)>,
}

fn refuse(path: &Path, message: impl Into<String>) -> Error {
    Error::Checkpoint {
        path: path.display().to_string(),
        message: message.into(),
    }
}

/// The [out, in] shape of the weight called `name`.
fn matrix(path: &Path, shapes: &Shapes, name: &str) -> Result<(usize, usize)> {
    match shapes.get(name).map(Vec::as_slice) {
        Some(&[out, inputs]) => Ok((out, inputs)),
        other => Err(refuse(
            path,
            format!("{name} is {other:?}, not the [out, in] weight of a linear layer"),
        )),
    }
}

impl SavedModel {
    /// Rebuild the model saved at `path` on `device`.
    pub fn load(path: &Path, device: &Device) -> Result<SavedModel> {
        let (metadata, shapes) = header(path)?;
        let family = metadata.get("family").cloned().ok_or_else(|| {
            refuse(
                path,
                "no family in the metadata: not saved by `lepton train --save`",
            )
        })?;
        let (mut model, inputs, outputs): (Box<dyn Module>, usize, usize) = match family.as_str() {
            "Linreg" => {
                let (out, inputs) = matrix(path, &shapes, "weight")?;
                let model = Linear::new(inputs, out, true, 0, DType::F32, device)?;
                (Box::new(model), inputs, out)
            }
            "Mlp" => {
                // Linear layers at the even indices of `layers`, activations between them.
                let mut sizes = Vec::new();
                for i in (0..).step_by(2) {
                    let name = format!("layers.{i}.weight");
                    if !shapes.contains_key(&name) {
                        break;
                    }
                    let (out, inputs) = matrix(path, &shapes, &name)?;
                    if sizes.is_empty() {
                        sizes.push(inputs);
                    }
                    sizes.push(out);
                }
                if sizes.len() < 2 {
                    return Err(refuse(path, "an MLP checkpoint without layers.0.weight"));
                }
                let model = Mlp::new(&sizes, Activation::Relu, 0, device)?;
                (Box::new(model), sizes[0], sizes[sizes.len() - 1])
            }
            "Cnn" => {
                // The head reads 32 maps of (side / 4)² pixels.
                let (classes, features) = matrix(path, &shapes, "layers.7.weight")?;
                let quarter = (features / 32).isqrt();
                if quarter == 0 || 32 * quarter * quarter != features {
                    return Err(refuse(
                        path,
                        format!("a CNN head over {features} features, not 32 square maps"),
                    ));
                }
                let side = 4 * quarter;
                let model = Cnn::classifier(side, classes, 0, device)?;
                (Box::new(model), side * side, classes)
            }
            "Rnn" | "Lstm" | "Gru" => {
                let kind = match family.as_str() {
                    "Rnn" => CellKind::RnnTanh,
                    "Lstm" => CellKind::Lstm,
                    _ => CellKind::Gru,
                };
                (Box::new(RecurrentDigits::new(kind, 0, device)?), 64, 10)
            }
            other => {
                return Err(refuse(
                    path,
                    format!(
                        "a {other} checkpoint; the families that rebuild for inference are {}",
                        FAMILIES.join(", ")
                    ),
                ))
            }
        };
        let (_, state) = load_run(path, model.as_ref(), None, device)?;
        model.set_training(false);
        let statistic = |name: &str| state.iter().find(|(n, _)| n == name).map(|(_, t)| t);
        let standardize = match (statistic(linreg::INPUT_MEAN), statistic(linreg::INPUT_STD)) {
            (Some(mean), Some(std)) if mean.shape() == [inputs] && std.shape() == [inputs] => {
                Some((mean.clone(), std.clone()))
            }
            (None, None) => None,
            _ => {
                return Err(refuse(
                    path,
                    format!(
                        "{} and {} must both be there, of {inputs} values each",
                        linreg::INPUT_MEAN,
                        linreg::INPUT_STD
                    ),
                ))
            }
        };
        Ok(SavedModel {
            family,
            model,
            inputs,
            outputs,
            standardize,
        })
    }

    /// The family, as the checkpoint's metadata names it (one of [`FAMILIES`]).
    pub fn family(&self) -> &str {
        &self.family
    }

    /// Values per input row: features, or an image's pixels in row-major order.
    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// Values per output row: class logits, or the regression's one value.
    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// The outputs [N, outputs] for `rows` [N, inputs], prepared as the family's training
    /// data is (pixels scaled to 0..1); raw features for linreg, which this standardizes with
    /// the training split's statistics that its checkpoint holds.
    #[track_caller]
    pub fn forward(&self, rows: &Tensor) -> Result<Tensor> {
        if rows.rank() != 2 || rows.shape()[1] != self.inputs {
            return Err(Error::ShapeMismatch {
                op: "SavedModel::forward",
                lhs: rows.shape().to_vec(),
                rhs: vec![self.inputs],
                why: format!(
                    "the {} model takes rows of {} values",
                    self.family, self.inputs
                ),
                location: Location::caller(),
            });
        }
        no_grad(|| match &self.standardize {
            Some((mean, std)) => self.model.forward(&rows.sub(mean)?.div(std)?),
            None => self.model.forward(rows),
        })
    }
}
