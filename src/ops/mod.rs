//! What each op means. One file per op family: the `Tensor` methods with their shape rules,
//! the CPU kernel, and the GPU dispatch description (plain data; only `backend::gpu` touches
//! wgpu), side by side.

pub(crate) mod conv;
pub(crate) mod cross_entropy;
pub mod elementwise;
pub(crate) mod exp;
pub(crate) mod fold;
pub(crate) mod fused;
pub mod matmul;
pub mod movement;
pub(crate) mod pool;
pub(crate) mod random;
pub(crate) mod real;
pub mod reduce;
pub(crate) mod rows;
pub mod softmax;

use crate::backend::cpu::CpuData;
use crate::dtype::DType;
use crate::error::Result;
use crate::shape::Layout;
use crate::tensor::Tensor;

pub use elementwise::{BinaryOp, UnaryOp};
pub use reduce::ReduceOp;
pub use softmax::SoftmaxKind;

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
    /// The cross-entropy of each row of logits [N, C] against targets [N], with label
    /// smoothing (f64 bits).
    CrossEntropy(u64),
    /// Its gradient with respect to the logits: inputs logits, targets and the rows' loss
    /// gradients [N].
    CrossEntropyGrad(u64),
    /// 2-D convolution of an image [N, C, H, W] with a weight [O, C/groups, KH, KW].
    Conv2d(conv::Geometry),
    /// Its gradient with respect to the image; inputs the output gradient, the weight and
    /// the image (for its shape).
    Conv2dGradInput(conv::Geometry),
    /// Its gradient with respect to the weight; inputs the image, the output gradient and
    /// the weight (for its shape).
    Conv2dGradWeight(conv::Geometry),
    /// Max or average pooling of an image [N, C, H, W].
    Pool2d(pool::PoolKind, pool::Window),
    /// Its gradient with respect to the image; inputs the output gradient, the image, and
    /// for the max the pooled output.
    Pool2dGrad(pool::PoolKind, pool::Window),
    /// Batched matmul of two inputs of shapes [..., M, K] and [..., K, N] with equal batch dims.
    Matmul,
    /// Join the inputs along `axis`.
    Concat {
        axis: usize,
    },
    /// Elementwise expressions over the same inputs in one kernel, one output each (made by
    /// the planner, never recorded).
    Fused(fused::Kernel),
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
            Op::CrossEntropy(_) => "cross_entropy",
            Op::CrossEntropyGrad(_) => "cross_entropy_grad",
            Op::Conv2d(_) => "conv2d",
            Op::Conv2dGradInput(_) => "conv2d_grad_input",
            Op::Conv2dGradWeight(_) => "conv2d_grad_weight",
            Op::Pool2d(kind, _) => kind.name(),
            Op::Pool2dGrad(..) => "pool2d_grad",
            Op::Matmul => "matmul",
            Op::Fused(_) => "fused",
            Op::Concat { .. } => "concat",
            Op::Place { .. } => "place",
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

/// The WGSL source files, one per kernel family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ShaderFile {
    Elementwise,
    ElementwiseVec4,
    Reduce,
    ReduceVec4,
    /// reduce.wgsl reading f32 rows eight elements a load (its `// vec4:`, then `// u64:`
    /// lines); for devices with SHADER_INT64.
    ReduceWide,
    Matmul,
    MatmulBlocked,
    /// matmul_blocked.wgsl writing C four elements at a time (its `// vec4:` lines).
    MatmulBlockedVec4,
    MatmulShared,
    Conv,
    /// conv_gemm.wgsl writing C four at a time (its `// vec4:` lines).
    ConvVec4,
    Softmax,
    Pool,
    /// softmax.wgsl with its `// vec4:` lines in place of the lines above them.
    SoftmaxVec4,
}

impl ShaderFile {
    /// The four-wide form of a file with `// vec4:` lines.
    pub(crate) fn four_wide(self) -> ShaderFile {
        match self {
            ShaderFile::Reduce => ShaderFile::ReduceVec4,
            ShaderFile::Softmax => ShaderFile::SoftmaxVec4,
            ShaderFile::MatmulBlocked => ShaderFile::MatmulBlockedVec4,
            ShaderFile::Conv => ShaderFile::ConvVec4,
            other => other,
        }
    }
}

