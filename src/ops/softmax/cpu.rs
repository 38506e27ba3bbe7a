//! The CPU path's softmax family. First the plain kernel, the definition in f64 with libm's
//! exp that the fast rows (dense_rows.rs) and the GPU kernels are held to; then the route.

use rayon::prelude::*;

use crate::dtype::{DType, Element};
use crate::error::Result;
use crate::ops::op::SoftmaxKind;
use crate::ops::op::StepDesc;
use crate::ops::softmax::dense_rows;
use crate::shape::Layout;
use crate::storage::arithmetic::Real;
use crate::storage::strided::{offsets, PARALLEL_THRESHOLD};
use crate::storage::{with_float_dtype, CpuData};

/// Each row of `src` (first elements at `outer`'s offsets, `n` elements `stride` apart)
/// by the definitions: softmax exp(x − m)/s, log_softmax x − log s − m and logsumexp
/// m + log s, with m and s from `row_stats`.
pub(crate) fn plain<T: Element>(
    kind: SoftmaxKind,
    (outer, n, stride): (&Layout, usize, usize),
    src: &[T],
    dst: &mut [T],
) {
    let width = if kind == SoftmaxKind::LogSumExp { 1 } else { n };
    for_rows(outer, n, width, dst, |_, base, out: &mut [T]| {
        let x = |i: usize| src[base + i * stride].to_f64();
        let (m, s) = row_stats(x, n);
        match kind {
            SoftmaxKind::Softmax => out
                .iter_mut()
                .enumerate()
                .for_each(|(i, o)| *o = T::from_f64((x(i) - m).exp() / s)),
            SoftmaxKind::LogSoftmax => {
                let shift = m + s.ln();
                out.iter_mut()
                    .enumerate()
                    .for_each(|(i, o)| *o = T::from_f64(x(i) - shift));
            }
            SoftmaxKind::LogSumExp => out[0] = T::from_f64(log_sum_exp(m, s)),
        }
    });
}

/// The maximum of a row and Σ exp(x − max), in f64: the CPU path is the reference.
pub(crate) fn row_stats(x: impl Fn(usize) -> f64, n: usize) -> (f64, f64) {
    let m = (0..n).map(&x).fold(f64::NEG_INFINITY, Real::max);
    let s = (0..n).map(|i| (x(i) - m).exp()).sum();
    (m, s)
}

/// log Σ exp from `row_stats`: −inf for an empty or all −inf row (not −inf − (−inf)), and
/// +inf for a row whose maximum is +inf (not inf − inf), as PyTorch's. A NaN maximum (the
/// row holds a NaN) gives NaN.
pub(crate) fn log_sum_exp(m: f64, s: f64) -> f64 {
    if m.is_infinite() {
        m
    } else {
        m + s.ln()
    }
}

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

/// Run `row(index, base, out)` for each row: `out` is the row's `width` outputs, `base` the
/// offset of its first input element. Rows run in parallel when there is enough work.
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
    with_float_dtype!(step.out_dtype, T => {
        let (src, dst) = (inputs[0].slice::<T>(), out.slice_mut::<T>());
        // f64 data, the tests' reference, keeps libm and the ordered sum.
        if stride == 1 && T::DTYPE != DType::F64 && !crate::autotune::plain_cpu() {
            dense_rows::run(kind, (&outer, n), src, dst);
        } else {
            plain(kind, (&outer, n, stride), src, dst);
        }
    });
    Ok(())
}
