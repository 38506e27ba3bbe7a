//! The GPU side of the elementwise ops: dispatches of elementwise.wgsl (strided, one element
//! per invocation) and elementwise_vec4.wgsl (dense, four at a time), and the shader variant
//! of each op.

use crate::dtype::DType;
use crate::ops::dispatch::{Arg, Dispatch, Lowering, ShaderVariant};
use crate::ops::elementwise::fused;
use crate::ops::elementwise::table::{BinaryOp, UnaryOp};
use crate::ops::op::Op;
use crate::ops::op::StepDesc;
use crate::ops::params::{kernel_params, per_dim, Params};
use crate::ops::shader_files::{ShaderFile, RENDERED_TYPES};
use crate::shape::Layout;

kernel_params! {
    /// elementwise.wgsl's `Params`. Source k is the fused kernel's input k, or the other
    /// entry points' operand k; the fused kernel reads `count`, `dense` and `offsets` only.
    pub(crate) struct ElementwiseParams {
        shape: [[u32; 4]; 2],
        dst_strides: [[u32; 4]; 2],
        src0_strides: [[u32; 4]; 2],
        src1_strides: [[u32; 4]; 2],
        src2_strides: [[u32; 4]; 2],
        offsets: [[u32; 4]; 4],
        count: u32,
        rank: u32,
        unstrided: u32,
        dense: u32,
        dst_dense: u32,
        dst_offset: u32,
        fill: f32,
        _pad: u32,
    }

    /// elementwise_vec4.wgsl's `Params`: offsets in vectors for dense sources, in elements
    /// for broadcast scalars, and the count in vectors.
    pub(crate) struct ElementwiseVec4Params {
        offsets: [[u32; 4]; 4],
        count: u32,
        dense: u32,
        fill: f32,
        _pad: u32,
    }
}

/// Source k's offset and whether it is dense, into `offsets` and the bit mask `dense`.
pub(crate) fn set_source(
    offsets: &mut [[u32; 4]; 4],
    dense: &mut u32,
    k: usize,
    at: (usize, bool),
) {
    offsets[k / 4][k % 4] = at.0 as u32;
    *dense |= (at.1 as u32) << k;
}

/// Workgroup size of every entry point in elementwise.wgsl.
const WORKGROUP: usize = 256;

/// An elementwise dispatch writing `out` (any layout of the output buffer) from inputs read
/// through their layouts; `value` is the fill value where the entry point uses one. `whole`
/// says that `out` is the op's entire dense output, which lets the four-wide kernel write
/// past the last element into the buffer's padding.
pub(crate) fn dispatch(
    variant: ShaderVariant,
    inputs: &[(usize, &Layout)],
    out: &Layout,
    value: f32,
    whole: bool,
) -> Dispatch {
    let mut layouts = vec![out];
    layouts.extend(inputs.iter().map(|(_, l)| *l));
    let (shape, strides) = Layout::coalesce(&layouts);
    let n = out.numel();
    // Each operand is dense (element i at offset + i), a broadcast scalar (always at its
    // offset) or strided. Without strided operands the kernel skips the index arithmetic,
    // whose integer divisions are the costliest part of a simple kernel.
    let dense_strides = crate::shape::contiguous_strides(&shape);
    let dense: Vec<bool> = strides.iter().map(|s| *s == dense_strides).collect();
    let scalar: Vec<bool> = strides.iter().map(|s| s.iter().all(|&v| v == 0)).collect();
    let any_strided = dense.iter().zip(&scalar).any(|(d, s)| !d && !s);
    let mut bindings: Vec<(u32, Arg)> = inputs
        .iter()
        .enumerate()
        .map(|(k, (i, _))| (1 + k as u32, Arg::Input(*i)))
        .collect();
    bindings.push((4, Arg::Output(0)));
    let aligned = inputs
        .iter()
        .enumerate()
        .all(|(k, (_, l))| scalar[k + 1] || l.offset % 4 == 0);
    if whole && out.offset == 0 && dense[0] && !any_strided && aligned {
        let vectors = n.div_ceil(4);
        let mut params = ElementwiseVec4Params {
            count: vectors as u32,
            fill: value,
            ..Default::default()
        };
        for (k, (_, l)) in inputs.iter().enumerate() {
            // One element coalesces to no axes, which reads as dense and as a scalar: it is
            // read as a scalar, at its own offset, which need not be a multiple of 4.
            let vector = dense[k + 1] && !scalar[k + 1];
            let offset = if vector { l.offset / 4 } else { l.offset };
            set_source(&mut params.offsets, &mut params.dense, k, (offset, vector));
        }
        return Dispatch {
            variant: ShaderVariant {
                file: ShaderFile::ElementwiseVec4,
                ..variant
            },
            params: Params::of(&params),
            bindings,
            workgroups: vectors.div_ceil(WORKGROUP) as u32,
        };
    }
    let mut params = ElementwiseParams {
        count: n as u32,
        rank: shape.len() as u32,
        unstrided: !any_strided as u32,
        dst_dense: dense[0] as u32,
        dst_offset: out.offset as u32,
        fill: value,
        shape: per_dim(&shape),
        dst_strides: per_dim(&strides[0]),
        ..Default::default()
    };
    for (k, (_, l)) in inputs.iter().enumerate() {
        set_source(
            &mut params.offsets,
            &mut params.dense,
            k,
            (l.offset, dense[k + 1]),
        );
    }
    for (k, s) in strides[1..].iter().enumerate() {
        *[
            &mut params.src0_strides,
            &mut params.src1_strides,
            &mut params.src2_strides,
        ][k] = per_dim(s);
    }
    Dispatch {
        variant,
        params: Params::of(&params),
        bindings,
        workgroups: n.div_ceil(WORKGROUP) as u32,
    }
}

