//! The CPU path's concat and place (padding, and the adjoint of a view).

use rayon::prelude::*;

use crate::dtype::Element;
use crate::error::Result;
use crate::ops::op::StepDesc;
use crate::shape::{contiguous_strides, Layout};
use crate::storage::strided::{copy_strided, PARALLEL_THRESHOLD};
use crate::storage::{with_dtype, CpuData};

/// Where each concat input lands in the dense output.
pub(crate) fn concat_regions(axis: usize, step: &StepDesc) -> Vec<Layout> {
    let strides = contiguous_strides(step.out_shape);
    let mut start = 0;
    step.inputs
        .iter()
        .map(|(_, l)| {
            let region = Layout {
                shape: l.shape.clone(),
                strides: strides.clone(),
                offset: start * strides[axis],
            };
            start += l.shape[axis];
            region
        })
        .collect()
}

pub(crate) fn run_concat_cpu(
    axis: usize,
    step: &StepDesc,
    inputs: &[&CpuData],
    out: &mut CpuData,
) -> Result<()> {
    with_dtype!(step.out_dtype, T => {
        let dst = out.slice_mut::<T>();
        for ((input, (_, from)), to) in inputs.iter().zip(&step.inputs).zip(concat_regions(axis, step)) {
            copy_strided(input.slice::<T>(), from, dst, &to);
        }
    });
    Ok(())
}

pub(crate) fn run_place_cpu(
    region: &Layout,
    value: u64,
    step: &StepDesc,
    inputs: &[&CpuData],
    out: &mut CpuData,
) -> Result<()> {
    with_dtype!(step.out_dtype, T => {
        let dst = out.slice_mut::<T>();
        if region.numel() != dst.len() {
            // A gradient placed into a large zero tensor (an LSTM's trace, 5.5 MB) is bound
            // by the fill's bandwidth, which one thread does not use up.
            let fill = T::from_f64(f64::from_bits(value));
            if dst.len() >= PARALLEL_THRESHOLD {
                dst.par_chunks_mut(PARALLEL_THRESHOLD).for_each(|part| part.fill(fill));
            } else {
                dst.fill(fill);
            }
        }
        copy_strided(inputs[0].slice::<T>(), step.inputs[0].1, dst, region);
    });
    Ok(())
}
