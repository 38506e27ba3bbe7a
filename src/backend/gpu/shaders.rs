//! WGSL sources, registered once, and their specialization per variant: the storage types
//! (`alias TI`/`alias TO` lines) and, for elementwise kernels, the op's expression.

use crate::dtype::DType;
use crate::ops::{ShaderFile, ShaderVariant};

pub(crate) fn source(file: ShaderFile) -> &'static str {
    match file {
        ShaderFile::Elementwise => include_str!("../../../shaders/elementwise.wgsl"),
        ShaderFile::Reduce => include_str!("../../../shaders/reduce.wgsl"),
        ShaderFile::Matmul => include_str!("../../../shaders/matmul.wgsl"),
    }
}

pub(crate) fn file_name(file: ShaderFile) -> &'static str {
    match file {
        ShaderFile::Elementwise => "elementwise.wgsl",
        ShaderFile::Reduce => "reduce.wgsl",
        ShaderFile::Matmul => "matmul.wgsl",
    }
}

const UNARY_LINE: &str = "fn unary_op(x: f32) -> f32 { return x; }";
const BINARY_LINE: &str = "fn binary_op(a: f32, b: f32) -> f32 { return a + b; }";

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
    if let Some(expr) = v.expr {
        src = if v.entry == "binary" {
            src.replacen(
                BINARY_LINE,
                &format!("fn binary_op(a: f32, b: f32) -> f32 {{ return {expr}; }}"),
                1,
            )
        } else {
            src.replacen(
                UNARY_LINE,
                &format!("fn unary_op(x: f32) -> f32 {{ return {expr}; }}"),
                1,
            )
        };
    }
    if v.input == DType::F16 || v.output == DType::F16 {
        src.insert_str(0, "enable f16;\n");
    }
    src
}
