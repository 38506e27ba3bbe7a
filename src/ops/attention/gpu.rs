//! Fused attention as dispatches of attention.wgsl, one invocation per output row; the
//! head sizes are constants of the variant (each model compiles its own).
//!
//! The software Vulkan device (llvmpipe's compiler) ends any loop of an invocation once
//! the invocation has run 65,535 loop iterations in all, silently: a long sequence would
//! leave rows half done. So each pass runs in spans of keys (of queries for dk and dv) short
//! enough to stay well inside that budget, each dispatch continuing from what the one
//! before wrote. At head size 32 a span is some 1,800 keys, at 128 some 460; every device
//! runs the same spans, so results do not depend on the adapter.

use crate::dtype::DType;
use crate::ops::attention::spec::{Attention, Pass};
use crate::ops::dispatch::{Arg, Dispatch, Lowering, ShaderVariant};
use crate::ops::op::StepDesc;
use crate::ops::params::{kernel_params, Params};
use crate::ops::shader_files::{ShaderFile, RENDERED_TYPES};

kernel_params! {
    /// The `Params` of attention.wgsl: the sizes, and each input slot's offset and strides
    /// (as [b0, b1, rows, columns]); slots q, k, v, dO, lse, δ, mask.
    pub(crate) struct AttentionParams {
        heads_inner: u32,
        rows: u32,
        total: u32,
        queries: u32,
        keys: u32,
        span_start: u32,
        span_end: u32,
        _pad: u32,
        offsets: [[u32; 4]; 2],
        strides: [[u32; 4]; 7],
    }
}

/// Invocations per workgroup (attention.wgsl).
const WORKGROUP: usize = 64;

/// The mask's slot in attention.wgsl.
const MASK_SLOT: usize = 6;

/// Loop iterations an invocation may run (the software device stops at 65,535), with room
/// for the loops outside the span's.
const LOOP_BUDGET: usize = 60_000;

/// Keys (or queries) per dispatch for head sizes d and dv: an invocation runs at most
/// 1 + 2·⌈d/4⌉ + 2·⌈dv/4⌉ loop iterations per key, and 3·(⌈d/4⌉ + ⌈dv/4⌉) around them.
fn span(d: usize, dv: usize) -> usize {
    let (d4, dv4) = (d.div_ceil(4), dv.div_ceil(4));
    (LOOP_BUDGET - 3 * (d4 + dv4)) / (1 + 2 * d4 + 2 * dv4)
}

fn variant(spec: Attention, (d, dv): (usize, usize), dtypes: (DType, DType)) -> ShaderVariant {
    let entry = match spec.pass {
        Pass::Forward => "attention_forward",
        Pass::GradQ => "attention_grad_q",
        Pass::GradKv => "attention_grad_kv",
    };
    ShaderVariant::new(ShaderFile::Attention, entry, dtypes)
        .with("D", d)
        .with("DV", dv)
        .switch("CAUSAL", spec.causal)
        .switch("MASKED", spec.masked)
}

pub(crate) fn lower(spec: Attention, step: &StepDesc) -> Lowering {
    let layout = |k: usize| step.inputs[k].1;
    let (d, dv) = (layout(0).shape[3], layout(2).shape[3]);
    let [b0, b1, rows, _] = step.out_shape[..] else {
        unreachable!("attention's output has four axes")
    };
    // Input k of the step in each slot; the forward pass has no dO, lse or δ.
    let mask_input = if spec.pass == Pass::Forward { 3 } else { 6 };
    let slots: Vec<(usize, usize)> = match spec.pass {
        Pass::Forward => vec![(0, 0), (1, 1), (2, 2)],
        _ => (0..6).map(|k| (k, k)).collect(),
    }
    .into_iter()
    .chain([(MASK_SLOT, if spec.masked { mask_input } else { 0 })])
    .collect();
    let (queries, keys) = (layout(0).shape[2], layout(1).shape[2]);
    let mut params = AttentionParams {
        heads_inner: b1 as u32,
        rows: rows as u32,
        total: (b0 * b1 * rows) as u32,
        queries: queries as u32,
        keys: keys as u32,
        ..Default::default()
    };
    for &(slot, input) in &slots {
        let l = layout(input);
        params.offsets[slot / 4][slot % 4] = l.offset as u32;
        params.strides[slot] = std::array::from_fn(|a| l.strides[a] as u32);
    }
    let mut bindings: Vec<(u32, Arg)> = slots
        .iter()
        .map(|&(slot, input)| (slot as u32 + 1, Arg::Input(input)))
        .collect();
    bindings.push((MASK_SLOT as u32 + 2, Arg::Output(0)));
    let spanned = if spec.pass == Pass::GradKv {
        queries
    } else {
        keys
    };
    let step_len = span(d, dv);
    let dispatches = (0..spanned.div_ceil(step_len).max(1))
        .map(|s| {
            let params = AttentionParams {
                span_start: (s * step_len) as u32,
                span_end: ((s + 1) * step_len).min(spanned) as u32,
                ..params
            };
            Dispatch {
                variant: variant(spec, (d, dv), (step.inputs[0].0, step.out_dtype)),
                params: Params::of(&params),
                bindings: bindings.clone(),
                workgroups: (b0 * b1 * rows).div_ceil(WORKGROUP) as u32,
            }
        })
        .collect();
    Lowering::of(dispatches)
}

/// The catalog's variants (src/shaders.rs): every pass, with and without the causal and
/// additive masks, at head sizes from 1 to 128 (32 the shipped GPT's), one with d ≠ dv.
pub(crate) fn every_variant() -> Vec<ShaderVariant> {
    let mut out = Vec::new();
    for t in RENDERED_TYPES {
        for pass in [Pass::Forward, Pass::GradQ, Pass::GradKv] {
            for (causal, masked) in [(false, false), (true, false), (false, true), (true, true)] {
                for heads in [(1, 1), (7, 7), (32, 32), (128, 64)] {
                    let spec = Attention {
                        pass,
                        causal,
                        masked,
                    };
                    out.push(variant(spec, heads, (t, t)));
                }
            }
        }
    }
    out
}
