//! Parallel loops over a convolution's output blocks that need a scratch buffer each.

use rayon::prelude::*;

/// `body(buffer, index, block)` for every block of `block` elements of `dst` (the last one
/// shorter where `dst` is not a whole number of blocks), in parallel: one run of consecutive
/// blocks per thread, each run with one `fresh()` buffer. rayon's `for_each_init` makes a
/// buffer for every job it splits off, and each costs its zeroing and page faults (4% of the
/// Winograd 32→64 case at 16×16 on two threads).
pub(super) fn per_thread<T: Send, B>(
    dst: &mut [T],
    block: usize,
    fresh: impl Fn() -> B + Sync,
    body: impl Fn(&mut B, usize, &mut [T]) + Sync,
) {
    let block = block.max(1);
    let blocks = dst.len().div_ceil(block);
    let per_run = blocks.div_ceil(rayon::current_num_threads().max(1)).max(1);
    dst.par_chunks_mut(per_run * block)
        .enumerate()
        .for_each(|(run, blocks)| {
            let mut buffer = fresh();
            for (i, out) in blocks.chunks_mut(block).enumerate() {
                body(&mut buffer, run * per_run + i, out);
            }
        });
}
