//! The CPU forward product of 3×3 convolutions with unit stride and dilation, by Winograd's
//! F(2×2, 3×3): each 2×2 block of outputs (a tile) comes from a 4×4 window of the image as
//! Y = Aᵀ [Σ_c (G g_c Gᵀ) ⊙ (Bᵀ d_c B)] A, so the channel sums are 16 matrix products of
//! [tiles, C]·[C, O] with 4 multiply-adds per output instead of 9. The transforms add and
//! subtract only (G's halves are exact), which keeps the error close to the direct sum's:
//! tests/conv.rs states the bound.
//!
//! Images are transformed a block of tile rows at a time with channels innermost (rows
//! transposed to [column, channel] first), so every transform is a run of vector operations
//! over channels, and the block's buffers stay in cache.

use super::runs::per_thread;
use super::transpose::transpose;

/// Tiles a task transforms and multiplies at once, rounded to whole tile rows.
const TILES_PER_TASK: usize = 64;

/// Whether F(2×2, 3×3) is worth its transforms. Their cost per output grows with C + O and
/// the products' saving with C·O, so C·O/(C + O) decides; and each of the 16 products packs
/// its [C, O] operand for an image's tiles, which a small image does not repay. Measured on
/// 2 cores against the im2col path, 1 thread / 2 threads, same minutes: 32→32 channels at
/// 16×16 1.1× / 1.05×; 24→48 at 16×16 1.05× / 1.0×; 32→64 at 16×16 1.15× / 1.0×; 64→64 at
/// 32×32 1.0× / 1.05×; 16→16 at 32×32 0.6× / 0.55×; 256→256 at 7×7 0.4× / 0.2×; 64→64 at
/// 4×4 1.1× / 0.6×.
pub(super) fn pays(c: usize, o: usize, oh: usize, ow: usize) -> bool {
    c * o >= 16 * (c + o) && oh * ow >= 16 * 16
}

/// The shapes of one convolution: image [N, C, H, W], padding (rows, columns), O filters,
/// output [N, O, OH, OW] with OH = H + 2·pad − 2.
#[derive(Clone, Copy)]
pub(super) struct Shape {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub o: usize,
    pub pad: (usize, usize),
}

impl Shape {
    fn out(&self) -> (usize, usize) {
        (self.h + 2 * self.pad.0 - 2, self.w + 2 * self.pad.1 - 2)
    }

    /// Tile rows and tiles per row.
    fn tiles(&self) -> (usize, usize) {
        let (oh, ow) = self.out();
        (oh.div_ceil(2), ow.div_ceil(2))
    }
}

/// `out` [N, O, OH, OW] = conv(x [N, C, H, W], weight [O, C, 3, 3]), all dense.
pub(super) fn forward(s: Shape, x: &[f32], weight: &[f32], out: &mut [f32]) {
    let (oh, ow) = s.out();
    let (th, tw) = s.tiles();
    let rows_per_task = (TILES_PER_TASK / tw).max(1);
    let u = transformed_filters(s, weight);
    let plane = s.o * oh * ow;
    if plane == 0 {
        return;
    }
    per_thread(
        &mut out[..s.n * plane],
        plane,
        || Workspace::new(s, rows_per_task),
        |ws, n, dst| {
            ws.gather(s, &x[n * s.c * s.h * s.w..(n + 1) * s.c * s.h * s.w]);
            for first in (0..th).step_by(rows_per_task) {
                let rows = first..(first + rows_per_task).min(th);
                ws.block(s, &u, rows, dst);
            }
        },
    );
}

/// U = G g Gᵀ for every filter and channel, stored [16][C][O]: the right operands of the
/// 16 products.
fn transformed_filters(s: Shape, weight: &[f32]) -> Vec<f32> {
    let (c, o) = (s.c, s.o);
    let mut u = vec![0.0; 16 * c * o];
    for oi in 0..o {
        for ci in 0..c {
            let g = &weight[(oi * c + ci) * 9..(oi * c + ci + 1) * 9];
            // G g: 4×3, columns first.
            let mut gg = [[0.0f32; 3]; 4];
            for j in 0..3 {
                let (a, b, e) = (g[j], g[3 + j], g[6 + j]);
                gg[0][j] = a;
                gg[1][j] = 0.5 * (a + b + e);
                gg[2][j] = 0.5 * (a - b + e);
                gg[3][j] = e;
            }
            for (i, row) in gg.iter().enumerate() {
                let [a, b, e] = *row;
                let v = [a, 0.5 * (a + b + e), 0.5 * (a - b + e), e];
                for (j, value) in v.into_iter().enumerate() {
                    u[((i * 4 + j) * c + ci) * o + oi] = value;
                }
            }
        }
    }
    u
}

