//! The CPU path's reductions: each output folds its elements in f64 (f32 and f16 data) or
//! with compensation (f64 data), so it is the reference the GPU kernels are held to.

use rayon::prelude::*;
use std::ops::Range;

use crate::dtype::{DType, Element};
use crate::error::Result;
use crate::ops::op::ReduceOp;
use crate::ops::op::StepDesc;
use crate::ops::row_tasks::split;
use crate::shape::Layout;
use crate::storage::arithmetic::{Compute, Real};
use crate::storage::strided::{offsets, PARALLEL_THRESHOLD};
use crate::storage::{with_dtype, with_float_dtype, CpuData};

/// A running reduction of one row, in f64: sums with Neumaier's compensation, since the CPU
/// path is the reference the GPU is held to.
#[derive(Clone, Copy)]
enum Fold {
    Sum {
        sum: f64,
        carry: f64,
    },
    Max(f64),
    Min(f64),
    Prod(f64),
    /// The best value so far and its position (`usize::MAX` before any).
    Arg {
        max: bool,
        best: f64,
        at: usize,
    },
}

impl Fold {
    fn new(op: ReduceOp) -> Fold {
        match op {
            ReduceOp::Sum | ReduceOp::Mean => Fold::Sum {
                sum: 0.0,
                carry: 0.0,
            },
            ReduceOp::Max => Fold::Max(f64::NEG_INFINITY),
            ReduceOp::Min => Fold::Min(f64::INFINITY),
            ReduceOp::Prod => Fold::Prod(1.0),
            ReduceOp::ArgMax | ReduceOp::ArgMin => Fold::Arg {
                max: op == ReduceOp::ArgMax,
                best: if op == ReduceOp::ArgMax {
                    f64::NEG_INFINITY
                } else {
                    f64::INFINITY
                },
                at: usize::MAX,
            },
        }
    }

    /// Add element `v` at `position`; a row's positions arrive in increasing order.
    fn push(&mut self, v: f64, position: usize) {
        match self {
            Fold::Sum { sum, carry } => {
                let t = *sum + v;
                *carry += if sum.abs() >= v.abs() {
                    (*sum - t) + v
                } else {
                    (v - t) + *sum
                };
                *sum = t;
            }
            Fold::Max(m) => *m = Real::max(*m, v),
            Fold::Min(m) => *m = Real::min(*m, v),
            Fold::Prod(p) => *p *= v,
            Fold::Arg { max, best, at } => {
                // The first NaN wins and keeps its place, as PyTorch's and NumPy's do (a
                // comparison with a NaN best is false).
                let strictly = if *max { v > *best } else { v < *best };
                let better = strictly | (v.is_nan() & !best.is_nan());
                if better || (v == *best && *at == usize::MAX) {
                    *best = v;
                    *at = position;
                }
            }
        }
    }

    /// Fold in the state of a later part of the row.
    fn merge(&mut self, later: Fold) {
        match later {
            Fold::Sum { sum, carry } => {
                self.push(sum, 0);
                if carry.is_finite() {
                    self.push(carry, 0);
                }
            }
            Fold::Max(v) | Fold::Min(v) | Fold::Prod(v) => self.push(v, 0),
            Fold::Arg { best, at, .. } => {
                if at != usize::MAX {
                    self.push(best, at)
                }
            }
        }
    }

    /// The result; a mean divides (correctly rounded) by `divisor` rather than multiplying
    /// by a rounded reciprocal. A row without a position (none: the op refuses empty rows)
    /// gives position 0.
    fn result(self, divisor: f64) -> f64 {
        match self {
            // An infinite sum's carry is NaN (inf − inf): IEEE's sum is the sum itself.
            Fold::Sum { sum, .. } if !sum.is_finite() => sum / divisor,
            Fold::Sum { sum, carry } => (sum + carry) / divisor,
            Fold::Max(v) | Fold::Min(v) | Fold::Prod(v) => v,
            Fold::Arg { at, .. } => {
                if at == usize::MAX {
                    0.0
                } else {
                    at as f64
                }
            }
        }
    }
}

/// Elements per part of a long row's plain sum.
const PLAIN_PART: usize = 1 << 16;

/// Whether sums of `T` take `plain_sum`: f32 and f16 data, whose results are rounded to at
/// most f32; f64 data keeps the compensated fold.
fn plain_sum_applies<T: Compute>(op: ReduceOp) -> bool {
    matches!(op, ReduceOp::Sum | ReduceOp::Mean) && T::DTYPE != DType::F64
}

