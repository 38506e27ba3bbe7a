//! Reductions over any set of axes: sum, mean, max, min, product, and the positions of the
//! maximum and minimum. The reduced axes are permuted to the end (a view), so every kernel
//! reduces the trailing axes of a strided input. Here: the ops, their gradients and the CPU
//! kernels; the GPU passes are in fold.rs.

use std::ops::Range;
use std::panic::Location;

use rayon::prelude::*;

use super::real::Compute;
use super::rows::split;
use super::{Op, StepDesc};
use crate::backend::cpu::strided::{offsets, PARALLEL_THRESHOLD};
use crate::backend::cpu::{with_dtype, CpuData};
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::shape::{normalize_axis, numel, Layout};
use crate::tensor::Tensor;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    Sum,
    Mean,
    Max,
    Min,
    Prod,
    /// The position of the maximum within the reduced axes (row-major over them), as a
    /// float: exact up to 2^24. Ties go to the first; NaN elements are passed over.
    ArgMax,
    ArgMin,
}

impl ReduceOp {
    pub fn name(self) -> &'static str {
        match self {
            ReduceOp::Sum => "sum",
            ReduceOp::Mean => "mean",
            ReduceOp::Max => "max",
            ReduceOp::Min => "min",
            ReduceOp::Prod => "prod",
            ReduceOp::ArgMax => "argmax",
            ReduceOp::ArgMin => "argmin",
        }
    }

    /// The operation code reduce.wgsl switches on.
    pub(crate) fn code(self) -> u32 {
        match self {
            ReduceOp::Sum | ReduceOp::Mean | ReduceOp::ArgMax => 0,
            ReduceOp::Max | ReduceOp::ArgMin => 1,
            ReduceOp::Min => 2,
            ReduceOp::Prod => 3,
        }
    }

    pub(crate) fn is_arg(self) -> bool {
        matches!(self, ReduceOp::ArgMax | ReduceOp::ArgMin)
    }
}

/// Positions are stored as f32, whose integers are exact up to here.
const MAX_POSITIONS: usize = 1 << 24;

impl Tensor {
    /// Sum over `axes` (negative counts from the end; empty means every axis).
    #[track_caller]
    pub fn sum(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        self.reduce(ReduceOp::Sum, axes, keepdim)
    }

    /// Mean over `axes` (empty means every axis).
    #[track_caller]
    pub fn mean(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        self.reduce(ReduceOp::Mean, axes, keepdim)
    }

    /// Maximum over `axes` (empty means every axis).
    #[track_caller]
    pub fn max(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        self.reduce(ReduceOp::Max, axes, keepdim)
    }

    /// Minimum over `axes` (empty means every axis).
    #[track_caller]
    pub fn min(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        self.reduce(ReduceOp::Min, axes, keepdim)
    }

    /// Product over `axes` (empty means every axis).
    #[track_caller]
    pub fn prod(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        self.reduce(ReduceOp::Prod, axes, keepdim)
    }

    /// Position of the maximum along `axis`, or in the row-major flattened tensor for None;
    /// f32 (f64 for f64 input). Ties go to the first position; NaN elements are passed over.
    #[track_caller]
    pub fn argmax(&self, axis: Option<isize>, keepdim: bool) -> Result<Tensor> {
        self.reduce(ReduceOp::ArgMax, axis.as_slice(), keepdim)
    }

    /// Position of the minimum, as [`Tensor::argmax`] finds the maximum's.
    #[track_caller]
    pub fn argmin(&self, axis: Option<isize>, keepdim: bool) -> Result<Tensor> {
        self.reduce(ReduceOp::ArgMin, axis.as_slice(), keepdim)
    }

