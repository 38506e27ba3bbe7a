//! Every WGSL variant the engine can compile, rendered: for validation and translation
//! tools, and for anyone who wants to read exactly what runs.

use crate::backend::gpu::shader_sources::{file_name, render};
use crate::dtype::DType;
use crate::ops::dispatch::{ShaderFile, ShaderVariant};
use crate::ops::elementwise::gpu::variant;
use crate::ops::elementwise::table::{BinaryOp, UnaryOp};

/// One rendered shader: a label naming file, entry point and types, the entry point, and
/// the WGSL source.
pub struct RenderedShader {
    pub label: String,
    pub entry: &'static str,
    pub source: String,
}

fn all_variants() -> Vec<ShaderVariant> {
    let mut out = Vec::new();
    for t in [DType::F32, DType::F16] {
        out.extend(
            UnaryOp::ALL
                .iter()
                .map(|op| variant("unary", t, t, Some(op.wgsl()))),
        );
        out.extend(
            BinaryOp::ALL
                .iter()
                .map(|op| variant("binary", t, t, Some(op.wgsl()))),
        );
        out.push(variant("select3", t, t, None));
        out.push(variant("fill", t, t, None));
        out.push(variant("random", t, t, None));
        out.push(variant("unary", t, t, Some("x")));
        for o in [DType::F32, DType::F16] {
            if o != t {
                out.push(variant("unary", t, o, Some("x")));
            }
            for file in [ShaderFile::Reduce, ShaderFile::ReduceVec4] {
                for entry in ["reduce", "reduce_columns", "arg", "arg_chunks", "arg_merge"] {
                    // (lanes, subgroup size or 0 for none, op, dot)
                    for (lanes, size, op, dot) in [
                        (1, 0, 0, 0),
                        (64, 0, 1, 0),
                        (8, 0, 0, 1),
                        (8, 0, 3, 0),
                        (32, 8, 0, 1),
                        (64, 32, 1, 0),
                        (8, 8, 2, 0),
                        (16, 8, 3, 0),
                    ] {
                        // Column reductions also fold eight quads a task.
                        let quads: &[u32] = if entry == "reduce_columns" {
                            &[1, 8]
                        } else {
                            &[1]
                        };
                        for &q in quads {
                            out.push(ShaderVariant {
                                file,
                                entry,
                                input: t,
                                output: o,
                                expr: None,
                                consts: vec![
                                    ("LANES", lanes),
                                    ("COLUMN_QUADS", q),
                                    ("SUBGROUPS", (size > 0) as u32),
                                    ("SUBGROUP_SIZE", size.max(1)),
                                    ("OP", op),
                                    ("DOT", dot),
                                ],
                            });
                        }
                    }
                }
            }
            // Row reductions of f32 eight elements a load.
            if t == DType::F32 {
                for (lanes, size, op, dot) in [(1, 0, 0, 0), (64, 0, 1, 1), (32, 8, 3, 0)] {
                    out.push(ShaderVariant {
                        file: ShaderFile::ReduceWide,
                        entry: "reduce",
                        input: t,
                        output: o,
                        expr: None,
                        consts: vec![
                            ("LANES", lanes),
                            ("SUBGROUPS", (size > 0) as u32),
                            ("SUBGROUP_SIZE", size.max(1)),
                            ("OP", op),
                            ("DOT", dot),
                            ("WIDE", 1),
                        ],
                    });
                }
            }
        }
        for entry in [
            "softmax",
            "logsumexp",
            "cross_entropy",
            "cross_entropy_grad",
        ] {
            // (file, lanes, subgroup size or 0 for none, log)
            for (file, lanes, size, log) in [
                (ShaderFile::Softmax, 1, 0, 0),
                (ShaderFile::Softmax, 64, 0, 1),
                (ShaderFile::SoftmaxVec4, 8, 0, 1),
                (ShaderFile::Softmax, 32, 8, 0),
                (ShaderFile::SoftmaxVec4, 8, 8, 1),
            ] {
                out.push(ShaderVariant {
                    file,
                    entry,
                    input: t,
                    output: t,
                    expr: None,
                    consts: vec![
                        ("LANES", lanes),
                        ("SUBGROUPS", (size > 0) as u32),
                        ("SUBGROUP_SIZE", size.max(1)),
                        ("LOG", log),
                    ],
                });
            }
        }
        for product in [
            crate::ops::conv::geometry::Product::Forward,
            crate::ops::conv::geometry::Product::GradInput,
            crate::ops::conv::geometry::Product::GradWeight,
        ] {
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
        for kind in [
            crate::ops::pool::window::PoolKind::Max,
            crate::ops::pool::window::PoolKind::Average,
        ] {
            for backward in [false, true] {
                let window = crate::ops::pool::window::Window {
                    kernel: (3, 2),
                    stride: (2, 1),
                    padding: (1, 0),
                    dilation: (1, 2),
                };
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
        // Every product kernel, the register tiles in each operand layout.
        for kernel in crate::autotune::MatmulKernel::ALL {
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
    for t in [DType::F32, DType::F16] {
        for vectors in [false, true] {
            out.push(crate::ops::elementwise::fused::shader(
                &crate::ops::elementwise::fused::every_op(),
                crate::ops::elementwise::fused::MAX_INPUTS,
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

/// Every variant, rendered.
pub fn rendered() -> Vec<RenderedShader> {
    all_variants()
        .into_iter()
        .map(|v| RenderedShader {
            label: format!(
                "{}:{} {}->{} {}{}",
                file_name(v.file),
                v.entry,
                v.input,
                v.output,
                v.expr.as_deref().unwrap_or(""),
                v.consts
                    .iter()
                    .map(|(name, value)| format!(" {name}={value}"))
                    .collect::<String>()
            ),
            entry: v.entry,
            source: render(&v),
        })
        .collect()
}

/// The shader files as they are on disk: (file name, source).
/// Files rendered after a prelude (rows.wgsl, tiles.wgsl) appear with it, and each prelude
/// on its own.
pub fn files() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&'static str, &'static str)> = [
        ShaderFile::Elementwise,
        ShaderFile::ElementwiseVec4,
        ShaderFile::Reduce,
        ShaderFile::Matmul,
        ShaderFile::MatmulBlocked,
        ShaderFile::MatmulShared,
        ShaderFile::Conv,
        ShaderFile::Softmax,
        ShaderFile::Pool,
    ]
    .into_iter()
    .map(|f| (file_name(f), crate::backend::gpu::shader_sources::source(f)))
    .collect();
    out.push(("rows.wgsl", crate::backend::gpu::shader_sources::ROWS));
    out.push(("tiles.wgsl", crate::backend::gpu::shader_sources::TILES));
    out.push((
        "subgroup_check.wgsl",
        crate::backend::gpu::subgroups::SOURCE,
    ));
    out
}
