//! The GPU side of the elementwise ops: dispatches of elementwise.wgsl (strided, one element
//! per invocation) and elementwise_vec4.wgsl (dense, four at a time), and the shader variant
//! of each op.

use crate::dtype::DType;
use crate::ops::dispatch::{padded, Arg, Dispatch, Lowering, ShaderVariant};
use crate::ops::op::Op;
use crate::ops::op::StepDesc;
use crate::ops::shader_files::ShaderFile;
use crate::shape::Layout;

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
        let mut params = vec![0u32; 16];
        params[0] = vectors as u32;
        for (k, (_, l)) in inputs.iter().enumerate() {
            params[1] |= (dense[k + 1] as u32) << k;
            params[2 + k] = if dense[k + 1] { l.offset / 4 } else { l.offset } as u32;
        }
        params[5] = value.to_bits();
        return Dispatch {
            variant: ShaderVariant {
                file: ShaderFile::ElementwiseVec4,
                ..variant
            },
            params,
            bindings,
            workgroups: vectors.div_ceil(WORKGROUP) as u32,
        };
    }
    let mut dense_mask = 0u32;
    for (k, d) in dense.iter().enumerate() {
        dense_mask |= (*d as u32) << k;
    }
    let mut params = vec![0u32; 52];
    params[0] = n as u32;
    params[1] = shape.len() as u32;
    params[2] = !any_strided as u32;
    params[3] = out.offset as u32;
    for (k, (_, l)) in inputs.iter().enumerate() {
        params[4 + k] = l.offset as u32;
    }
    params[7] = value.to_bits();
    params[8..16].copy_from_slice(&padded(&shape));
    for (k, s) in strides.iter().enumerate() {
        params[16 + 8 * k..24 + 8 * k].copy_from_slice(&padded(s));
    }
    params[48] = dense_mask;
    Dispatch {
        variant,
        params,
        bindings,
        workgroups: n.div_ceil(WORKGROUP) as u32,
    }
}

/// What the op placeholders of elementwise.wgsl hold in variants of the entry points that
/// do not call them: code that compiles and never runs.
const IDLE: [(&str, &str); 3] = [
    ("UNARY", "x"),
    ("BINARY", "a"),
    ("FUSED", "fn fused_store(i: u32) {}"),
];

/// The variant of elementwise.wgsl's `entry` whose op is `code`: an expression of x
/// (`unary`) or of a and b (`binary`), or the fused kernel's `fused_store` (`fused`).
pub(crate) fn variant(
    entry: &'static str,
    input: DType,
    output: DType,
    code: Option<&str>,
) -> ShaderVariant {
    let slot = match entry {
        "unary" => "UNARY",
        "binary" => "BINARY",
        "fused" => "FUSED",
        _ => "",
    };
    let start = ShaderVariant::new(ShaderFile::Elementwise, entry, (input, output));
    IDLE.iter().fold(start, |v, &(name, idle)| match code {
        Some(code) if name == slot => v.with(name, code),
        _ => v.with(name, idle),
    })
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
        Op::Binary(op) => (
            variant("binary", in_dtype, step.out_dtype, Some(op.wgsl())),
            0.0,
        ),
        Op::Where => (variant("select3", in_dtype, step.out_dtype, None), 0.0),
        Op::Cast | Op::Copy => (variant("unary", in_dtype, step.out_dtype, Some("x")), 0.0),
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
