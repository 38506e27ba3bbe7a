//! The CPU path's fast matrix product: the `gemm` crate on blocks of the output, one thread
//! each (cpu.rs holds it to the plain kernel).
//! On the MLP step's shapes (128×256×784 and the like) on 2 cores, the crate's own threading
//! reached 74–149 GFLOP/s and two halves run side by side 155–179; at 1024³, 186 against 197.

use std::ops::Range;

use rayon::prelude::*;

use crate::dtype::Element;
use crate::shape::Layout;
use crate::storage::strided::offsets;

/// Below this many multiply-adds a product runs on one thread: splitting costs more.
const SMALL: usize = 1 << 20;

/// Block edges are multiples of this (the f32 micro-kernels' rows), so only the last
/// block of an axis has a ragged edge.
const ALIGN: usize = 16;

/// One task: rows and columns of one output matrix.
#[derive(Clone, Debug, PartialEq)]
struct Block {
    matrix: usize,
    rows: Range<usize>,
    cols: Range<usize>,
}

/// `len` split into `parts` ranges (fewer if `len` has fewer `ALIGN`-element units), of
/// whole units but the last, and as even as units allow.
fn split(len: usize, parts: usize) -> Vec<Range<usize>> {
    let units = len.div_ceil(ALIGN).max(1);
    let parts = parts.clamp(1, units);
    let mut start = 0;
    (0..parts)
        .map(|i| {
            let size = (units / parts + usize::from(i < units % parts)) * ALIGN;
            let range = start..(start + size).min(len);
            start = range.end;
            range
        })
        .collect()
}

/// The tasks for `matrices` products of m×n outputs over k, for `threads` threads: whole
/// matrices when there are enough of them, else each matrix cut along its longer axis
/// (and then the other) into about `threads / matrices` blocks.
fn blocks(matrices: usize, (m, n, k): (usize, usize, usize), threads: usize) -> Vec<Block> {
    let parts = if m * n * k < SMALL {
        1
    } else {
        threads.div_ceil(matrices).max(1)
    };
    let (long, short) = if n >= m { (n, m) } else { (m, n) };
    let along_long = parts.min(long.div_ceil(ALIGN)).max(1);
    let along_short = (parts / along_long).min(short.div_ceil(ALIGN)).max(1);
    let (long_ranges, short_ranges) = (split(long, along_long), split(short, along_short));
    let (row_ranges, col_ranges) = if n >= m {
        (short_ranges, long_ranges)
    } else {
        (long_ranges, short_ranges)
    };
    let mut tasks = Vec::new();
    for matrix in 0..matrices {
        for rows in &row_ranges {
            for cols in &col_ranges {
                tasks.push(Block {
                    matrix,
                    rows: rows.clone(),
                    cols: cols.clone(),
                });
            }
        }
    }
    tasks
}

/// Parts to cut k into for one matrix whose output is small beside k (a weight's gradient,
/// [128, 768]·[768, 128]): cut along m or n, every block packs the whole long operand again,
/// and two threads ran such a product 1.14 times as fast as one. None where the output's
/// blocks serve.
fn k_parts(matrices: usize, (m, n, k): (usize, usize, usize), threads: usize) -> Option<usize> {
    let split = matrices == 1 && threads > 1 && m * n * k >= SMALL && k >= 4 * m.max(n);
    split.then(|| threads.min(k.div_ceil(ALIGN)))
}

/// Batch offsets of the two operands, one pair per matrix of the output.
pub(super) fn batch_offsets(a: &Layout, b: &Layout) -> Vec<(usize, usize)> {
    let r = a.rank() - 2;
    let batch = |l: &Layout| Layout {
        shape: l.shape[..r].to_vec(),
        strides: l.strides[..r].to_vec(),
        offset: l.offset,
    };
    offsets(&batch(a)).zip(offsets(&batch(b))).collect()
}

/// The output's address, shareable by the tasks that write its disjoint blocks.
#[derive(Clone, Copy)]
struct OutPtr<T>(*mut T);
// SAFETY: the tasks holding it write disjoint blocks of one live buffer.
unsafe impl<T> Send for OutPtr<T> {}
unsafe impl<T> Sync for OutPtr<T> {}

impl<T> OutPtr<T> {
    /// # Safety
    /// `offset` must lie inside the buffer.
    unsafe fn at(self, offset: usize) -> *mut T {
        self.0.add(offset)
    }
}

