//! The CPU products of 3×3 convolutions with unit stride and dilation by Winograd's
//! F(2×2, 3×3): the forward product, the image's gradient (the same product on the output's
//! gradient) and the weight's gradient (weight.rs). Each 2×2 block of outputs (a tile)
//! comes from a 4×4 window of the image as
//! Y = Aᵀ [Σ_c (G g_c Gᵀ) ⊙ (Bᵀ d_c B)] A, so the channel sums are 16 matrix products of
//! [tiles, C]·[C, O] with 4 multiply-adds per output instead of 9. The transforms add and
//! subtract only (G's halves are exact), which keeps the error close to the direct sum's:
//! the tests below and in tests/conv.rs state the bounds.
//!
//! Images are transformed a block of tiles at a time (tile rows of one image, or several
//! small images whole) with channels innermost (rows transposed to [column, channel] first)
//! and padded to groups of eight: each transform holds one tile's 16 values of eight
//! channels or filters in registers, and the block's buffers stay in cache.

mod eight_lanes;
mod tiles;
mod weight;
mod workspace;

use crate::dtype::DType;
use crate::ops::conv::geometry::{Conv2dSpec, Dims, Product, WEIGHT_PARTS};
use crate::ops::conv::per_thread::per_thread;
use crate::ops::op::StepDesc;
use crate::storage::strided::dense;
use crate::storage::CpuData;
use eight_lanes::{lanes, Aligned, Isa, F8};
use rayon::prelude::*;
use tiles::filter_tile;
use workspace::Workspace;

use weight::weight_gradient;

/// Tiles a block transforms and multiplies at once, rounded down to whole tile rows of one
/// image, or to whole images where one has fewer.
const TILES_PER_TASK: usize = 64;

/// Whether F(2×2, 3×3) is worth its transforms for the forward product. Their cost per
/// output grows with C + O and the products' saving with C·O, so C·O/(C + O) decides; and
/// each block's products pack all
/// of U (16·C·O values), cheap from the L2 cache, slower from further out, where it takes
/// images of 14×14 or more (a block of 64 tiles or more; smaller images share blocks) to
/// repay past 4 MiB. Measured on 2 cores against the im2col path (N = 32, or 8 from 256
/// channels), 1 thread / 2 threads, same minutes: 32→64 at 16×16 1.5× / 1.25×; 32→32 at
/// 16×16 1.5× / 1.45×; 24→48 at 16×16 1.35× / 1.35×; 32→32 at 8×8 1.8× / 1.95×; 64→64 at
/// 4×4 2.2× / 2.3× (N = 8: 1.4× / 1.5×); 64→64 at 6×6 2.4× / 1.7×; 128→128 at 8×8 1.75× /
/// 1.6×; 256→256 at 7×7 1.25× / 1.0×; 256→256 at 14×14 1.5× / 1.45×; 512→512 at 14×14 1.2× /
/// 1.2×; 16→16 at 32×32 1.0× / 1.0×; 512→512 at 7×7 0.9× / 0.8×.
fn pays(c: usize, o: usize, oh: usize, ow: usize) -> bool {
    let area = oh * ow;
    saves(c, o) && area >= 4 * 4 && (u_bytes(c, o) <= 4 << 20 || area >= 14 * 14)
}

/// Whether the image's gradient of a convolution from C to O channels with images of H×W
/// is worth F(2×2, 3×3) (a product from O to C channels, with the filters turned first):
/// from 6×6, and past 1 MiB of U from 14×14. Measured as for `pays`: 32→64 at 16×16 1.95× /
/// 1.8×; 64→64 at 56×56 2.5× / 2.55×; 32→32 at 8×8 2.5× / 2.2×; 64→64 at 6×6 2.6× / 1.8×;
/// 256→256 at 14×14 1.4× / 1.1–1.3×; 64→64 at 4×4 1.4× / 0.75×; 256→256 at 7×7 0.8× / 0.6×.
fn input_gradient_pays(c: usize, o: usize, h: usize, w: usize) -> bool {
    let area = h * w;
    saves(c, o) && area >= 6 * 6 && (u_bytes(c, o) <= 1 << 20 || area >= 14 * 14)
}

