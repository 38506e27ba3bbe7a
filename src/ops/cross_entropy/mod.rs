//! Cross-entropy from logits [N, C] with class-index targets [N], as two row kernels: the
//! loss of each row, logsumexp(x) − Σ w·x, and its gradient g·(softmax(x) − w), where the
//! weights are w = (1 − ε)·onehot(target) + ε/C. Targets are i32; one outside [0, C) makes
//! its row NaN, on every device, rather than reading outside the row.

pub(crate) mod cpu;
pub(crate) mod gpu;

use std::panic::Location;

use crate::error::{Error, Result};
use crate::graph::Tensor;
use crate::ops::op::Op;

/// The loss of each row of `logits` against `targets`, with label smoothing `smoothing`.
#[track_caller]
pub(crate) fn per_row(logits: &Tensor, targets: &Tensor, smoothing: f64) -> Result<Tensor> {
    let device = logits.same_device("cross_entropy", targets)?;
    if logits.rank() != 2 || targets.shape() != &logits.shape()[..1] {
        return Err(Error::ShapeMismatch {
            op: "cross_entropy",
            lhs: logits.shape().to_vec(),
            rhs: targets.shape().to_vec(),
            why: "logits must be [N, C] and targets [N]".into(),
            location: Location::caller(),
        });
    }
    Error::expect_indices("cross_entropy", targets.dtype())?;
    if !(0.0..=1.0).contains(&smoothing) {
        return Err(Error::InvalidArgument {
            op: "cross_entropy",
            message: format!("label smoothing {smoothing} is outside [0, 1]"),
            location: Location::caller(),
        });
    }
    Ok(Tensor::from_op(
        Op::CrossEntropy(smoothing.to_bits()),
        vec![logits.clone(), targets.clone()],
        logits.shape()[..1].to_vec(),
        logits.dtype(),
        device,
    ))
}

/// Gradient of the per-row loss with respect to the logits, given `g` ([N]).
pub(crate) fn grad(smoothing: u64, logits: &Tensor, targets: &Tensor, g: &Tensor) -> Tensor {
    Tensor::from_op(
        Op::CrossEntropyGrad(smoothing),
        vec![logits.clone(), targets.clone(), g.clone()],
        logits.shape().to_vec(),
        logits.dtype(),
        logits.device().clone(),
    )
}
