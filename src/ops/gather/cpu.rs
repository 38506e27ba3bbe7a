//! The CPU path's gather and scatter-add: plain loops over the index, the definitions that
//! gather.wgsl is tested against, and whole-row loops for an embedding's shape (the same
//! values, in the same order). An index that names no position is an error here.

use crate::dtype::Element;
use crate::error::{Error, Result};
use crate::ops::op::StepDesc;
use crate::shape::Layout;
use crate::storage::strided::offsets;
use crate::storage::{with_float_dtype, CpuData};

/// The position that index value `v` names along an axis of `size`, or an error naming it.
fn position(op: &'static str, v: i32, size: usize) -> Result<usize> {
    if let Some(at) = usize::try_from(v).ok().filter(|&at| at < size) {
        return Ok(at);
    }
    Err(Error::invalid(
        op,
        format!("index {v} names no position along an axis of size {size}"),
    ))
}

/// `offset` of `layout` plus `c`'s coordinates times its strides, the coordinate along
/// `axis` replaced by `at`.
fn address(layout: &Layout, c: &[usize], axis: usize, at: usize) -> usize {
    layout.offset
        + c.iter()
            .zip(&layout.strides)
            .enumerate()
            .map(|(d, (&v, &s))| if d == axis { at } else { v } * s)
            .sum::<usize>()
}

/// `c` moved to the next coordinates of `shape` in row-major order.
fn advance(c: &mut [usize], shape: &[usize]) {
    for d in (0..shape.len()).rev() {
        c[d] += 1;
        if c[d] < shape[d] {
            return;
        }
        c[d] = 0;
    }
}

/// An embedding's shape, where the loops move whole rows: axis 0 of a 2-D source whose rows
/// are dense, an index [n, d] holding one value per row (stride 0 along its columns), and
/// a second operand (the source, or the gradient) with dense rows. The width d, and per
/// row r the index's and the operand's offsets.
fn whole_rows(operand: &Layout, index: &Layout, axis: usize) -> Option<RowWalk> {
    let dense_rows = |l: &Layout| l.rank() == 2 && (l.strides[1] == 1 || l.shape[1] <= 1);
    let fits = axis == 0
        && !crate::autotune::plain_cpu()
        && index.rank() == 2
        && (index.strides[1] == 0 || index.shape[1] <= 1)
        && dense_rows(operand);
    fits.then(|| RowWalk {
        width: index.shape[1],
        index: (index.offset, index.strides[0]),
        operand: (operand.offset, operand.strides[0]),
    })
}

/// Where `whole_rows` reads: the row width, and (offset, row stride) of the index and of
/// the row-major operand.
struct RowWalk {
    width: usize,
    index: (usize, usize),
    operand: (usize, usize),
}

/// out[p] = src[p with its `axis` coordinate replaced by index[p]].
pub(crate) fn run_gather_cpu(
    axis: usize,
    step: &StepDesc,
    inputs: &[&CpuData],
    out: &mut CpuData,
) -> Result<()> {
    let (src, index) = (step.inputs[0].1, step.inputs[1].1);
    let indices = inputs[1].slice::<i32>();
    with_float_dtype!(step.out_dtype, T => {
        let (from, dst) = (inputs[0].slice::<T>(), out.slice_mut::<T>());
        if let Some(walk) = whole_rows(src, index, axis) {
            let d = walk.width;
            for (r, row) in dst.chunks_exact_mut(d.max(1)).enumerate().take(index.shape[0]) {
                let at = position("gather", indices[walk.index.0 + r * walk.index.1], src.shape[0])?;
                row.copy_from_slice(&from[walk.operand.0 + at * walk.operand.1..][..d]);
            }
            return Ok(());
        }
        let mut c = vec![0; index.rank()];
        for (e, k) in offsets(index).enumerate() {
            let at = position("gather", indices[k], src.shape[axis])?;
            dst[e] = from[address(src, &c, axis, at)];
            advance(&mut c, &index.shape);
        }
    });
    Ok(())
}

/// The adjoint: out (the gather's source shape, zero) += g[p] at p with its `axis`
/// coordinate replaced by index[p], summed in f64 in the index's row-major order.
pub(crate) fn run_scatter_add_cpu(
    axis: usize,
    step: &StepDesc,
    inputs: &[&CpuData],
    out: &mut CpuData,
) -> Result<()> {
    let (g, index) = (step.inputs[0].1, step.inputs[1].1);
    let dense = Layout::contiguous(step.out_shape);
    let indices = inputs[1].slice::<i32>();
    let mut sums = vec![0.0f64; dense.numel()];
    with_float_dtype!(step.out_dtype, T => {
        let terms = inputs[0].slice::<T>();
        if let Some(walk) = whole_rows(g, index, axis) {
            let d = walk.width;
            for r in 0..index.shape[0] {
                let at = position("gather's gradient", indices[walk.index.0 + r * walk.index.1], dense.shape[0])?;
                let term_row = &terms[walk.operand.0 + r * walk.operand.1..][..d];
                for (s, t) in sums[at * dense.shape[1]..][..d].iter_mut().zip(term_row) {
                    *s += t.to_f64();
                }
            }
        } else {
            let mut c = vec![0; index.rank()];
            for (k, t) in offsets(index).zip(offsets(g)) {
                let at = position("gather's gradient", indices[k], dense.shape[axis])?;
                sums[address(&dense, &c, axis, at)] += terms[t].to_f64();
                advance(&mut c, &index.shape);
            }
        }
        out.slice_mut::<T>()
            .iter_mut()
            .zip(&sums)
            .for_each(|(o, s)| *o = T::from_f64(*s));
    });
    Ok(())
}
