//! Lowerings of ONNX's reductions (Reduce*) and of LayerNormalization.

use super::call::{one, Call, Out};
use crate::graph::Tensor;
use crate::ops::{ReduceOp, UnaryOp};

/// What a Reduce* op computes before and after a plain reduction.
#[derive(Clone, Copy)]
pub(super) enum Reduction {
    Plain(ReduceOp),
    SumSquare,
    L1,
    L2,
    LogSum,
    LogSumExp,
}

/// ReduceSum took its axes as an input from opset 13, the others from opset 18.
fn axes_from_input(call: &Call) -> bool {
    match call.node.op_type.as_str() {
        "ReduceSum" => call.opset >= 13,
        _ => call.opset >= 18,
    }
}

/// The axes to reduce, normalized; None when the op leaves the input as it is (no axes
/// given with `noop_with_empty_axes`).
pub(super) fn reduced_axes(call: &Call, rank: usize) -> Result<Option<Vec<isize>>, String> {
    let axes = match axes_from_input(call) {
        true if call.is_given(1) => Some(call.host_ints(1)?),
        true => None,
        false => call.ints("axes")?,
    };
    let axes = match axes {
        Some(axes) if !axes.is_empty() => axes,
        _ if call.int("noop_with_empty_axes", 0)? != 0 => return Ok(None),
        _ => (0..rank as i64).collect(),
    };
    let normalized = axes
        .iter()
        .map(|&a| call.axis(a, rank).map(|a| a as isize))
        .collect::<Result<Vec<isize>, String>>()?;
    Ok(Some(normalized))
}

pub(super) fn reduce(call: &Call, how: Reduction) -> Out {
    let x = call.input(0)?;
    let keep = call.int("keepdims", 1)? != 0;
    let Some(axes) = reduced_axes(call, x.rank())? else {
        return Ok(vec![x]);
    };
    if axes.is_empty() {
        // A scalar: every reduction of one element is that element (squared and so on).
        return reduce_scalar(&x, how);
    }
    let empty = axes.iter().any(|&a| x.shape()[a as usize] == 0);
    let identity = match how {
        Reduction::Plain(ReduceOp::Max) | Reduction::LogSumExp => Some(f64::NEG_INFINITY),
        Reduction::Plain(ReduceOp::Min) => Some(f64::INFINITY),
        _ => None,
    };
    if let (true, Some(value)) = (empty, identity) {
        // Over no elements: the identity of the reduction, as ONNX defines it.
        let shape: Vec<usize> = (0..x.rank())
            .filter_map(|d| match axes.contains(&(d as isize)) {
                true => keep.then_some(1),
                false => Some(x.shape()[d]),
            })
            .collect();
        return one(Tensor::full(&shape, value, x.dtype(), x.device()));
    }
    let plain = |t: &Tensor, op: ReduceOp| t.reduce(op, &axes, keep);
    one(match how {
        Reduction::Plain(op) => plain(&x, op),
        Reduction::SumSquare => plain(&x.unary(UnaryOp::Square), ReduceOp::Sum),
        Reduction::L1 => plain(&x.unary(UnaryOp::Abs), ReduceOp::Sum),
        Reduction::L2 => plain(&x.unary(UnaryOp::Square), ReduceOp::Sum).map(|t| t.sqrt()),
        Reduction::LogSum => plain(&x, ReduceOp::Sum).map(|t| t.log()),
        Reduction::LogSumExp => log_sum_exp(&x, &axes, keep),
    })
}

fn reduce_scalar(x: &Tensor, how: Reduction) -> Out {
    Ok(vec![match how {
        Reduction::Plain(_) => x.clone(),
        Reduction::SumSquare => x.unary(UnaryOp::Square),
        Reduction::L1 => x.unary(UnaryOp::Abs),
        Reduction::L2 => x.unary(UnaryOp::Abs),
        Reduction::LogSum => x.log(),
        Reduction::LogSumExp => x.clone(),
    }])
}

/// log Σ exp(x) over `axes`, shifted by the maximum so that large values do not overflow;
/// a slice of only −∞ gives −∞.
fn log_sum_exp(x: &Tensor, axes: &[isize], keep: bool) -> crate::error::Result<Tensor> {
    let peak = x.max(axes, true)?;
    let finite_peak = peak
        .unary(UnaryOp::Abs)
        .binary_scalar(crate::ops::BinaryOp::Lt, f64::INFINITY)?
        .where_cond(
            &peak,
            &Tensor::zeros(peak.shape(), peak.dtype(), peak.device())?,
        )?;
    let sum = x.sub(&finite_peak)?.exp().sum(axes, true)?;
    let out = sum.log().add(&finite_peak)?;
    match keep {
        true => Ok(out),
        false => out.reshape(&kept_shape(x.shape(), axes)),
    }
}

fn kept_shape(shape: &[usize], axes: &[isize]) -> Vec<isize> {
    (0..shape.len())
        .filter(|&d| !axes.contains(&(d as isize)))
        .map(|d| shape[d] as isize)
        .collect()
}

/// (x − mean)/sqrt(var + epsilon) · Scale + B over the axes from `axis` on; the optional
/// outputs Mean and InvStdDev keep the reduced axes as size 1.
pub(super) fn layer_norm(call: &Call) -> Out {
    let x = call.input(0)?;
    let axis = call.axis(call.int("axis", -1)?, x.rank())?;
    let eps = f64::from(call.float("epsilon", 1e-5)?);
    let (scale, bias) = (call.input(1)?, call.optional(2)?);
    let outer: usize = x.shape()[..axis].iter().product();
    let inner: usize = x.shape()[axis..].iter().product();
    let shape: Vec<isize> = x.shape().iter().map(|&d| d as isize).collect();
    let mut outputs = vec![one((|| {
        let normalized = x
            .reshape(&[outer as isize, inner as isize])?
            .layer_norm(eps)?
            .reshape(&shape)?
            .mul(&scale)?;
        match &bias {
            Some(b) => normalized.add(b),
            None => Ok(normalized),
        }
    })())?
    .remove(0)];
    let wants = |i: usize| call.node.outputs.get(i).is_some_and(|o| !o.is_empty());
    if wants(1) || wants(2) {
        let axes: Vec<isize> = (axis as isize..x.rank() as isize).collect();
        let stats = (|| {
            let mean = x.mean(&axes, true)?;
            let var = x.sub(&mean)?.unary(UnaryOp::Square).mean(&axes, true)?;
            Ok::<_, crate::error::Error>((mean, var.add_scalar(eps)?.unary(UnaryOp::Rsqrt)))
        })()
        .map_err(|e| e.to_string())?;
        outputs.extend([stats.0, stats.1]);
    }
    Ok(outputs)
}