/// Σ over `range` of a run of values `stride` apart, in f64 with eight accumulators so the
/// adds vectorize. The rounding error, about n · 2⁻⁵³ of Σ|x|, stays far below the f32
/// result's own rounding.
#[inline(always)]
pub(crate) fn plain_sum<T: Compute>(
    data: &[T],
    base: usize,
    stride: usize,
    range: Range<usize>,
) -> f64 {
    let mut lanes = [0f64; 8];
    let mut tail = 0.0;
    if stride == 1 {
        let run = &data[base + range.start..base + range.end];
        let mut groups = run.chunks_exact(8);
        for g in &mut groups {
            for (a, v) in lanes.iter_mut().zip(g) {
                *a += v.to_f64();
            }
        }
        tail = groups.remainder().iter().fold(0.0, |a, v| a + v.to_f64());
    } else {
        let mut j = range.start;
        while j + 8 <= range.end {
            for (l, a) in lanes.iter_mut().enumerate() {
                *a += data[base + (j + l) * stride].to_f64();
            }
            j += 8;
        }
        for j in j..range.end {
            tail += data[base + j * stride].to_f64();
        }
    }
    lanes.iter().fold(tail, |a, l| a + l)
}

fn reduce_row<T: Compute>(
    op: ReduceOp,
    data: &[T],
    base: usize,
    inner: &Layout,
    parallel: bool,
) -> Fold {
    let n = inner.numel();
    if plain_sum_applies::<T>(op) && inner.rank() == 1 {
        // Parts of a fixed length, added in order, whether they run side by side or not: a
        // row's sum does not depend on the threads or on how many rows there are.
        let stride = inner.strides[0];
        let part = |c: usize| {
            plain_sum(
                data,
                base,
                stride,
                c * PLAIN_PART..((c + 1) * PLAIN_PART).min(n),
            )
        };
        let parts = n.div_ceil(PLAIN_PART);
        let sum = if parallel && n >= PARALLEL_THRESHOLD {
            let sums: Vec<f64> = (0..parts).into_par_iter().map(part).collect();
            sums.into_iter().fold(0.0, |a, b| a + b)
        } else {
            (0..parts).map(part).fold(0.0, |a, b| a + b)
        };
        return Fold::Sum { sum, carry: 0.0 };
    }
    if plain_sum_applies::<T>(op) && inner.rank() > 1 {
        // Several reduced axes (a convolution bias's gradient over images and pixels): the
        // runs of the last axis (`split` merged what it could), each summed as one row, in
        // order. Element by element through the fold, this was a fifth of a small CNN's
        // training step.
        let last = inner.rank() - 1;
        let lead = Layout {
            shape: inner.shape[..last].to_vec(),
            strides: inner.strides[..last].to_vec(),
            offset: base,
        };
        let (len, stride) = (inner.shape[last], inner.strides[last]);
        let sum = offsets(&lead)
            .map(|o| plain_sum(data, o, stride, 0..len))
            .fold(0.0, |a, b| a + b);
        return Fold::Sum { sum, carry: 0.0 };
    }
    if parallel && inner.rank() == 1 && n >= PARALLEL_THRESHOLD {
        let stride = inner.strides[0];
        let chunk = n.div_ceil(rayon::current_num_threads() * 4).max(4096);
        let parts: Vec<Fold> = (0..n.div_ceil(chunk))
            .into_par_iter()
            .map(|c| {
                let mut fold = Fold::new(op);
                for j in c * chunk..((c + 1) * chunk).min(n) {
                    fold.push(data[base + j * stride].to_f64(), j);
                }
                fold
            })
            .collect();
        let mut fold = Fold::new(op);
        parts.into_iter().for_each(|p| fold.merge(p));
        return fold;
    }
    if op.is_arg() && inner.rank() == 1 {
        let max = op == ReduceOp::ArgMax;
        let stride = inner.strides[0];
        let values = (0..n).map(|j| data[base + j * stride]);
        return if max {
            arg_run::<_, true>(values.map(T::to_f64))
        } else {
            arg_run::<_, false>(values.map(T::to_f64))
        };
    }
    let mut fold = Fold::new(op);
    for (j, o) in offsets(inner).enumerate() {
        fold.push(data[base + o].to_f64(), j);
    }
    fold
}

/// `Fold::push` over a run of values for argmax (`MAX`) or argmin, with the choice made
/// once and a stop at the first NaN, which wins: an argmax of 4096 rows of 4096 took 18 ms
/// through the generic fold's dispatch per element, and 11.4 ms here.
fn arg_run<I: Iterator<Item = f64>, const MAX: bool>(values: I) -> Fold {
    let (mut best, mut at) = (
        if MAX {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        },
        usize::MAX,
    );
    for (j, v) in values.enumerate() {
        if v.is_nan() {
            return Fold::Arg {
                max: MAX,
                best: v,
                at: j,
            };
        }
        let better = if MAX { v > best } else { v < best };
        if better || (v == best && at == usize::MAX) {
            best = v;
            at = j;
        }
    }
    Fold::Arg { max: MAX, best, at }
}