/// One product by the crate, on this thread: dst [m, n] (rows `n_stride` apart) = a [m, k]
/// (from `a`, strides `a_strides` = (row, column)) · b [k, n] (likewise).
///
/// # Safety
/// Every index these sizes and strides form must lie inside the buffers behind the pointers.
unsafe fn gemm_here<T: Element>(
    dst: (*mut T, usize),
    (m, n, k): (usize, usize, usize),
    (a, a_strides): (*const T, (usize, usize)),
    (b, b_strides): (*const T, (usize, usize)),
) {
    let (zero, one) = (T::from_f64(0.0), T::from_f64(1.0));
    // SAFETY: the caller's.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.0,
            1,
            dst.1 as isize,
            false,
            a,
            a_strides.1 as isize,
            a_strides.0 as isize,
            b,
            b_strides.1 as isize,
            b_strides.0 as isize,
            zero,
            one,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

/// a: [batch..., m, k], b: [batch..., k, n] -> out: [batch..., m, n] dense, with `x` and
/// `y` read through the layouts `a` and `b`.
pub(super) fn product<T: Element>(a: &Layout, b: &Layout, (x, y): (&[T], &[T]), out: &mut [T]) {
    let r = a.rank();
    let (m, k, n) = (a.shape[r - 2], a.shape[r - 1], b.shape[r - 1]);
    if m * n == 0 {
        return;
    }
    let pairs = batch_offsets(a, b);
    let threads = rayon::current_num_threads();
    let (a_rows, a_cols) = (a.strides[r - 2], a.strides[r - 1]);
    let (b_rows, b_cols) = (b.strides[r - 2], b.strides[r - 1]);
    if let Some(parts) = k_parts(pairs.len(), (m, n, k), threads) {
        // Each part's product over its run of k, the first into `out`, the others beside it;
        // then their sum, rounded once.
        let (ao, bo) = pairs[0];
        let mut partials = vec![vec![T::from_f64(0.0); m * n]; parts - 1];
        let outs = std::iter::once(&mut *out).chain(partials.iter_mut().map(|p| &mut p[..]));
        let runs: Vec<(Range<usize>, &mut [T])> = split(k, parts).into_iter().zip(outs).collect();
        runs.into_par_iter().for_each(|(run, dst)| {
            // SAFETY: the run lies inside k, so every index gemm forms is inside x and y as
            // the layouts describe them, and `dst` is a whole m×n matrix of its own.
            unsafe {
                gemm_here(
                    (dst.as_mut_ptr(), n),
                    (m, n, run.len()),
                    (x.as_ptr().add(ao + run.start * a_cols), (a_rows, a_cols)),
                    (y.as_ptr().add(bo + run.start * b_rows), (b_rows, b_cols)),
                )
            }
        });
        for partial in &partials {
            for (o, p) in out.iter_mut().zip(partial) {
                *o = T::from_f64(o.to_f64() + p.to_f64());
            }
        }
        return;
    }
    let tasks = blocks(pairs.len(), (m, n, k), threads);
    let c = OutPtr(out.as_mut_ptr());
    let one_block = |t: &Block| {
        let (ao, bo) = pairs[t.matrix];
        // SAFETY: every index gemm forms is inside x, y and out: the layouts describe these
        // buffers, the block lies inside its m×n matrix of the dense output, and no two
        // tasks share a block.
        unsafe {
            gemm_here(
                (c.at(t.matrix * m * n + t.rows.start * n + t.cols.start), n),
                (t.rows.len(), t.cols.len(), k),
                (x.as_ptr().add(ao + t.rows.start * a_rows), (a_rows, a_cols)),
                (y.as_ptr().add(bo + t.cols.start * b_cols), (b_rows, b_cols)),
            )
        }
    };
    match tasks.as_slice() {
        [only] => one_block(only),
        _ => tasks.par_iter().for_each(one_block),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every output element in exactly one block, for shapes on and off the alignment.
    #[test]
    fn blocks_tile_every_output_once() {
        for &(matrices, m, n, k, threads) in &[
            (1, 128, 256, 784, 2),
            (1, 256, 128, 784, 2),
            (1, 1, 4096, 4096, 4),
            (1, 4096, 1, 4096, 16),
            (1, 513, 257, 300, 16),
            (3, 100, 70, 90, 8),
            (40, 128, 128, 64, 2),
            (1, 7, 5, 3, 2),
        ] {
            let tasks = blocks(matrices, (m, n, k), threads);
            let mut seen = vec![0u8; matrices * m * n];
            for t in &tasks {
                for i in t.rows.clone() {
                    for j in t.cols.clone() {
                        seen[t.matrix * m * n + i * n + j] += 1;
                    }
                }
            }
            assert!(
                seen.iter().all(|&c| c == 1),
                "{matrices}×{m}×{n}: {tasks:?}"
            );
            if m * n * k >= SMALL {
                assert!(tasks.len() >= threads.min(matrices * m.max(n).div_ceil(ALIGN)));
            }
        }
    }
}
