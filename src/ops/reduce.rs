//! Reductions (sum, mean, max, min) over any set of axes. The reduced axes are permuted to
//! the end (a view), so every kernel reduces the trailing axes of a strided input.

use std::panic::Location;

use rayon::prelude::*;

use super::real::Compute;
use super::{padded, Arg, Dispatch, Lowering, Op, ShaderFile, ShaderVariant, StepDesc};
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
}

impl ReduceOp {
    pub fn name(self) -> &'static str {
        match self {
            ReduceOp::Sum => "sum",
            ReduceOp::Mean => "mean",
            ReduceOp::Max => "max",
            ReduceOp::Min => "min",
        }
    }

    /// The operation code reduce.wgsl switches on.
    fn code(self) -> u32 {
        match self {
            ReduceOp::Sum | ReduceOp::Mean => 0,
            ReduceOp::Max => 1,
            ReduceOp::Min => 2,
        }
    }
}

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
        let out = Tensor::from_op(
            Op::Reduce {
                op,
                reduced: gone.len(),
            },
            vec![input],
            out_shape,
            self.dtype(),
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
) -> Result<Tensor> {
    let kept = x.rank() - reduced;
    let mut ones_shape: Vec<usize> = x.shape()[..kept].to_vec();
    ones_shape.extend(std::iter::repeat_n(1, reduced));
    let spread =
        |t: &Tensor| -> Result<Tensor> { t.reshape_usize(&ones_shape)?.broadcast_to(x.shape()) };
    let axes: Vec<isize> = (kept..x.rank()).map(|d| d as isize).collect();
    match op {
        ReduceOp::Sum => spread(g),
        ReduceOp::Mean => spread(&g.mul_scalar(1.0 / numel(&x.shape()[kept..]) as f64)?),
        // Ties share the gradient evenly.
        ReduceOp::Max | ReduceOp::Min => {
            let hit = x.eq(&spread(y)?)?;
            let count = hit.sum(&axes, true)?;
            hit.mul(&spread(g)?)?.div(&count)
        }
    }
}

/// Split a permuted input into the layout of one output row's elements and the outer dims.
fn split(input: &Layout, reduced: usize) -> (Layout, Layout) {
    let k = input.rank() - reduced;
    let outer = Layout {
        shape: input.shape[..k].to_vec(),
        strides: input.strides[..k].to_vec(),
        offset: input.offset,
    };
    let inner = Layout {
        shape: input.shape[k..].to_vec(),
        strides: input.strides[k..].to_vec(),
        offset: 0,
    };
    let (shape, strides) = Layout::coalesce(&[&inner]);
    let inner = Layout {
        shape,
        strides: strides.into_iter().next().unwrap_or_default(),
        offset: 0,
    };
    (outer, inner)
}

/// Sums in f64 with Neumaier's compensation: the CPU path is the reference the GPU is held to.
#[derive(Clone, Copy, Default)]
struct Acc {
    sum: f64,
    carry: f64,
}

impl Acc {
    fn add(mut self, v: f64) -> Acc {
        let t = self.sum + v;
        self.carry += if self.sum.abs() >= v.abs() {
            (self.sum - t) + v
        } else {
            (v - t) + self.sum
        };
        self.sum = t;
        self
    }
    fn merge(self, o: Acc) -> Acc {
        self.add(o.sum).add(o.carry)
    }
    fn total(self) -> f64 {
        self.sum + self.carry
    }
}

fn reduce_values(op: ReduceOp, values: impl Iterator<Item = f64>) -> f64 {
    match op {
        ReduceOp::Sum | ReduceOp::Mean => values.fold(Acc::default(), Acc::add).total(),
        ReduceOp::Max => values.fold(f64::NEG_INFINITY, f64::max),
        ReduceOp::Min => values.fold(f64::INFINITY, f64::min),
    }
}

