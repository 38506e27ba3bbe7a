//! The CPU path's gather and scatter-add: plain loops over the index, the definitions that
//! gather.wgsl is tested against. An index that names no position is an error here.

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
        let mut c = vec![0; index.rank()];
        for (k, t) in offsets(index).zip(offsets(g)) {
            let at = position("gather's gradient", indices[k], dense.shape[axis])?;
            sums[address(&dense, &c, axis, at)] += terms[t].to_f64();
            advance(&mut c, &index.shape);
        }
        out.slice_mut::<T>()
            .iter_mut()
            .zip(&sums)
            .for_each(|(o, s)| *o = T::from_f64(*s));
    });
    Ok(())
}
