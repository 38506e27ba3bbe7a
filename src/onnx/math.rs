//! Lowerings of ONNX's arithmetic: elementwise ops, products, softmax, casts and selection.

use super::call::{one, Call, Out};
use crate::dtype::DType;
use crate::graph::Tensor;
use crate::ops::{BinaryOp, UnaryOp};

pub(super) fn unary(call: &Call, op: UnaryOp) -> Out {
    Ok(vec![call.input(0)?.unary(op)])
}

/// A binary op; the second operand takes the first's dtype where ONNX lets them differ
/// (Pow's exponent).
pub(super) fn binary(call: &Call, op: BinaryOp) -> Out {
    let (a, b) = (call.input(0)?, call.input(1)?);
    let b = match op {
        BinaryOp::Pow => b.cast(a.dtype()).map_err(|e| e.to_string())?,
        _ => b.clone(),
    };
    one(a.binary(op, &b))
}

/// Sum, Mean, Max and Min of any number of inputs, broadcasting.
pub(super) fn variadic(call: &Call, op: BinaryOp, mean: bool) -> Out {
    let inputs = call.all_inputs()?;
    let (first, rest) = inputs.split_first().ok_or("no inputs")?;
    let mut total = first.clone();
    for t in rest {
        total = total.binary(op, t).map_err(|e| e.to_string())?;
    }
    match mean {
        true => one(total.mul_scalar(1.0 / inputs.len() as f64)),
        false => Ok(vec![total]),
    }
}

pub(super) fn identity(call: &Call) -> Out {
    Ok(vec![call.input(0)?.clone()])
}

/// NumPy's matmul: a 1-D operand is a row (left) or a column (right), removed after.
pub(super) fn matmul(call: &Call) -> Out {
    let (a, b) = (call.input(0)?, call.input(1)?);
    let product = (|| {
        let a2 = if a.rank() == 1 {
            a.unsqueeze(0)?
        } else {
            a.clone()
        };
        let b2 = if b.rank() == 1 {
            b.unsqueeze(-1)?
        } else {
            b.clone()
        };
        let mut y = a2.matmul(&b2)?;
        if b.rank() == 1 {
            y = y.squeeze(-1)?;
        }
        if a.rank() == 1 {
            y = y.squeeze(if b.rank() == 1 { -1 } else { -2 })?;
        }
        Ok(y)
    })();
    one(product)
}

/// alpha · A′B′ + beta · C, A′ and B′ transposed where asked.
pub(super) fn gemm(call: &Call) -> Out {
    let alpha = f64::from(call.float("alpha", 1.0)?);
    let beta = f64::from(call.float("beta", 1.0)?);
    let (trans_a, trans_b) = (call.int("transA", 0)? != 0, call.int("transB", 0)? != 0);
    let (a, b, c) = (call.input(0)?, call.input(1)?, call.optional(2)?);
    one((|| {
        let a = if trans_a { a.t()? } else { a.clone() };
        let b = if trans_b { b.t()? } else { b.clone() };
        let mut y = a.matmul(&b)?;
        if alpha != 1.0 {
            y = y.mul_scalar(alpha)?;
        }
        match c {
            Some(c) if beta == 1.0 => y.add(&c),
            Some(c) => y.add(&c.mul_scalar(beta)?),
            None => Ok(y),
        }
    })())
}

/// Softmax or LogSoftmax: over one axis from opset 13 (default the last); before it, over
/// the input flattened to 2-D at `axis` (default 1).
pub(super) fn softmax(call: &Call, log: bool) -> Out {
    let x = call.input(0)?;
    let apply = |t: &Tensor, axis: isize| match log {
        true => t.log_softmax(axis),
        false => t.softmax(axis),
    };
    if call.opset >= 13 {
        let axis = call.axis(call.int("axis", -1)?, x.rank())?;
        return one(apply(&x, axis as isize));
    }
    let axis = call.axis(call.int("axis", 1)?, x.rank().max(1))?;
    let rows: usize = x.shape()[..axis].iter().product();
    let cols: usize = x.shape()[axis..].iter().product();
    let shape: Vec<isize> = x.shape().iter().map(|&d| d as isize).collect();
    one((|| {
        apply(&x.reshape(&[rows as isize, cols as isize])?, 1)?.reshape(&shape)
    })())
}

/// GELU, exact or (approximate = "tanh") with tanh.
pub(super) fn gelu(call: &Call) -> Out {
    let x = call.input(0)?;
    match call.string("approximate", "none")?.as_str() {
        "none" => Ok(vec![x.unary(UnaryOp::Gelu)]),
        "tanh" => one((|| {
            let inner = x
                .add(&x.pow_scalar(3.0)?.mul_scalar(0.044715)?)?
                .mul_scalar((2.0 / std::f64::consts::PI).sqrt())?;
            inner.tanh().add_scalar(1.0)?.mul(&x)?.mul_scalar(0.5)
        })()),
        other => Err(format!("approximate = {other:?} is not none or tanh")),
    }
}

/// ONNX's element type numbers as the engine's dtypes (integers as i32).
pub(super) fn dtype_of(data_type: i64) -> Result<DType, String> {
    match data_type {
        1 | 16 => Ok(DType::F32),
        10 => Ok(DType::F16),
        11 => Ok(DType::F64),
        2..=7 | 12 | 13 => Ok(DType::I32),
        other => Err(format!(
            "a cast to {} is not supported",
            super::values::type_name(other)
        )),
    }
}

pub(super) fn cast(call: &Call) -> Out {
    let to = dtype_of(call.int("to", 0)?)?;
    one(call.input(0)?.cast(to))
}

/// Elements of X where the condition holds, else of Y.
pub(super) fn where_(call: &Call) -> Out {
    let (condition, x, y) = (call.input(0)?, call.input(1)?, call.input(2)?);
    one((|| condition.cast(x.dtype())?.where_cond(&x, &y))())
}
