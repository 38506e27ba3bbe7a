//! The CPU path's pooling: each output reads its window; the gradients gather from the
//! windows that read each element, as the GPU kernels do.

use rayon::prelude::*;

use crate::dtype::Element;
use crate::error::Result;
use crate::ops::conv::geometry::at;
use crate::ops::op::StepDesc;
use crate::ops::pool::window::{ColumnRuns, PoolKind, Window};
use crate::shape::Layout;
use crate::storage::arithmetic::{Compute, Real};
use crate::storage::strided::PARALLEL_THRESHOLD;
use crate::storage::{with_float_dtype, CpuData};

/// Run `plane(scratch, b, out)` for each (image, channel) plane b of a dense output, in
/// parallel when there is enough work; each task makes its scratch (`init`) once.
fn for_planes<T: Element, S: Send>(
    dst: &mut [T],
    len: usize,
    work: usize,
    init: impl Fn() -> S + Sync + Send,
    plane: impl Fn(&mut S, usize, &mut [T]) + Sync,
) {
    if len == 0 {
        return;
    }
    if work >= PARALLEL_THRESHOLD {
        dst.par_chunks_mut(len)
            .enumerate()
            .for_each_init(&init, |s, (b, out)| plane(s, b, out));
    } else {
        let mut s = init();
        dst.chunks_mut(len)
            .enumerate()
            .for_each(|(b, out)| plane(&mut s, b, out));
    }
}

/// Whether the max's position moves from m's to v's: a larger value, or the first NaN.
fn beats(v: f64, m: f64) -> bool {
    v > m || (v.is_nan() && !m.is_nan())
}

/// No tap seen yet.
const NONE: usize = usize::MAX;

/// The first maximum of each window of output row `oy` of plane (n, c), with its image
/// position (y·W + x; NONE for a window wholly in the padding), into `best`.
fn row_argmax<T: Element>(
    (window, columns): (&Window, &ColumnRuns),
    (x, xl): (&[T], &Layout),
    (n, c): (usize, usize),
    oy: usize,
    best: &mut [(f64, usize)],
) {
    let (h, w) = (xl.shape[2], xl.shape[3]);
    best.fill((f64::NEG_INFINITY, NONE));
    let step = window.stride.1 * xl.strides[3];
    window.row_taps(columns, h, oy, |y, x0, run| {
        let base = at(xl, [n, c, y, x0]);
        for (k, ox) in run.enumerate() {
            let v = x[base + k * step].to_f64();
            let slot = &mut best[ox];
            if slot.1 == NONE || beats(v, slot.0) {
                *slot = (v, y * w + x0 + k * window.stride.1);
            }
        }
    });
}

/// A window's max (any NaN wins: all give NaN) or its mean, `taps` being 1 / its taps.
/// Generic over the values, so each loop is compiled for its own: through a `dyn Iterator`
/// every tap was a call.
#[inline(always)]
fn fold<C: Real>(kind: PoolKind, taps: C, values: impl Iterator<Item = C>) -> C {
    match kind {
        // For the value alone any NaN may win (all give NaN); the check that it is the
        // first, which positions need (`beats`), made this loop 2.6× slower.
        PoolKind::Max => values.fold(C::neg_infinity(), |m, v| {
            #[allow(clippy::eq_op)]
            let wins = v > m || v != v;
            if wins {
                v
            } else {
                m
            }
        }),
        PoolKind::Average => values.fold(C::k(0.0), |a, v| a + v) * taps,
    }
}

/// Pool plane (n, c) into `out` [OH, `ow`], in the storage type's arithmetic (as the GPU):
/// each window's max (NaN wins), or its mean. Windows wholly inside the image read their
/// taps at fixed offsets from the first; the others check each tap.
fn pool_plane<T: Compute>(
    kind: PoolKind,
    window: &Window,
    (x, xl): (&[T], &Layout),
    (n, c): (usize, usize),
    (offsets, ow): (&[usize], usize),
    out: &mut [T],
) {
    let (h, w) = (xl.shape[2], xl.shape[3]);
    let (sy, sx) = (xl.strides[2], xl.strides[3]);
    let plane = at(xl, [n, c, 0, 0]);
    let span = (
        (window.kernel.0 - 1) * window.dilation.0 + 1,
        (window.kernel.1 - 1) * window.dilation.1 + 1,
    );
    let taps = <T::C as Real>::k(1.0 / offsets.len() as f64);
    for (oy, row) in out.chunks_mut(ow.max(1)).enumerate() {
        let y0 = (oy * window.stride.0).checked_sub(window.padding.0);
        let rows_inside = y0.is_some_and(|y| y + span.0 <= h);
        for (ox, o) in row.iter_mut().enumerate() {
            let x0 = (ox * window.stride.1).checked_sub(window.padding.1);
            let value = match (y0, x0) {
                (Some(y), Some(z)) if rows_inside && z + span.1 <= w => {
                    let first = plane + y * sy + z * sx;
                    fold(kind, taps, offsets.iter().map(|d| x[first + d].load()))
                }
                _ => fold(
                    kind,
                    taps,
                    window
                        .taps_inside((h, w), (oy, ox))
                        .map(|(y, z)| x[plane + y * sy + z * sx].load()),
                ),
            };
            *o = T::store(value);
        }
    }
}

pub(crate) fn run_cpu(
    kind: PoolKind,
    window: Window,
    backward: bool,
    step: &StepDesc,
    inputs: &[&CpuData],
    out: &mut CpuData,
) -> Result<()> {
    let taps = (window.kernel.0 * window.kernel.1) as f64;
    let image = usize::from(backward);
    let xl = step.inputs[image].1;
    let (c, h, w) = (xl.shape[1], xl.shape[2], xl.shape[3]);
    let (oh, ow) = if backward {
        (step.inputs[0].1.shape[2], step.inputs[0].1.shape[3])
    } else {
        (step.out_shape[2], step.out_shape[3])
    };
    let work = xl.numel() * window.kernel.0 * window.kernel.1;
    let columns = window.column_runs(w, ow);
    with_float_dtype!(step.out_dtype, T => {
        let dst = out.slice_mut::<T>();
        let x = inputs[image].slice::<T>();
        if backward {
            let (g, gl) = (inputs[0].slice::<T>(), step.inputs[0].1);
            let init = || (vec![0.0f64; h * w], vec![(0.0, NONE); ow]);
            for_planes(dst, h * w, work, init, |(sum, best), b, plane| {
                let (n, ch) = (b / c, b % c);
                sum.fill(0.0);
                for oy in 0..oh {
                    let g_at = |ox: usize| g[at(gl, [n, ch, oy, ox])].to_f64();
                    match kind {
                        PoolKind::Max => {
                            row_argmax((&window, &columns), (x, xl), (n, ch), oy, best);
                            for (ox, &(_, at)) in best.iter().enumerate() {
                                if at != NONE {
                                    sum[at] += g_at(ox);
                                }
                            }
                        }
                        PoolKind::Average => window.row_taps(&columns, h, oy, |y, x0, run| {
                            for (k, ox) in run.enumerate() {
                                sum[y * w + x0 + k * window.stride.1] += g_at(ox) / taps;
                            }
                        }),
                    }
                }
                plane.iter_mut().zip(sum.iter()).for_each(|(o, s)| *o = T::from_f64(*s));
            });
        } else {
            let offsets = window.tap_offsets((xl.strides[2], xl.strides[3]));
            for_planes(dst, oh * ow, work, || (), |_, b, plane| {
                pool_plane(kind, &window, (x, xl), (b / c, b % c), (&offsets, ow), plane);
            });
        }
    });
    Ok(())
}