fn reduce_row<T: Compute>(
    op: ReduceOp,
    data: &[T],
    base: usize,
    inner: &Layout,
    parallel: bool,
) -> f64 {
    let n = inner.numel();
    let contiguous_run = inner.rank() == 1;
    if parallel && contiguous_run && n >= PARALLEL_THRESHOLD {
        let stride = inner.strides[0];
        let chunk = n.div_ceil(rayon::current_num_threads() * 4).max(4096);
        let parts: Vec<(Acc, f64, f64)> = (0..n.div_ceil(chunk))
            .into_par_iter()
            .map(|c| {
                let range = c * chunk..((c + 1) * chunk).min(n);
                let vals = range.map(|j| data[base + j * stride].to_f64());
                match op {
                    ReduceOp::Sum | ReduceOp::Mean => {
                        (vals.fold(Acc::default(), Acc::add), 0.0, 0.0)
                    }
                    _ => {
                        let (mx, mn) = vals
                            .fold((f64::NEG_INFINITY, f64::INFINITY), |(a, b), v| {
                                (a.max(v), b.min(v))
                            });
                        (Acc::default(), mx, mn)
                    }
                }
            })
            .collect();
        return match op {
            ReduceOp::Sum | ReduceOp::Mean => parts
                .iter()
                .fold(Acc::default(), |a, p| a.merge(p.0))
                .total(),
            ReduceOp::Max => parts.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max),
            ReduceOp::Min => parts.iter().map(|p| p.2).fold(f64::INFINITY, f64::min),
        };
    }
    reduce_values(op, offsets(inner).map(|o| data[base + o].to_f64()))
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
    // A mean divides (correctly rounded) rather than multiplying by a rounded 1/count.
    let divisor = if op == ReduceOp::Mean {
        count as f64
    } else {
        1.0
    };
    let (kept_shape, kept_strides) = Layout::coalesce(&[&outer]);
    let kept_dense = kept_shape.len() == 1 && kept_strides[0][0] == 1;
    with_dtype!(step.out_dtype, T => {
        let data = inputs[0].slice::<T>();
        let dst = out.slice_mut::<T>();
        if kept_dense && count > 1 {
            reduce_leading(op, data, outer.offset, &inner, dst, divisor);
            return Ok(());
        }
        let bases: Vec<usize> = offsets(&outer).collect();
        let row = |(o, &base): (&mut T, &usize), parallel: bool| {
            *o = T::from_f64(reduce_row(op, data, base, &inner, parallel) / divisor);
        };
        if dst.len() * count.max(1) >= PARALLEL_THRESHOLD && dst.len() > 1 {
            dst.par_iter_mut().zip(bases.par_iter()).for_each(|r| row(r, false));
        } else {
            dst.iter_mut().zip(bases.iter()).for_each(|r| row(r, true));
        }
    });
    Ok(())
}

