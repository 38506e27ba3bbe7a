//! The gradient rules, routed by op: each family's rule lives with its tensor API.

use crate::error::Result;
use crate::graph::Tensor;
use crate::ops::op::Op;

/// How many leading values of each row (along the last axis) of `op`'s output of `shape`
/// its rule reads the gradient of, where that is fewer than all: `backward` then gets the
/// gradient of those columns alone, [..., kept], and nothing is spent on the rest.
pub(crate) fn gradient_columns(op: &Op, shape: &[usize]) -> Option<usize> {
    match op {
        Op::Recurrent(scan) => {
            let hidden = shape.last()? / scan.cell.trace_blocks();
            Some(scan.cell.state_blocks() * hidden)
        }
        _ => None,
    }
}

/// Gradients of `op`'s inputs (each of its input view's shape; None where none flows)
/// given `y`, its dense output, and `g`, the gradient of `y` (of its leading columns
/// where `gradient_columns` says so).
pub(crate) fn backward(
    op: &Op,
    inputs: &[Tensor],
    y: &Tensor,
    g: &Tensor,
) -> Result<Vec<Option<Tensor>>> {
    match op {
        Op::Unary(u) => Ok(vec![crate::ops::elementwise::unary_grad(
            *u, &inputs[0], y, g,
        )?]),
        Op::Binary(b) => {
            let (da, db) = crate::ops::elementwise::binary_grad(*b, &inputs[0], &inputs[1], y, g)?;
            Ok(vec![da, db])
        }
        Op::Where => {
            let zero = Tensor::constant(0.0, g.dtype(), g.device())?;
            Ok(vec![
                None,
                Some(inputs[0].where_cond(g, &zero)?),
                Some(inputs[0].where_cond(&zero, g)?),
            ])
        }
        // Integers are steps: nothing flows through a cast to or from i32.
        Op::Cast if !(inputs[0].dtype().is_float() && y.dtype().is_float()) => Ok(vec![None]),
        Op::Cast => Ok(vec![Some(g.cast(inputs[0].dtype())?)]),
        Op::Copy => Ok(vec![Some(g.clone())]),
        Op::Fill(_) => Ok(Vec::new()),
        Op::Random => Ok(vec![None]),
        Op::Multinomial => Ok(vec![None, None]),
        Op::Reduce { op, reduced } => Ok(vec![crate::ops::reduce::grad(
            *op, *reduced, &inputs[0], y, g,
        )?]),
        Op::Softmax(kind) => Ok(vec![Some(crate::ops::softmax::grad(
            *kind, &inputs[0], y, g,
        )?)]),
        Op::LayerNorm(eps) => Ok(vec![Some(crate::ops::layer_norm::grad(
            *eps, &inputs[0], g,
        ))]),
        Op::CrossEntropy(eps) => Ok(vec![
            Some(crate::ops::cross_entropy::grad(
                *eps, &inputs[0], &inputs[1], g,
            )),
            None,
        ]),
        Op::Conv2d(geometry) => {
            let [dx, dw] = crate::ops::conv::grad(*geometry, &inputs[0], &inputs[1], g);
            Ok(vec![Some(dx), Some(dw)])
        }
        Op::Pool2d(kind, window) => Ok(vec![Some(crate::ops::pool::grad(
            *kind, *window, &inputs[0], y, g,
        ))]),
        Op::Matmul => {
            let (da, db) = crate::ops::matmul::grad(&inputs[0], &inputs[1], g)?;
            Ok(vec![Some(da), Some(db)])
        }
        Op::Gather { axis } => Ok(vec![
            Some(crate::ops::gather::grad(*axis, &inputs[0], &inputs[1], g)),
            None,
        ]),
        Op::Recurrent(scan) => crate::ops::recurrent::grad(*scan, inputs, y, g),
        Op::Attention(spec) if spec.pass == crate::ops::attention::Pass::Forward => {
            crate::ops::attention::grad(*spec, inputs, y, g)
        }
        Op::Concat { axis } => {
            let mut start = 0;
            inputs
                .iter()
                .map(|t| {
                    let len = t.shape()[*axis];
                    start += len;
                    Ok(Some(g.slice(
                        *axis as isize,
                        (start - len) as isize,
                        start as isize,
                        1,
                    )?))
                })
                .collect()
        }
        Op::Place { region, .. } => Ok(vec![Some(super::view_through(g, region)?)]),
        Op::Fused(_) => unreachable!("fusion happens in plans, after differentiation"),
        Op::CrossEntropyGrad(_)
        | Op::LayerNormGrad(_)
        | Op::Conv2dGradInput(_)
        | Op::Conv2dGradWeight(_)
        | Op::Pool2dGrad(..)
        | Op::ScatterAdd { .. }
        | Op::RecurrentGrad(_)
        | Op::Attention(_) => {
            unreachable!("recorded only by grad, under no_grad, so no gradient reaches it")
        }
    }
}
