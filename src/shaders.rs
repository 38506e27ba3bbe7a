//! Every WGSL variant the engine can compile, rendered: for validation and translation
//! tools, and for anyone who wants to read exactly what runs. Each family's variants come
//! from the same functions its lowering calls.

use crate::autotune::MatmulKernel;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops::conv::geometry::Product;
use crate::ops::dispatch::ShaderVariant;
use crate::ops::elementwise::fused;
use crate::ops::elementwise::gpu::variant as elementwise_variant;
use crate::ops::elementwise::table::{BinaryOp, UnaryOp};
use crate::ops::pool::window::{PoolKind, Window};
use crate::ops::row_tasks::row_variant;
use crate::ops::shader_files::ShaderFile;

pub use crate::ops::params::ParamsLayout;

/// One rendered shader: a label naming file, entry point, types and values, the files it is
/// rendered from (preludes first), the entry point, the WGSL source, and the layout of the
/// Rust struct its parameters (`Params` at binding 0) are written from.
pub struct RenderedShader {
    pub label: String,
    pub files: Vec<&'static str>,
    pub entry: &'static str,
    pub source: String,
    pub params: Option<&'static ParamsLayout>,
}

const TYPES: [DType; 2] = [DType::F32, DType::F16];

fn elementwise_variants(t: DType) -> Vec<ShaderVariant> {
    let mut out: Vec<ShaderVariant> = UnaryOp::ALL
        .iter()
        .map(|op| elementwise_variant("unary", t, t, Some(op.wgsl())))
        .chain(
            BinaryOp::ALL
                .iter()
                .map(|op| elementwise_variant("binary", t, t, Some(op.wgsl()))),
        )
        .collect();
    for entry in ["select3", "fill", "random"] {
        out.push(elementwise_variant(entry, t, t, None));
    }
    for o in TYPES {
        out.push(elementwise_variant("unary", t, o, Some("x")));
    }
    out
}

/// Row kernels in each load width, with and without subgroups, for every entry point.
fn row_variants(t: DType) -> Vec<ShaderVariant> {
    let mut out = Vec::new();
    for o in TYPES {
        for quads in [false, true] {
            for entry in ["reduce", "reduce_columns", "arg", "arg_chunks", "arg_merge"] {
                // (lanes, subgroup size, op, dot)
                for (lanes, size, op, dot) in [
                    (1, None, 0, 0),
                    (64, None, 1, 0),
                    (8, None, 0, 1),
                    (8, None, 3, 0),
                    (32, Some(8), 0, 1),
                    (64, Some(32), 1, 0),
                    (8, Some(8), 2, 0),
                    (16, Some(8), 3, 0),
                ] {
                    // Column reductions also fold eight quads a task.
                    let column_quads: &[u32] = if entry == "reduce_columns" {
                        &[1, 8]
                    } else {
                        &[1]
                    };
                    for &q in column_quads {
                        out.push(
                            row_variant(
                                ShaderFile::Reduce,
                                entry,
                                (t, o),
                                lanes,
                                size,
                                (quads, false),
                            )
                            .with("OP", op)
                            .with("DOT", dot)
                            .with("COLUMN_QUADS", q),
                        );
                    }
                }
            }
        }
        // Row sums of f32 eight elements a load.
        if t == DType::F32 {
            for (lanes, size, op, dot) in [(1, None, 0, 0), (64, None, 1, 1), (32, Some(8), 3, 0)] {
                out.push(
                    row_variant(
                        ShaderFile::Reduce,
                        "reduce",
                        (t, o),
                        lanes,
                        size,
                        (true, true),
                    )
                    .with("OP", op)
                    .with("DOT", dot)
                    .with("COLUMN_QUADS", 1),
                );
            }
        }
    }
    for entry in [
        "softmax",
        "logsumexp",
        "cross_entropy",
        "cross_entropy_grad",
    ] {
        // (lanes, subgroup size, four-wide, log)
        for (lanes, size, quads, log) in [
            (1, None, false, 0),
            (64, None, false, 1),
            (8, None, true, 1),
            (32, Some(8), false, 0),
            (8, Some(8), true, 1),
        ] {
            out.push(
                row_variant(
                    ShaderFile::Softmax,
                    entry,
                    (t, t),
                    lanes,
                    size,
                    (quads, false),
                )
                .with("LOG", log),
            );
        }
    }
    out
}

/// The product kernels (matmul, convolution) in their tile sizes and layouts, and pooling.
fn product_and_window_variants(t: DType) -> Vec<ShaderVariant> {
    let mut out = Vec::new();
    for product in [Product::Forward, Product::GradInput, Product::GradWeight] {
        for (blocks, quads, unit) in [
            ((1, 1), false, false),
            ((2, 4), true, true),
            ((4, 4), true, false),
        ] {
            out.push(crate::ops::conv::gpu::variant(
                product,
                (t, t),
                blocks,
                quads,
                unit,
            ));
        }
    }
    let window = Window {
        kernel: (3, 2),
        stride: (2, 1),
        padding: (1, 0),
        dilation: (1, 2),
    };
    for kind in [PoolKind::Max, PoolKind::Average] {
        for backward in [false, true] {
            out.push(crate::ops::pool::gpu::variant(
                kind,
                backward,
                (t, t),
                window,
                3,
                (9, 7),
                (5, 5),
            ));
        }
    }
    for kernel in MatmulKernel::ALL {
        for layouts in [(false, false), (false, true), (true, false), (true, true)] {
            for quads in [false, true] {
                out.push(crate::ops::matmul::gpu::variant(
                    kernel,
                    (t, t),
                    layouts,
                    quads,
                ));
            }
        }
    }
    out
}

fn all_variants() -> Vec<ShaderVariant> {
    let mut out = Vec::new();
    for t in TYPES {
        out.extend(elementwise_variants(t));
        out.extend(row_variants(t));
        out.extend(product_and_window_variants(t));
    }
    // Every elementwise variant but `random` also exists four elements at a time.
    let vectorized: Vec<ShaderVariant> = out
        .iter()
        .filter(|v| v.file == ShaderFile::Elementwise && v.entry != "random")
        .map(|v| ShaderVariant {
            file: ShaderFile::ElementwiseVec4,
            ..v.clone()
        })
        .collect();
    out.extend(vectorized);
    // Fused kernels are generated per expression; one that uses every op stands for them.
    for t in TYPES {
        for vectors in [false, true] {
            out.push(fused::shader(
                &fused::every_op(),
                fused::MAX_INPUTS,
                vectors,
                t,
                t,
            ));
        }
    }
    // Kernels that ignore an option (the output's width, say) appear once.
    let mut seen = std::collections::HashSet::new();
    out.retain(|v| seen.insert(v.clone()));
    out
}

/// Every variant, rendered; an error names the first that does not render. (The device
/// check, subgroup_check.wgsl, has no variants: it runs as written.)
pub fn rendered() -> Result<Vec<RenderedShader>> {
    all_variants()
        .into_iter()
        .map(|v| {
            let source = v.render().map_err(|e| Error::Gpu {
                context: v.label(),
                message: e.to_string(),
            })?;
            Ok(RenderedShader {
                label: v.label(),
                files: v
                    .file
                    .preludes()
                    .iter()
                    .chain([&v.file])
                    .map(|f| f.name())
                    .collect(),
                entry: v.entry,
                source,
                params: v.file.params(),
            })
        })
        .collect()
}

/// The shader files as they are on disk: (file name, text), each once.
pub fn files() -> Vec<(&'static str, &'static str)> {
    ShaderFile::ALL
        .iter()
        .map(|f| (f.name(), f.text()))
        .collect()
}
