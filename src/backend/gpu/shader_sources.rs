//! WGSL sources, registered once, and their specialization per variant: the storage types
//! (`alias TI`/`alias TO` lines) and, for elementwise kernels, the op's expression.

use crate::dtype::DType;
use crate::ops::dispatch::{ShaderFile, ShaderVariant};

/// What the row kernels (reduce.wgsl, softmax.wgsl) are rendered after.
pub(crate) const ROWS: &str = include_str!("../../../shaders/rows.wgsl");
/// What the register-tile product kernels (matmul_blocked.wgsl, conv_gemm.wgsl) are
/// rendered after.
pub(crate) const TILES: &str = include_str!("../../../shaders/tiles.wgsl");

pub(crate) fn source(file: ShaderFile) -> &'static str {
    match file {
        ShaderFile::Elementwise => include_str!("../../../shaders/elementwise.wgsl"),
        ShaderFile::ElementwiseVec4 => include_str!("../../../shaders/elementwise_vec4.wgsl"),
        ShaderFile::Reduce | ShaderFile::ReduceVec4 | ShaderFile::ReduceWide => concat!(
            include_str!("../../../shaders/rows.wgsl"),
            include_str!("../../../shaders/reduce.wgsl")
        ),
        ShaderFile::Matmul => include_str!("../../../shaders/matmul.wgsl"),
        ShaderFile::MatmulBlocked | ShaderFile::MatmulBlockedVec4 => concat!(
            include_str!("../../../shaders/tiles.wgsl"),
            include_str!("../../../shaders/matmul_blocked.wgsl")
        ),
        ShaderFile::MatmulShared => include_str!("../../../shaders/matmul_shared.wgsl"),
        ShaderFile::Conv | ShaderFile::ConvVec4 => concat!(
            include_str!("../../../shaders/tiles.wgsl"),
            include_str!("../../../shaders/conv_gemm.wgsl")
        ),
        ShaderFile::Softmax | ShaderFile::SoftmaxVec4 => concat!(
            include_str!("../../../shaders/rows.wgsl"),
            include_str!("../../../shaders/softmax.wgsl")
        ),
        ShaderFile::Pool => include_str!("../../../shaders/pool.wgsl"),
    }
}

pub(crate) fn file_name(file: ShaderFile) -> &'static str {
    match file {
        ShaderFile::Elementwise => "elementwise.wgsl",
        ShaderFile::ElementwiseVec4 => "elementwise_vec4.wgsl",
        ShaderFile::Reduce | ShaderFile::ReduceVec4 | ShaderFile::ReduceWide => "reduce.wgsl",
        ShaderFile::Matmul => "matmul.wgsl",
        ShaderFile::MatmulBlocked | ShaderFile::MatmulBlockedVec4 => "matmul_blocked.wgsl",
        ShaderFile::MatmulShared => "matmul_shared.wgsl",
        ShaderFile::Conv | ShaderFile::ConvVec4 => "conv_gemm.wgsl",
        ShaderFile::Softmax | ShaderFile::SoftmaxVec4 => "softmax.wgsl",
        ShaderFile::Pool => "pool.wgsl",
    }
}

/// Marks a line's replacement in a file's four-wide form.
const FOUR_WIDE: &str = "// vec4: ";
/// Marks a line's replacement in reduce.wgsl's eight-wide form, after the four-wide ones.
const EIGHT_WIDE: &str = "// u64: ";
/// Marks a line's replacement in a row kernel's subgroup form (SUBGROUPS = 1). naga takes
/// subgroup operations with the device's SUBGROUP feature and refuses `enable subgroups;`.
const SUBGROUP_FORM: &str = "// subgroups: ";

/// A form of a file that marks it inline: each line followed by a `mark` line is replaced
/// by that line's text.
fn marked(src: &str, mark: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for line in src.lines() {
        if let Some(text) = line.strip_prefix(mark) {
            out.pop();
            out.push(text);
        } else {
            out.push(line);
        }
    }
    out.join("\n")
}

/// Replace the lines after the comment that starts with `start` (its continuation lines
/// included) up to the line `end` by `code`.
fn replace_region(src: &str, start: &str, end: &str, code: &str) -> String {
    let lines: Vec<&str> = src.lines().collect();
    let from = lines
        .iter()
        .position(|l| l.trim_start().starts_with(start))
        .map(|i| {
            i + lines[i..]
                .iter()
                .take_while(|l| l.trim_start().starts_with("//"))
                .count()
        });
    let to = lines.iter().position(|l| l.trim() == end);
    let (Some(from), Some(to)) = (from, to) else {
        return src.to_string();
    };
    let mut out: Vec<&str> = lines[..from].to_vec();
    out.extend(code.lines());
    out.extend(&lines[to..]);
    out.join("\n")
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
    let file = match v.file {
        ShaderFile::ReduceVec4
        | ShaderFile::SoftmaxVec4
        | ShaderFile::MatmulBlockedVec4
        | ShaderFile::ConvVec4 => marked(source(v.file), FOUR_WIDE),
        ShaderFile::ReduceWide => marked(&marked(source(v.file), FOUR_WIDE), EIGHT_WIDE),
        _ => source(v.file).to_string(),
    };
    let subgroups = v.consts.contains(&("SUBGROUPS", 1));
    let file = if subgroups {
        marked(&file, SUBGROUP_FORM)
    } else {
        file
    };
    let mut src = file
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
        (Some(code), "fused") => src = replace_line(&src, "fn fused_store(", code),
        (Some(code), "matmul" | "conv") => {
            src = replace_region(&src, "// blocks:", "// end blocks", code)
        }
        (Some(expr), "binary") => src = with_body(&src, "fn binary_op(", expr),
        (Some(expr), _) => src = with_body(&src, "fn unary_op(", expr),
        (None, _) => {}
    }
    for (name, value) in &v.consts {
        src = replace_line(
            &src,
            &format!("const {name}: u32 ="),
            &format!("const {name}: u32 = {value}u;"),
        );
    }
    if v.input == DType::F16 || v.output == DType::F16 {
        src.insert_str(0, "enable f16;\n");
    }
    src
}
