//! The CPU forward product of 3×3 convolutions with unit stride and dilation, by Winograd's
//! F(2×2, 3×3): each 2×2 block of outputs (a tile) comes from a 4×4 window of the image as
//! Y = Aᵀ [Σ_c (G g_c Gᵀ) ⊙ (Bᵀ d_c B)] A, so the channel sums are 16 matrix products of
//! [tiles, C]·[C, O] with 4 multiply-adds per output instead of 9. The transforms add and
//! subtract only (G's halves are exact), which keeps the error close to the direct sum's:
//! tests/conv.rs states the bound.
//!
//! Images are transformed a block of tile rows at a time with channels innermost (rows
//! transposed to [column, channel] first) and padded to groups of eight: each transform
//! holds one tile's 16 values of eight channels or filters in registers, and the block's
//! buffers stay in cache.

use super::runs::per_thread;
use super::transpose::transpose;
use rayon::prelude::*;

/// Tiles a task transforms and multiplies at once, rounded to whole tile rows.
const TILES_PER_TASK: usize = 64;

/// Whether F(2×2, 3×3) is worth its transforms. Their cost per output grows with C + O and
/// the products' saving with C·O, so C·O/(C + O) decides; and each image's products pack
/// all of U (16·C·O values), which is cheap while U stays in the L2 cache but from further
/// out takes an image of 14×14 or more to repay. Measured on 2 cores against the im2col path
/// (N = 32, or 8 from 256 channels), 1 thread / 2 threads, same minutes: 32→64 at 16×16
/// 1.5× / 1.25×; 32→32 at 16×16 1.5× / 1.45×; 24→48 at 16×16 1.35× / 1.35×; 64→64 at 6×6
/// 1.8× / 1.8×; 128→128 at 8×8 1.35× / 1.3×; 256→256 at 14×14 1.5× / 1.45×; 16→16 at
/// 32×32 1.0× / 1.0×; 64→64 at 4×4 1.2× / 1.0×; 256→256 at 7×7 0.9× / 0.75×; 512→512 at
/// 7×7 0.6× / 0.6×.
pub(super) fn pays(c: usize, o: usize, oh: usize, ow: usize) -> bool {
    let area = oh * ow;
    let u_bytes = 16 * c * o * std::mem::size_of::<f32>();
    c * o > 0 && c * o >= 16 * (c + o) && area >= 6 * 6 && (u_bytes <= 1 << 20 || area >= 14 * 14)
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

/// `dx` [N, C, H, W], the gradient of conv(x, weight) with respect to x for the output's
/// gradient `gy` [N, O, OH, OW]; `s` is the forward convolution's shape, its padding at most
/// 2. That gradient is itself a 3×3 convolution, of `gy` padded by 2 − padding with the
/// filters [C, O, 3, 3] = weight's, swapped in their first two axes and turned half a turn.
pub(super) fn input_gradient(s: Shape, gy: &[f32], weight: &[f32], dx: &mut [f32]) {
    let (oh, ow) = s.out();
    let mut turned = vec![0.0; weight.len()];
    for (oi, filters) in weight.chunks_exact(s.c * 9).enumerate() {
        for (ci, g) in filters.chunks_exact(9).enumerate() {
            let t = &mut turned[(ci * s.o + oi) * 9..(ci * s.o + oi + 1) * 9];
            for (k, value) in g.iter().enumerate() {
                t[8 - k] = *value;
            }
        }
    }
    let grad = Shape {
        n: s.n,
        c: s.o,
        h: oh,
        w: ow,
        o: s.c,
        pad: (2 - s.pad.0, 2 - s.pad.1),
    };
    forward(grad, gy, &turned, dx);
}

/// U = G g Gᵀ for every filter and channel, stored [C][16][lanes(O)]: the right operands of
/// the 16 products, with rows 16·lanes(O) apart. Channels in parallel, eight filters at a
/// time.
fn transformed_filters(s: Shape, weight: &[f32]) -> Vec<f32> {
    let o = lanes(s.o);
    let mut u = vec![0.0; s.c * 16 * o];
    u.par_chunks_mut(16 * o).enumerate().for_each(|(ci, u)| {
        for k in (0..s.o).step_by(F8::LANES) {
            let mut g = [[F8::ZERO; 3]; 3];
            for oi in k..(k + F8::LANES).min(s.o) {
                let filter = &weight[(oi * s.c + ci) * 9..(oi * s.c + ci + 1) * 9];
                for (a, row) in g.iter_mut().enumerate() {
                    for (b, value) in row.iter_mut().enumerate() {
                        value.0[oi - k] = filter[a * 3 + b];
                    }
                }
            }
            for (i, row) in filter_tile(g).into_iter().enumerate() {
                for (j, value) in row.into_iter().enumerate() {
                    value.put(u, (i * 4 + j) * o + k);
                }
            }
        }
    });
    u
}

/// Channels and filters are padded to whole groups of eight lanes in the workspace, so that
/// the transforms run on `F8`s with no remainder; padded channels hold zeros and padded
/// filters' lanes are never written out.
fn lanes(n: usize) -> usize {
    n.next_multiple_of(F8::LANES)
}

/// One task's buffers, kept across its blocks.
struct Workspace {
    /// The padded image, [row][column][lanes(C)].
    rows: Vec<f32>,
    /// Transformed input tiles, [16][tile][lanes(C)]; later the outputs,
    /// [row][column][lanes(O)].
    v: Vec<f32>,
    /// The 16 products, [16][tile][lanes(O)].
    m: Vec<f32>,
}

impl Workspace {
    fn new(s: Shape, rows_per_task: usize) -> Workspace {
        let (th, tw) = s.tiles();
        let tiles = rows_per_task * tw;
        let (c, o) = (lanes(s.c), lanes(s.o));
        Workspace {
            rows: vec![0.0; (2 * th + 2) * (2 * tw + 2) * c],
            v: vec![0.0; (16 * pitch(c * tiles)).max(2 * rows_per_task * 2 * tw * o)],
            m: vec![0.0; 16 * pitch(o * tiles)],
        }
    }

    /// Outputs of tile rows `rows` of one image into `dst` [O, OH, OW]. The transforms are
    /// compiled for AVX2 where the CPU has it: a tile's 16 values of eight channels then
    /// fit its 16 vector registers. The operations are the same lane by lane, so the
    /// results are too.
    fn block(&mut self, s: Shape, u: &[f32], rows: std::ops::Range<usize>, dst: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe { self.block_avx2(s, u, rows, dst) };
        }
        self.block_portable(s, u, rows, dst)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn block_avx2(
        &mut self,
        s: Shape,
        u: &[f32],
        rows: std::ops::Range<usize>,
        dst: &mut [f32],
    ) {
        self.block_portable(s, u, rows, dst)
    }

    #[inline(always)]
    fn block_portable(
        &mut self,
        s: Shape,
        u: &[f32],
        rows: std::ops::Range<usize>,
        dst: &mut [f32],
    ) {
        let (_, tw) = s.tiles();
        let tiles = rows.len() * tw;
        self.transform_input(s, rows.start, tiles);
        let (c, o) = (lanes(s.c), lanes(s.o));
        let (mp, vp) = (pitch(tiles * o), pitch(tiles * c));
        for xi in 0..16 {
            let m = &mut self.m[xi * mp..xi * mp + tiles * o];
            let v = &self.v[xi * vp..xi * vp + tiles * c];
            product(s, tiles, m, v, &u[xi * o..]);
        }
        self.transform_output(s, rows, dst);
    }

    /// The image [C, H, W] into `rows`, padded and channels innermost, zeros where the
    /// windows leave the image. Once per image: the blocks' windows overlap by two rows.
    fn gather(&mut self, s: Shape, image: &[f32]) {
        let (th, tw) = s.tiles();
        let width = 2 * tw + 2;
        let padded_rows = 2 * th + 2;
        let c = lanes(s.c);
        self.rows[..padded_rows * width * c].fill(0.0);
        let columns = s.w.min(width - s.pad.1);
        for r in 0..padded_rows {
            let Some(y) = r.checked_sub(s.pad.0).filter(|&y| y < s.h) else {
                continue;
            };
            // The row's C × columns block, from [channel][column] to [column][channel].
            let line = &mut self.rows[(r * width + s.pad.1) * c..];
            transpose(&image[y * s.w..], s.h * s.w, line, c, (s.c, columns));
        }
    }

    /// V = Bᵀ d B for every tile of the block of tile rows from `first` and every channel,
    /// into `v` [16][tile][lanes(C)], eight channels of one tile at a time in registers.
    #[inline(always)]
    fn transform_input(&mut self, s: Shape, first: usize, tiles: usize) {
        let (_, tw) = s.tiles();
        let width = 2 * tw + 2;
        let c = lanes(s.c);
        let vp = pitch(tiles * c);
        let Workspace { rows, v, .. } = self;
        for t in 0..tiles {
            let (ty, tx) = (first + t / tw, t % tw);
            let window = ((2 * ty) * width + 2 * tx) * c;
            for k in (0..c).step_by(F8::LANES) {
                let mut d = [[F8::ZERO; 4]; 4];
                for (r, row) in d.iter_mut().enumerate() {
                    for (q, value) in row.iter_mut().enumerate() {
                        *value = F8::at(rows, window + (r * width + q) * c + k);
                    }
                }
                for (i, row) in input_tile(d).into_iter().enumerate() {
                    for (j, value) in row.into_iter().enumerate() {
                        value.put(v, (i * 4 + j) * vp + t * c + k);
                    }
                }
            }
        }
    }

    /// Y = Aᵀ M A for every tile and filter, into `dst` [O, OH, OW] through `v`, reused as
    /// [row][column][lanes(O)], eight filters of one tile at a time in registers.
    #[inline(always)]
    fn transform_output(&mut self, s: Shape, rows: std::ops::Range<usize>, dst: &mut [f32]) {
        let (oh, ow) = s.out();
        let (_, tw) = s.tiles();
        let o = lanes(s.o);
        let tiles = rows.len() * tw;
        let mp = pitch(tiles * o);
        let out_rows = (2 * rows.len()).min(oh - 2 * rows.start);
        let width = 2 * tw;
        let Workspace { v, m, .. } = self;
        for t in 0..tiles {
            let (ty, tx) = (t / tw, t % tw);
            for k in (0..o).step_by(F8::LANES) {
                let mut tile = [F8::ZERO; 16];
                for (xi, value) in tile.iter_mut().enumerate() {
                    *value = F8::at(m, xi * mp + t * o + k);
                }
                for (r, pair) in output_tile(tile).into_iter().enumerate() {
                    let row = 2 * ty + r;
                    if row < out_rows {
                        let at = (row * width + 2 * tx) * o + k;
                        pair[0].put(v, at);
                        pair[1].put(v, at + o);
                    }
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
                (ow, s.o),
            );
        }
    }
}

/// G g Gᵀ of one 3×3 filter.
#[inline(always)]
fn filter_tile(g: [[F8; 3]; 3]) -> [[F8; 4]; 4] {
    let times_g = |[a, b, e]: [F8; 3]| [a, (a + b + e).half(), (a - b + e).half(), e];
    let [c0, c1, c2] = [times_g(g[0]), times_g(g[1]), times_g(g[2])];
    let mut u = [[F8::ZERO; 4]; 4];
    for j in 0..4 {
        let [i0, i1, i2, i3] = times_g([c0[j], c1[j], c2[j]]);
        (u[0][j], u[1][j], u[2][j], u[3][j]) = (i0, i1, i2, i3);
    }
    u
}

/// Bᵀ d B of one 4×4 window.
#[inline(always)]
fn input_tile(d: [[F8; 4]; 4]) -> [[F8; 4]; 4] {
    let times_b = |[d0, d1, d2, d3]: [F8; 4]| [d0 - d2, d1 + d2, d2 - d1, d1 - d3];
    let [r0, r1, r2, r3] = [times_b(d[0]), times_b(d[1]), times_b(d[2]), times_b(d[3])];
    let mut v = [[F8::ZERO; 4]; 4];
    for j in 0..4 {
        let [i0, i1, i2, i3] = times_b([r0[j], r1[j], r2[j], r3[j]]);
        (v[0][j], v[1][j], v[2][j], v[3][j]) = (i0, i1, i2, i3);
    }
    v
}

/// Aᵀ M A of one tile's 16 products, [xi]: its 2×2 outputs.
#[inline(always)]
fn output_tile(m: [F8; 16]) -> [[F8; 2]; 2] {
    let mut down = [[F8::ZERO; 4]; 2];
    for j in 0..4 {
        down[0][j] = m[j] + m[4 + j] + m[8 + j];
        down[1][j] = m[4 + j] - m[8 + j] - m[12 + j];
    }
    let times_a = |[a0, a1, a2, a3]: [F8; 4]| [a0 + a1 + a2, a1 - a2 - a3];
    [times_a(down[0]), times_a(down[1])]
}

/// Eight f32 lanes as a fixed array, which the compiler turns into one AVX or two SSE
/// vectors: elementwise arithmetic, a load and a store.
#[derive(Clone, Copy)]
struct F8([f32; 8]);

impl F8 {
    const LANES: usize = 8;
    const ZERO: F8 = F8([0.0; 8]);

    #[inline(always)]
    fn at(src: &[f32], i: usize) -> F8 {
        let mut lanes = [0.0; 8];
        lanes.copy_from_slice(&src[i..i + 8]);
        F8(lanes)
    }

    /// Exact: G's halves lose nothing.
    #[inline(always)]
    fn half(mut self) -> F8 {
        for a in &mut self.0 {
            *a *= 0.5;
        }
        self
    }

    #[inline(always)]
    fn put(self, dst: &mut [f32], i: usize) {
        dst[i..i + 8].copy_from_slice(&self.0);
    }
}

impl std::ops::Add for F8 {
    type Output = F8;

    #[inline(always)]
    fn add(mut self, other: F8) -> F8 {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
        self
    }
}

impl std::ops::Sub for F8 {
    type Output = F8;

    #[inline(always)]
    fn sub(mut self, other: F8) -> F8 {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a -= b;
        }
        self
    }
}

/// The distance between the 16 planes of a transform holding `len` elements each: 64 bytes
/// past a multiple of 4 KiB, so that a tile's 16 elements, one per plane, fall in 16
/// different sets of the L1 cache. At a multiple of 4 KiB (64 tiles of 32 or 64 channels)
/// they all fell in one set of 12 ways.
fn pitch(len: usize) -> usize {
    len.next_multiple_of(1024) + 16
}

/// m [tiles, O] = v [tiles, C] · u [C, O], row-major, with m's, v's and u's rows lanes(O),
/// lanes(C) and 16·lanes(O) apart.
fn product(s: Shape, tiles: usize, m: &mut [f32], v: &[f32], u: &[f32]) {
    let (c, o) = (s.c, s.o);
    let (mr, vr) = (lanes(o), lanes(c));
    assert!(tiles > 0 && m.len() >= (tiles - 1) * mr + o && v.len() >= (tiles - 1) * vr + c);
    assert!(c > 0 && u.len() >= (c - 1) * 16 * mr + o);
    // SAFETY: the assertions bound every index gemm forms for these layouts.
    unsafe {
        gemm::gemm(
            tiles,
            o,
            c,
            m.as_mut_ptr(),
            1,
            mr as isize,
            false,
            v.as_ptr(),
            1,
            vr as isize,
            u.as_ptr(),
            1,
            (16 * mr) as isize,
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
        assert!(pays(64, 64, 6, 6));
        assert!(pays(128, 128, 8, 8));
        assert!(pays(256, 256, 14, 14));
        assert!(!pays(16, 16, 32, 32));
        assert!(!pays(64, 64, 4, 4));
        assert!(!pays(256, 256, 7, 7));
        assert!(!pays(512, 512, 7, 7));
        assert!(!pays(0, 0, 16, 16));
    }
}
