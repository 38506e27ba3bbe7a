//! Nodes evaluated on the host over integers (ints.rs says why): shapes and sizes of any
//! tensor, integer constants, the layout ops of host integers, and the arithmetic,
//! comparisons and logic of integer inputs. Every other node runs on the device.

use super::call::{Call, Value};
use super::ints::{self, broadcast_map, wrap, Ints};
use super::{layout, reduce, select, values};

type Out = Result<Vec<Ints>, String>;

/// The node's outputs when it runs on the host; None when it runs on the device.
pub(super) fn eval(call: &Call) -> Option<Out> {
    let host_data = matches!(call.inputs.first(), Some(Some(Value::Ints(_))));
    let all_host = call
        .inputs
        .iter()
        .flatten()
        .all(|v| matches!(v, Value::Ints(_)));
    let integers = call.all_integer();
    let run: fn(&Call) -> Out = match call.node.op_type.as_str() {
        "Shape" => shape,
        "Size" => |c| {
            Ok(vec![Ints::scalar(
                c.value(0)?.shape().iter().product::<usize>() as i64,
            )])
        },
        "Constant" if integer_constant(call) => constant,
        "ConstantOfShape" if integer_constant(call) => constant_of_shape,
        "Identity" if host_data => |c| Ok(vec![c.int_input(0)?]),
        "Reshape" if host_data => |c| relayout(c, layout::reshape_shape),
        "Flatten" if host_data => |c| relayout(c, layout::flatten_shape),
        "Squeeze" if host_data => |c| relayout(c, layout::squeeze_shape),
        "Unsqueeze" if host_data => |c| relayout(c, layout::unsqueeze_shape),
        "Expand" if host_data => |c| {
            let x = c.int_input(0)?;
            Ok(vec![x.broadcast_to(&layout::expand_shape(c, &x.shape)?)?])
        },
        "Slice" if host_data => slice,
        "Gather" if host_data && integers => gather,
        "Concat" if all_host => concat,
        "Cast" if integers && select::integer_type(call.int("to", 0).ok()?) => |c| {
            let to = c.int("to", 0)?;
            Ok(vec![map(&c.int_input(0)?, |v| wrap(v, to))])
        },
        "Trilu" if integers => trilu,
        "ReduceSum" | "ReduceProd" | "ReduceMax" | "ReduceMin" if integers => reduce,
        "Range" if integers => range,
        _ if integers => arithmetic(call.node.op_type.as_str())?,
        _ => return None,
    };
    Some(run(call))
}

/// The ops that run on the host only, which no device lowering covers.
pub(super) const HOST_ONLY: &[&str] = &["And", "Mod", "Not", "Or", "Shape", "Size", "Xor"];

fn map(x: &Ints, f: impl Fn(i64) -> i64) -> Ints {
    Ints {
        shape: x.shape.clone(),
        values: x.values.iter().map(|&v| f(v)).collect(),
    }
}

fn flag(b: bool) -> i64 {
    i64::from(b)
}

/// The integer form of an elementwise op, if it has one.
fn arithmetic(op: &str) -> Option<fn(&Call) -> Out> {
    Some(match op {
        "Add" => |c| binary(c, |a, b| Ok(a.wrapping_add(b))),
        "Sub" => |c| binary(c, |a, b| Ok(a.wrapping_sub(b))),
        "Mul" => |c| binary(c, |a, b| Ok(a.wrapping_mul(b))),
        "Div" => |c| binary(c, |a, b| nonzero(b).map(|b| a.wrapping_div(b))),
        "Mod" => |c| {
            let fmod = c.int("fmod", 0)? != 0;
            binary(c, move |a, b| {
                let r = a.wrapping_rem(nonzero(b)?);
                // Without fmod the remainder takes the divisor's sign, as Python's.
                Ok(match !fmod && r != 0 && (r < 0) != (b < 0) {
                    true => r + b,
                    false => r,
                })
            })
        },
        "Pow" => |c| binary(c, power),
        "Max" => |c| variadic(c, |a, b| a.max(b)),
        "Min" => |c| variadic(c, |a, b| a.min(b)),
        "Sum" => |c| variadic(c, |a, b| a.wrapping_add(b)),
        "Equal" => |c| binary(c, |a, b| Ok(flag(a == b))),
        "Less" => |c| binary(c, |a, b| Ok(flag(a < b))),
        "LessOrEqual" => |c| binary(c, |a, b| Ok(flag(a <= b))),
        "Greater" => |c| binary(c, |a, b| Ok(flag(a > b))),
        "GreaterOrEqual" => |c| binary(c, |a, b| Ok(flag(a >= b))),
        "And" => |c| binary(c, |a, b| Ok(flag(a != 0 && b != 0))),
        "Or" => |c| binary(c, |a, b| Ok(flag(a != 0 || b != 0))),
        "Xor" => |c| binary(c, |a, b| Ok(flag((a != 0) != (b != 0)))),
        "Not" => |c| Ok(vec![map(&c.int_input(0)?, |v| flag(v == 0))]),
        "Neg" => |c| Ok(vec![map(&c.int_input(0)?, i64::wrapping_neg)]),
        "Abs" => |c| Ok(vec![map(&c.int_input(0)?, i64::wrapping_abs)]),
        "Where" => |c| {
            let (condition, x, y) = (c.int_input(0)?, c.int_input(1)?, c.int_input(2)?);
            let out = broadcast_map(&[&condition, &x, &y], |v| {
                Ok(if v[0] != 0 { v[1] } else { v[2] })
            })?;
            Ok(vec![out])
        },
        _ => return None,
    })
}

