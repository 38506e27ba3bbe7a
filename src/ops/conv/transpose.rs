//! Transposing f32 blocks between the image layout and the channels-innermost layout of
//! winograd.rs. Four by four with SSE shuffles on x86-64 (part of its baseline), which
//! moves an element in about one instruction where the element-by-element loop took six.

/// dst[j·dst_stride + i] = src[i·src_stride + j] for i < rows, j < cols.
pub(super) fn transpose(
    src: &[f32],
    src_stride: usize,
    dst: &mut [f32],
    dst_stride: usize,
    (rows, cols): (usize, usize),
) {
    if rows == 0 || cols == 0 {
        return;
    }
    assert!(src.len() > (rows - 1) * src_stride + cols - 1);
    assert!(dst.len() > (cols - 1) * dst_stride + rows - 1);
    let (full_rows, full_cols) = (rows / 4 * 4, cols / 4 * 4);
    // SAFETY: the assertions above bound every 4×4 block's reads and writes.
    let mut at = |i, j| unsafe { block(src, src_stride, dst, dst_stride, i, j) };
    // Along the rows of the side with the longer stride, so that its four rows are done
    // with before the next four: lines a kilobyte apart share few cache sets, and crossing
    // 64 of them at once evicted each before its next use.
    if src_stride >= dst_stride {
        for i in (0..full_rows).step_by(4) {
            for j in (0..full_cols).step_by(4) {
                at(i, j);
            }
        }
    } else {
        for j in (0..full_cols).step_by(4) {
            for i in (0..full_rows).step_by(4) {
                at(i, j);
            }
        }
    }
    for i in 0..rows {
        let from = if i < full_rows { full_cols } else { 0 };
        for j in from..cols {
            dst[j * dst_stride + i] = src[i * src_stride + j];
        }
    }
}

#[cfg(target_arch = "x86_64")]
unsafe fn block(src: &[f32], ss: usize, dst: &mut [f32], ds: usize, i: usize, j: usize) {
    use std::arch::x86_64::*;
    let s = src.as_ptr().add(i * ss + j);
    let d = dst.as_mut_ptr().add(j * ds + i);
    let r0 = _mm_loadu_ps(s);
    let r1 = _mm_loadu_ps(s.add(ss));
    let r2 = _mm_loadu_ps(s.add(2 * ss));
    let r3 = _mm_loadu_ps(s.add(3 * ss));
    let t0 = _mm_unpacklo_ps(r0, r1);
    let t1 = _mm_unpacklo_ps(r2, r3);
    let t2 = _mm_unpackhi_ps(r0, r1);
    let t3 = _mm_unpackhi_ps(r2, r3);
    _mm_storeu_ps(d, _mm_movelh_ps(t0, t1));
    _mm_storeu_ps(d.add(ds), _mm_movehl_ps(t1, t0));
    _mm_storeu_ps(d.add(2 * ds), _mm_movelh_ps(t2, t3));
    _mm_storeu_ps(d.add(3 * ds), _mm_movehl_ps(t3, t2));
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn block(src: &[f32], ss: usize, dst: &mut [f32], ds: usize, i: usize, j: usize) {
    for a in 0..4 {
        for b in 0..4 {
            dst[(j + b) * ds + i + a] = src[(i + a) * ss + j + b];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_every_element_once_for_any_shape() {
        for (rows, cols, ss, ds) in [
            (1, 1, 1, 1),
            (4, 4, 4, 4),
            (7, 13, 15, 9),
            (9, 5, 5, 11),
            (3, 8, 8, 3),
        ] {
            let src: Vec<f32> = (0..rows * ss).map(|v| v as f32).collect();
            let mut dst = vec![-1.0; cols * ds];
            transpose(&src, ss, &mut dst, ds, (rows, cols));
            for j in 0..cols {
                for i in 0..ds {
                    let want = if i < rows { src[i * ss + j] } else { -1.0 };
                    assert_eq!(dst[j * ds + i], want, "{rows}x{cols}: ({i}, {j})");
                }
            }
        }
    }
}
