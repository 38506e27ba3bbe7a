//! The weight's gradient by F(2×2, 3×3). With V = Bᵀ d B of a tile's window and
//! Z = A g Aᵀ of its 2×2 output gradients g, the gradient of U is Σ V ⊙ Z over every tile
//! of every image: 16 products [C, tiles]·[tiles, O] accumulated; the filters' is
//! Gᵀ ∂U G. The images are cut into a fixed number of runs summed side by side, then added
//! in run order, so results do not change with the threads.

use rayon::prelude::*;

use crate::ops::conv::transpose::transpose;
use crate::ops::conv::winograd::eight_lanes::{lanes, Aligned, Isa, F8};
use crate::ops::conv::winograd::tiles::{filter_gradient_tile, gradient_tile};
use crate::ops::conv::winograd::workspace::{pitch, Workspace};
use crate::ops::conv::winograd::{Shape, TILES_PER_TASK};

/// `dw` [O, C, 3, 3], the gradient of conv(x, weight) with respect to the weight for the
/// output's gradient `gy` [N, O, OH, OW], over `parts` runs of images.
pub(crate) fn weight_gradient(s: Shape, x: &[f32], gy: &[f32], parts: usize, dw: &mut [f32]) {
    weight_gradient_on(Isa::detect(), s, x, gy, parts, dw)
}

/// `weight_gradient` with the transforms compiled for `isa`.
pub(super) fn weight_gradient_on(
    isa: Isa,
    s: Shape,
    x: &[f32],
    gy: &[f32],
    parts: usize,
    dw: &mut [f32],
) {
    let (oh, ow) = s.out();
    let (th, tw) = s.tiles();
    let rows_per_task = (TILES_PER_TASK / tw).max(1);
    let parts = parts.clamp(1, s.n.max(1));
    let per = s.n.div_ceil(parts);
    let (c, o) = (s.c, lanes(s.o));
    let size = 16 * c * o;
    let mut partial = vec![0.0; parts * size];
    partial.par_chunks_mut(size).enumerate().for_each_init(
        || Gradients::new(s, rows_per_task.min(th)),
        |ws, (part, du)| {
            for n in part * per..((part + 1) * per).min(s.n) {
                ws.inputs
                    .gather(s, 0, &x[n * s.c * s.h * s.w..(n + 1) * s.c * s.h * s.w]);
                ws.gather_gradient(s, &gy[n * s.o * oh * ow..(n + 1) * s.o * oh * ow]);
                for first in (0..th).step_by(rows_per_task) {
                    ws.block(isa, s, first..(first + rows_per_task).min(th), du);
                }
            }
        },
    );
    // The runs' sums added in order into the first, then back through G eight filters at a
    // time.
    let (first, rest) = partial.split_at_mut(size);
    first
        .par_chunks_mut(SUM_CHUNK)
        .enumerate()
        .for_each(|(chunk, sum)| {
            for part in rest.chunks_exact(size) {
                let part = &part[chunk * SUM_CHUNK..];
                sum.iter_mut().zip(part).for_each(|(s, p)| *s += p);
            }
        });
    let du = &*first;
    dw.par_chunks_mut(F8::LANES * c * 9)
        .enumerate()
        .for_each(|(chunk, dw)| {
            let k = chunk * F8::LANES;
            for ci in 0..c {
                let mut tile = [[F8::ZERO; 4]; 4];
                for (i, row) in tile.iter_mut().enumerate() {
                    for (j, value) in row.iter_mut().enumerate() {
                        *value = F8::at(du, ((i * 4 + j) * c + ci) * o + k);
                    }
                }
                let g = filter_gradient_tile(tile);
                for (l, filter) in dw.chunks_exact_mut(c * 9).enumerate() {
                    let filter = &mut filter[ci * 9..(ci + 1) * 9];
                    for (a, row) in g.iter().enumerate() {
                        for (b, value) in row.iter().enumerate() {
                            filter[a * 3 + b] = value.0[l];
                        }
                    }
                }
            }
        });
}

/// Elements of the runs' sums one task adds up.
const SUM_CHUNK: usize = 1 << 14;

/// One task's buffers.
struct Gradients {
    /// The image and its transformed tiles.
    inputs: Workspace,
    /// One image's output gradient, [2·tile rows][2·tiles per row][lanes(O)]: zeros past
    /// its edges (in half tiles) and in the padding lanes, written once.
    rows: Aligned,
    /// Transformed output gradients, [16][tile][lanes(O)], planes `pitch` apart.
    z: Aligned,
}

