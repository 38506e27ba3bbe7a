//! Strided loops for the CPU kernels: walk a contiguous output while reading inputs
//! through arbitrary layouts, row by row, in parallel for large tensors.

use std::borrow::Cow;

use rayon::prelude::*;

use crate::shape::Layout;
use crate::storage::transpose::copy_transposing;

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
            dense_map(srcs, dst, &f);
        } else if dst.len() < MIN_GATHERED_ROW {
            for (j, o) in dst.iter_mut().enumerate() {
                *o = f(std::array::from_fn(|k| {
                    inputs[k].0[base[k] + j * inner_strides[k]]
                }));
            }
        } else {
            gathered_map(inputs.map(|(data, _)| data), (base, inner_strides), dst, &f);
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

/// Rows shorter than this are mapped element by element through their strides; longer ones
/// are gathered block by block into dense scratch first.
const MIN_GATHERED_ROW: usize = 16;

/// Elements `dense_map` computes as one fixed-length group: whole vectors of f32 under
/// AVX-512. A loop over a row's length was vectorized 64 elements at a time behind overlap
/// checks, so rows of 32 or 48 (attention heads) ran one element at a time.
const LANES: usize = 16;

/// Elements per gathered block: a few KiB per input, which stays in L1.
const GATHER_BLOCK: usize = 256;

/// `dst[j] = f(inputs at bases[k] + j·strides[k])`, by blocks: each input whose stride is not 1
/// (a broadcast's 0, a transpose's row length) is gathered into dense scratch, so that the
/// function itself runs in `dense_map`'s vector loop. A broadcast operand read element by
/// element through its stride kept the loop scalar (LayerNorm's products in the GPT step).
fn gathered_map<const K: usize, T: Copy, O>(
    data: [&[T]; K],
    (bases, strides): ([usize; K], [usize; K]),
    dst: &mut [O],
    f: &impl Fn([T; K]) -> O,
) {
    let mut scratch = [[std::mem::MaybeUninit::<T>::uninit(); GATHER_BLOCK]; K];
    for (b, block) in dst.chunks_mut(GATHER_BLOCK).enumerate() {
        let start = b * GATHER_BLOCK;
        let len = block.len();
        for k in (0..K).filter(|&k| strides[k] != 1) {
            if strides[k] == 0 {
                scratch[k][..len].fill(std::mem::MaybeUninit::new(data[k][bases[k]]));
                continue;
            }
            let at = |j: usize| data[k][bases[k] + (start + j) * strides[k]];
            for (j, slot) in scratch[k][..len].iter_mut().enumerate() {
                slot.write(at(j));
            }
        }
        let srcs: [&[T]; K] = std::array::from_fn(|k| {
            if strides[k] == 1 {
                &data[k][bases[k] + start..][..len]
            } else {
                // SAFETY: the loop above wrote the first `len` elements of this scratch row.
                unsafe { std::slice::from_raw_parts(scratch[k].as_ptr().cast::<T>(), len) }
            }
        });
        dense_map(srcs, block, f);
    }
}

/// `dst[j] = f(srcs at j)`, compiled for the widest vectors the CPU has (AVX-512 or AVX2,
/// else the baseline): the same operations element by element, so the same results.
fn dense_map<const K: usize, T: Copy, O>(srcs: [&[T]; K], dst: &mut [O], f: &impl Fn([T; K]) -> O) {
    #[cfg(target_arch = "x86_64")]
    if crate::storage::vector_width::avx512() {
        // SAFETY: the CPU has these AVX-512 extensions, checked just above.
        return unsafe { dense_map_avx512(srcs, dst, f) };
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        return unsafe { dense_map_avx2(srcs, dst, f) };
    }
    dense_map_portable(srcs, dst, f)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq")]
unsafe fn dense_map_avx512<const K: usize, T: Copy, O>(
    srcs: [&[T]; K],
    dst: &mut [O],
    f: &impl Fn([T; K]) -> O,
) {
    dense_map_portable(srcs, dst, f)
}

#[cfg(target_arch = "x86_64")]
// With FMA: erf's fused multiply-adds (storage/fast_erf.rs) are otherwise calls to libm.
#[target_feature(enable = "avx2,fma")]
unsafe fn dense_map_avx2<const K: usize, T: Copy, O>(
    srcs: [&[T]; K],
    dst: &mut [O],
    f: &impl Fn([T; K]) -> O,
) {
    dense_map_portable(srcs, dst, f)
}

#[inline(always)]
fn dense_map_portable<const K: usize, T: Copy, O>(
    srcs: [&[T]; K],
    dst: &mut [O],
    f: &impl Fn([T; K]) -> O,
) {
    let n = dst.len();
    let srcs: [&[T]; K] = std::array::from_fn(|k| &srcs[k][..n]);
    let mut groups = dst.chunks_exact_mut(LANES);
    for (g, group) in (&mut groups).enumerate() {
        let at = g * LANES;
        // Operands and results by value: held in registers, they cannot overlap `dst`, so no
        // overlap check stands between the group and one vector instruction per operation.
        let lanes: [[T; LANES]; K] =
            std::array::from_fn(|k| srcs[k][at..at + LANES].try_into().expect("LANES long"));
        let results: [O; LANES] = std::array::from_fn(|l| f(std::array::from_fn(|k| lanes[k][l])));
        for (o, r) in group.iter_mut().zip(results) {
            *o = r;
        }
    }
    let at = n - groups.into_remainder().len();
    for (j, o) in dst[at..].iter_mut().enumerate() {
        *o = f(std::array::from_fn(|k| srcs[k][at + j]));
    }
}

/// `dst` at the elements of `to` receives `src` at the elements of `from` (one shape), in
/// rows of the coalesced shape: a row contiguous on both sides is one slice copy. (An
/// element-by-element walk of both layouts took 7% of an LSTM training step.)
pub fn copy_strided<T: Copy>(src: &[T], from: &Layout, dst: &mut [T], to: &Layout) {
    // The axes in the order of `to`'s memory: a transposed view placed into a transposed
    // region (a weight's gradient) is then one dense copy, not a walk at a stride.
    let mut order: Vec<usize> = (0..to.rank()).collect();
    order.sort_by_key(|&d| std::cmp::Reverse(to.strides[d]));
    let (from, to) = (&from.permute(&order), &to.permute(&order));
    if from.numel() == 0 || copy_transposing(src, from, dst, to) {
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

    /// `map_n` against the definition, element by element through every layout, where rows
    /// are long enough to be gathered: a broadcast column (stride 0), a stepped slice, a
    /// transpose, all together (three inputs), rows crossing a gather block (300 = 256 + 44)
    /// and rows whose length leaves a partial group of lanes (37).
    #[test]
    fn gathered_rows_match_the_element_walk() {
        let data: Vec<u64> = (0..4 * 300 * 3).map(|v| v * 7 % 1009).collect();
        for (rows, cols) in [(4, 300), (5, 37), (3, 16)] {
            let shape = [rows, cols];
            let dense = Layout::contiguous(&shape);
            let column = Layout::contiguous(&[rows, 1]).expand(&shape);
            let stepped = Layout::contiguous(&[rows, 3 * cols]).slice(1, 2, cols, 3);
            let transposed = Layout::contiguous(&[cols, rows]).permute(&[1, 0]);
            let cases = [
                [&dense, &column, &stepped],
                [&transposed, &dense, &column],
                [&stepped, &transposed, &dense],
            ];
            for (c, [a, b, d]) in cases.iter().enumerate() {
                let f = |[x, y, z]: [u64; 3]| x * 1_000_000 + y * 1000 + z;
                let mut got = vec![0; rows * cols];
                map_n([(&data, a), (&data, b), (&data, d)], &mut got, f);
                let want: Vec<u64> = offsets(a)
                    .zip(offsets(b))
                    .zip(offsets(d))
                    .map(|((i, j), k)| f([data[i], data[j], data[k]]))
                    .collect();
                assert_eq!(got, want, "{rows}x{cols}, case {c}");
            }
        }
    }

    #[test]
    fn strided_copies_match_the_element_walk() {
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
            // A transposed view into a transposed region (walked in the region's memory
            // order), and a transposition big enough for tiles.
            (
                Layout::contiguous(&[3, 5]).permute(&[1, 0]),
                Layout::contiguous(&[3, 9])
                    .slice(1, 2, 5, 1)
                    .permute(&[1, 0]),
            ),
            (
                Layout::contiguous(&[3, 17, 19]).permute(&[0, 2, 1]),
                Layout::contiguous(&[3, 19, 17]),
            ),
        ];
        let src: Vec<u32> = (0..3 * 17 * 19).collect();
        for (k, (from, to)) in cases.iter().enumerate() {
            let size = to.reach();
            let (mut want, mut got) = (vec![u32::MAX; size], vec![u32::MAX; size]);
            walk(&src, from, &mut want, to);
            copy_strided(&src, from, &mut got, to);
            assert_eq!(got, want, "case {k}");
        }
    }
}
