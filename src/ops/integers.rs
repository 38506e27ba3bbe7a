//! Where i32 tensors may appear in a step: as data that is moved (copies, joins, padding,
//! casts, fills), as operands of comparisons (which then give i32), as the indices an op
//! reads (gather's index, cross-entropy's targets), and as the positions an op writes
//! (`argmax`, `multinomial`). Every other operand is a float. The ops' methods refuse i32
//! where they can say so at the call; this check runs on every step before a kernel does,
//! on both devices, for the rest (unary functions, which return no `Result`).

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops::op::{Op, StepDesc};

/// What an operand or result of an op must be.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Float,
    Index,
    Any,
}

impl Kind {
    fn admits(self, dtype: DType) -> bool {
        match self {
            Kind::Float => dtype.is_float(),
            Kind::Index => dtype == DType::I32,
            Kind::Any => true,
        }
    }
}

/// The kind of input `k` of `op`.
fn input(op: &Op, k: usize) -> Kind {
    match (op, k) {
        (Op::Cast | Op::Copy | Op::Concat { .. } | Op::Place { .. }, _) => Kind::Any,
        (Op::Binary(b), _) if b.comparison().is_some() => Kind::Any,
        (Op::Gather { .. } | Op::ScatterAdd { .. }, 1) => Kind::Index,
        (Op::CrossEntropy(_) | Op::CrossEntropyGrad(_), 1) => Kind::Index,
        _ => Kind::Float,
    }
}

/// The kind of `op`'s result.
fn output(op: &Op) -> Kind {
    match op {
        Op::Cast | Op::Copy | Op::Concat { .. } | Op::Place { .. } | Op::Fill(_) => Kind::Any,
        Op::Binary(b) if b.comparison().is_some() => Kind::Any,
        Op::Reduce { op, .. } if op.is_arg() => Kind::Index,
        Op::Multinomial => Kind::Index,
        _ => Kind::Float,
    }
}

/// An error unless every dtype of `step` is one its op takes there.
pub(crate) fn check(step: &StepDesc) -> Result<()> {
    let name = step.op.name();
    for (k, (dtype, _)) in step.inputs.iter().enumerate() {
        if !input(step.op, k).admits(*dtype) {
            return Err(refusal(name, input(step.op, k), *dtype));
        }
    }
    if !output(step.op).admits(step.out_dtype) {
        return Err(refusal(name, output(step.op), step.out_dtype));
    }
    let filled = match step.op {
        Op::Fill(bits) | Op::Place { value: bits, .. } => f64::from_bits(*bits),
        _ => 0.0,
    };
    if step.out_dtype == DType::I32 && !(filled.fract() == 0.0 && filled.abs() <= F32_EXACT) {
        return Err(Error::invalid(
            name,
            format!(
                "an i32 fill value must be a whole number of magnitude at most 2^24, got {filled}"
            ),
        ));
    }
    Ok(())
}

/// The largest magnitude below which every whole number is exact in f32, as the shaders
/// receive fill values.
const F32_EXACT: f64 = (1u32 << 24) as f64;

fn refusal(op: &'static str, kind: Kind, got: DType) -> Error {
    match Error::expect_indices(op, got) {
        Err(e) if kind == Kind::Index => e,
        _ => Error::integer_arithmetic(op),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::elementwise::table::UnaryOp;
    use crate::ops::op::ReduceOp;
    use crate::shape::Layout;

    fn step<'a>(op: &'a Op, inputs: &[(DType, &'a Layout)], out: DType) -> StepDesc<'a> {
        StepDesc {
            op,
            inputs: inputs.to_vec(),
            out_dtype: out,
            out_shape: &[],
        }
    }

    #[test]
    fn i32_passes_where_data_moves_or_positions_are_named() {
        let l = Layout::contiguous(&[3]);
        let (i, f) = (DType::I32, DType::F32);
        let argmax = Op::Reduce {
            op: ReduceOp::ArgMax,
            reduced: 1,
        };
        assert!(check(&step(&Op::Cast, &[(i, &l)], f)).is_ok());
        assert!(check(&step(&Op::Cast, &[(f, &l)], i)).is_ok());
        assert!(check(&step(&Op::Copy, &[(i, &l)], i)).is_ok());
        assert!(check(&step(&argmax, &[(f, &l)], i)).is_ok());
        assert!(check(&step(&Op::Gather { axis: 0 }, &[(f, &l), (i, &l)], f)).is_ok());
    }

    #[test]
    fn i32_is_refused_where_an_op_computes_or_an_index_is_a_float() {
        let l = Layout::contiguous(&[3]);
        let (i, f) = (DType::I32, DType::F32);
        let exp = Op::Unary(UnaryOp::Exp);
        let err = check(&step(&exp, &[(i, &l)], i)).unwrap_err().to_string();
        assert!(err.contains("exp") && err.contains("float"), "{err}");
        let gather = Op::Gather { axis: 0 };
        let err = check(&step(&gather, &[(f, &l), (f, &l)], f))
            .unwrap_err()
            .to_string();
        assert!(err.contains("i32 indices"), "{err}");
        assert!(check(&step(&gather, &[(i, &l), (i, &l)], i)).is_err());
    }
}
