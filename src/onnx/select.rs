//! Lowerings that pick elements: Gather, Slice, Trilu, and the fills ConstantOfShape and
//! Range, with the index arithmetic that the host's integer forms share (host.rs).

use super::call::{one, Call, Out, Value};
use super::values;
use crate::dtype::DType;
use crate::graph::Tensor;
use crate::ops::BinaryOp;

/// Whether ONNX element type `data_type` is an integer or boolean one.
pub(super) fn integer_type(data_type: i64) -> bool {
    matches!(data_type, 2..=7 | 9 | 12 | 13)
}

/// Sizes from a shape input, refused where negative.
pub(super) fn sizes(values: &[i64]) -> Result<Vec<usize>, String> {
    values
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("size {d} is negative")))
        .collect()
}

/// Indices into an axis of `size`, negative ones counting from the end.
pub(super) fn positions(indices: &[i64], size: usize) -> Result<Vec<usize>, String> {
    indices
        .iter()
        .map(|&i| {
            let at = if i < 0 { i + size as i64 } else { i };
            usize::try_from(at)
                .ok()
                .filter(|&a| a < size)
                .ok_or_else(|| format!("index {i} is out of range for an axis of {size}"))
        })
        .collect()
}

/// Gather's result shape: the data's axes with `axis` replaced by the indices' axes.
pub(super) fn gathered_shape(data: &[usize], axis: usize, indices: &[usize]) -> Vec<usize> {
    let mut shape = data[..axis].to_vec();
    shape.extend_from_slice(indices);
    shape.extend_from_slice(&data[axis + 1..]);
    shape
}

/// Gather along `axis`; indices from the host are checked and wrapped there, indices
/// computed on the device are wrapped there (exact below 2^24, in f32).
pub(super) fn gather(call: &Call) -> Out {
    let data = call.input(0)?;
    let axis = call.axis(call.int("axis", 0)?, data.rank())?;
    let size = data.shape()[axis];
    let (flat, shape) = match call.value(1)? {
        Value::Ints(indices) => {
            let picks: Vec<i32> = positions(&indices.values, size)?
                .into_iter()
                .map(|p| p as i32)
                .collect();
            let flat = Tensor::from_vec(picks.clone(), &[picks.len()], call.device);
            (flat.map_err(|e| e.to_string())?, indices.shape.clone())
        }
        Value::Tensor(indices) => {
            let wrapped = (|| {
                let f = indices.cast(DType::F32)?;
                let negative = f.binary_scalar(BinaryOp::Lt, 0.0)?;
                f.add(&negative.mul_scalar(size as f64)?)?
                    .cast(DType::I32)?
                    .reshape(&[-1])
            })();
            (
                wrapped.map_err(|e| e.to_string())?,
                indices.shape().to_vec(),
            )
        }
    };
    let out = gathered_shape(data.shape(), axis, &shape);
    let shape: Vec<isize> = out.iter().map(|&d| d as isize).collect();
    one(data
        .index_select(axis as isize, &flat)
        .and_then(|t| t.reshape(&shape)))
}

/// For each axis Slice cuts, the positions it keeps in order: starts, ends, axes and
/// steps from the inputs (from opset 10) or the attributes (before).
pub(super) fn slice_picks(
    call: &Call,
    shape: &[usize],
) -> Result<Vec<(usize, Vec<usize>)>, String> {
    let (starts, ends, axes, steps) = match call.opset >= 10 {
        true => {
            let optional = |i| call.is_given(i).then(|| call.host_ints(i)).transpose();
            (
                call.host_ints(1)?,
                call.host_ints(2)?,
                optional(3)?,
                optional(4)?,
            )
        }
        false => (
            call.ints("starts")?.ok_or("no starts")?,
            call.ints("ends")?.ok_or("no ends")?,
            call.ints("axes")?,
            None,
        ),
    };
    let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = steps.unwrap_or_else(|| vec![1; starts.len()]);
    if [ends.len(), axes.len(), steps.len()] != [starts.len(); 3] {
        return Err("starts, ends, axes and steps differ in length".into());
    }
    let mut picks = Vec::with_capacity(axes.len());
    for k in 0..axes.len() {
        let axis = call.axis(axes[k], shape.len())?;
        if picks.iter().any(|(a, _)| *a == axis) {
            return Err(format!("axis {axis} is sliced twice"));
        }
        picks.push((axis, kept(starts[k], ends[k], steps[k], shape[axis])?));
    }
    Ok(picks)
}

