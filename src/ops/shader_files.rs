//! The registry of WGSL files: each file in `shaders/` once, with the files rendered before
//! it (its preludes), the Rust struct of its parameters (the WGSL `Params` at binding 0,
//! params.rs) and the function in its family's gpu.rs that lists the variants the catalog
//! renders (src/shaders.rs). A new kernel family's WGSL adds its line here and nowhere
//! else; tests hold the list to the folder, each struct to its WGSL, and every file to
//! some rendered variant.

use crate::dtype::DType;
use crate::ops::attention::gpu::{every_variant as attention_variants, AttentionParams};
use crate::ops::conv::gpu::{every_variant as conv_variants, ConvParams};
use crate::ops::dispatch::ShaderVariant;
use crate::ops::elementwise::gpu::{
    every_variant as elementwise_variants, ElementwiseParams, ElementwiseVec4Params,
};
use crate::ops::gather::gpu::{every_variant as gather_variants, GatherParams};
use crate::ops::layer_norm::gpu::every_variant as layer_norm_variants;
use crate::ops::matmul::gpu::{every_variant as matmul_variants, MatmulParams};
use crate::ops::params::{KernelParams, ParamsLayout};
use crate::ops::pool::gpu::{every_variant as pool_variants, PoolParams};
use crate::ops::recurrent::gpu::{every_variant as recurrent_variants, RecurrentParams};
use crate::ops::reduce::gpu::every_variant as reduce_variants;
use crate::ops::row_tasks::RowParams;
use crate::ops::sample::gpu::{every_variant as sample_variants, SampleParams};
use crate::ops::softmax::gpu::every_variant as softmax_variants;

/// The storage types that the catalog renders every variant in.
pub(crate) const RENDERED_TYPES: [DType; 2] = [DType::F32, DType::F16];

macro_rules! shader_files {
    (@variants) => { Vec::new() };
    (@variants $variants:path) => { $variants() };
    ($($(#[$doc:meta])* $file:ident = $name:literal $(after $($prelude:ident),+)?
        $(with $params:ty, variants $variants:path)?;)*) => {
        /// A WGSL file of `shaders/`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub(crate) enum ShaderFile {
            $($(#[$doc])* $file,)*
        }

        impl ShaderFile {
            pub(crate) const ALL: &'static [ShaderFile] = &[$(ShaderFile::$file,)*];

            pub(crate) fn name(self) -> &'static str {
                match self {
                    $(ShaderFile::$file => $name,)*
                }
            }

            /// The file's own text, as on disk.
            pub(crate) fn text(self) -> &'static str {
                match self {
                    $(ShaderFile::$file => include_str!(concat!("../../shaders/", $name)),)*
                }
            }

            /// The layout of the parameters that the file's kernels read, if they read any.
            pub(crate) fn params(self) -> Option<&'static ParamsLayout> {
                match self {
                    $(ShaderFile::$file => None$(.or(Some(<$params>::layout())))?,)*
                }
            }

            /// The variants of this file that the catalog renders (src/shaders.rs): those
            /// of the function named beside it that are of this file. A prelude has none.
            pub(crate) fn variants(self) -> Vec<ShaderVariant> {
                match self {
                    $(ShaderFile::$file => {
                        let mut out: Vec<ShaderVariant> = shader_files!(@variants $($variants)?);
                        out.retain(|v| v.file == self);
                        out
                    })*
                }
            }

            /// The files rendered before this one, in order.
            pub(crate) fn preludes(self) -> &'static [ShaderFile] {
                match self {
                    $(ShaderFile::$file => &[$($(ShaderFile::$prelude),+)?],)*
                }
            }
        }
    };
}

shader_files! {
    /// The helpers that elementwise.wgsl and elementwise_vec4.wgsl share.
    ElementwiseMath = "elementwise_math.wgsl";
    /// Counter-based random numbers, as the CPU path computes them.
    Hash = "hash.wgsl";
    Elementwise = "elementwise.wgsl" after ElementwiseMath, Hash
        with ElementwiseParams, variants elementwise_variants;
    ElementwiseVec4 = "elementwise_vec4.wgsl" after ElementwiseMath
        with ElementwiseVec4Params, variants elementwise_variants;
    /// What the row kernels share, their parameters' struct included.
    Rows = "rows.wgsl";
    Reduce = "reduce.wgsl" after Rows with RowParams, variants reduce_variants;
    Softmax = "softmax.wgsl" after Rows with RowParams, variants softmax_variants;
    LayerNorm = "layer_norm.wgsl" after Rows with RowParams, variants layer_norm_variants;
    /// What the register-tile product kernels share.
    Tiles = "tiles.wgsl";
    /// What the matrix product kernels share: their parameters' struct.
    MatmulParameters = "matmul_params.wgsl";
    Matmul = "matmul.wgsl" after MatmulParameters
        with MatmulParams, variants matmul_variants;
    MatmulBlocked = "matmul_blocked.wgsl" after MatmulParameters, Tiles
        with MatmulParams, variants matmul_variants;
    MatmulShared = "matmul_shared.wgsl" after MatmulParameters
        with MatmulParams, variants matmul_variants;
    Conv = "conv_gemm.wgsl" after Tiles with ConvParams, variants conv_variants;
    Pool = "pool.wgsl" with PoolParams, variants pool_variants;
    Gather = "gather.wgsl" with GatherParams, variants gather_variants;
    Sample = "sample.wgsl" after Hash with SampleParams, variants sample_variants;
    /// What the recurrent scan kernels share, their parameters' struct included.
    RecurrentParameters = "recurrent_params.wgsl";
    Recurrent = "recurrent.wgsl" after RecurrentParameters
        with RecurrentParams, variants recurrent_variants;
    RecurrentGrad = "recurrent_grad.wgsl" after RecurrentParameters
        with RecurrentParams, variants recurrent_variants;
    Attention = "attention.wgsl" with AttentionParams, variants attention_variants;
    SubgroupCheck = "subgroup_check.wgsl";
    /// The device's copy and FMA peaks (backend/gpu/peaks.rs).
    Peak = "peak.wgsl";
}

impl ShaderFile {
    /// The preludes' text and then the file's, as one template.
    pub(crate) fn template(self) -> String {
        let mut text = String::new();
        for part in self.preludes().iter().chain([&self]) {
            text.push_str(part.text());
            text.push('\n');
        }
        text
    }
}