/// Reduce axes that lie outside a contiguous kept axis (column sums, a bias gradient over
/// the batch): stream each reduced row into per-output accumulators, instead of walking
/// every output's elements at the rows' stride. Outputs are split across threads.
fn reduce_leading<T: Compute>(
    op: ReduceOp,
    data: &[T],
    offset: usize,
    inner: &Layout,
    dst: &mut [T],
    divisor: f64,
) {
    let rows: Vec<usize> = offsets(inner).collect();
    let part = |j0: usize, out: &mut [T]| {
        let n = out.len();
        match op {
            ReduceOp::Sum | ReduceOp::Mean => {
                let mut acc = vec![Acc::default(); n];
                for &r in &rows {
                    let row = &data[offset + r + j0..offset + r + j0 + n];
                    acc.iter_mut()
                        .zip(row)
                        .for_each(|(a, v)| *a = a.add(v.to_f64()));
                }
                out.iter_mut()
                    .zip(&acc)
                    .for_each(|(o, a)| *o = T::from_f64(a.total() / divisor));
            }
            ReduceOp::Max | ReduceOp::Min => {
                let max = op == ReduceOp::Max;
                let mut acc = vec![
                    if max {
                        f64::NEG_INFINITY
                    } else {
                        f64::INFINITY
                    };
                    n
                ];
                for &r in &rows {
                    let row = &data[offset + r + j0..offset + r + j0 + n];
                    acc.iter_mut().zip(row).for_each(|(a, v)| {
                        *a = if max {
                            a.max(v.to_f64())
                        } else {
                            a.min(v.to_f64())
                        }
                    });
                }
                out.iter_mut()
                    .zip(&acc)
                    .for_each(|(o, a)| *o = T::from_f64(*a));
            }
        }
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

/// Each workgroup of reduce.wgsl folds up to this many elements of one row (64 per thread:
/// lavapipe's barriers make the workgroup tree the costly part, so each tree should fold
/// many elements; 64 doubled whole-tensor sums over 16).
const CHUNK: usize = 256 * 64;

fn pass(
    op: ReduceOp,
    (input, output): (DType, DType),
    src: &Layout,
    reduced: usize,
    scale: f32,
    (from, to): (Arg, Arg),
) -> (Dispatch, usize) {
    let (outer, inner) = split(src, reduced);
    let (outer_shape, outer_strides) = Layout::coalesce(&[&outer]);
    let n_outer = numel(&outer_shape);
    let n_inner = inner.numel();
    let n_chunks = n_inner.div_ceil(CHUNK).max(1);
    let mut params = vec![0u32; 48];
    params[0] = n_outer as u32;
    params[1] = n_inner as u32;
    params[2] = CHUNK as u32;
    params[3] = n_chunks as u32;
    params[4] = op.code();
    params[5] = scale.to_bits();
    params[6] = src.offset as u32;
    params[7] = outer_shape.len() as u32;
    params[8] = inner.rank() as u32;
    params[16..24].copy_from_slice(&padded(&outer_shape));
    params[24..32].copy_from_slice(&padded(outer_strides.first().map_or(&[][..], |s| s)));
    params[32..40].copy_from_slice(&padded(&inner.shape));
    params[40..48].copy_from_slice(&padded(&inner.strides));
    // Dense rows starting on multiples of 4 are read four elements at a time.
    let outer_aligned = outer_strides
        .first()
        .is_none_or(|s| s.iter().all(|v| v % 4 == 0));
    let dense_rows = inner.strides.iter().all(|&s| s == 1) && inner.rank() <= 1;
    let vectors = dense_rows && outer_aligned && src.offset.is_multiple_of(4);
    let dispatch = Dispatch {
        variant: ShaderVariant {
            file: if vectors {
                ShaderFile::ReduceVec4
            } else {
                ShaderFile::Reduce
            },
            entry: "reduce",
            input,
            output,
            expr: None,
            consts: Vec::new(),
        },
        params,
        bindings: vec![(1, from), (2, to)],
        workgroups: (n_outer * n_chunks) as u32,
    };
    (dispatch, n_chunks)
}

/// A tree of passes: the first folds chunks of each row into f32 partials, later passes
/// fold the partials, until one value per row remains; only the last applies the mean's scale.
pub(crate) fn lower(op: ReduceOp, reduced: usize, step: &StepDesc) -> Lowering {
    let (in_dtype, layout) = step.inputs[0];
    let n_outer = numel(step.out_shape);
    let n_inner = numel(&layout.shape[layout.rank() - reduced..]);
    let scale = if op == ReduceOp::Mean {
        1.0 / n_inner as f32
    } else {
        1.0
    };
    let mut lowering = Lowering::default();
    let mut src = layout.clone();
    let mut src_reduced = reduced;
    let mut from = Arg::Input(0);
    let mut input = in_dtype;
    let mut remaining = n_inner;
    loop {
        let last = remaining <= CHUNK;
        let (to, output, pass_scale) = if last {
            (Arg::Output, step.out_dtype, scale)
        } else {
            let partials = n_outer * remaining.div_ceil(CHUNK);
            lowering.scratch.push((partials * 4) as u64);
            (Arg::Scratch(lowering.scratch.len() - 1), DType::F32, 1.0)
        };
        let (dispatch, n_chunks) = pass(
            op,
            (input, output),
            &src,
            src_reduced,
            pass_scale,
            (from, to),
        );
        lowering.dispatches.push(dispatch);
        if last {
            return lowering;
        }
        src = Layout::contiguous(&[n_outer, n_chunks]);
        src_reduced = 1;
        from = to;
        input = DType::F32;
        remaining = n_chunks;
    }
}