impl Gradients {
    fn new(s: Shape, rows_per_task: usize) -> Gradients {
        let (th, tw) = s.tiles();
        let o = lanes(s.o);
        Gradients {
            inputs: Workspace::new(s, rows_per_task, 1),
            rows: Aligned::zeros(4 * th * tw * o),
            z: Aligned::zeros(16 * pitch(rows_per_task * tw * o)),
        }
    }

    /// The output gradient of one image, [O, OH, OW], into `rows`.
    fn gather_gradient(&mut self, s: Shape, gy: &[f32]) {
        let (oh, ow) = s.out();
        let (_, tw) = s.tiles();
        let o = lanes(s.o);
        for y in 0..oh {
            let line = &mut self.rows[y * 2 * tw * o..];
            transpose(&gy[y * ow..], oh * ow, line, o, (s.o, ow));
        }
    }

    /// Adds the products of tile rows `rows` of the current image to `du` [16][C][lanes(O)],
    /// the transforms compiled for `isa`.
    fn block(&mut self, isa: Isa, s: Shape, rows: std::ops::Range<usize>, du: &mut [f32]) {
        match isa {
            // SAFETY: an `Isa::Avx2` exists only where the CPU has AVX2.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2(_) => unsafe { self.block_avx2(s, rows, du) },
            Isa::Portable => self.block_portable(s, rows, du),
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn block_avx2(&mut self, s: Shape, rows: std::ops::Range<usize>, du: &mut [f32]) {
        self.block_portable(s, rows, du)
    }

    #[inline(always)]
    fn block_portable(&mut self, s: Shape, rows: std::ops::Range<usize>, du: &mut [f32]) {
        let (_, tw) = s.tiles();
        let tiles = rows.len() * tw;
        self.inputs
            .transform_input(s, 0, rows.start, tiles..tiles, 0);
        self.transform_gradient(s, rows.start, tiles);
        let (c, o) = (lanes(s.c), lanes(s.o));
        let (vp, zp) = (pitch(tiles * c), pitch(tiles * o));
        for xi in 0..16 {
            let v = &self.inputs.v[xi * vp..xi * vp + tiles * c];
            let z = &self.z[xi * zp..xi * zp + tiles * o];
            accumulate(s, tiles, &mut du[xi * s.c * o..(xi + 1) * s.c * o], v, z);
        }
    }

    /// Z = A g Aᵀ for every tile of the block of tile rows from `first`, into `z`
    /// [16][tile][lanes(O)], eight filters of one tile at a time in registers.
    #[inline(always)]
    fn transform_gradient(&mut self, s: Shape, first: usize, tiles: usize) {
        let (_, tw) = s.tiles();
        let o = lanes(s.o);
        let width = 2 * tw;
        let zp = pitch(tiles * o);
        let Gradients { rows, z, .. } = self;
        for t in 0..tiles {
            let (ty, tx) = (first + t / tw, t % tw);
            let top = (2 * ty * width + 2 * tx) * o;
            let bottom = top + width * o;
            for k in (0..o).step_by(F8::LANES) {
                let block = [
                    [F8::at(rows, top + k), F8::at(rows, top + o + k)],
                    [F8::at(rows, bottom + k), F8::at(rows, bottom + o + k)],
                ];
                for (i, row) in gradient_tile(block).into_iter().enumerate() {
                    for (j, value) in row.into_iter().enumerate() {
                        value.put(z, (i * 4 + j) * zp + t * o + k);
                    }
                }
            }
        }
    }
}

/// du [C, O] += vᵀ · z, with v [tiles, C] and z [tiles, O] row-major, rows lanes(C) and
/// lanes(O) apart, and du's rows lanes(O) apart.
fn accumulate(s: Shape, tiles: usize, du: &mut [f32], v: &[f32], z: &[f32]) {
    let (c, o) = (s.c, s.o);
    let (vr, zr) = (lanes(c), lanes(o));
    assert!(tiles > 0 && c > 0 && v.len() >= (tiles - 1) * vr + c);
    assert!(z.len() >= (tiles - 1) * zr + o && du.len() >= (c - 1) * zr + o);
    // SAFETY: the assertions bound every index gemm forms for these layouts.
    unsafe {
        gemm::gemm(
            c,
            o,
            tiles,
            du.as_mut_ptr(),
            1,
            zr as isize,
            true,
            v.as_ptr(),
            vr as isize,
            1,
            z.as_ptr(),
            1,
            zr as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}