fn nonzero(b: i64) -> Result<i64, String> {
    match b {
        0 => Err("an integer division by zero".into()),
        b => Ok(b),
    }
}

/// An integer power; a negative exponent is refused (its result is not an integer).
fn power(a: i64, b: i64) -> Result<i64, String> {
    u32::try_from(b)
        .map(|b| a.wrapping_pow(b))
        .map_err(|_| format!("the integer power {a}^{b}"))
}

fn binary(call: &Call, f: impl Fn(i64, i64) -> Result<i64, String>) -> Out {
    let (a, b) = (call.int_input(0)?, call.int_input(1)?);
    Ok(vec![broadcast_map(&[&a, &b], |v| f(v[0], v[1]))?])
}

fn variadic(call: &Call, f: fn(i64, i64) -> i64) -> Out {
    let inputs = (0..call.inputs.len())
        .filter(|&i| call.is_given(i))
        .map(|i| call.int_input(i))
        .collect::<Result<Vec<Ints>, String>>()?;
    let refs: Vec<&Ints> = inputs.iter().collect();
    let out = broadcast_map(&refs, |v| Ok(v.iter().copied().reduce(f).unwrap_or(0)))?;
    Ok(vec![out])
}

/// Whether a Constant or ConstantOfShape holds integers (ConstantOfShape without a value
/// fills float zeros).
fn integer_constant(call: &Call) -> bool {
    match call.tensor("value") {
        Ok(Some(t)) => select::integer_type(t.data_type),
        Ok(None) => call.has("value_int") || call.has("value_ints"),
        Err(_) => false,
    }
}

fn constant(call: &Call) -> Out {
    if let Some(t) = call.tensor("value")? {
        return Ok(vec![values::ints(t)?.ok_or("not integers")?]);
    }
    match call.ints("value_ints")? {
        Some(v) => Ok(vec![Ints::vector(v)]),
        None => Ok(vec![Ints::scalar(call.int("value_int", 0)?)]),
    }
}

fn constant_of_shape(call: &Call) -> Out {
    let value = values::ints(call.tensor("value")?.ok_or("no value")?)?
        .ok_or("not integers")?
        .single()?;
    let shape = select::sizes(&call.host_ints(0)?)?;
    Ok(vec![Ints::new(&shape, vec![value; ints::count(&shape)?])?])
}

/// The input's shape from axis `start` to `end` (negative from the end, clamped).
fn shape(call: &Call) -> Out {
    let shape = call.value(0)?.shape();
    let rank = shape.len() as i64;
    let clamp = |a: i64| (if a < 0 { a + rank } else { a }).clamp(0, rank) as usize;
    let (start, end) = (clamp(call.int("start", 0)?), clamp(call.int("end", rank)?));
    let dims = shape[start..end.max(start)].iter().map(|&d| d as i64);
    Ok(vec![Ints::vector(dims.collect())])
}

fn relayout(call: &Call, shape_of: fn(&Call, &[usize]) -> Result<Vec<usize>, String>) -> Out {
    let x = call.int_input(0)?;
    let shape = shape_of(call, &x.shape)?;
    Ok(vec![x.reshaped(&shape)?])
}

fn slice(call: &Call) -> Out {
    let mut x = call.int_input(0)?;
    for (axis, picks) in select::slice_picks(call, &x.shape)? {
        x = x.take(axis, &picks);
    }
    Ok(vec![x])
}

fn gather(call: &Call) -> Out {
    let (data, indices) = (call.int_input(0)?, call.int_input(1)?);
    let axis = call.axis(call.int("axis", 0)?, data.shape.len())?;
    let picks = select::positions(&indices.values, data.shape[axis])?;
    let taken = data.take(axis, &picks);
    Ok(vec![taken.reshaped(&select::gathered_shape(
        &data.shape,
        axis,
        &indices.shape,
    ))?])
}