/// One specialization of a shader file: input and output storage types, and for elementwise
/// kernels the WGSL expression of the op.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ShaderVariant {
    pub file: ShaderFile,
    pub entry: &'static str,
    pub input: DType,
    pub output: DType,
    pub expr: Option<String>,
    /// `const NAME: u32` declarations to set, such as a kernel's tile or lane count.
    pub consts: Vec<(&'static str, u32)>,
}

/// A buffer that a dispatch binds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Arg {
    Input(usize),
    /// The step's k-th output (only fused kernels have more than one).
    Output(usize),
    Scratch(usize),
}

/// One GPU dispatch as plain data. `params` is bound at binding 0; `workgroups` counts all
/// workgroups, which the backend folds into two dimensions when one would exceed the limit.
#[derive(Clone, Debug)]
pub(crate) struct Dispatch {
    pub variant: ShaderVariant,
    pub params: Vec<u32>,
    pub bindings: Vec<(u32, Arg)>,
    pub workgroups: u32,
}

/// The dispatches of one step, and the scratch buffers (bytes) they share.
#[derive(Default)]
pub(crate) struct Lowering {
    pub dispatches: Vec<Dispatch>,
    pub scratch: Vec<u64>,
}

impl Lowering {
    /// Dispatches that need no scratch buffers.
    pub(crate) fn of(dispatches: Vec<Dispatch>) -> Lowering {
        Lowering {
            dispatches,
            scratch: Vec::new(),
        }
    }
}

/// Chooses among kernels that compute the same thing (the GPU backend times them).
pub(crate) trait Tuner {
    /// Which of the candidate kernels `names` (the first the default) runs `step`, of the
    /// problem class `class`: `pinned` if given, else one remembered or timed, where
    /// `lower(i)` is candidate i's dispatch.
    fn choose(
        &self,
        step: &StepDesc,
        class: &str,
        names: &[String],
        pinned: Option<usize>,
        lower: &dyn Fn(usize) -> Lowering,
    ) -> usize;

    /// The device's subgroup size when it has subgroup operations and one fixed size that
    /// divides a 64-invocation workgroup; row kernels may then give each task a subgroup.
    fn subgroup_size(&self) -> Option<u32>;

    /// Whether the device has 64-bit integers (SHADER_INT64), so row sums may read f32 rows
    /// as vec4<u64> (reduce.wgsl's eight-wide variant).
    fn wide_loads(&self) -> bool;
}

/// Describe `step` as GPU dispatches.
pub(crate) fn lower(step: &StepDesc, tuner: &dyn Tuner) -> Lowering {
    match step.op {
        Op::Unary(_)
        | Op::Binary(_)
        | Op::Where
        | Op::Cast
        | Op::Copy
        | Op::Fill(_)
        | Op::Random => elementwise::lower(step),
        Op::Reduce { op, reduced } => fold::lower(*op, *reduced, step, tuner),
        Op::Softmax(kind) => softmax::lower(*kind, step, tuner),
        Op::CrossEntropy(eps) => cross_entropy::lower(*eps, false, step, tuner),
        Op::CrossEntropyGrad(eps) => cross_entropy::lower(*eps, true, step, tuner),
        Op::Conv2d(g) => conv::lower(conv::Product::Forward, *g, step, tuner),
        Op::Conv2dGradInput(g) => conv::lower(conv::Product::GradInput, *g, step, tuner),
        Op::Conv2dGradWeight(g) => conv::lower(conv::Product::GradWeight, *g, step, tuner),
        Op::Pool2d(kind, window) => pool::lower(*kind, *window, false, step),
        Op::Pool2dGrad(kind, window) => pool::lower(*kind, *window, true, step),
        Op::Matmul => matmul::lower(step, tuner),
        Op::Fused(kernel) => fused::lower(kernel, step),
        Op::Concat { axis } => movement::lower_concat(*axis, step),
        Op::Place { region, value } => movement::lower_place(region, *value, step),
    }
}

