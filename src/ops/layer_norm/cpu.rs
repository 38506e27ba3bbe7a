//! The CPU path's layer normalization rows, in f64 whatever the data (the CPU path is the
//! reference the GPU is held to): the mean, then the variance from the deviations, each a
//! sum over eight lanes so that the loops vectorize, compiled for AVX-512 where the CPU has
//! it.

use crate::dtype::Element;
use crate::error::Result;
use crate::ops::op::StepDesc;
use crate::ops::softmax::cpu::{for_rows, row_layout};
use crate::storage::{with_float_dtype, CpuData};

/// Lanes of the running sums: one vector of f64 under AVX-512 (a single running sum is a
/// chain of dependent additions; 32 lanes, four chains, measured slower on rows of 128).
const LANES: usize = 8;

/// Σ f(x, y) over the pairs of `x` and `y` (of one length), in LANES running sums. The
/// operands come as slices walked in fixed groups, not through indices, so no bounds check
/// stands in the loop and it vectorizes.
#[inline(always)]
fn lane_sum<T: Element>(x: &[T], y: &[T], f: impl Fn(f64, f64) -> f64) -> f64 {
    let mut lanes = [0.0f64; LANES];
    let (mut xs, mut ys) = (x.chunks_exact(LANES), y.chunks_exact(LANES));
    for (xg, yg) in (&mut xs).zip(&mut ys) {
        for ((lane, a), b) in lanes.iter_mut().zip(xg).zip(yg) {
            *lane += f(a.to_f64(), b.to_f64());
        }
    }
    for ((lane, a), b) in lanes.iter_mut().zip(xs.remainder()).zip(ys.remainder()) {
        *lane += f(a.to_f64(), b.to_f64());
    }
    let mut total = 0.0;
    for lane in lanes {
        total += lane;
    }
    total
}

/// A row's mean and 1/sqrt(var + eps), var the biased variance.
#[inline(always)]
fn moments<T: Element>(x: &[T], eps: f64) -> (f64, f64) {
    let n = x.len() as f64;
    let mean = lane_sum(x, x, |a, _| a) / n;
    let variance = lane_sum(x, x, |a, _| (a - mean) * (a - mean)) / n;
    (mean, 1.0 / (variance + eps).sqrt())
}

/// Forward (`grad` false): inputs x (dense), output (x − mean)·r per row, r =
/// 1/sqrt(var + eps). Gradient: inputs x and the output's gradient g (both dense), output
/// r·(g − mean(g) − x̂·mean(g·x̂)) per row, x̂ the normalized row.
pub(crate) fn run_cpu(
    eps: u64,
    grad: bool,
    step: &StepDesc,
    inputs: &[&CpuData],
    out: &mut CpuData,
) -> Result<()> {
    let eps = f64::from_bits(eps);
    let (outer, n, _) = row_layout(step.inputs[0].1);
    with_float_dtype!(step.out_dtype, T => {
        let (src, dst) = (inputs[0].slice::<T>(), out.slice_mut::<T>());
        let g = grad.then(|| &inputs[1].slice::<T>()[step.inputs[1].1.offset..]);
        for_rows(&outer, n, n, dst, |r, base, out: &mut [T]| {
            let g = g.map(|g| &g[r * n..(r + 1) * n]);
            widest(&src[base..base + n], g, eps, out);
        });
    });
    Ok(())
}

/// `row_pass`, compiled for AVX-512's eight f64 lanes where the CPU has them: the same
/// IEEE operations lane by lane, so the same results.
fn widest<T: Element>(x: &[T], g: Option<&[T]>, eps: f64, out: &mut [T]) {
    #[cfg(target_arch = "x86_64")]
    if crate::storage::vector_width::avx512() {
        // SAFETY: the CPU has these AVX-512 extensions, checked just above.
        return unsafe { row_pass_avx512(x, g, eps, out) };
    }
    row_pass(x, g, eps, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq")]
unsafe fn row_pass_avx512<T: Element>(x: &[T], g: Option<&[T]>, eps: f64, out: &mut [T]) {
    row_pass(x, g, eps, out)
}

/// One row: normalized, or with `g` the normalization's gradient.
#[inline(always)]
fn row_pass<T: Element>(x: &[T], g: Option<&[T]>, eps: f64, out: &mut [T]) {
    let n = x.len() as f64;
    let (mean, r) = moments(x, eps);
    let Some(g) = g else {
        for (o, v) in out.iter_mut().zip(x) {
            *o = T::from_f64((v.to_f64() - mean) * r);
        }
        return;
    };
    let mean_g = lane_sum(g, g, |a, _| a) / n;
    let mean_gx = lane_sum(x, g, |a, b| b * ((a - mean) * r)) / n;
    for ((o, v), d) in out.iter_mut().zip(x).zip(g) {
        let normalized = (v.to_f64() - mean) * r;
        *o = T::from_f64(r * (d.to_f64() - mean_g - normalized * mean_gx));
    }
}