    #[track_caller]
    pub fn reduce(&self, op: ReduceOp, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        let rank = self.rank();
        let mut reduced = vec![false; rank];
        if axes.is_empty() {
            reduced.iter_mut().for_each(|r| *r = true);
        }
        for &axis in axes {
            let a = normalize_axis(op.name(), axis, rank)?;
            if reduced[a] {
                return Err(Error::InvalidArgument {
                    op: op.name(),
                    message: format!("axis {axis} appears twice in {axes:?}"),
                    location: Location::caller(),
                });
            }
            reduced[a] = true;
        }
        let kept: Vec<usize> = (0..rank).filter(|&d| !reduced[d]).collect();
        let gone: Vec<usize> = (0..rank).filter(|&d| reduced[d]).collect();
        let order: Vec<usize> = kept.iter().chain(&gone).copied().collect();
        let input = self.view(self.layout.permute(&order));
        let out_shape: Vec<usize> = kept.iter().map(|&d| self.shape()[d]).collect();
        let count = numel(&input.shape()[kept.len()..]);
        let dtype = if op.is_arg() {
            if count == 0 || count > MAX_POSITIONS {
                return Err(Error::InvalidArgument {
                    op: op.name(),
                    message: format!(
                        "the reduced axes hold {count} elements; positions exist for 1 to \
                         {MAX_POSITIONS} (2^24, exact in f32)"
                    ),
                    location: Location::caller(),
                });
            }
            if self.dtype() == DType::F64 {
                DType::F64
            } else {
                DType::F32
            }
        } else {
            self.dtype()
        };
        let out = Tensor::from_op(
            Op::Reduce {
                op,
                reduced: gone.len(),
            },
            vec![input],
            out_shape,
            dtype,
            self.device().clone(),
        );
        if !keepdim {
            return Ok(out);
        }
        let kept_shape: Vec<usize> = (0..rank)
            .map(|d| if reduced[d] { 1 } else { self.shape()[d] })
            .collect();
        let layout = out
            .layout
            .reshape(&kept_shape)
            .expect("a dense result reshapes as a view");
        Ok(out.view(layout))
    }
}

/// Gradient of a reduction with respect to its permuted input `x` ([kept..., reduced...]),
/// given the output `y` and its gradient `g` (both [kept...]).
pub(crate) fn grad(
    op: ReduceOp,
    reduced: usize,
    x: &Tensor,
    y: &Tensor,
    g: &Tensor,
) -> Result<Option<Tensor>> {
    let kept = x.rank() - reduced;
    let mut ones_shape: Vec<usize> = x.shape()[..kept].to_vec();
    ones_shape.extend(std::iter::repeat_n(1, reduced));
    let spread =
        |t: &Tensor| -> Result<Tensor> { t.reshape_usize(&ones_shape)?.broadcast_to(x.shape()) };
    let axes: Vec<isize> = (kept..x.rank()).map(|d| d as isize).collect();
    let dx = match op {
        ReduceOp::Sum => spread(g)?,
        ReduceOp::Mean => spread(&g.mul_scalar(1.0 / numel(&x.shape()[kept..]) as f64)?)?,
        // Ties share the gradient evenly.
        ReduceOp::Max | ReduceOp::Min => {
            let hit = x.eq(&spread(y)?)?;
            let count = hit.sum(&axes, true)?;
            hit.mul(&spread(g)?)?.div(&count)?
        }
        // ∂/∂x_i Π x = Π_{j≠i} x_j, which y / x_i gives only without zeros. With one zero,
        // that element's gradient is the product of the others and the rest get 0; with two
        // or more, every gradient is 0.
        ReduceOp::Prod => {
            let zero = Tensor::constant(0.0, x.dtype(), x.device())?;
            let one = Tensor::constant(1.0, x.dtype(), x.device())?;
            let is_zero = x.eq(&zero)?;
            let others = spread(&is_zero.where_(&one, x)?.prod(&axes, false)?)?;
            let zeros = spread(&is_zero.sum(&axes, false)?)?;
            let no_zero = others.div(&is_zero.where_(&one, x)?)?;
            let lone_zero = is_zero.mul(&zeros.eq(&one)?)?.mul(&others)?;
            zeros
                .eq(&zero)?
                .where_(&no_zero, &lone_zero)?
                .mul(&spread(g)?)?
        }
        ReduceOp::ArgMax | ReduceOp::ArgMin => return Ok(None),
    };
    Ok(Some(dx))
}

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
            Fold::Max(m) => *m = m.max(v),
            Fold::Min(m) => *m = m.min(v),
            Fold::Prod(p) => *p *= v,
            Fold::Arg { max, best, at } => {
                let better = if *max { v > *best } else { v < *best };
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
                self.push(carry, 0);
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
    /// by a rounded reciprocal. A row without a position (all NaN) gives position 0.
    fn result(self, divisor: f64) -> f64 {
        match self {
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
    let mut fold = Fold::new(op);
    for (j, o) in offsets(inner).enumerate() {
        fold.push(data[base + o].to_f64(), j);
    }
    fold
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
    with_dtype!(in_dtype, T => {
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
            for &r in &rows {
                let row = &data[offset + r + j0..offset + r + j0 + n];
                sums.iter_mut().zip(row).for_each(|(s, v)| *s += v.to_f64());
            }
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
    const COLUMNS: usize = 1024;
    if dst.len() * rows.len() >= PARALLEL_THRESHOLD && dst.len() > COLUMNS {
        dst.par_chunks_mut(COLUMNS)
            .enumerate()
            .for_each(|(c, out)| part(c * COLUMNS, out));
    } else {
        part(0, dst);
    }
}