/// Run `step` on the CPU, writing `outs` (dense, already sized to the output; one per
/// output of the op).
pub(crate) fn run_cpu(step: &StepDesc, inputs: &[&CpuData], outs: &mut [CpuData]) -> Result<()> {
    if let Op::Fused(kernel) = step.op {
        return fused::run_cpu(kernel, step, inputs, outs);
    }
    let out = &mut outs[0];
    match step.op {
        Op::Unary(_)
        | Op::Binary(_)
        | Op::Where
        | Op::Cast
        | Op::Copy
        | Op::Fill(_)
        | Op::Random => elementwise::run_cpu(step, inputs, out),
        Op::Reduce { op, reduced } => reduce::run_cpu(*op, *reduced, step, inputs, out),
        Op::Softmax(kind) => softmax::run_cpu(*kind, step, inputs, out),
        Op::CrossEntropy(eps) => cross_entropy::run_cpu(*eps, false, step, inputs, out),
        Op::CrossEntropyGrad(eps) => cross_entropy::run_cpu(*eps, true, step, inputs, out),
        Op::Conv2d(g) => conv::run_cpu(conv::Product::Forward, *g, step, inputs, out),
        Op::Conv2dGradInput(g) => conv::run_cpu(conv::Product::GradInput, *g, step, inputs, out),
        Op::Conv2dGradWeight(g) => conv::run_cpu(conv::Product::GradWeight, *g, step, inputs, out),
        Op::Pool2d(kind, window) => pool::run_cpu(*kind, *window, false, step, inputs, out),
        Op::Pool2dGrad(kind, window) => pool::run_cpu(*kind, *window, true, step, inputs, out),
        Op::Matmul => matmul::run_cpu(step, inputs, out),
        Op::Fused(_) => unreachable!("fused kernels are run above"),
        Op::Concat { axis } => movement::run_concat_cpu(*axis, step, inputs, out),
        Op::Place { region, value } => movement::run_place_cpu(region, *value, step, inputs, out),
    }
}

/// Gradients of `op`'s inputs (each of its input view's shape; None where none flows)
/// given `y`, its dense output, and `g`, the gradient of `y`.
pub(crate) fn backward(
    op: &Op,
    inputs: &[Tensor],
    y: &Tensor,
    g: &Tensor,
) -> Result<Vec<Option<Tensor>>> {
    match op {
        Op::Unary(u) => Ok(vec![elementwise::unary_grad(*u, &inputs[0], y, g)?]),
        Op::Binary(b) => {
            let (da, db) = elementwise::binary_grad(*b, &inputs[0], &inputs[1], y, g)?;
            Ok(vec![da, db])
        }
        Op::Where => {
            let zero = Tensor::constant(0.0, g.dtype(), g.device())?;
            Ok(vec![
                None,
                Some(inputs[0].where_(g, &zero)?),
                Some(inputs[0].where_(&zero, g)?),
            ])
        }
        Op::Cast => Ok(vec![Some(g.cast(inputs[0].dtype())?)]),
        Op::Copy => Ok(vec![Some(g.clone())]),
        Op::Fill(_) => Ok(Vec::new()),
        Op::Random => Ok(vec![None]),
        Op::Reduce { op, reduced } => Ok(vec![reduce::grad(*op, *reduced, &inputs[0], y, g)?]),
        Op::Softmax(kind) => Ok(vec![Some(softmax::grad(*kind, &inputs[0], y, g)?)]),
        Op::CrossEntropy(eps) => Ok(vec![
            Some(cross_entropy::grad(*eps, &inputs[0], &inputs[1], g)),
            None,
        ]),
        Op::Conv2d(geometry) => {
            let [dx, dw] = conv::grad(*geometry, &inputs[0], &inputs[1], g);
            Ok(vec![Some(dx), Some(dw)])
        }
        Op::Pool2d(kind, window) => Ok(vec![Some(pool::grad(*kind, *window, &inputs[0], y, g))]),
        Op::Matmul => {
            let (da, db) = matmul::grad(&inputs[0], &inputs[1], g)?;
            Ok(vec![Some(da), Some(db)])
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
        Op::Place { region, .. } => Ok(vec![Some(crate::autodiff::view_through(g, region)?)]),
        Op::Fused(_) => unreachable!("fusion happens in plans, after differentiation"),
        Op::CrossEntropyGrad(_)
        | Op::Conv2dGradInput(_)
        | Op::Conv2dGradWeight(_)
        | Op::Pool2dGrad(..) => {
            unreachable!("recorded only by grad, under no_grad, so no gradient reaches it")
        }
    }
}

/// Shape and strides of up to `MAX_RANK` dims, padded for a shader's fixed-size arrays.
pub(crate) fn padded(values: &[usize]) -> [u32; crate::shape::MAX_RANK] {
    let mut out = [0u32; crate::shape::MAX_RANK];
    for (o, v) in out.iter_mut().zip(values) {
        *o = *v as u32;
    }
    out
}
