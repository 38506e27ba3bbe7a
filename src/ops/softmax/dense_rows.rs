//! The CPU path's fast softmax rows: dense f32 and f16 rows through storage/fast_exp.rs's vectorized
//! exp and an eight-lane sum, compiled for AVX-512 or AVX2 where the CPU has it. Held to the plain
//! kernel in cpu.rs by the test below.

use std::cell::RefCell;

use crate::dtype::Element;
use crate::ops::op::SoftmaxKind;
use crate::ops::reduce::cpu::plain_sum;
use crate::ops::softmax::cpu::{for_rows, log_sum_exp};
use crate::shape::Layout;
use crate::storage::arithmetic::Real;
use crate::storage::fast_exp::exp;

/// Every dense row of length `n` (first elements at `outer`'s offsets) of `src` into `dst`.
pub(super) fn run<T: Element>(
    kind: SoftmaxKind,
    (outer, n): (&Layout, usize),
    src: &[T],
    dst: &mut [T],
) {
    let width = if kind == SoftmaxKind::LogSumExp { 1 } else { n };
    for_rows(outer, n, width, dst, |_, base, out: &mut [T]| {
        let row = &src[base..base + n];
        match kind {
            SoftmaxKind::Softmax => dense_softmax(row, out),
            SoftmaxKind::LogSoftmax => {
                let (m, s) = dense_row_stats(row);
                let shift = m + s.ln();
                out.iter_mut()
                    .zip(row)
                    .for_each(|(o, v)| *o = T::from_f64(v.to_f64() - shift));
            }
            SoftmaxKind::LogSumExp => {
                let (m, s) = dense_row_stats(row);
                out[0] = T::from_f64(log_sum_exp(m, s));
            }
        }
    });
}

thread_local! {
    /// A row's exponentials in f64, kept per thread so that rows do not allocate.
    static EXPONENTIALS: RefCell<Vec<f64>> = const { RefCell::new(Vec::new()) };
}

/// Softmax of a dense row into `out`, in f64 with storage/fast_exp.rs's exp (within 2 ulp) and an
/// eight-lane sum: errors some 2⁻⁵⁰ of the result, far under the rounding to f32 or f16.
fn dense_softmax<T: Element>(row: &[T], out: &mut [T]) {
    EXPONENTIALS.with_borrow_mut(|e| widest(row, Some(out), e));
}

/// The row's maximum and Σ exp(x − max), as `dense_softmax` computes them.
fn dense_row_stats<T: Element>(row: &[T]) -> (f64, f64) {
    EXPONENTIALS.with_borrow_mut(|e| widest(row, None, e))
}

/// `f` of a dense row's maximum m, Σ exp(x − m) and each exp(x − m), as `dense_softmax`
/// computes them: for cross-entropy and its gradient.
pub(crate) fn with_exponentials<T: Element, R>(
    row: &[T],
    f: impl FnOnce(f64, f64, &[f64]) -> R,
) -> R {
    EXPONENTIALS.with_borrow_mut(|e| {
        let (m, s) = widest(row, None, e);
        f(m, s, e)
    })
}