/// Whether the weight's gradient by F(2×2, 3×3) is worth it: from 6×6, and only while ∂U
/// (16·C·O values, accumulated block after block) stays in the L2 cache. Measured as for
/// `pays`: 32→64 at 16×16 1.7× / 1.6×; 64→64 at 56×56 2.6× / 2.4×; 32→32 at 8×8 1.8× /
/// 1.4×; 64→64 at 6×6 1.45× / 1.15×; 128→128 at 8×8 to 28×28 1.6–1.7× / 1.3–1.6×;
/// 256→256 at 14×14 0.4× / 0.1×.
fn weight_gradient_pays(c: usize, o: usize, oh: usize, ow: usize) -> bool {
    saves(c, o) && oh * ow >= 6 * 6 && u_bytes(c, o) <= 1 << 20
}

/// Whether `product` goes through F(2×2, 3×3): the forward product, the image's gradient
/// (a 3×3 convolution of the output's gradient, padded by 2 − padding) or the weight's,
/// in f32, for 3×3 filters with unit stride and dilation, one group, and sizes where it
/// measured faster.
pub(super) fn applies(product: Product, dtype: DType, d: &Dims, geo: &Conv2dSpec) -> bool {
    let shape =
        (d.kh, d.kw) == (3, 3) && geo.stride == (1, 1) && geo.dilation == (1, 1) && geo.groups == 1;
    dtype == DType::F32
        && shape
        && match product {
            Product::Forward => pays(d.c, d.o, d.oh, d.ow),
            Product::GradInput => {
                geo.padding.0 <= 2 && geo.padding.1 <= 2 && input_gradient_pays(d.c, d.o, d.h, d.w)
            }
            Product::GradWeight => weight_gradient_pays(d.c, d.o, d.oh, d.ow),
        }
}

/// Write `product` of the step's operands to `out` (f32, dense), where `applies`.
pub(super) fn run(
    product: Product,
    geo: Conv2dSpec,
    step: &StepDesc,
    inputs: &[&CpuData],
    out: &mut CpuData,
) {
    let (xl, wl, gl, d) = product.operands(step);
    let (xi, wi, gi) = product.input_indices();
    let shape = Shape {
        n: d.n,
        c: d.c,
        h: d.h,
        w: d.w,
        o: d.o,
        pad: geo.padding,
    };
    let out = out.slice_mut::<f32>();
    let gradient = || dense(inputs[gi].slice::<f32>(), gl.expect("an output gradient"));
    match product {
        Product::Forward => {
            let x = dense(inputs[xi].slice::<f32>(), xl);
            forward(shape, &x, &dense(inputs[wi].slice::<f32>(), wl), out);
        }
        Product::GradInput => {
            let weights = dense(inputs[wi].slice::<f32>(), wl);
            input_gradient(shape, &gradient(), &weights, out);
        }
        Product::GradWeight => {
            let x = dense(inputs[xi].slice::<f32>(), xl);
            weight_gradient(shape, &x, &gradient(), WEIGHT_PARTS, out);
        }
    }
}

/// Whether the products' saving outgrows the transforms' cost: C·O/(C + O) ≥ 16.
fn saves(c: usize, o: usize) -> bool {
    c * o > 0 && c * o >= 16 * (c + o)
}

