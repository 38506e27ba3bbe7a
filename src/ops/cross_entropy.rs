//! Cross-entropy from logits [N, C] with class-index targets [N], as two row kernels: the
//! loss of each row, logsumexp(x) − Σ w·x, and its gradient g·(softmax(x) − w), where the
//! weights are w = (1 − ε)·onehot(target) + ε/C. A target that is not an integer in [0, C)
//! makes its row NaN, on every device, rather than reading outside the row.

use std::panic::Location;

use super::rows::{choose_lanes, Rows};
use super::softmax::{for_rows, log_sum_exp, row_layout, row_stats};
use super::{Arg, Lowering, Op, ShaderFile, StepDesc, Tuner};
use crate::backend::cpu::{with_dtype, CpuData};
use crate::dtype::Element;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

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
    if logits.dtype() != targets.dtype() {
        return Err(Error::DtypeMismatch {
            op: "cross_entropy",
            lhs: logits.dtype(),
            rhs: targets.dtype(),
            location: Location::caller(),
        });
    }
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

/// The row's class, if the target names one of `n`.
fn class(target: f64, n: usize) -> Option<usize> {
    (target >= 0.0 && target < n as f64 && target.fract() == 0.0).then_some(target as usize)
}

pub(crate) fn run_cpu(
    smoothing: u64,
    backward: bool,
    step: &StepDesc,
    inputs: &[&CpuData],
    out: &mut CpuData,
) -> Result<()> {
    let eps = f64::from_bits(smoothing);
    let (outer, n, stride) = row_layout(step.inputs[0].1);
    let t_layout = step.inputs[1].1;
    let width = if backward { n } else { 1 };
    with_dtype!(step.out_dtype, T => {
        let src = inputs[0].slice::<T>();
        let targets = inputs[1].slice::<T>();
        let incoming = backward.then(|| (inputs[2].slice::<T>(), step.inputs[2].1));
        for_rows(&outer, n, width, out.slice_mut::<T>(), |r, base, dst: &mut [T]| {
            let x = |i: usize| src[base + i * stride].to_f64();
            let target = targets[t_layout.offset + r * t_layout.strides[0]].to_f64();
            let (m, s) = row_stats(x, n);
            let Some(c) = class(target, n) else {
                dst.iter_mut().for_each(|o| *o = T::from_f64(f64::NAN));
                return;
            };
            let spread = eps / n as f64;
            match incoming {
                None => {
                    let total: f64 = if eps == 0.0 { 0.0 } else { (0..n).map(x).sum() };
                    let picked = (1.0 - eps) * x(c) + spread * total;
                    dst[0] = T::from_f64(log_sum_exp(m, s) - picked);
                }
                Some((g, layout)) => {
                    let g = g[layout.offset + r * layout.strides[0]].to_f64();
                    for (i, o) in dst.iter_mut().enumerate() {
                        let w = spread + if i == c { 1.0 - eps } else { 0.0 };
                        *o = T::from_f64(g * ((x(i) - m).exp() / s - w));
                    }
                }
            }
        });
    });
    Ok(())
}

pub(crate) fn lower(
    smoothing: u64,
    backward: bool,
    step: &StepDesc,
    tuner: &dyn Tuner,
) -> Lowering {
    choose_lanes(step, 1, tuner, &|subgroup| {
        lower_with(smoothing, backward, step, subgroup)
    })
}

fn lower_with(smoothing: u64, backward: bool, step: &StepDesc, subgroup: Option<u32>) -> Lowering {
    let (dtype, layout) = step.inputs[0];
    let targets = step.inputs[1].1;
    let mut extra = vec![
        (9, (f64::from_bits(smoothing) as f32).to_bits()),
        (10, targets.offset as u32),
        (11, targets.strides[0] as u32),
    ];
    let mut bindings = vec![(1, Arg::Input(0)), (6, Arg::Input(1))];
    if backward {
        let g = step.inputs[2].1;
        extra.extend([(12, g.offset as u32), (13, g.strides[0] as u32)]);
        bindings.extend([(2, Arg::Output(0)), (7, Arg::Input(2))]);
    } else {
        bindings.push((3, Arg::Output(0)));
    }
    let rows = Rows {
        file: ShaderFile::Softmax,
        entry: if backward {
            "cross_entropy_grad"
        } else {
            "cross_entropy"
        },
        dtypes: (dtype, step.out_dtype),
        src: layout,
        reduced: 1,
        chunk: layout.shape[1],
        row_outputs: backward,
        weighted: false,
        subgroup,
        wide: false,
    };
    Lowering::of(vec![rows.dispatch(0, 1.0, &extra, bindings)])
}
