//! Strided loops for the CPU kernels: walk a contiguous output while reading inputs
//! through arbitrary layouts, row by row, in parallel for large tensors.

use std::borrow::Cow;

use rayon::prelude::*;

use crate::shape::Layout;

/// Below this many elements a kernel runs on the calling thread: spawning costs more.
pub const PARALLEL_THRESHOLD: usize = 1 << 15;

/// The smallest piece of a row worth a task of its own.
const MIN_TILE: usize = 8192;

/// `out[i] = f(inputs at logical index i)` for a contiguous `out` of the inputs' shape.
// shapes: every input layout has the output's shape; out.len() == numel
pub fn map_n<const K: usize, T: Copy + Send + Sync, O: Send>(
    inputs: [(&[T], &Layout); K],
    out: &mut [O],
    f: impl Fn([T; K]) -> O + Sync,
) {
    let out_layout = Layout::contiguous(
        &inputs
            .first()
            .map_or(vec![out.len()], |i| i.1.shape.clone()),
    );
    let mut all: Vec<&Layout> = vec![&out_layout];
    all.extend(inputs.iter().map(|(_, l)| *l));
    let (shape, strides) = Layout::coalesce(&all);
    let inner = shape.last().copied().unwrap_or(1);
    let outer_shape = &shape[..shape.len().saturating_sub(1)];
    let inner_strides: [usize; K] =
        std::array::from_fn(|k| strides[k + 1].last().copied().unwrap_or(0));
    // Fill `dst`, the part of output row `r` that starts at column `c0`.
    let part = |r: usize, c0: usize, dst: &mut [O]| {
        let mut base: [usize; K] =
            std::array::from_fn(|k| inputs[k].1.offset + c0 * inner_strides[k]);
        let mut rem = r;
        for d in (0..outer_shape.len()).rev() {
            let c = rem % outer_shape[d];
            rem /= outer_shape[d];
            for k in 0..K {
                base[k] += c * strides[k + 1][d];
            }
        }
        if inner_strides.iter().all(|&s| s == 1) {
            let srcs: [&[T]; K] =
                std::array::from_fn(|k| &inputs[k].0[base[k]..base[k] + dst.len()]);
            for (j, o) in dst.iter_mut().enumerate() {
                *o = f(std::array::from_fn(|k| srcs[k][j]));
            }
        } else {
            for (j, o) in dst.iter_mut().enumerate() {
                *o = f(std::array::from_fn(|k| {
                    inputs[k].0[base[k] + j * inner_strides[k]]
                }));
            }
        }
    };
    if out.is_empty() || inner == 0 {
        return;
    }
    if out.len() < PARALLEL_THRESHOLD {
        out.chunks_mut(inner)
            .enumerate()
            .for_each(|(r, dst)| part(r, 0, dst));
        return;
    }
    // Long rows are split into tiles so that a few rows still occupy every thread.
    let tile = inner
        .div_ceil(2 * rayon::current_num_threads())
        .max(MIN_TILE);
    out.par_chunks_mut(inner).enumerate().for_each(|(r, row)| {
        if row.len() > tile {
            row.par_chunks_mut(tile)
                .enumerate()
                .for_each(|(t, dst)| part(r, t * tile, dst));
        } else {
            part(r, 0, row);
        }
    });
}

/// `dst` at the elements of `to` receives `src` at the elements of `from` (one shape), in
/// rows of the coalesced shape: a row contiguous on both sides is one slice copy. (An
/// element-by-element walk of both layouts took 7% of an LSTM training step.)
pub fn copy_strided<T: Copy>(src: &[T], from: &Layout, dst: &mut [T], to: &Layout) {
    if from.numel() == 0 {
        return;
    }
    let (shape, strides) = Layout::coalesce(&[to, from]);
    let inner = shape.last().copied().unwrap_or(1);
    let (to_step, from_step) = match shape.len() {
        0 => (1, 1),
        n => (strides[0][n - 1], strides[1][n - 1]),
    };
    let outer = &shape[..shape.len().saturating_sub(1)];
    let rows: usize = outer.iter().product();
    for r in 0..rows {
        let (mut o, mut i) = (to.offset, from.offset);
        let mut rem = r;
        for d in (0..outer.len()).rev() {
            let c = rem % outer[d];
            rem /= outer[d];
            o += c * strides[0][d];
            i += c * strides[1][d];
        }
        if to_step == 1 && from_step == 1 {
            dst[o..o + inner].copy_from_slice(&src[i..i + inner]);
        } else {
            for j in 0..inner {
                dst[o + j * to_step] = src[i + j * from_step];
            }
        }
    }
}

/// Element offsets of `layout`, in row-major logical order.
pub fn offsets(layout: &Layout) -> impl Iterator<Item = usize> + '_ {
    let n = layout.numel();
    let mut idx = vec![0usize; layout.rank()];
    let mut off = layout.offset;
    (0..n).map(move |_| {
        let current = off;
        for d in (0..idx.len()).rev() {
            idx[d] += 1;
            off += layout.strides[d];
            if idx[d] < layout.shape[d] {
                break;
            }
            off -= layout.strides[d] * layout.shape[d];
            idx[d] = 0;
        }
        current
    })
}

/// A view's elements in row-major order: borrowed when already dense, else gathered.
pub fn dense<'a, T: Copy + Send + Sync + Default>(data: &'a [T], l: &Layout) -> Cow<'a, [T]> {
    if l.is_contiguous() {
        // Already dense: a copy through the element-by-element walk took 2.6 ms of a 3.1 ms
        // weight gradient (32×3×32×32, 3×3).
        return Cow::Borrowed(&data[l.offset..l.offset + l.numel()]);
    }
    let mut out = vec![T::default(); l.numel()];
    map_n([(data, l)], &mut out, |[v]| v);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition: element by element through both layouts.
    fn walk(src: &[u32], from: &Layout, dst: &mut [u32], to: &Layout) {
        for (i, o) in offsets(from).zip(offsets(to)) {
            dst[o] = src[i];
        }
    }

    #[test]
    fn strided_copies_match_the_element_walk() {
        let src: Vec<u32> = (0..7 * 5 * 3).collect();
        let dense = Layout::contiguous(&[7, 5, 3]);
        let cases = [
            // A permuted source into a dense destination, and into a slab of a wider one.
            (dense.permute(&[2, 0, 1]), Layout::contiguous(&[3, 7, 5])),
            (
                dense.clone(),
                Layout::contiguous(&[7, 9, 3]).slice(1, 2, 5, 1),
            ),
            // Stepped and offset on both sides; a single element; a broadcast source.
            (
                dense.slice(0, 1, 3, 2),
                Layout::contiguous(&[3, 5, 6]).slice(2, 1, 3, 2),
            ),
            (
                dense.slice(0, 6, 1, 1).slice(1, 4, 1, 1).slice(2, 2, 1, 1),
                Layout::contiguous(&[1, 1, 1]),
            ),
            (
                Layout {
                    strides: vec![0, 3, 1],
                    ..dense.clone()
                }
                .slice(1, 0, 5, 1),
                Layout::contiguous(&[7, 5, 3]),
            ),
        ];
        for (k, (from, to)) in cases.iter().enumerate() {
            let size = to.reach();
            let (mut want, mut got) = (vec![u32::MAX; size], vec![u32::MAX; size]);
            walk(&src, from, &mut want, to);
            copy_strided(&src, from, &mut got, to);
            assert_eq!(got, want, "case {k}");
        }
    }
}
