//! The primitives: every op the graph records, once, with the parameters that select a
//! kernel (which reduction, which softmax).

use crate::dtype::DType;
use crate::ops::attention::spec::Attention;
use crate::ops::conv::geometry::Conv2dSpec;
use crate::ops::elementwise::fused::Kernel;
use crate::ops::elementwise::table::{BinaryOp, UnaryOp};
use crate::ops::pool::window::{PoolKind, Window};
use crate::ops::recurrent::cell::Scan;
use crate::shape::Layout;

/// Every primitive the graph records. Values that must hash (fill values) are stored as bits.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Op {
    Unary(UnaryOp),
    Binary(BinaryOp),
    /// `where(cond, a, b)`: inputs cond, a, b, all broadcast to the output shape.
    Where,
    /// Convert to the node's dtype.
    Cast,
    /// Materialize a view densely.
    Copy,
    /// Every element the same value (f64 bits).
    Fill(u64),
    /// Uniform samples in [0, 1) from a hash of (seed, element index); the seed is the value
    /// of the one input (an integer below 2^24), so changing it keeps the plan.
    Random,
    /// Reduce the trailing `reduced` axes of the (permuted) input.
    Reduce {
        op: ReduceOp,
        reduced: usize,
    },
    /// Softmax, log_softmax or logsumexp along the last axis of the (permuted) input.
    Softmax(SoftmaxKind),
    /// Each row along the last axis to (x − mean)/sqrt(var + ε) (ε's f64 bits).
    LayerNorm(u64),
    /// Its gradient: inputs x and the output's gradient (ops/layer_norm/).
    LayerNormGrad(u64),
    /// The cross-entropy of each row of logits [N, C] against targets [N], with label
    /// smoothing (f64 bits).
    CrossEntropy(u64),
    /// Its gradient with respect to the logits: inputs logits, targets and the rows' loss
    /// gradients [N].
    CrossEntropyGrad(u64),
    /// 2-D convolution of an image [N, C, H, W] with a weight [O, C/groups, KH, KW].
    Conv2d(Conv2dSpec),
    /// Its gradient with respect to the image; inputs the output gradient, the weight and
    /// the image (for its shape).
    Conv2dGradInput(Conv2dSpec),
    /// Its gradient with respect to the weight; inputs the image, the output gradient and
    /// the weight (for its shape).
    Conv2dGradWeight(Conv2dSpec),
    /// Max or average pooling of an image [N, C, H, W].
    Pool2d(PoolKind, Window),
    /// Its gradient with respect to the image; inputs the output gradient, the image, and
    /// for the max the pooled output.
    Pool2dGrad(PoolKind, Window),
    /// Batched matmul of two inputs of shapes [..., M, K] and [..., K, N] with equal batch dims.
    Matmul,
    /// Read the first input along `axis` at the positions the second (an i32 index of the
    /// output's shape) names.
    Gather {
        axis: usize,
    },
    /// The gather's adjoint: the first input (of the index's shape) added into an output of
    /// the gathered source's shape at the positions the second names along `axis`.
    ScatterAdd {
        axis: usize,
    },
    /// One category per row of the first input's weights (along its last axis), drawn with
    /// the seed that is the second input's value.
    Multinomial,
    /// One direction of a recurrent layer over every timestep: inputs the input
    /// projections [T, B, gates·H], W_hhᵀ, b_hh, h0 and an LSTM's c0; output the trace
    /// (ops/recurrent/).
    Recurrent(Scan),
    /// Its gradient rows: inputs the trace's gradient, the trace, W_hh, h0 and c0.
    RecurrentGrad(Scan),
    /// Fused scaled dot-product attention, or one of its backward passes
    /// (ops/attention/).
    Attention(Attention),
    /// Join the inputs along `axis`.
    Concat {
        axis: usize,
    },
    /// Elementwise expressions over the same inputs in one kernel, one output each (made by
    /// the planner, never recorded).
    Fused(Kernel),
    /// An output filled with `value` (f64 bits) except `region`, a strided view of the
    /// output (injective) that receives the input: padding, and the adjoint of a view.
    Place {
        region: Layout,
        value: u64,
    },
}

impl Op {
    /// How many results the op writes (all of the output's shape and dtype).
    pub fn outputs(&self) -> usize {
        match self {
            Op::Fused(kernel) => kernel.outputs(),
            _ => 1,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Op::Unary(op) => op.name(),
            Op::Binary(op) => op.name(),
            Op::Where => "where",
            Op::Cast => "cast",
            Op::Copy => "contiguous",
            Op::Fill(_) => "full",
            Op::Random => "random",
            Op::Reduce { op, .. } => op.name(),
            Op::Softmax(kind) => kind.name(),
            Op::LayerNorm(_) => "layer_norm",
            Op::LayerNormGrad(_) => "layer_norm_grad",
            Op::CrossEntropy(_) => "cross_entropy",
            Op::CrossEntropyGrad(_) => "cross_entropy_grad",
            Op::Conv2d(_) => "conv2d",
            Op::Conv2dGradInput(_) => "conv2d_grad_input",
            Op::Conv2dGradWeight(_) => "conv2d_grad_weight",
            Op::Pool2d(kind, _) => kind.name(),
            Op::Pool2dGrad(..) => "pool2d_grad",
            Op::Matmul => "matmul",
            Op::Fused(_) => "fused",
            Op::Gather { .. } => "gather",
            Op::ScatterAdd { .. } => "scatter_add",
            Op::Multinomial => "multinomial",
            Op::Recurrent(_) => "recurrent",
            Op::RecurrentGrad(_) => "recurrent_grad",
            Op::Attention(spec) => spec.name(),
            Op::Concat { .. } => "concat",
            Op::Place { .. } => "place",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    Sum,
    Mean,
    Max,
    Min,
    Prod,
    /// The position of the maximum within the reduced axes (row-major over them), as i32.
    /// Ties go to the first; NaN elements are passed over.
    ArgMax,
    ArgMin,
}

impl ReduceOp {
    pub fn name(self) -> &'static str {
        match self {
            ReduceOp::Sum => "sum",
            ReduceOp::Mean => "mean",
            ReduceOp::Max => "max",
            ReduceOp::Min => "min",
            ReduceOp::Prod => "prod",
            ReduceOp::ArgMax => "argmax",
            ReduceOp::ArgMin => "argmin",
        }
    }

    /// The operation code reduce.wgsl switches on.
    pub(crate) fn code(self) -> u32 {
        match self {
            ReduceOp::Sum | ReduceOp::Mean | ReduceOp::ArgMax => 0,
            ReduceOp::Max | ReduceOp::ArgMin => 1,
            ReduceOp::Min => 2,
            ReduceOp::Prod => 3,
        }
    }

    pub(crate) fn is_arg(self) -> bool {
        matches!(self, ReduceOp::ArgMax | ReduceOp::ArgMin)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SoftmaxKind {
    Softmax,
    LogSoftmax,
    LogSumExp,
}

impl SoftmaxKind {
    pub fn name(self) -> &'static str {
        match self {
            SoftmaxKind::Softmax => "softmax",
            SoftmaxKind::LogSoftmax => "log_softmax",
            SoftmaxKind::LogSumExp => "logsumexp",
        }
    }
}

/// One compute step as the executors see it: the op, its inputs' dtypes and layouts, and
/// the dense output it writes.
pub(crate) struct StepDesc<'a> {
    pub op: &'a Op,
    pub inputs: Vec<(DType, &'a Layout)>,
    pub out_dtype: DType,
    pub out_shape: &'a [usize],
}