// input: [outer..., inner...] (permuted view) -> out: [outer...] dense
pub(crate) fn run_cpu(
    op: ReduceOp,
    reduced: usize,
    step: &StepDesc,
    inputs: &[&CpuData],
    out: &mut CpuData,
) -> Result<()> {
    let (outer, inner) = split(step.inputs[0].1, reduced);
    let count = inner.numel();
    let divisor = if op == ReduceOp::Mean {
        count as f64
    } else {
        1.0
    };
    let (kept_shape, kept_strides) = Layout::coalesce(&[&outer]);
    let kept_dense = kept_shape.len() == 1 && kept_strides[0][0] == 1;
    let in_dtype = step.inputs[0].0;
    with_float_dtype!(in_dtype, T => {
        let data = inputs[0].slice::<T>();
        with_dtype!(step.out_dtype, O => {
            let dst = out.slice_mut::<O>();
            if kept_dense && count > 1 {
                reduce_leading(op, data, outer.offset, &inner, dst, divisor);
                return Ok(());
            }
            let bases: Vec<usize> = offsets(&outer).collect();
            let row = |(o, &base): (&mut O, &usize), parallel: bool| {
                *o = O::from_f64(reduce_row(op, data, base, &inner, parallel).result(divisor));
            };
            if dst.len() * count.max(1) >= PARALLEL_THRESHOLD && dst.len() > 1 {
                dst.par_iter_mut().zip(bases.par_iter()).for_each(|r| row(r, false));
            } else {
                dst.iter_mut().zip(bases.iter()).for_each(|r| row(r, true));
            }
        });
    });
    Ok(())
}

/// Reduce axes that lie outside a contiguous kept axis (column sums, a bias gradient over
/// the batch): stream each reduced row into per-output accumulators, instead of walking
/// every output's elements at the rows' stride. Outputs are split across threads.
fn reduce_leading<T: Compute, O: Element>(
    op: ReduceOp,
    data: &[T],
    offset: usize,
    inner: &Layout,
    dst: &mut [O],
    divisor: f64,
) {
    let rows: Vec<usize> = offsets(inner).collect();
    // Sums of f32 or f16 data: plain f64 accumulators (a whole-row stream that vectorizes);
    // see `plain_sum`.
    let plain = plain_sum_applies::<T>(op);
    let part = |j0: usize, out: &mut [O]| {
        let n = out.len();
        if plain {
            let mut sums = vec![0f64; n];
            add_rows(data, offset + j0, &rows, &mut sums);
            out.iter_mut()
                .zip(&sums)
                .for_each(|(o, s)| *o = O::from_f64(s / divisor));
            return;
        }
        let mut folds = vec![Fold::new(op); n];
        for (position, &r) in rows.iter().enumerate() {
            let row = &data[offset + r + j0..offset + r + j0 + n];
            folds
                .iter_mut()
                .zip(row)
                .for_each(|(f, v)| f.push(v.to_f64(), position));
        }
        out.iter_mut()
            .zip(&folds)
            .for_each(|(o, f)| *o = O::from_f64(f.result(divisor)));
    };
    // A run of columns per thread, 64 to 1,024 wide (wider runs' accumulators leave the
    // cache): each output's sum runs over the rows in the same order however the columns
    // are cut.
    const MIN_COLUMNS: usize = 64;
    const MAX_COLUMNS: usize = 1024;
    let columns = dst
        .len()
        .div_ceil(rayon::current_num_threads())
        .next_multiple_of(16)
        .clamp(MIN_COLUMNS, MAX_COLUMNS);
    if dst.len() * rows.len() >= PARALLEL_THRESHOLD && dst.len() > columns {
        dst.par_chunks_mut(columns)
            .enumerate()
            .for_each(|(c, out)| part(c * columns, out));
    } else {
        part(0, dst);
    }
}

/// Adds the rows that start at `start` + each of `rows` (`sums.len()` values each) into
/// `sums`, in f64, compiled for AVX-512 where the CPU has it: the same IEEE adds in the
/// same order, so the same sums, at eight lanes instead of SSE's two.
fn add_rows<T: Compute>(data: &[T], start: usize, rows: &[usize], sums: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    if crate::storage::vector_width::avx512() {
        // SAFETY: the CPU has these AVX-512 extensions, checked just above.
        return unsafe { add_rows_avx512(data, start, rows, sums) };
    }
    add_rows_portable(data, start, rows, sums)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq")]
unsafe fn add_rows_avx512<T: Compute>(data: &[T], start: usize, rows: &[usize], sums: &mut [f64]) {
    add_rows_portable(data, start, rows, sums)
}

#[inline(always)]
fn add_rows_portable<T: Compute>(data: &[T], start: usize, rows: &[usize], sums: &mut [f64]) {
    let n = sums.len();
    for &r in rows {
        let row = &data[start + r..start + r + n];
        for (s, v) in sums.iter_mut().zip(row) {
            *s += v.to_f64();
        }
    }
}
