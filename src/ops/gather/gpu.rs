//! Gather and scatter-add as dispatches of gather.wgsl, one invocation per output element.
//! A scatter-add element loops over the index's whole length along the axis, and the
//! software Vulkan device (llvmpipe) silently stops an invocation's loops after 65,535
//! iterations in all: so the loop runs in spans, a dispatch each, every span continuing
//! the sum the one before stored, in the same order.

use crate::dtype::DType;
use crate::ops::dispatch::{Arg, Dispatch, Lowering, ShaderVariant};
use crate::ops::op::StepDesc;
use crate::ops::params::{kernel_params, per_dim, Params};
use crate::ops::shader_files::{ShaderFile, RENDERED_TYPES};

kernel_params! {
    /// gather.wgsl's `Params`: the output's shape, the two inputs' layouts, and the length
    /// that bounds positions (`gather`: the source's along the axis) or sums (`scatter_add`:
    /// the index's).
    pub(crate) struct GatherParams {
        shape: [[u32; 4]; 2],
        src_strides: [[u32; 4]; 2],
        index_strides: [[u32; 4]; 2],
        index_shape: [[u32; 4]; 2],
        count: u32,
        rank: u32,
        axis: u32,
        src_offset: u32,
        index_offset: u32,
        axis_size: u32,
        span_start: u32,
        span_end: u32,
    }
}

/// Loop iterations an invocation may run (the software device stops at 65,535), with room
/// for the loop over dimensions.
const LOOP_BUDGET: usize = 60_000;

/// Invocations per workgroup in gather.wgsl.
const WORKGROUP: usize = 256;

fn variant(scatter: bool, dtypes: (DType, DType)) -> ShaderVariant {
    let entry = if scatter { "scatter_add" } else { "gather" };
    ShaderVariant::new(ShaderFile::Gather, entry, dtypes)
}

/// The gather along `axis` (inputs source, index), or with `scatter` its adjoint (inputs
/// the output gradient, index).
pub(crate) fn lower(axis: usize, scatter: bool, step: &StepDesc) -> Lowering {
    let ((dtype, src), (_, index)) = (step.inputs[0], step.inputs[1]);
    let count: usize = step.out_shape.iter().product();
    let axis_size = if scatter {
        index.shape[axis]
    } else {
        src.shape[axis]
    };
    let params = GatherParams {
        shape: per_dim(step.out_shape),
        src_strides: per_dim(&src.strides),
        index_strides: per_dim(&index.strides),
        index_shape: per_dim(&index.shape),
        count: count as u32,
        rank: step.out_shape.len() as u32,
        axis: axis as u32,
        src_offset: src.offset as u32,
        index_offset: index.offset as u32,
        axis_size: axis_size as u32,
        span_start: 0,
        span_end: axis_size as u32,
    };
    // Only the scatter-add loops along the axis.
    let spans = if scatter {
        axis_size.div_ceil(LOOP_BUDGET).max(1)
    } else {
        1
    };
    let dispatches = (0..spans)
        .map(|s| Dispatch {
            variant: variant(scatter, (dtype, step.out_dtype)),
            params: Params::of(&GatherParams {
                span_start: (s * LOOP_BUDGET) as u32,
                span_end: if scatter {
                    ((s + 1) * LOOP_BUDGET).min(axis_size) as u32
                } else {
                    axis_size as u32
                },
                ..params
            }),
            bindings: vec![(1, Arg::Input(0)), (2, Arg::Input(1)), (3, Arg::Output(0))],
            workgroups: count.div_ceil(WORKGROUP) as u32,
        })
        .collect();
    Lowering::of(dispatches)
}

/// The catalog's variants of gather.wgsl (src/shaders.rs): both entries in every type.
pub(crate) fn every_variant() -> Vec<ShaderVariant> {
    RENDERED_TYPES
        .iter()
        .flat_map(|&t| [variant(false, (t, t)), variant(true, (t, t))])
        .collect()
}