/// One task's buffers, kept across its blocks.
struct Workspace {
    /// The padded image, [row][column][channel].
    rows: Vec<f32>,
    /// Transformed input tiles, [16][tile][channel]; later the outputs, [row][column][o].
    v: Vec<f32>,
    /// The 16 products, [16][tile][o].
    m: Vec<f32>,
    /// One tile's intermediate transform, [16][max(C, O)].
    tmp: Vec<f32>,
}

impl Workspace {
    fn new(s: Shape, rows_per_task: usize) -> Workspace {
        let (_, tw) = s.tiles();
        let tiles = rows_per_task * tw;
        Workspace {
            rows: vec![0.0; (2 * s.tiles().0 + 2) * (2 * tw + 2) * s.c],
            v: vec![0.0; (16 * s.c * tiles).max(2 * rows_per_task * 2 * tw * s.o)],
            m: vec![0.0; 16 * s.o * tiles],
            tmp: vec![0.0; 16 * s.c.max(s.o)],
        }
    }

    /// Outputs of tile rows `rows` of one image into `dst` [O, OH, OW].
    fn block(&mut self, s: Shape, u: &[f32], rows: std::ops::Range<usize>, dst: &mut [f32]) {
        let (_, tw) = s.tiles();
        let tiles = rows.len() * tw;
        self.transform_input(s, rows.start, tiles);
        for xi in 0..16 {
            let m = &mut self.m[xi * tiles * s.o..(xi + 1) * tiles * s.o];
            let v = &self.v[xi * tiles * s.c..(xi + 1) * tiles * s.c];
            let u = &u[xi * s.c * s.o..(xi + 1) * s.c * s.o];
            product(tiles, s.o, s.c, m, v, u);
        }
        self.transform_output(s, rows, dst);
    }

    /// The image [C, H, W] into `rows`, padded and channels innermost, zeros where the
    /// windows leave the image. Once per image: the blocks' windows overlap by two rows.
    fn gather(&mut self, s: Shape, image: &[f32]) {
        let (th, tw) = s.tiles();
        let width = 2 * tw + 2;
        let padded_rows = 2 * th + 2;
        let c = s.c;
        self.rows[..padded_rows * width * c].fill(0.0);
        let columns = s.w.min(width - s.pad.1);
        for r in 0..padded_rows {
            let Some(y) = r.checked_sub(s.pad.0).filter(|&y| y < s.h) else {
                continue;
            };
            // The row's C × columns block, from [channel][column] to [column][channel].
            let line = &mut self.rows[(r * width + s.pad.1) * c..];
            transpose(&image[y * s.w..], s.h * s.w, line, c, (c, columns));
        }
    }

    /// V = Bᵀ d B for every tile of the block of tile rows from `first` and every channel,
    /// into `v` [16][tile][C].
    fn transform_input(&mut self, s: Shape, first: usize, tiles: usize) {
        let (_, tw) = s.tiles();
        let width = 2 * tw + 2;
        let c = s.c;
        let Workspace { rows, v, tmp, .. } = self;
        for t in 0..tiles {
            let (ty, tx) = (first + t / tw, t % tw);
            let at = |r: usize, q: usize| ((2 * ty + r) * width + 2 * tx + q) * c;
            // tmp[r][j] = (d_r B)_j: each window row times B.
            for r in 0..4 {
                let d = |q: usize| &rows[at(r, q)..at(r, q) + c];
                let (d0, d1, d2, d3) = (d(0), d(1), d(2), d(3));
                let (t0, rest) = tmp[r * 4 * c..(r + 1) * 4 * c].split_at_mut(c);
                let (t1, rest) = rest.split_at_mut(c);
                let (t2, t3) = rest.split_at_mut(c);
                for i in 0..c {
                    t0[i] = d0[i] - d2[i];
                    t1[i] = d1[i] + d2[i];
                    t2[i] = d2[i] - d1[i];
                    t3[i] = d1[i] - d3[i];
                }
            }
            // Then Bᵀ times the columns.
            for j in 0..4 {
                let f = |r: usize| &tmp[(r * 4 + j) * c..(r * 4 + j + 1) * c];
                let (f0, f1, f2, f3) = (f(0), f(1), f(2), f(3));
                let to = |i: usize| ((i * 4 + j) * tiles + t) * c;
                for (k, out) in v[to(0)..to(0) + c].iter_mut().enumerate() {
                    *out = f0[k] - f2[k];
                }
                for (k, out) in v[to(1)..to(1) + c].iter_mut().enumerate() {
                    *out = f1[k] + f2[k];
                }
                for (k, out) in v[to(2)..to(2) + c].iter_mut().enumerate() {
                    *out = f2[k] - f1[k];
                }
                for (k, out) in v[to(3)..to(3) + c].iter_mut().enumerate() {
                    *out = f1[k] - f3[k];
                }
            }
        }
    }

