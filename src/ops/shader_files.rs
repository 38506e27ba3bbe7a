//! The registry of WGSL files: each file in `shaders/` once, with the files rendered before
//! it (its preludes) and the Rust struct of its parameters (the WGSL `Params` at binding 0,
//! params.rs). A new kernel family adds its line here and nowhere else; a test holds the
//! list to the folder and each struct to its WGSL.

use crate::ops::conv::gpu::ConvParams;
use crate::ops::elementwise::gpu::{ElementwiseParams, ElementwiseVec4Params};
use crate::ops::matmul::gpu::MatmulParams;
use crate::ops::params::{KernelParams, ParamsLayout};
use crate::ops::pool::gpu::PoolParams;
use crate::ops::row_tasks::RowParams;

macro_rules! shader_files {
    ($($(#[$doc:meta])* $file:ident = $name:literal $(after $($prelude:ident),+)?
        $(with $params:ty)?;)*) => {
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
    Elementwise = "elementwise.wgsl" after ElementwiseMath with ElementwiseParams;
    ElementwiseVec4 = "elementwise_vec4.wgsl" after ElementwiseMath with ElementwiseVec4Params;
    /// What the row kernels share, their parameters included.
    Rows = "rows.wgsl" with RowParams;
    Reduce = "reduce.wgsl" after Rows with RowParams;
    Softmax = "softmax.wgsl" after Rows with RowParams;
    /// What the register-tile product kernels share.
    Tiles = "tiles.wgsl";
    /// What the matrix product kernels share: their parameters.
    MatmulParameters = "matmul_params.wgsl" with MatmulParams;
    Matmul = "matmul.wgsl" after MatmulParameters with MatmulParams;
    MatmulBlocked = "matmul_blocked.wgsl" after MatmulParameters, Tiles with MatmulParams;
    MatmulShared = "matmul_shared.wgsl" after MatmulParameters with MatmulParams;
    Conv = "conv_gemm.wgsl" after Tiles with ConvParams;
    Pool = "pool.wgsl" with PoolParams;
    SubgroupCheck = "subgroup_check.wgsl";
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