/// `row_pass`, compiled for the widest vectors the CPU has: AVX-512's eight f64 lanes or
/// AVX2's four instead of SSE's two, the same IEEE operations lane by lane, so the same
/// results.
fn widest<T: Element>(row: &[T], out: Option<&mut [T]>, e: &mut Vec<f64>) -> (f64, f64) {
    #[cfg(target_arch = "x86_64")]
    if crate::storage::vector_width::avx512() {
        // SAFETY: the CPU has these AVX-512 extensions, checked just above.
        return unsafe { row_pass_avx512(row, out, e) };
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { row_pass_avx2(row, out, e) };
    }
    row_pass(row, out, e)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq")]
unsafe fn row_pass_avx512<T: Element>(
    row: &[T],
    out: Option<&mut [T]>,
    e: &mut Vec<f64>,
) -> (f64, f64) {
    row_pass(row, out, e)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn row_pass_avx2<T: Element>(
    row: &[T],
    out: Option<&mut [T]>,
    e: &mut Vec<f64>,
) -> (f64, f64) {
    row_pass(row, out, e)
}

/// A dense row's maximum m and Σ exp(x − m), with each exp(x − m) left in `e`, by
/// storage/fast_exp.rs's exp; with `out`, the softmax too. A NaN difference (an all −inf
/// row) stays NaN, as in the plain kernel. Plain loops, not iterator folds: a fold is a call
/// that the inliner may leave outside the wide-vector copy, where it ran two lanes wide.
#[inline(always)]
fn row_pass<T: Element>(row: &[T], out: Option<&mut [T]>, e: &mut Vec<f64>) -> (f64, f64) {
    // Eight running maxima, compared and selected lane by lane: one running maximum is a
    // chain of dependent scalar steps. Each lane notes whether it met a NaN apart from its
    // maximum, which then is NaN (so that logsumexp gives NaN): a select on NaN in the
    // maximum's own chain cost 5% of a softmax.
    let mut lanes = [f64::NEG_INFINITY; 8];
    let mut nan = [false; 8];
    let mut groups = row.chunks_exact(8);
    for g in &mut groups {
        for ((l, n), v) in lanes.iter_mut().zip(&mut nan).zip(g) {
            let v = v.to_f64();
            *l = if v > *l { v } else { *l };
            *n |= v.is_nan();
        }
    }
    let m = groups
        .remainder()
        .iter()
        .map(|v| v.to_f64())
        .chain(lanes)
        .fold(f64::NEG_INFINITY, Real::max);
    let m = if nan.contains(&true) { f64::NAN } else { m };
    e.clear();
    e.resize(row.len(), 0.0);
    for (o, v) in e.iter_mut().zip(row) {
        let d = v.to_f64() - m;
        *o = exp(if d < FLOOR { FLOOR } else { d });
    }
    let s = plain_sum(e, 0, 1, 0..e.len());
    if let Some(out) = out {
        // One division, then products: a division per element was a quarter of the row's
        // time, and the product's extra rounding (2⁻⁵³ relative) vanishes in f32's.
        let inverse = 1.0 / s;
        for (o, v) in out.iter_mut().zip(e.iter()) {
            *o = T::from_f64(v * inverse);
        }
    }
    (m, s)
}

/// Differences x − m below this are raised to it: e⁻⁷⁰⁰ ≈ 1e-304 is far under anything an
/// f32 or f16 result or sum can hold, and lower arguments (a causal mask's −inf) take exp
/// through subnormal intermediates, which cost x86 cores some hundred cycles each: a masked
/// attention softmax ran 3.5 times slower than an unmasked one.
const FLOOR: f64 = -700.0;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::softmax::cpu::plain;

    const KINDS: [SoftmaxKind; 3] = [
        SoftmaxKind::Softmax,
        SoftmaxKind::LogSoftmax,
        SoftmaxKind::LogSumExp,
    ];

    /// The outputs per row, and every row through the fast kernel and the plain one.
    fn both_kernels(
        kind: SoftmaxKind,
        outer: &Layout,
        n: usize,
        src: &[f32],
    ) -> (usize, Vec<f32>, Vec<f32>) {
        let width = if kind == SoftmaxKind::LogSumExp { 1 } else { n };
        let len = outer.numel() * width;
        let (mut fast, mut want) = (vec![0f32; len], vec![0f32; len]);
        run(kind, (outer, n), src, &mut fast);
        plain(kind, (outer, n, 1), src, &mut want);
        (width, fast, want)
    }

    /// Both kernels compute in f64 and round once to f32: exp within 2 ulp of libm and a
    /// sum in another order leave the two f64 results some 2⁻⁴⁸ apart relatively, so after
    /// rounding they are the same f32 or its neighbour, at most 2⁻²³·|plain| apart (and
    /// logsumexp's shift, added to x, within 2⁻²³ of the larger of the two magnitudes).
    #[test]
    fn dense_rows_match_the_plain_kernel() {
        for (rows, n, scale) in [(1, 1, 1.0), (3, 7, 30.0), (5, 513, 4.0), (2, 4099, 1e4)] {
            let outer = Layout {
                shape: vec![rows],
                strides: vec![n],
                offset: 0,
            };
            let src: Vec<f32> = (0..rows * n)
                .map(|i| {
                    let u = crate::counter_rng::uniform(n as u64, i as u64);
                    ((2.0 * u - 1.0) * scale) as f32
                })
                .collect();
            for kind in KINDS {
                let (width, fast, want) = both_kernels(kind, &outer, n, &src);
                for (i, (f, w)) in fast.iter().zip(&want).enumerate() {
                    let row_max = src[(i / width) * n..][..n]
                        .iter()
                        .fold(0f32, |m, v| m.max(v.abs()));
                    let magnitude = match kind {
                        SoftmaxKind::Softmax => w.abs(),
                        _ => w.abs().max(row_max),
                    };
                    assert!(
                        (f - w).abs() <= f32::EPSILON * magnitude,
                        "{kind:?} {rows}x{n}, output {i}: {f} against {w}"
                    );
                }
            }
        }
    }

    /// Causally masked rows (−inf past the diagonal, as attention's mask leaves them) come
    /// out as the plain kernel's, to the bound above; an all −inf row is NaN in both for
    /// softmax and log-softmax, and −inf for logsumexp.
    #[test]
    fn masked_rows_match_the_plain_kernel() {
        let (rows, n) = (7, 67);
        let outer = Layout {
            shape: vec![rows],
            strides: vec![n],
            offset: 0,
        };
        let src: Vec<f32> = (0..rows * n)
            .map(|i| match (i / n, i % n) {
                (0, _) => f32::NEG_INFINITY,
                (r, c) if c > 9 * r => f32::NEG_INFINITY,
                _ => (crate::counter_rng::uniform(3, i as u64) * 20.0 - 10.0) as f32,
            })
            .collect();
        for kind in KINDS {
            let (width, fast, want) = both_kernels(kind, &outer, n, &src);
            for (i, (f, w)) in fast.iter().zip(&want).enumerate() {
                let same = f.to_bits() == w.to_bits()
                    || (f.is_nan() && w.is_nan())
                    || (f - w).abs() <= f32::EPSILON * w.abs().max(10.0);
                assert!(same, "{kind:?} output {i}: {f} against {w}");
            }
            assert!(
                fast[..width]
                    .iter()
                    .all(|v| v.is_nan() || kind == SoftmaxKind::LogSumExp),
                "{kind:?} of an all −inf row"
            );
        }
    }
}
