//! Losses, each the mean over the batch as one element; composed from primitives, except
//! cross-entropy, which has kernels of its own.

use std::panic::Location;

use crate::error::{Error, Result};
use crate::graph::Tensor;

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
    if !(delta > 0.0 && delta.is_finite()) {
        return Err(Error::invalid(
            "huber",
            format!("delta must be positive and finite, got {delta}"),
        ));
    }
    let d = pred.sub(target)?;
    let a = d.abs();
    let quadratic = d.square().mul_scalar(0.5)?;
    let linear = a.add_scalar(-0.5 * delta)?.mul_scalar(delta)?;
    a.lt(&Tensor::constant(delta, a.dtype(), a.device())?)?
        .where_cond(&quadratic, &linear)?
        .mean(&[], false)
}

/// Cross-entropy of `logits` [N, C] against i32 class indices `targets` [N],
/// with optional label smoothing ε: the target distribution is (1−ε)·one_hot + ε/C. One
/// fused kernel forward and one backward. A target that is not a class index gives NaN.
#[track_caller]
pub fn cross_entropy(logits: &Tensor, targets: &Tensor, label_smoothing: f64) -> Result<Tensor> {
    cross_entropy_per_sample(logits, targets, label_smoothing)?.mean(&[], false)
}

/// The cross-entropy of each row, [N], for weighting samples (policy gradients, say).
#[track_caller]
pub fn cross_entropy_per_sample(
    logits: &Tensor,
    targets: &Tensor,
    label_smoothing: f64,
) -> Result<Tensor> {
    crate::ops::cross_entropy::per_row(logits, targets, label_smoothing)
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
