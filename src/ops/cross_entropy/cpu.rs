//! The CPU path's cross-entropy and its gradient, row by row in f64.

use crate::dtype::Element;
use crate::error::Result;
use crate::ops::op::StepDesc;
use crate::ops::softmax::cpu::{for_rows, row_layout, row_stats};
use crate::storage::{with_float_dtype, CpuData};

/// The row's class, if the target names one of `n`.
fn class(target: i32, n: usize) -> Option<usize> {
    usize::try_from(target).ok().filter(|&c| c < n)
}

pub(crate) fn run_cpu(
    smoothing: u64,
    backward: bool,
    step: &StepDesc,
    inputs: &[&CpuData],
    out: &mut CpuData,
) -> Result<()> {
    let eps = f64::from_bits(smoothing);
    let (outer, n, stride) = row_layout(step.inputs[0].1);
    let t_layout = step.inputs[1].1;
    let width = if backward { n } else { 1 };
    with_float_dtype!(step.out_dtype, T => {
        let src = inputs[0].slice::<T>();
        let targets = inputs[1].slice::<i32>();
        let incoming = backward.then(|| (inputs[2].slice::<T>(), step.inputs[2].1));
        for_rows(&outer, n, width, out.slice_mut::<T>(), |r, base, dst: &mut [T]| {
            let x = |i: usize| src[base + i * stride].to_f64();
            let target = targets[t_layout.offset + r * t_layout.strides[0]];
            let (m, s) = row_stats(x, n);
            let Some(c) = class(target, n) else {
                dst.iter_mut().for_each(|o| *o = T::from_f64(f64::NAN));
                return;
            };
            let spread = eps / n as f64;
            match incoming {
                None => {
                    let total: f64 = if eps == 0.0 { 0.0 } else { (0..n).map(x).sum() };
                    let picked = (1.0 - eps) * x(c) + spread * total;
                    dst[0] = T::from_f64(m + s.ln() - picked);
                }
                Some((g, layout)) => {
                    let g = g[layout.offset + r * layout.strides[0]].to_f64();
                    for (i, o) in dst.iter_mut().enumerate() {
                        let w = spread + if i == c { 1.0 - eps } else { 0.0 };
                        *o = T::from_f64(g * ((x(i) - m).exp() / s - w));
                    }
                }
            }
        });
    });
    Ok(())
}
