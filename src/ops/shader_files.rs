//! The registry of WGSL files: each file in `shaders/` once, with the files rendered before
//! it (its preludes). A new kernel family adds its line here and nowhere else; a test holds
//! the list to the folder.

macro_rules! shader_files {
    ($($(#[$doc:meta])* $file:ident = $name:literal $(after $($prelude:ident),+)?;)*) => {
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
    Elementwise = "elementwise.wgsl" after ElementwiseMath;
    ElementwiseVec4 = "elementwise_vec4.wgsl" after ElementwiseMath;
    /// What the row kernels share.
    Rows = "rows.wgsl";
    Reduce = "reduce.wgsl" after Rows;
    Softmax = "softmax.wgsl" after Rows;
    /// What the register-tile product kernels share.
    Tiles = "tiles.wgsl";
    Matmul = "matmul.wgsl";
    MatmulBlocked = "matmul_blocked.wgsl" after Tiles;
    MatmulShared = "matmul_shared.wgsl";
    Conv = "conv_gemm.wgsl" after Tiles;
    Pool = "pool.wgsl";
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
