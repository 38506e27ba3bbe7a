//! Copies that transpose: one side runs with unit stride along the last axis of the
//! coalesced shape and the other along an earlier axis (a transposed weight made dense, a
//! weight's gradient placed transposed). Element by element along a row, every access on
//! the strided side touches a new cache line; square tiles of those two axes reuse each
//! line they touch.

use crate::shape::Layout;

/// A tile's side: sixteen f32 values fill a 64-byte cache line.
const TILE: usize = 16;

/// `dst` at the elements of `to` receives `src` at the elements of `from` (one shape) in
/// tiles, when the copy transposes; false (and nothing copied) when it does not.
pub fn copy_transposing<T: Copy>(src: &[T], from: &Layout, dst: &mut [T], to: &Layout) -> bool {
    let (shape, strides) = Layout::coalesce(&[to, from]);
    let Some(last) = shape.len().checked_sub(1) else {
        return false;
    };
    let (to_strides, from_strides) = (&strides[0], &strides[1]);
    // The side that is strided along the last axis, and the earlier axis it runs along.
    let strided = match (to_strides[last], from_strides[last]) {
        (1, 1) => return false,
        (_, 1) => to_strides,
        (1, _) => from_strides,
        _ => return false,
    };
    let Some(across) = (0..last).find(|&d| strided[d] == 1) else {
        return false;
    };
    if shape[across] < TILE || shape[last] < TILE {
        return false;
    }
    // Every index of the other axes, then tiles of (across, last).
    let others: Vec<usize> = (0..last).filter(|&d| d != across).collect();
    let count: usize = others.iter().map(|&d| shape[d]).product();
    for r in 0..count {
        let (mut o, mut i) = (to.offset, from.offset);
        let mut rem = r;
        for &d in others.iter().rev() {
            let c = rem % shape[d];
            rem /= shape[d];
            o += c * to_strides[d];
            i += c * from_strides[d];
        }
        // In locals: read through the vectors, the strides were loaded again for every
        // element, since the compiler cannot rule out that a store to `dst` changed them.
        let (rows, cols) = (shape[across], shape[last]);
        let (to_row, to_col) = (to_strides[across], to_strides[last]);
        let (from_row, from_col) = (from_strides[across], from_strides[last]);
        for a0 in (0..rows).step_by(TILE) {
            for l0 in (0..cols).step_by(TILE) {
                for a in a0..rows.min(a0 + TILE) {
                    let (o, i) = (o + a * to_row, i + a * from_row);
                    for l in l0..cols.min(l0 + TILE) {
                        dst[o + l * to_col] = src[i + l * from_col];
                    }
                }
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::strided::offsets;

    /// The copy element by element: the specification.
    fn reference(src: &[u32], from: &Layout, dst: &mut [u32], to: &Layout) {
        for (o, i) in offsets(to).zip(offsets(from)) {
            dst[o] = src[i];
        }
    }

    /// Transposed sources and destinations of odd sizes (partial tiles), with a batch axis
    /// between and offsets, match the element-by-element copy; copies that do not
    /// transpose are declined.
    #[test]
    fn tiles_match_the_element_walk() {
        for (batch, rows, cols) in [(1, 16, 16), (1, 17, 33), (3, 31, 16), (2, 129, 19)] {
            let dense = Layout::contiguous(&[batch, rows, cols]);
            let mut transposed = Layout::contiguous(&[batch, cols, rows]).permute(&[0, 2, 1]);
            transposed.offset = 5;
            let len = batch * rows * cols + 5;
            let src: Vec<u32> = (0..len as u32).collect();
            for (from, to) in [(&transposed, &dense), (&dense, &transposed)] {
                let (mut got, mut want) = (vec![0; len], vec![0; len]);
                assert!(copy_transposing(&src, from, &mut got, to));
                reference(&src, from, &mut want, to);
                assert_eq!(got, want, "{batch}x{rows}x{cols}");
            }
        }
        let dense = Layout::contiguous(&[40, 40]);
        let small = Layout::contiguous(&[8, 40]).permute(&[1, 0]);
        let mut out = vec![0u32; 1600];
        assert!(!copy_transposing(&[0u32; 1600], &dense, &mut out, &dense));
        assert!(!copy_transposing(
            &[0u32; 1600],
            &small,
            &mut out,
            &Layout::contiguous(&[40, 8])
        ));
    }
}
