//! Products against one right operand many times over: a recurrent layer's W_hh, once per
//! timestep. The general product (gemm_blocks.rs) packs its operands on every call, which
//! for the LSTM step's [64, 128]·[128, 512] cost as much as the arithmetic. Here the right
//! operand is packed once, into panels of 32 columns (zero past its last column), and each
//! product runs a register tile of 6 rows × 32 columns: per k, two vectors of the panel
//! and six broadcast left values feed twelve fused multiply-adds into twelve accumulators.
//! f32 on CPUs with AVX-512; elsewhere callers keep the general product.

use std::any::TypeId;

use rayon::prelude::*;

use crate::dtype::Element;
use crate::storage::vector_width;

/// Columns per panel: two 16-lane vectors.
const PANEL: usize = 32;
/// Rows per register tile: 12 accumulators of the 32 vector registers.
const TILE_ROWS: usize = 6;
/// Multiply-adds from which a product is split among threads: below, a task costs more
/// than it saves.
const PARALLEL_FROM: usize = 1 << 21;

/// A dense [k, n] f32 right operand, packed for `product`.
pub(crate) struct PackedRight {
    k: usize,
    n: usize,
    panels: Vec<f32>,
}

impl PackedRight {
    /// `b` ([k, n], dense) packed, where the data are f32, neither side is empty and the CPU
    /// has AVX-512 (`vector_width::avx512`); None otherwise.
    pub(crate) fn new<T: Element>(b: &[T], k: usize, n: usize) -> Option<PackedRight> {
        if TypeId::of::<T>() != TypeId::of::<f32>() || k == 0 || n == 0 || !vector_width::avx512() {
            return None;
        }
        let b: &[f32] = bytemuck::cast_slice(&b[..k * n]);
        let mut panels = vec![0.0; n.div_ceil(PANEL) * k * PANEL];
        for (j, panel) in panels.chunks_exact_mut(k * PANEL).enumerate() {
            let cols = (n - j * PANEL).min(PANEL);
            for (p, dst) in panel.chunks_exact_mut(PANEL).enumerate() {
                dst[..cols].copy_from_slice(&b[p * n + j * PANEL..][..cols]);
            }
        }
        Some(PackedRight { k, n, panels })
    }

    /// out [m, n] = a [m, k] · B, both dense. `T` is f32, as `new` checked.
    pub(crate) fn product<T: Element>(&self, a: &[T], m: usize, out: &mut [T]) {
        let (k, n) = (self.k, self.n);
        let a: &[f32] = bytemuck::cast_slice(&a[..m * k]);
        let out: &mut [f32] = bytemuck::cast_slice_mut(&mut out[..m * n]);
        let threads = rayon::current_num_threads();
        if m * n * k < PARALLEL_FROM || threads == 1 || m < 2 * TILE_ROWS {
            self.rows(a, out);
            return;
        }
        // Whole tiles per task, so that only the last task has a partial one.
        let tiles = m.div_ceil(TILE_ROWS);
        let rows = tiles.div_ceil(threads) * TILE_ROWS;
        out.par_chunks_mut(rows * n)
            .zip(a.par_chunks(rows * k))
            .for_each(|(out, a)| self.rows(a, out));
    }

    /// Every row of `a` (dense, k wide) into `out` (dense, n wide).
    fn rows(&self, a: &[f32], out: &mut [f32]) {
        let (k, n) = (self.k, self.n);
        let m = out.len() / n.max(1);
        for (j, panel) in self.panels.chunks_exact(k * PANEL).enumerate() {
            let cols = (n - j * PANEL).min(PANEL);
            for i in (0..m).step_by(TILE_ROWS) {
                let a = &a[i * k..];
                let out = &mut out[i * n + j * PANEL..];
                // SAFETY: `new` found AVX-512 (F among it); each call's bounds are checked in `tile`.
                unsafe {
                    match m - i {
                        1 => tile::<1>(a, panel, k, (out, n, cols)),
                        2 => tile::<2>(a, panel, k, (out, n, cols)),
                        3 => tile::<3>(a, panel, k, (out, n, cols)),
                        4 => tile::<4>(a, panel, k, (out, n, cols)),
                        5 => tile::<5>(a, panel, k, (out, n, cols)),
                        _ => tile::<TILE_ROWS>(a, panel, k, (out, n, cols)),
                    }
                }
            }
        }
    }
}

