//! Lowerings of ONNX's shape ops: reshapes, transposes, squeezes, concatenation,
//! broadcasting, and constants.

use super::call::{one, Call, Out};
use super::values;
use crate::graph::Tensor;
use crate::shape::numel;

fn isizes(values: &[usize]) -> Vec<isize> {
    values.iter().map(|&d| d as isize).collect()
}

/// Reshape's target for an input of `shape`: 0 copies the input's size there (unless
/// `allowzero`), one -1 is inferred.
pub(super) fn reshape_shape(call: &Call, shape: &[usize]) -> Result<Vec<usize>, String> {
    let allow_zero = call.int("allowzero", 0)? != 0;
    let target = call.host_ints(1)?;
    let mut known = 1usize;
    let mut inferred = None;
    let mut out = Vec::with_capacity(target.len());
    for (i, &d) in target.iter().enumerate() {
        let size = match d {
            0 if !allow_zero => *shape
                .get(i)
                .ok_or_else(|| format!("a 0 at axis {i} of the shape copies no input axis"))?,
            -1 if inferred.is_none() => {
                inferred = Some(i);
                1
            }
            d => usize::try_from(d).map_err(|_| format!("size {d} in the shape {target:?}"))?,
        };
        known *= size;
        out.push(size);
    }
    let count = numel(shape);
    if let Some(i) = inferred {
        if known == 0 || !count.is_multiple_of(known) {
            return Err(format!("{shape:?} cannot be reshaped to {target:?}"));
        }
        out[i] = count / known;
    } else if known != count {
        return Err(format!("{shape:?} cannot be reshaped to {target:?}"));
    }
    Ok(out)
}

pub(super) fn reshape(call: &Call) -> Out {
    let x = call.input(0)?;
    let shape = reshape_shape(call, x.shape())?;
    one(x.reshape(&isizes(&shape)))
}

/// Flatten's 2-D shape: the axes before `axis` and those from it.
pub(super) fn flatten_shape(call: &Call, shape: &[usize]) -> Result<Vec<usize>, String> {
    let rank = shape.len();
    let axis = match call.int("axis", 1)? {
        a if a == rank as i64 => rank,
        a => call.axis(a, rank.max(1))?,
    };
    Ok(vec![numel(&shape[..axis]), numel(&shape[axis..])])
}

pub(super) fn flatten(call: &Call) -> Out {
    let x = call.input(0)?;
    let shape = flatten_shape(call, x.shape())?;
    one(x.reshape(&isizes(&shape)))
}

pub(super) fn transpose(call: &Call) -> Out {
    let x = call.input(0)?;
    let perm: Vec<isize> = match call.ints("perm")? {
        Some(perm) => perm.iter().map(|&p| p as isize).collect(),
        None => (0..x.rank() as isize).rev().collect(),
    };
    one(x.permute(&perm))
}

/// Axes from the attribute (before opset 13) or the second input (from 13).
fn axes(call: &Call) -> Result<Option<Vec<i64>>, String> {
    match call.opset >= 13 {
        true => call.is_given(1).then(|| call.host_ints(1)).transpose(),
        false => call.ints("axes"),
    }
}

/// The shape without the listed axes of size 1, or without every axis of size 1.
pub(super) fn squeeze_shape(call: &Call, shape: &[usize]) -> Result<Vec<usize>, String> {
    let drop: Vec<usize> = match axes(call)? {
        Some(axes) => axes
            .iter()
            .map(|&a| call.axis(a, shape.len()))
            .collect::<Result<_, _>>()?,
        None => (0..shape.len()).filter(|&i| shape[i] == 1).collect(),
    };
    if let Some(&a) = drop.iter().find(|&&a| shape[a] != 1) {
        return Err(format!("axis {a} has size {}, not 1", shape[a]));
    }
    Ok((0..shape.len())
        .filter(|i| !drop.contains(i))
        .map(|i| shape[i])
        .collect())
}

pub(super) fn squeeze(call: &Call) -> Out {
    let x = call.input(0)?;
    let shape = squeeze_shape(call, x.shape())?;
    one(x.reshape(&isizes(&shape)))
}

/// The shape with axes of size 1 inserted at the listed positions of the output.
pub(super) fn unsqueeze_shape(call: &Call, shape: &[usize]) -> Result<Vec<usize>, String> {
    let axes = axes(call)?.ok_or("no axes")?;
    let rank = shape.len() + axes.len();
    let mut inserted = axes
        .iter()
        .map(|&a| call.axis(a, rank))
        .collect::<Result<Vec<_>, _>>()?;
    inserted.sort_unstable();
    if inserted.windows(2).any(|w| w[0] == w[1]) {
        return Err(format!("axes {axes:?} repeat"));
    }
    let mut sizes = shape.iter();
    Ok((0..rank)
        .map(|i| match inserted.contains(&i) {
            true => 1,
            false => *sizes.next().unwrap_or(&1),
        })
        .collect())
}

pub(super) fn unsqueeze(call: &Call) -> Out {
    let x = call.input(0)?;
    let shape = unsqueeze_shape(call, x.shape())?;
    one(x.reshape(&isizes(&shape)))
}

pub(super) fn concat(call: &Call) -> Out {
    let inputs = call.all_inputs()?;
    let rank = inputs.first().ok_or("no inputs")?.rank();
    let axis = call.axis(call.int("axis", 0)?, rank)?;
    one(Tensor::concat(
        &inputs.iter().collect::<Vec<_>>(),
        axis as isize,
    ))
}

/// Expand's result shape: the input's and the shape input's broadcast together (either may
/// widen the other).
pub(super) fn expand_shape(call: &Call, shape: &[usize]) -> Result<Vec<usize>, String> {
    let target = call
        .host_ints(1)?
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("size {d} is negative")))
        .collect::<Result<Vec<usize>, String>>()?;
    crate::shape::broadcast_shapes("Expand", shape, &target).map_err(|e| e.to_string())
}

pub(super) fn expand(call: &Call) -> Out {
    let x = call.input(0)?;
    let shape = expand_shape(call, x.shape())?;
    one(x.broadcast_to(&shape).map(|t| t.contiguous()))
}

/// The value attribute: a float tensor, or one float or a list of them (integer constants
/// are held on the host: host.rs).
pub(super) fn constant(call: &Call) -> Out {
    if let Some(t) = call.tensor("value")? {
        return Ok(vec![values::tensor(t, call.device)?]);
    }
    let made = if call.has("value_float") {
        Tensor::from_vec(vec![call.float("value_float", 0.0)?], &[], call.device)
    } else if let Some(v) = call.floats("value_floats")? {
        Tensor::from_vec(v.clone(), &[v.len()], call.device)
    } else {
        return Err(
            "a Constant without a value, value_float(s) or value_int(s) (strings are not read)"
                .into(),
        );
    };
    one(made)
}
