//! The CPU path's softmax family: rows in f64, dense f32 and f16 rows through a vectorized
//! exp (fast_exp.rs).

use rayon::prelude::*;

use crate::dtype::{DType, Element};
use crate::error::Result;
use crate::ops::op::SoftmaxKind;
use crate::ops::op::StepDesc;
use crate::ops::reduce::cpu::plain_sum;
use crate::ops::softmax::fast_exp::exp;
use crate::shape::Layout;
use crate::storage::strided::{offsets, PARALLEL_THRESHOLD};
use crate::storage::{with_dtype, CpuData};

/// A row-last input as the layout of its rows' first elements, and the row length and stride.
pub(crate) fn row_layout(input: &Layout) -> (Layout, usize, usize) {
    let r = input.rank();
    let outer = Layout {
        shape: input.shape[..r - 1].to_vec(),
        strides: input.strides[..r - 1].to_vec(),
        offset: input.offset,
    };
    (outer, input.shape[r - 1], input.strides[r - 1])
}

/// The maximum of a row and Σ exp(x − max), in f64: the CPU path is the reference.
pub(crate) fn row_stats(x: impl Fn(usize) -> f64, n: usize) -> (f64, f64) {
    let m = (0..n).map(&x).fold(f64::NEG_INFINITY, f64::max);
    let s = (0..n).map(|i| (x(i) - m).exp()).sum();
    (m, s)
}

/// Softmax of a dense f32 or f16 row into `out`, in f64 with fast_exp.rs's exp (within 2 ulp) and
/// an eight-lane sum: errors some 2⁻⁵⁰ of the result, far under f32's rounding (the outputs
/// of 4096×4096 normal inputs came out bit for bit as with libm). Where the CPU has AVX2, compiled for it: four f64 lanes instead of SSE's two, the same
/// IEEE operations lane by lane, so the same results.
fn dense_softmax<T: Element>(row: &[T], out: &mut [T]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { dense_softmax_avx2(row, out) };
    }
    dense_softmax_portable(row, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dense_softmax_avx2<T: Element>(row: &[T], out: &mut [T]) {
    dense_softmax_portable(row, out)
}

#[inline(always)]
fn dense_softmax_portable<T: Element>(row: &[T], out: &mut [T]) {
    let (_, e) = max_and_exponentials(row);
    let s = plain_sum(&e, 0, 1, 0..e.len());
    out.iter_mut()
        .zip(&e)
        .for_each(|(o, v)| *o = T::from_f64(v / s));
}

/// `row_stats` of a dense f32 or f16 row, as `dense_softmax` computes them.
fn dense_row_stats<T: Element>(row: &[T]) -> (f64, f64) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { dense_row_stats_avx2(row) };
    }
    dense_row_stats_portable(row)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dense_row_stats_avx2<T: Element>(row: &[T]) -> (f64, f64) {
    dense_row_stats_portable(row)
}

#[inline(always)]
fn dense_row_stats_portable<T: Element>(row: &[T]) -> (f64, f64) {
    let (m, e) = max_and_exponentials(row);
    (m, plain_sum(&e, 0, 1, 0..e.len()))
}

/// A dense row's maximum m and each exp(x − m), with fast_exp.rs's exp.
#[inline(always)]
fn max_and_exponentials<T: Element>(row: &[T]) -> (f64, Vec<f64>) {
    let m = row.iter().fold(f64::NEG_INFINITY, |m, v| m.max(v.to_f64()));
    (m, row.iter().map(|v| exp(v.to_f64() - m)).collect())
}

/// log Σ exp from `row_stats`: −inf for an empty or all −inf row (not −inf − (−inf)).
pub(crate) fn log_sum_exp(m: f64, s: f64) -> f64 {
    if m == f64::NEG_INFINITY {
        m
    } else {
        m + s.ln()
    }
}

/// Run `row(base, out)` for each row: `out` is the row's `width` outputs, `base` the offset
/// of its first input element. Rows run in parallel when there is enough work.
pub(crate) fn for_rows<T: Element>(
    outer: &Layout,
    n: usize,
    width: usize,
    dst: &mut [T],
    row: impl Fn(usize, usize, &mut [T]) + Sync,
) {
    if width == 0 {
        return;
    }
    let bases: Vec<usize> = offsets(outer).collect();
    let each = |(r, (out, &base)): (usize, (&mut [T], &usize))| row(r, base, out);
    if bases.len() > 1 && bases.len() * n.max(1) >= PARALLEL_THRESHOLD {
        dst.par_chunks_mut(width)
            .zip(bases.par_iter())
            .enumerate()
            .for_each(each);
    } else {
        dst.chunks_mut(width)
            .zip(bases.iter())
            .enumerate()
            .for_each(each);
    }
}

pub(crate) fn run_cpu(
    kind: SoftmaxKind,
    step: &StepDesc,
    inputs: &[&CpuData],
    out: &mut CpuData,
) -> Result<()> {
    let (outer, n, stride) = row_layout(step.inputs[0].1);
    let width = if kind == SoftmaxKind::LogSumExp { 1 } else { n };
    with_dtype!(step.out_dtype, T => {
        let src = inputs[0].slice::<T>();
        // Dense f32 and f16 rows take the vectorized exp (see `dense_softmax`); f64 data,
        // the tests' reference, keeps libm and the ordered sum.
        let fast = stride == 1 && T::DTYPE != DType::F64;
        let stats = |x: &dyn Fn(usize) -> f64, base: usize| {
            if fast {
                dense_row_stats(&src[base..base + n])
            } else {
                row_stats(x, n)
            }
        };
        for_rows(&outer, n, width, out.slice_mut::<T>(), |_, base, dst: &mut [T]| {
            let x = |i: usize| src[base + i * stride].to_f64();
            match kind {
                SoftmaxKind::Softmax => {
                    // `row_stats`, keeping each exponential for the division. Dense rows are
                    // read as a slice, so the loops vectorize (fast_exp.rs has no libm call).
                    if fast {
                        return dense_softmax(&src[base..base + n], dst);
                    }
                    // The f64 operations of `row_stats` and the division, in the same order,
                    // with each exponential kept rather than computed again.
                    let m = (0..n).map(x).fold(f64::NEG_INFINITY, f64::max);
                    let e: Vec<f64> = (0..n).map(|i| (x(i) - m).exp()).collect();
                    let s: f64 = e.iter().sum();
                    dst.iter_mut().zip(&e).for_each(|(o, v)| *o = T::from_f64(v / s));
                }
                SoftmaxKind::LogSoftmax => {
                    let (m, s) = stats(&x, base);
                    let shift = log_sum_exp(m, s);
                    dst.iter_mut()
                        .enumerate()
                        .for_each(|(i, o)| *o = T::from_f64(x(i) - shift));
                }
                SoftmaxKind::LogSumExp => {
                    let (m, s) = stats(&x, base);
                    dst[0] = T::from_f64(log_sum_exp(m, s));
                }
            }
        });
    });
    Ok(())
}
