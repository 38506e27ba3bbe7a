//! WGSL sources, registered once, and their specialization per variant: the storage types
//! (`alias TI`/`alias TO` lines) and, for elementwise kernels, the op's expression.

use crate::dtype::DType;
use crate::ops::{ShaderFile, ShaderVariant};

pub(crate) fn source(file: ShaderFile) -> &'static str {
    match file {
        ShaderFile::Elementwise => include_str!("../../../shaders/elementwise.wgsl"),
        ShaderFile::ElementwiseVec4 => include_str!("../../../shaders/elementwise_vec4.wgsl"),
        ShaderFile::Reduce => include_str!("../../../shaders/reduce.wgsl"),
        ShaderFile::ReduceVec4 => include_str!("../../../shaders/reduce_vec4.wgsl"),
        ShaderFile::Matmul => include_str!("../../../shaders/matmul.wgsl"),
        ShaderFile::MatmulBlocked => include_str!("../../../shaders/matmul_blocked.wgsl"),
    }
}

pub(crate) fn file_name(file: ShaderFile) -> &'static str {
    match file {
        ShaderFile::Elementwise => "elementwise.wgsl",
        ShaderFile::ElementwiseVec4 => "elementwise_vec4.wgsl",
        ShaderFile::Reduce => "reduce.wgsl",
        ShaderFile::ReduceVec4 => "reduce_vec4.wgsl",
        ShaderFile::Matmul => "matmul.wgsl",
        ShaderFile::MatmulBlocked => "matmul_blocked.wgsl",
    }
}

/// Replace the line that starts with `head` by `text`.
fn replace_line(src: &str, head: &str, text: &str) -> String {
    src.lines()
        .map(|line| if line.starts_with(head) { text } else { line })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Replace the body of the one-line function whose line starts with `head` by `return expr;`.
fn with_body(src: &str, head: &str, expr: &str) -> String {
    src.lines()
        .map(
            |line| match (line.starts_with(head), line.find("{ return ")) {
                (true, Some(at)) => format!("{}{{ return {expr}; }}", &line[..at]),
                _ => line.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("\n")
}

fn wgsl_type(dtype: DType) -> &'static str {
    dtype
        .wgsl()
        .expect("GPU steps only carry dtypes a shader can store")
}

/// The WGSL of one variant.
pub(crate) fn render(v: &ShaderVariant) -> String {
    let mut src = source(v.file)
        .replacen(
            "alias TI = f32;",
            &format!("alias TI = {};", wgsl_type(v.input)),
            1,
        )
        .replacen(
            "alias TO = f32;",
            &format!("alias TO = {};", wgsl_type(v.output)),
            1,
        );
    match (&v.expr, v.entry) {
        (Some(code), "fused") => src = replace_line(&src, "fn fused_op(", code),
        (Some(expr), "binary") => src = with_body(&src, "fn binary_op(", expr),
        (Some(expr), _) => src = with_body(&src, "fn unary_op(", expr),
        (None, _) => {}
    }
    if v.input == DType::F16 || v.output == DType::F16 {
        src.insert_str(0, "enable f16;\n");
    }
    src
}