    /// Y = Aᵀ M A for every tile and filter, into `dst` [O, OH, OW] through `v`, reused as
    /// [row][column][o].
    fn transform_output(&mut self, s: Shape, rows: std::ops::Range<usize>, dst: &mut [f32]) {
        let (oh, ow) = s.out();
        let (_, tw) = s.tiles();
        let o = s.o;
        let tiles = rows.len() * tw;
        let out_rows = (2 * rows.len()).min(oh - 2 * rows.start);
        let width = 2 * tw;
        let Workspace { v, m, tmp, .. } = self;
        for t in 0..tiles {
            let (ty, tx) = (t / tw, t % tw);
            let m = |xi: usize| &m[(xi * tiles + t) * o..(xi * tiles + t + 1) * o];
            // tmp[j][r] = (Aᵀ M)_rj.
            for j in 0..4 {
                let (m0, m1, m2, m3) = (m(j), m(4 + j), m(8 + j), m(12 + j));
                let (top, bottom) = tmp[j * 2 * o..(j + 1) * 2 * o].split_at_mut(o);
                for i in 0..o {
                    top[i] = m0[i] + m1[i] + m2[i];
                    bottom[i] = m1[i] - m2[i] - m3[i];
                }
            }
            for r in 0..2 {
                let row = 2 * ty + r;
                if row >= out_rows {
                    continue;
                }
                let a = |j: usize| &tmp[(j * 2 + r) * o..(j * 2 + r + 1) * o];
                let (a0, a1, a2, a3) = (a(0), a(1), a(2), a(3));
                let at = (row * width + 2 * tx) * o;
                let (left, right) = v[at..at + 2 * o].split_at_mut(o);
                for i in 0..o {
                    left[i] = a0[i] + a1[i] + a2[i];
                    right[i] = a1[i] - a2[i] - a3[i];
                }
            }
        }
        // To [O, OH, OW].
        for row in 0..out_rows {
            let y = 2 * rows.start + row;
            transpose(
                &v[row * width * o..],
                o,
                &mut dst[y * ow..],
                oh * ow,
                (ow, o),
            );
        }
    }
}