/// out[i][c] = Σ_p a[i·k + p] · panel[p·32 + c] for i < R and c < cols, out's rows `stride`
/// apart.
///
/// # Safety
/// The CPU must have AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn tile<const R: usize>(
    a: &[f32],
    panel: &[f32],
    k: usize,
    (out, stride, cols): (&mut [f32], usize, usize),
) {
    use std::arch::x86_64::*;
    assert!(R >= 1 && a.len() >= (R - 1) * k + k && panel.len() >= k * PANEL);
    assert!(cols <= PANEL && out.len() >= (R - 1) * stride + cols);
    let mut acc = [[_mm512_setzero_ps(); 2]; R];
    let (a, b) = (a.as_ptr(), panel.as_ptr());
    for p in 0..k {
        // SAFETY: p < k, and the asserts above bound every row of `a` and the panel.
        let (low, high) = unsafe {
            (
                _mm512_loadu_ps(b.add(p * PANEL)),
                _mm512_loadu_ps(b.add(p * PANEL + 16)),
            )
        };
        for (i, row) in acc.iter_mut().enumerate() {
            // SAFETY: as above.
            let x = _mm512_set1_ps(unsafe { *a.add(i * k + p) });
            row[0] = _mm512_fmadd_ps(x, low, row[0]);
            row[1] = _mm512_fmadd_ps(x, high, row[1]);
        }
    }
    let lanes = |c: usize| -> __mmask16 { ((1u32 << c.min(16)) - 1) as __mmask16 };
    let (low_mask, high_mask) = (lanes(cols), lanes(cols.saturating_sub(16)));
    for (i, row) in acc.iter().enumerate() {
        // SAFETY: the masks keep the stores within `cols` of row i, which the asserts bound.
        unsafe {
            let dst = out.as_mut_ptr().add(i * stride);
            _mm512_mask_storeu_ps(dst, low_mask, row[0]);
            _mm512_mask_storeu_ps(dst.add(16), high_mask, row[1]);
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn tile<const R: usize>(_: &[f32], _: &[f32], _: usize, _: (&mut [f32], usize, usize)) {
    unreachable!("PackedRight::new returns None without AVX-512")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::matmul::cpu::plain;
    use crate::shape::Layout;
    use crate::sum_bounds::{assert_within_sum_bound, signed_values};

    /// Packed products against the plain kernel, within the bound of a sum of k products:
    /// sizes around the tile and panel (1, 5, 6, 7 rows; 1, 31, 32, 33 columns), the LSTM
    /// step's two products, and one large enough to be split among threads.
    #[test]
    fn packed_products_match_the_plain_kernel() {
        if !vector_width::avx512() {
            eprintln!("skipped: this CPU has no AVX-512, so products never take this path");
            return;
        }
        let shapes = [
            (1, 1, 1),
            (5, 7, 31),
            (6, 13, 32),
            (7, 128, 33),
            (13, 3, 65),
            (64, 128, 512),
            (64, 512, 128),
            (300, 257, 100),
        ];
        for (seed, (m, k, n)) in shapes.into_iter().enumerate() {
            let (a, b) = (
                signed_values(m * k, 2 * seed as u64),
                signed_values(k * n, 2 * seed as u64 + 1),
            );
            let packed = PackedRight::new(&b, k, n).expect("f32 on an AVX-512 CPU");
            let mut got = vec![f32::NAN; m * n];
            packed.product(&a, m, &mut got);
            let (la, lb) = (Layout::contiguous(&[m, k]), Layout::contiguous(&[k, n]));
            let mut want = vec![0.0f32; m * n];
            plain(&la, &lb, (&a, &b), &mut want);
            let abs = |v: &[f32]| v.iter().map(|e| e.abs()).collect::<Vec<_>>();
            let mut scale = vec![0.0f32; m * n];
            plain(&la, &lb, (&abs(&a), &abs(&b)), &mut scale);
            assert_within_sum_bound(&format!("{m}x{k}x{n}"), k, (&got, &want), &scale);
        }
    }

    #[test]
    fn other_types_and_empty_operands_are_not_packed() {
        assert!(PackedRight::new(&[0.0f64; 4], 2, 2).is_none());
        assert!(PackedRight::new(&[half::f16::ZERO; 4], 2, 2).is_none());
        assert!(PackedRight::new::<f32>(&[], 0, 5).is_none());
        assert!(PackedRight::new::<f32>(&[], 5, 0).is_none());
    }
}
