//! What a step asks of the machine, for the profiler's rates and roofline shares: its
//! floating-point operations and the bytes it must move at least (each distinct input
//! element read once, each output written once). Counts follow the usual conventions: a
//! multiply-add is 2 FLOP, an elementwise function 1 per element however it is computed,
//! comparisons and data movement none.

use crate::ops::attention::spec::Pass;
use crate::ops::op::{Op, StepDesc};
use crate::shape::{numel, Layout};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cost {
    pub flop: u64,
    pub bytes: u64,
}

/// Distinct elements a view reads: a broadcast axis (stride 0) reads its elements once.
fn distinct(layout: &Layout) -> usize {
    layout
        .shape
        .iter()
        .zip(&layout.strides)
        .filter(|(_, &s)| s != 0)
        .map(|(&n, _)| n)
        .product()
}

/// The trailing `k` axes of an input's shape, as a product.
fn tail(desc: &StepDesc, input: usize, k: usize) -> usize {
    let shape = &desc.inputs[input].1.shape;
    shape[shape.len().saturating_sub(k)..].iter().product()
}

fn flop(desc: &StepDesc) -> usize {
    let out = numel(desc.out_shape);
    let input = |i: usize| desc.inputs.get(i).map_or(0, |(_, l)| l.numel());
    match desc.op {
        Op::Unary(_) | Op::Binary(_) | Op::Where => out,
        Op::Fused(kernel) => out * kernel.values.iter().map(|v| v.ops()).sum::<usize>(),
        Op::Reduce { .. } => input(0),
        // max, subtract, exp, sum, divide (or log) per element.
        Op::Softmax(_) | Op::CrossEntropy(_) | Op::CrossEntropyGrad(_) => 5 * input(0),
        // mean, variance, normalize; the gradient's two row sums and its combination.
        Op::LayerNorm(_) => 5 * input(0),
        Op::LayerNormGrad(_) => 8 * input(0),
        // Each output element is a dot product over C/groups·KH·KW image elements; both
        // gradients are products of the same size.
        Op::Conv2d(_) => 2 * out * tail(desc, 1, 3),
        Op::Conv2dGradInput(_) => 2 * input(0) * tail(desc, 1, 3),
        Op::Conv2dGradWeight(_) => 2 * input(1) * tail(desc, 2, 3),
        Op::Pool2d(_, w) => out * w.kernel.0 * w.kernel.1,
        Op::Pool2dGrad(_, w) => input(0) * w.kernel.0 * w.kernel.1,
        Op::Matmul => 2 * out * tail(desc, 0, 1),
        // The recurrent product h·W_hhᵀ every timestep ([B, H] by [H, G·H]), and the gates'
        // arithmetic, about four operations per gate element forward and eight back; the
        // gradient's product is dgates·W_hh ([B, G·H] by [G·H, H]).
        Op::Recurrent(_) => {
            let hidden = desc.inputs[1].1.shape[0];
            (2 * hidden + 4) * input(0)
        }
        Op::RecurrentGrad(_) => {
            let g = &desc.inputs[0].1.shape;
            let gates = desc.inputs[2].1.shape[0];
            let hidden = desc.inputs[3].1.shape[1];
            (2 * hidden + 8) * g[0] * g[1] * gates
        }
        // Scores q·kᵀ and their product with v (2 FLOP each per score and feature); the
        // backward passes recompute the scores and run two or three more products.
        Op::Attention(a) => {
            let q = &desc.inputs[0].1.shape;
            let k = &desc.inputs[1].1.shape;
            let scores = numel(&q[..q.len() - 1]) * k[k.len() - 2];
            let d = q[q.len() - 1];
            let products = match a.pass {
                Pass::Forward => 2,
                Pass::GradQ => 3,
                Pass::GradKv => 4,
            };
            2 * products * scores * d
        }
        Op::Cast
        | Op::Copy
        | Op::Fill(_)
        | Op::Random
        | Op::Gather { .. }
        | Op::ScatterAdd { .. }
        | Op::Multinomial
        | Op::Concat { .. }
        | Op::Place { .. } => 0,
    }
}

/// A step's operands and result, as `f32[64,784] f32[784,256] -> f32[64,256]`.
pub(crate) fn describe(desc: &StepDesc) -> String {
    let one = |dtype: crate::dtype::DType, shape: &[usize]| {
        let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        format!("{dtype}[{}]", dims.join(","))
    };
    let inputs: Vec<String> = desc.inputs.iter().map(|(d, l)| one(*d, &l.shape)).collect();
    format!(
        "{} -> {}",
        inputs.join(" "),
        one(desc.out_dtype, desc.out_shape)
    )
}

/// The cost of one step.
pub(crate) fn cost(desc: &StepDesc) -> Cost {
    let read: usize = desc
        .inputs
        .iter()
        .map(|(dtype, layout)| distinct(layout) * dtype.size_in_bytes())
        .sum();
    let written = numel(desc.out_shape) * desc.out_dtype.size_in_bytes() * desc.op.outputs();
    Cost {
        flop: flop(desc) as u64,
        bytes: (read + written) as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;

    #[test]
    fn a_product_counts_two_flop_per_multiply_add_and_each_operand_once() {
        let (a, b) = (Layout::contiguous(&[7, 13]), Layout::contiguous(&[13, 5]));
        let desc = StepDesc {
            op: &Op::Matmul,
            inputs: vec![(DType::F32, &a), (DType::F32, &b)],
            out_dtype: DType::F32,
            out_shape: &[7, 5],
        };
        assert_eq!(
            cost(&desc),
            Cost {
                flop: 2 * 7 * 13 * 5,
                bytes: 4 * (7 * 13 + 13 * 5 + 7 * 5)
            }
        );
    }

    #[test]
    fn a_broadcast_operand_is_read_once() {
        let x = Layout::contiguous(&[64, 10]);
        let bias = Layout::contiguous(&[10]).expand(&[64, 10]);
        let desc = StepDesc {
            op: &Op::Binary(crate::ops::BinaryOp::Add),
            inputs: vec![(DType::F32, &x), (DType::F32, &bias)],
            out_dtype: DType::F32,
            out_shape: &[64, 10],
        };
        assert_eq!(
            cost(&desc),
            Cost {
                flop: 640,
                bytes: 4 * (640 + 10 + 640)
            }
        );
    }
}
