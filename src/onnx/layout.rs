//! Lowerings of ONNX's shape ops: reshapes, transposes, squeezes, concatenation,
//! broadcasting, and constants.

use super::call::Call;
use super::values;
use crate::graph::Tensor;

type Out = Result<Vec<Tensor>, String>;

fn one(t: crate::error::Result<Tensor>) -> Out {
    t.map(|t| vec![t]).map_err(|e| e.to_string())
}

fn isizes(values: &[usize]) -> Vec<isize> {
    values.iter().map(|&d| d as isize).collect()
}

/// Reshape to the shape input: 0 copies the input's size there (unless `allowzero`), one
/// -1 is inferred.
pub(super) fn reshape(call: &Call) -> Out {
    let x = call.input(0)?;
    let allow_zero = call.int("allowzero", 0)? != 0;
    let shape = call
        .host_ints(1)?
        .iter()
        .enumerate()
        .map(|(i, &d)| match d {
            0 if !allow_zero => x
                .shape()
                .get(i)
                .map(|&s| s as isize)
                .ok_or_else(|| format!("a 0 at axis {i} of the shape copies no input axis")),
            d => isize::try_from(d).map_err(|_| format!("size {d} is out of range")),
        })
        .collect::<Result<Vec<isize>, String>>()?;
    one(x.reshape(&shape))
}

/// The input as 2-D: the axes before `axis` and those from it.
pub(super) fn flatten(call: &Call) -> Out {
    let x = call.input(0)?;
    let rank = x.rank();
    let axis = match call.int("axis", 1)? {
        a if a == rank as i64 => rank,
        a => call.axis(a, rank.max(1))?,
    };
    let rows: usize = x.shape()[..axis].iter().product();
    let cols: usize = x.shape()[axis..].iter().product();
    one(x.reshape(&[rows as isize, cols as isize]))
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
        true => call.optional(1).map(|_| call.host_ints(1)).transpose(),
        false => call.ints("axes"),
    }
}

/// Remove the listed axes of size 1, or every axis of size 1.
pub(super) fn squeeze(call: &Call) -> Out {
    let x = call.input(0)?;
    let shape = x.shape();
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
    let kept: Vec<usize> = (0..shape.len())
        .filter(|i| !drop.contains(i))
        .map(|i| shape[i])
        .collect();
    one(x.reshape(&isizes(&kept)))
}

/// Insert axes of size 1 at the listed positions of the output.
pub(super) fn unsqueeze(call: &Call) -> Out {
    let x = call.input(0)?;
    let axes = axes(call)?.ok_or("no axes")?;
    let rank = x.rank() + axes.len();
    let mut inserted = axes
        .iter()
        .map(|&a| call.axis(a, rank))
        .collect::<Result<Vec<_>, _>>()?;
    inserted.sort_unstable();
    if inserted.windows(2).any(|w| w[0] == w[1]) {
        return Err(format!("axes {axes:?} repeat"));
    }
    let mut sizes = x.shape().iter();
    let shape: Vec<usize> = (0..rank)
        .map(|i| match inserted.contains(&i) {
            true => 1,
            false => *sizes.next().unwrap_or(&1),
        })
        .collect();
    one(x.reshape(&isizes(&shape)))
}

pub(super) fn concat(call: &Call) -> Out {
    let inputs = call.all_inputs();
    let rank = inputs.first().ok_or("no inputs")?.rank();
    let axis = call.axis(call.int("axis", 0)?, rank)?;
    one(Tensor::concat(&inputs, axis as isize))
}

/// Broadcast the input and the shape input together (either may widen the other).
pub(super) fn expand(call: &Call) -> Out {
    let x = call.input(0)?;
    let target = call
        .host_ints(1)?
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("size {d} is negative")))
        .collect::<Result<Vec<usize>, String>>()?;
    let shape =
        crate::shape::broadcast_shapes("Expand", x.shape(), &target).map_err(|e| e.to_string())?;
    one(x.broadcast_to(&shape).map(|t| t.contiguous()))
}

/// The value attribute: a tensor, or one float, int or list of them.
pub(super) fn constant(call: &Call) -> Out {
    if let Some(t) = call.tensor("value")? {
        return Ok(vec![values::tensor(t, call.device)?]);
    }
    let made = if call.has("value_float") {
        Tensor::from_vec(vec![call.float("value_float", 0.0)?], &[], call.device)
    } else if call.has("value_int") {
        let v = i32::try_from(call.int("value_int", 0)?).map_err(|_| "value_int past i32")?;
        Tensor::from_vec(vec![v], &[], call.device)
    } else if let Some(v) = call.floats("value_floats")? {
        Tensor::from_vec(v.clone(), &[v.len()], call.device)
    } else if let Some(v) = call.ints("value_ints")? {
        let v = v
            .iter()
            .map(|&x| i32::try_from(x).map_err(|_| format!("{x} does not fit i32")))
            .collect::<Result<Vec<i32>, String>>()?;
        Tensor::from_vec(v.clone(), &[v.len()], call.device)
    } else {
        return Err(
            "a Constant without a value, value_float(s) or value_int(s) (strings are not read)"
                .into(),
        );
    };
    one(made)
}