fn concat(call: &Call) -> Out {
    let inputs = (0..call.inputs.len())
        .filter(|&i| call.is_given(i))
        .map(|i| call.int_input(i))
        .collect::<Result<Vec<Ints>, String>>()?;
    let first = inputs.first().ok_or("no inputs")?;
    let axis = call.axis(call.int("axis", 0)?, first.shape.len())?;
    let mut shape = first.shape.clone();
    shape[axis] = 0;
    for t in &inputs {
        let agrees = t.shape.len() == shape.len()
            && (0..shape.len()).all(|d| d == axis || t.shape[d] == shape[d]);
        if !agrees {
            return Err(format!(
                "shapes {:?} and {:?} do not join",
                first.shape, t.shape
            ));
        }
        shape[axis] += t.shape[axis];
    }
    let outer: usize = shape[..axis].iter().product();
    let mut values = Vec::with_capacity(shape.iter().product());
    for o in 0..outer {
        for t in &inputs {
            let chunk = t.shape[axis..].iter().product::<usize>();
            values.extend_from_slice(&t.values[o * chunk..(o + 1) * chunk]);
        }
    }
    Ok(vec![Ints::new(&shape, values)?])
}

/// The upper (or lower) triangle of the last two axes from diagonal k, zeros elsewhere.
fn trilu(call: &Call) -> Out {
    let x = call.int_input(0)?;
    let k = select::diagonal(call)?;
    let upper = call.int("upper", 1)? != 0;
    let rank = x.shape.len();
    if rank < 2 {
        return Err("Trilu needs at least two axes".into());
    }
    let (rows, cols) = (x.shape[rank - 2] as i64, x.shape[rank - 1] as i64);
    let values = x.values.iter().enumerate().map(|(n, &v)| {
        let (i, j) = ((n as i64 / cols) % rows, n as i64 % cols);
        let keep = if upper { j - i >= k } else { j - i <= k };
        if keep {
            v
        } else {
            0
        }
    });
    Ok(vec![Ints::new(&x.shape, values.collect())?])
}

/// start, start + delta, … short of limit.
fn range(call: &Call) -> Out {
    let (start, limit, delta) = (
        call.int_input(0)?.single()?,
        call.int_input(1)?.single()?,
        call.int_input(2)?.single()?,
    );
    if delta == 0 {
        return Err("Range with delta 0".into());
    }
    let span = i128::from(limit) - i128::from(start);
    let count = (span + i128::from(delta) - i128::from(delta.signum())) / i128::from(delta);
    let count = usize::try_from(count.max(0)).map_err(|_| "too many elements")?;
    ints::count(&[count])?;
    Ok(vec![Ints::vector(
        (0..count as i64).map(|i| start + i * delta).collect(),
    )])
}

/// ReduceSum, ReduceProd, ReduceMax or ReduceMin of integers (exporters take the product of
/// a shape for a flattened size); over nothing, the reduction's identity.
fn reduce(call: &Call) -> Out {
    let x = call.int_input(0)?;
    let keep = call.int("keepdims", 1)? != 0;
    let Some(axes) = reduce::reduced_axes(call, x.shape.len())? else {
        return Ok(vec![x]);
    };
    let (identity, f): (i64, fn(i64, i64) -> i64) = match call.node.op_type.as_str() {
        "ReduceSum" => (0, i64::wrapping_add),
        "ReduceProd" => (1, i64::wrapping_mul),
        "ReduceMax" => (i64::MIN, i64::max),
        _ => (i64::MAX, i64::min),
    };
    let reduced = |d: usize| axes.contains(&(d as isize));
    let kept: Vec<usize> = (0..x.shape.len())
        .map(|d| if reduced(d) { 1 } else { x.shape[d] })
        .collect();
    let mut values = vec![identity; ints::count(&kept)?];
    // Each element's place in the result: its index with the reduced axes at 0.
    let mut at = vec![0; x.shape.len()];
    for &v in &x.values {
        let place =
            (0..kept.len()).fold(0, |p, d| p * kept[d] + if reduced(d) { 0 } else { at[d] });
        values[place] = f(values[place], v);
        for d in (0..at.len()).rev() {
            at[d] += 1;
            if at[d] < x.shape[d] {
                break;
            }
            at[d] = 0;
        }
    }
    let shape: Vec<usize> = match keep {
        true => kept,
        false => (0..x.shape.len())
            .filter(|&d| !reduced(d))
            .map(|d| x.shape[d])
            .collect(),
    };
    Ok(vec![Ints::new(&shape, values)?])
}
