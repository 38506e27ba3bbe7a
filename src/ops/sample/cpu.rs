//! The CPU path's multinomial sampling: the same f32 operations, in the same order, as
//! shaders/sample.wgsl, so both draw the same categories for a seed.

use crate::dtype::Element;
use crate::error::{Error, Result};
use crate::ops::elementwise::random::hashed_uniform;
use crate::ops::op::StepDesc;
use crate::storage::{with_float_dtype, CpuData};

/// The category that `u` (uniform in [0, 1)) selects from `weights`, or None for a row that
/// has a negative, NaN or infinite weight, or none above zero.
fn pick(weights: impl Iterator<Item = f32> + Clone, u: f32) -> Option<usize> {
    let mut total = 0.0f32;
    for w in weights.clone() {
        if !(w.is_finite() && w >= 0.0) {
            return None;
        }
        total += w;
    }
    if !(total.is_finite() && total > 0.0) {
        return None;
    }
    let threshold = u * total;
    let (mut running, mut last) = (0.0f32, 0);
    for (j, w) in weights.enumerate() {
        running += w;
        if w > 0.0 {
            last = j;
        }
        if running > threshold {
            return Some(j);
        }
    }
    // Rounding can leave the running sum at the threshold: the last category with weight.
    Some(last)
}

pub(crate) fn run_multinomial_cpu(
    step: &StepDesc,
    inputs: &[&CpuData],
    out: &mut CpuData,
) -> Result<()> {
    let (src, seed) = (step.inputs[0].1, step.inputs[1].1);
    let length = src.shape[src.rank() - 1];
    let seed = inputs[1].slice::<f32>()[seed.offset] as u32;
    with_float_dtype!(step.inputs[0].0, T => {
        let weights = &inputs[0].slice::<T>()[src.offset..];
        for (row, o) in out.slice_mut::<i32>().iter_mut().enumerate() {
            let row_weights = weights[row * length..(row + 1) * length].iter().map(|w| w.to_f64() as f32);
            let u = hashed_uniform(seed, row as u32) as f32;
            *o = pick(row_weights, u).ok_or_else(|| {
                Error::invalid(
                    "multinomial",
                    format!("row {row} has a negative, NaN or infinite weight, or none above zero"),
                )
            })? as i32;
        }
    });
    Ok(())
}
