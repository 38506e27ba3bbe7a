//! Multinomial sampling as a dispatch of sample.wgsl, one invocation per row.

use crate::dtype::DType;
use crate::ops::dispatch::{Arg, Dispatch, Lowering, ShaderVariant};
use crate::ops::op::StepDesc;
use crate::ops::params::{kernel_params, Params};
use crate::ops::shader_files::{ShaderFile, RENDERED_TYPES};

kernel_params! {
    /// sample.wgsl's `Params`: rows of `length` weights, dense from `src_offset`, and the
    /// seed's element.
    pub(crate) struct SampleParams {
        rows: u32,
        length: u32,
        src_offset: u32,
        seed_offset: u32,
    }
}

/// Invocations per workgroup in sample.wgsl.
const WORKGROUP: usize = 64;

fn variant(weights: DType) -> ShaderVariant {
    ShaderVariant::new(ShaderFile::Sample, "multinomial", (weights, DType::I32))
}

pub(crate) fn lower(step: &StepDesc) -> Lowering {
    let ((dtype, src), (_, seed)) = (step.inputs[0], step.inputs[1]);
    let rows: usize = step.out_shape.iter().product();
    let params = SampleParams {
        rows: rows as u32,
        length: src.shape[src.rank() - 1] as u32,
        src_offset: src.offset as u32,
        seed_offset: seed.offset as u32,
    };
    Lowering::of(vec![Dispatch {
        variant: variant(dtype),
        params: Params::of(&params),
        bindings: vec![(1, Arg::Input(0)), (2, Arg::Input(1)), (3, Arg::Output(0))],
        workgroups: rows.div_ceil(WORKGROUP) as u32,
    }])
}

/// The catalog's variants of sample.wgsl (src/shaders.rs): weights in every type.
pub(crate) fn every_variant() -> Vec<ShaderVariant> {
    RENDERED_TYPES.iter().map(|&t| variant(t)).collect()
}