/// The positions start, start + step, … short of end in an axis of `size`, as NumPy's
/// `a[start:end:step]` (ends clamped; a negative step walks backwards).
fn kept(start: i64, end: i64, step: i64, size: usize) -> Result<Vec<usize>, String> {
    let n = size as i64;
    let resolve = |v: i64| if v < 0 { v.saturating_add(n) } else { v };
    let (start, end) = (resolve(start), resolve(end));
    let positions: Vec<i64> = match step {
        0 => return Err("a slice step of 0".into()),
        s if s > 0 => {
            let (start, end) = (start.clamp(0, n), end.clamp(0, n));
            (start..end).step_by(s as usize).collect()
        }
        s => {
            let (start, end) = (start.clamp(-1, n - 1), end.clamp(-1, n - 1));
            let mut out = Vec::new();
            let mut at = start;
            while at > end {
                out.push(at);
                at += s;
            }
            out
        }
    };
    Ok(positions.into_iter().map(|p| p as usize).collect())
}

pub(super) fn slice(call: &Call) -> Out {
    let mut x = call.input(0)?;
    for (axis, picks) in slice_picks(call, x.shape())? {
        x = take(&x, axis, &picks)?;
    }
    Ok(vec![x])
}

/// The positions `picks` of `axis`: a strided view where they are evenly spaced forwards,
/// else a gather.
fn take(x: &Tensor, axis: usize, picks: &[usize]) -> Result<Tensor, String> {
    let even_step = match picks {
        [] | [_] => Some(1),
        [a, b, ..] if b > a => {
            let step = b - a;
            picks
                .windows(2)
                .all(|w| w[1] == w[0] + step)
                .then_some(step)
        }
        _ => None,
    };
    let taken = match (even_step, picks.first()) {
        (Some(step), Some(&first)) => {
            let end = picks[picks.len() - 1] + 1;
            x.slice(axis as isize, first as isize, end as isize, step)
        }
        (Some(_), None) => x.slice(axis as isize, 0, 0, 1),
        (None, _) => {
            let index: Vec<i32> = picks.iter().map(|&p| p as i32).collect();
            Tensor::from_vec(index, &[picks.len()], x.device())
                .and_then(|i| x.index_select(axis as isize, &i))
        }
    };
    taken.map_err(|e| e.to_string())
}

/// Trilu's diagonal: the optional second input, default 0.
pub(super) fn diagonal(call: &Call) -> Result<i64, String> {
    match call.is_given(1) {
        true => call.int_input(1)?.single(),
        false => Ok(0),
    }
}

pub(super) fn trilu(call: &Call) -> Out {
    let x = call.input(0)?;
    let k = diagonal(call)?;
    match call.int("upper", 1)? != 0 {
        true => one(x.triu(k)),
        false => one(x.tril(k)),
    }
}

/// A tensor of the shape input filled with the value attribute (default float 0).
pub(super) fn constant_of_shape(call: &Call) -> Out {
    let shape = sizes(&call.host_ints(0)?)?;
    let fill = match call.tensor("value")? {
        Some(t) => values::tensor(t, call.device)?,
        None => Tensor::scalar(0.0f32, call.device).map_err(|e| e.to_string())?,
    };
    if fill.numel() != 1 {
        return Err(format!(
            "a value of shape {:?}, not one element",
            fill.shape()
        ));
    }
    let value = fill
        .cast(DType::F64)
        .and_then(|t| t.to_vec::<f64>())
        .map_err(|e| e.to_string())?[0];
    one(Tensor::full(&shape, value, fill.dtype(), call.device))
}

/// Floats start, start + delta, … short of limit, counted as ONNX counts them.
pub(super) fn range(call: &Call) -> Out {
    let start = call.input(0)?;
    let scalar = |i| -> Result<f64, String> {
        let t = call.input(i)?.cast(DType::F64).map_err(|e| e.to_string())?;
        match t.to_vec::<f64>().map_err(|e| e.to_string())?.as_slice() {
            [v] => Ok(*v),
            _ => Err(format!("input {i} is not one value")),
        }
    };
    let (first, limit, delta) = (scalar(0)?, scalar(1)?, scalar(2)?);
    let count = ((limit - first) / delta).ceil().max(0.0);
    if !count.is_finite() || count > u32::MAX as f64 {
        return Err(format!(
            "Range({first}, {limit}, {delta}) has no finite length"
        ));
    }
    super::ints::count(&[count as usize])?;
    let values: Vec<f64> = (0..count as usize)
        .map(|i| first + i as f64 * delta)
        .collect();
    let n = values.len();
    one(Tensor::from_vec(values, &[n], call.device).and_then(|t| t.cast(start.dtype())))
}

/// A comparison of floats, as ONNX's booleans: i32 0 or 1.
pub(super) fn compare(call: &Call, op: BinaryOp) -> Out {
    let (a, b) = (call.input(0)?, call.input(1)?);
    one(a.binary(op, &b).and_then(|t| t.cast(DType::I32)))
}