/// The size of U (or ∂U), 16·C·O values.
fn u_bytes(c: usize, o: usize) -> usize {
    16 * c * o * std::mem::size_of::<f32>()
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
fn forward(s: Shape, x: &[f32], weight: &[f32], out: &mut [f32]) {
    forward_on(Isa::detect(), s, x, weight, out)
}

/// `forward` with the transforms compiled for `isa`.
fn forward_on(isa: Isa, s: Shape, x: &[f32], weight: &[f32], out: &mut [f32]) {
    let (oh, ow) = s.out();
    let (th, tw) = s.tiles();
    let plane = s.o * oh * ow;
    if plane == 0 {
        return;
    }
    let rows_per_task = (TILES_PER_TASK / tw).max(1);
    // Small images go several to a block, so that each packing of U serves as many tiles.
    let images = if rows_per_task >= th {
        (TILES_PER_TASK / (th * tw)).clamp(1, s.n.max(1))
    } else {
        1
    };
    let u = transformed_filters(s, weight);
    let image_len = s.c * s.h * s.w;
    per_thread(
        &mut out[..s.n * plane],
        images * plane,
        || Workspace::new(s, rows_per_task.min(th), images),
        |ws, group, dst| {
            for slot in 0..dst.len() / plane {
                let n = group * images + slot;
                ws.gather(s, slot, &x[n * image_len..(n + 1) * image_len]);
            }
            for first in (0..th).step_by(rows_per_task) {
                let rows = first..(first + rows_per_task).min(th);
                ws.block(isa, s, &u, rows, dst);
            }
        },
    );
}

/// `dx` [N, C, H, W], the gradient of conv(x, weight) with respect to x for the output's
/// gradient `gy` [N, O, OH, OW]; `s` is the forward convolution's shape, its padding at most
/// 2. That gradient is itself a 3×3 convolution, of `gy` padded by 2 − padding with the
/// filters [C, O, 3, 3] = weight's, swapped in their first two axes and turned half a turn.
fn input_gradient(s: Shape, gy: &[f32], weight: &[f32], dx: &mut [f32]) {
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
fn transformed_filters(s: Shape, weight: &[f32]) -> Aligned {
    let o = lanes(s.o);
    let mut u = Aligned::zeros(s.c * 16 * o);
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

#[cfg(test)]
mod tests {
    use super::*;

    use crate::sum_bounds::{signed_values, U32};

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
            // Nine tiles an image: blocks of seven images, then one of three.
            (10, 5, 6, 6, 9, (1, 1)),
        ];
        for (seed, &(n, c, h, w, o, pad)) in shapes.iter().enumerate() {
            let s = Shape { n, c, h, w, o, pad };
            let x = signed_values(n * c * h * w, 100 + seed as u64);
            let weight = signed_values(o * c * 9, 200 + seed as u64);
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

    /// The transforms compiled for the baseline and for the CPU's best instruction set give
    /// the same bits, in the forward product and in the weight's gradient (on a CPU without
    /// AVX2 both are the baseline). Channels and filters below, at and past a group of eight.
    #[test]
    fn every_instruction_set_gives_the_same_bits() {
        let shapes = [
            (2, 67, 19, 17, 71, (1, 1)),
            (3, 9, 10, 12, 16, (0, 1)),
            (1, 8, 37, 9, 5, (1, 1)),
        ];
        for (seed, &(n, c, h, w, o, pad)) in shapes.iter().enumerate() {
            let s = Shape { n, c, h, w, o, pad };
            let x = signed_values(n * c * h * w, 300 + seed as u64);
            let weight = signed_values(o * c * 9, 400 + seed as u64);
            let (oh, ow) = s.out();
            let gy = signed_values(n * o * oh * ow, 500 + seed as u64);
            let bits = |isa: Isa| {
                let mut out = vec![f32::NAN; n * o * oh * ow];
                forward_on(isa, s, &x, &weight, &mut out);
                let mut dw = vec![f32::NAN; o * c * 9];
                weight::weight_gradient_on(isa, s, &x, &gy, 2, &mut dw);
                let bits = |v: Vec<f32>| v.into_iter().map(f32::to_bits).collect::<Vec<_>>();
                (bits(out), bits(dw))
            };
            assert!(
                bits(Isa::Portable) == bits(Isa::detect()),
                "{n}x{c}x{h}x{w} -> {o}, pad {pad:?}"
            );
        }
    }

    #[test]
    fn pays_only_where_it_measured_faster() {
        assert!(pays(32, 32, 16, 16));
        assert!(pays(24, 48, 16, 16));
        assert!(pays(32, 64, 16, 16));
        assert!(pays(64, 64, 56, 56));
        assert!(pays(32, 32, 8, 8));
        assert!(pays(64, 64, 4, 4));
        assert!(pays(64, 64, 6, 6));
        assert!(pays(128, 128, 8, 8));
        assert!(pays(256, 256, 7, 7));
        assert!(pays(256, 256, 14, 14));
        assert!(pays(512, 512, 14, 14));
        assert!(!pays(16, 16, 32, 32));
        assert!(!pays(64, 64, 3, 3));
        assert!(!pays(512, 512, 7, 7));
        assert!(!pays(0, 0, 16, 16));
        assert!(input_gradient_pays(32, 64, 16, 16));
        assert!(input_gradient_pays(64, 64, 6, 6));
        assert!(input_gradient_pays(256, 256, 14, 14));
        assert!(!input_gradient_pays(64, 64, 4, 4));
        assert!(!input_gradient_pays(256, 256, 7, 7));
        assert!(weight_gradient_pays(32, 64, 16, 16));
        assert!(weight_gradient_pays(128, 128, 8, 8));
        assert!(!weight_gradient_pays(64, 64, 4, 4));
        assert!(!weight_gradient_pays(256, 256, 14, 14));
    }
}