/// m [tiles, O] = v [tiles, C] · u [C, O], dense row-major.
fn product(tiles: usize, o: usize, c: usize, m: &mut [f32], v: &[f32], u: &[f32]) {
    assert!(m.len() >= tiles * o && v.len() >= tiles * c && u.len() >= c * o);
    // SAFETY: the assertion bounds every index gemm forms for these dense layouts.
    unsafe {
        gemm::gemm(
            tiles,
            o,
            c,
            m.as_mut_ptr(),
            1,
            o as isize,
            false,
            v.as_ptr(),
            1,
            c as isize,
            u.as_ptr(),
            1,
            o as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const U32: f64 = f32::EPSILON as f64 / 2.0;

    fn data(len: usize, seed: u64) -> Vec<f32> {
        (0..len as u64)
            .map(|i| (2.0 * crate::random::uniform(seed, i) - 1.0) as f32)
            .collect()
    }

    /// The exact convolution in f64, and for each output the bound's scale: the same
    /// F(2×2, 3×3) evaluation with every matrix and input replaced by its absolute value.
    fn reference(s: Shape, x: &[f32], w: &[f32]) -> (Vec<f64>, Vec<f64>) {
        let (oh, ow) = s.out();
        let (th, tw) = s.tiles();
        let pixel = |n: usize, c: usize, y: isize, x0: isize| -> f64 {
            let (y, x0) = (y - s.pad.0 as isize, x0 - s.pad.1 as isize);
            if y < 0 || x0 < 0 || y >= s.h as isize || x0 >= s.w as isize {
                return 0.0;
            }
            x[((n * s.c + c) * s.h + y as usize) * s.w + x0 as usize] as f64
        };
        let mut exact = vec![0.0; s.n * s.o * oh * ow];
        let mut scale = vec![0.0; s.n * s.o * oh * ow];
        let g_abs = [
            [1.0, 0.0, 0.0],
            [0.5, 0.5, 0.5],
            [0.5, 0.5, 0.5],
            [0.0, 0.0, 1.0],
        ];
        let b_abs = [
            [1.0, 0.0, 1.0, 0.0],
            [0.0, 1.0, 1.0, 0.0],
            [0.0, 1.0, 1.0, 0.0],
            [0.0, 1.0, 0.0, 1.0],
        ];
        let a_abs = [[1.0, 1.0, 1.0, 0.0], [0.0, 1.0, 1.0, 1.0]];
        for n in 0..s.n {
            for o in 0..s.o {
                for y in 0..oh {
                    for x0 in 0..ow {
                        let mut sum = 0.0;
                        for c in 0..s.c {
                            for i in 0..3 {
                                for j in 0..3 {
                                    let wv = w[((o * s.c + c) * 3 + i) * 3 + j] as f64;
                                    sum += wv * pixel(n, c, (y + i) as isize, (x0 + j) as isize);
                                }
                            }
                        }
                        exact[((n * s.o + o) * oh + y) * ow + x0] = sum;
                    }
                }
                for ty in 0..th {
                    for tx in 0..tw {
                        let mut m = [[0.0f64; 4]; 4];
                        for c in 0..s.c {
                            let g = |i: usize, j: usize| {
                                w[((o * s.c + c) * 3 + i) * 3 + j].abs() as f64
                            };
                            let d = |i: usize, j: usize| {
                                pixel(n, c, (2 * ty + i) as isize, (2 * tx + j) as isize).abs()
                            };
                            for (p, row) in m.iter_mut().enumerate() {
                                for (q, cell) in row.iter_mut().enumerate() {
                                    let mut u = 0.0;
                                    let mut v = 0.0;
                                    for a in 0..3 {
                                        for b in 0..3 {
                                            u += g_abs[p][a] * g(a, b) * g_abs[q][b];
                                        }
                                    }
                                    for a in 0..4 {
                                        for b in 0..4 {
                                            v += b_abs[a][p] * d(a, b) * b_abs[b][q];
                                        }
                                    }
                                    *cell += u * v;
                                }
                            }
                        }
                        for r in 0..2 {
                            for q in 0..2 {
                                let (y, x0) = (2 * ty + r, 2 * tx + q);
                                if y >= oh || x0 >= ow {
                                    continue;
                                }
                                let mut total = 0.0;
                                for a in 0..4 {
                                    for b in 0..4 {
                                        total += a_abs[r][a] * m[a][b] * a_abs[q][b];
                                    }
                                }
                                scale[((n * s.o + o) * oh + y) * ow + x0] = total;
                            }
                        }
                    }
                }
            }
        }
        (exact, scale)
    }

    /// Every output within γ(C + 11)·scale of the exact value: the longest chain of rounded
    /// operations behind an output is 2 (input transform) + 4 (filter transform) + 1
    /// (product) + C (channel sum) + 4 (output transform), and an evaluation through sums and
    /// products errs by at most γ(depth) times the same evaluation on absolute values.
    /// Inputs are f32 and G's halves exact, so nothing else rounds.
    #[test]
    fn matches_the_exact_convolution_within_its_bound() {
        let shapes = [
            (2, 3, 7, 5, 4, (1, 1)),
            (1, 5, 9, 13, 3, (0, 0)),
            (3, 2, 1, 1, 2, (1, 1)),
            (1, 7, 6, 9, 5, (0, 1)),
            (1, 4, 5, 5, 3, (2, 2)),
            (1, 1, 3, 3, 1, (0, 0)),
            // Tile rows split 12 + 7 between blocks; rows of 75 tiles, one per block.
            (1, 3, 37, 9, 2, (1, 1)),
            (1, 2, 5, 150, 3, (1, 1)),
            (2, 67, 19, 17, 71, (1, 1)),
        ];
        for (seed, &(n, c, h, w, o, pad)) in shapes.iter().enumerate() {
            let s = Shape { n, c, h, w, o, pad };
            let x = data(n * c * h * w, 100 + seed as u64);
            let weight = data(o * c * 9, 200 + seed as u64);
            let (oh, ow) = s.out();
            let mut out = vec![f32::NAN; n * o * oh * ow];
            forward(s, &x, &weight, &mut out);
            let (exact, scale) = reference(s, &x, &weight);
            let gamma = |k: f64| k * U32 / (1.0 - k * U32);
            for i in 0..out.len() {
                let bound = gamma((c + 11) as f64) * scale[i];
                assert!(
                    (out[i] as f64 - exact[i]).abs() <= bound,
                    "{n}x{c}x{h}x{w} -> {o}, pad {pad:?}: [{i}] {} vs {} (bound {bound:e})",
                    out[i],
                    exact[i]
                );
            }
        }
    }

    #[test]
    fn pays_only_where_it_measured_faster() {
        assert!(pays(32, 32, 16, 16));
        assert!(pays(24, 48, 16, 16));
        assert!(pays(32, 64, 16, 16));
        assert!(pays(64, 64, 56, 56));
        assert!(!pays(16, 16, 32, 32));
        assert!(!pays(256, 256, 7, 7));
        assert!(!pays(64, 64, 4, 4));
    }
}
