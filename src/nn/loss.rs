//! Losses, composed from primitives; each returns the mean over the batch as one element.

use std::panic::Location;

use crate::error::{Error, Result};
use crate::tensor::Tensor;

#[track_caller]
fn same_shape(op: &'static str, a: &Tensor, b: &Tensor) -> Result<()> {
    if a.shape() != b.shape() {
        return Err(Error::ShapeMismatch {
            op,
            lhs: a.shape().to_vec(),
            rhs: b.shape().to_vec(),
            why: "prediction and target must have the same shape".into(),
            location: Location::caller(),
        });
    }
    Ok(())
}

/// Mean squared error.
#[track_caller]
pub fn mse(pred: &Tensor, target: &Tensor) -> Result<Tensor> {
    same_shape("mse", pred, target)?;
    pred.sub(target)?.square().mean(&[], false)
}

/// Mean absolute error.
#[track_caller]
pub fn l1(pred: &Tensor, target: &Tensor) -> Result<Tensor> {
    same_shape("l1", pred, target)?;
    pred.sub(target)?.abs().mean(&[], false)
}

/// Huber loss: quadratic within `delta` of the target, linear beyond.
#[track_caller]
pub fn huber(pred: &Tensor, target: &Tensor, delta: f64) -> Result<Tensor> {
    same_shape("huber", pred, target)?;
    let d = pred.sub(target)?;
    let a = d.abs();
    let quadratic = d.square().mul_scalar(0.5)?;
    let linear = a.add_scalar(-0.5 * delta)?.mul_scalar(delta)?;
    a.lt(&Tensor::constant(delta, a.dtype(), a.device())?)?
        .where_(&quadratic, &linear)?
        .mean(&[], false)
}

/// Cross-entropy of `logits` [N, C] against class indices `targets` [N] (stored as floats),
/// with optional label smoothing ε: the target distribution is (1−ε)·one_hot + ε/C.
#[track_caller]
pub fn cross_entropy(logits: &Tensor, targets: &Tensor, label_smoothing: f64) -> Result<Tensor> {
    if logits.rank() != 2 || targets.shape() != &logits.shape()[..1] {
        return Err(Error::ShapeMismatch {
            op: "cross_entropy",
            lhs: logits.shape().to_vec(),
            rhs: targets.shape().to_vec(),
            why: "logits must be [N, C] and targets [N]".into(),
            location: Location::caller(),
        });
    }
    let classes = logits.shape()[1];
    let mut weights = targets.one_hot(classes)?;
    if label_smoothing > 0.0 {
        weights = weights
            .mul_scalar(1.0 - label_smoothing)?
            .add_scalar(label_smoothing / classes as f64)?;
    }
    let per_sample = logits.log_softmax(-1)?.mul(&weights)?.sum(&[-1], false)?;
    Ok(per_sample.mean(&[], false)?.neg())
}

/// Binary cross-entropy of `logits` against targets in [0, 1], in the stable form
/// max(x, 0) − x·t + log(1 + exp(−|x|)).
#[track_caller]
pub fn bce_with_logits(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    same_shape("bce_with_logits", logits, targets)?;
    let softplus_tail = logits.abs().neg().exp().add_scalar(1.0)?.log();
    logits
        .relu()
        .sub(&logits.mul(targets)?)?
        .add(&softplus_tail)?
        .mean(&[], false)
}