/// What the op placeholders of elementwise.wgsl hold in variants of the entry points that
/// do not call them: code that compiles and never runs.
const IDLE: [(&str, &str); 4] = [
    ("UNARY", "x"),
    ("BINARY", "a"),
    ("COMPARE", "a == b"),
    ("FUSED", "fn fused_store(i: u32) {}"),
];

/// The variant of elementwise.wgsl's `entry` whose op is `code`: an expression of x
/// (`unary`) or of a and b (`binary`), a comparison of a and b (`compare`), or the fused
/// kernel's `fused_store` (`fused`).
pub(crate) fn variant(
    entry: &'static str,
    input: DType,
    output: DType,
    code: Option<&str>,
) -> ShaderVariant {
    let slot = match entry {
        "unary" => "UNARY",
        "binary" => "BINARY",
        "compare" => "COMPARE",
        "fused" => "FUSED",
        _ => "",
    };
    let start = ShaderVariant::new(ShaderFile::Elementwise, entry, (input, output));
    IDLE.iter().fold(start, |v, &(name, idle)| match code {
        Some(code) if name == slot => v.with(name, code),
        _ => v.with(name, idle),
    })
}

/// The cast from `input` to `output`. WGSL saturates a float converted to i32 (at 2^31 − 128
/// from f32) and the CPU path does too, with NaN to 0 as Rust's `as`; GLSL leaves a value
/// out of range undefined, and naga's GL backend converts plainly, so the bounds are
/// explicit.
fn cast(input: DType, output: DType) -> ShaderVariant {
    let code = if output == DType::I32 && input != DType::I32 {
        "select(clamp(x, F(-2147483648.0), F(2147483520.0)), F(0.0), is_nan_(x))"
    } else {
        "x"
    };
    variant("unary", input, output, Some(code))
}

pub(crate) fn lower(step: &StepDesc) -> Lowering {
    let out = Layout::contiguous(step.out_shape);
    let ins: Vec<(usize, &Layout)> = step
        .inputs
        .iter()
        .enumerate()
        .map(|(i, (_, l))| (i, *l))
        .collect();
    let in_dtype = step.inputs.first().map_or(step.out_dtype, |(d, _)| *d);
    let (v, value) = match step.op {
        Op::Unary(op) => (
            variant("unary", in_dtype, step.out_dtype, Some(op.wgsl())),
            0.0,
        ),
        Op::Binary(op) if in_dtype == DType::I32 => (
            variant("compare", in_dtype, step.out_dtype, op.comparison()),
            0.0,
        ),
        Op::Binary(op) => (
            variant("binary", in_dtype, step.out_dtype, Some(op.wgsl())),
            0.0,
        ),
        Op::Where => (variant("select3", in_dtype, step.out_dtype, None), 0.0),
        Op::Cast => (cast(in_dtype, step.out_dtype), 0.0),
        Op::Copy => (variant("copy", in_dtype, step.out_dtype, None), 0.0),
        Op::Fill(bits) => (
            variant("fill", step.out_dtype, step.out_dtype, None),
            f64::from_bits(*bits) as f32,
        ),
        Op::Random => {
            // The seed is read as a broadcast scalar; only the one-at-a-time kernel has this.
            let seed = ins[0].1.expand(step.out_shape);
            let v = variant("random", in_dtype, step.out_dtype, None);
            return Lowering::of(vec![dispatch(v, &[(0, &seed)], &out, 0.0, false)]);
        }
        _ => unreachable!("not an elementwise op: {:?}", step.op),
    };
    Lowering::of(vec![dispatch(v, &ins, &out, value, true)])
}

/// The catalog's variants of elementwise.wgsl and elementwise_vec4.wgsl: every op in
/// every type, the casts, and a fused kernel that uses every op (src/shaders.rs).
pub(crate) fn every_variant() -> Vec<ShaderVariant> {
    let mut out = Vec::new();
    for t in RENDERED_TYPES {
        out.extend(variants_of(t));
    }
    out.extend(integer_variants());
    // Every variant but `random` also exists four elements at a time.
    let vectorized: Vec<ShaderVariant> = out
        .iter()
        .filter(|v| v.entry != "random")
        .map(|v| ShaderVariant {
            file: ShaderFile::ElementwiseVec4,
            ..v.clone()
        })
        .collect();
    out.extend(vectorized);
    // Fused kernels are generated per expression; one that uses every op stands for them.
    for t in RENDERED_TYPES {
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
    out
}

fn variants_of(t: DType) -> Vec<ShaderVariant> {
    let mut out: Vec<ShaderVariant> = UnaryOp::ALL
        .iter()
        .map(|op| variant("unary", t, t, Some(op.wgsl())))
        .chain(
            BinaryOp::ALL
                .iter()
                .map(|op| variant("binary", t, t, Some(op.wgsl()))),
        )
        .collect();
    for entry in ["select3", "fill", "random", "copy"] {
        out.push(variant(entry, t, t, None));
    }
    for o in RENDERED_TYPES {
        out.push(variant("unary", t, o, Some("x")));
    }
    // Casts to and from i32.
    out.push(cast(t, DType::I32));
    out.push(cast(DType::I32, t));
    out
}

/// What i32 data runs: copies, fills and comparisons (its casts are among the float types'
/// variants).
fn integer_variants() -> Vec<ShaderVariant> {
    let comparisons = BinaryOp::ALL.iter().filter_map(|op| op.comparison());
    ["copy", "fill"]
        .iter()
        .map(|entry| variant(entry, DType::I32, DType::I32, None))
        .chain(comparisons.map(|c| variant("compare", DType::I32, DType::I32, Some(c))))
        .collect()
}
