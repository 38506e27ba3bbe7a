//! GPU dispatches as plain data: the shader file and variant, the buffers bound, the
//! parameters and the workgroup count; and the tuner a lowering may ask to choose among
//! candidate kernels.

use crate::dtype::DType;
use crate::ops::op::StepDesc;

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

/// Shape and strides of up to `MAX_RANK` dims, padded for a shader's fixed-size arrays.
pub(crate) fn padded(values: &[usize]) -> [u32; crate::shape::MAX_RANK] {
    let mut out = [0u32; crate::shape::MAX_RANK];
    for (o, v) in out.iter_mut().zip(values) {
        *o = *v as u32;
    }
    out
}
