//! Concat and place as strided copies on the elementwise kernels.

use crate::ops::dispatch::{Lowering, ShaderVariant};
use crate::ops::elementwise::gpu::{dispatch, variant};
use crate::ops::movement::cpu::concat_regions;
use crate::ops::op::StepDesc;
use crate::shape::{numel, Layout};

fn copy_variant(step: &StepDesc) -> ShaderVariant {
    variant("copy", step.out_dtype, step.out_dtype, None)
}

pub(crate) fn lower_concat(axis: usize, step: &StepDesc) -> Lowering {
    let dispatches = step
        .inputs
        .iter()
        .zip(concat_regions(axis, step))
        .enumerate()
        .map(|(i, ((_, from), to))| dispatch(copy_variant(step), &[(i, from)], &to, 0.0, false))
        .collect();
    Lowering::of(dispatches)
}

pub(crate) fn lower_place(region: &Layout, value: u64, step: &StepDesc) -> Lowering {
    let copy = dispatch(
        copy_variant(step),
        &[(0, step.inputs[0].1)],
        region,
        0.0,
        false,
    );
    // An injective region as large as the output covers all of it: nothing to fill.
    if region.numel() == numel(step.out_shape) {
        return Lowering::of(vec![copy]);
    }
    let fill = dispatch(
        variant("fill", step.out_dtype, step.out_dtype, None),
        &[],
        &Layout::contiguous(step.out_shape),
        f64::from_bits(value) as f32,
        true,
    );
    Lowering::of(vec![fill, copy])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;
    use crate::ops::dispatch::Arg;
    use crate::ops::elementwise::gpu::ElementwiseParams;
    use crate::ops::op::Op;

    #[test]
    fn lowered_copies_bind_their_own_input() {
        let a = Layout::contiguous(&[2, 3]);
        let b = Layout::contiguous(&[2, 5]);
        let step = StepDesc {
            op: &Op::Concat { axis: 1 },
            inputs: vec![(DType::F32, &a), (DType::F32, &b)],
            out_dtype: DType::F32,
            out_shape: &[2, 8],
        };
        let lowered = lower_concat(1, &step);
        assert_eq!(lowered.dispatches[1].bindings[0], (1, Arg::Input(1)));
        let params: &ElementwiseParams =
            bytemuck::from_bytes(bytemuck::cast_slice(&lowered.dispatches[1].params.words));
        assert_eq!(params.dst_offset, 3, "second region starts at column 3");
    }
}
