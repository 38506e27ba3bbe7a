//! A task's buffers and the steps of the forward product over one block of tiles.

use crate::ops::conv::transpose::transpose;
use crate::ops::conv::winograd::eight_lanes::{lanes, Aligned, Isa, F8};
use crate::ops::conv::winograd::tiles::{input_tile, output_tile};
use crate::ops::conv::winograd::Shape;

/// One task's buffers, kept across its blocks. A block is some tile rows of one image, or
/// several whole images where one has fewer tiles than a block takes.
pub(super) struct Workspace {
    /// The padded images, [image][row][column][lanes(C)].
    rows: Aligned,
    /// Transformed input tiles, [16][tile][lanes(C)], planes `pitch` apart; in the forward
    /// product later the outputs, [row][column][lanes(O)].
    pub(super) v: Aligned,
    /// The 16 products, [16][tile][lanes(O)].
    m: Aligned,
}

impl Workspace {
    /// Buffers for blocks of `rows_per_task` tile rows of `images` images.
    pub(super) fn new(s: Shape, rows_per_task: usize, images: usize) -> Workspace {
        let tiles = images * rows_per_task * s.tiles().1;
        let (c, o) = (lanes(s.c), lanes(s.o));
        Workspace {
            rows: Aligned::zeros(images * padded_len(s)),
            v: Aligned::zeros((16 * pitch(c * tiles)).max(2 * rows_per_task * 2 * s.tiles().1 * o)),
            m: Aligned::zeros(16 * pitch(o * tiles)),
        }
    }

    /// Outputs of tile rows `rows` of each gathered image into `dst`, their [O, OH, OW]
    /// planes one after another, the transforms compiled for `isa`: with AVX2 a tile's 16
    /// values of eight channels fit its 16 vector registers.
    pub(super) fn block(
        &mut self,
        isa: Isa,
        s: Shape,
        u: &[f32],
        rows: std::ops::Range<usize>,
        dst: &mut [f32],
    ) {
        match isa {
            // SAFETY: an `Isa::Avx2` exists only where the CPU has AVX2.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2(_) => unsafe { self.block_avx2(s, u, rows, dst) },
            Isa::Portable => self.block_portable(s, u, rows, dst),
        }
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
        let (oh, ow) = s.out();
        let plane = s.o * oh * ow;
        let images = dst.len() / plane;
        let per_image = rows.len() * s.tiles().1;
        let tiles = images * per_image;
        for image in 0..images {
            self.transform_input(s, image, rows.start, per_image..tiles, image * per_image);
        }
        let (c, o) = (lanes(s.c), lanes(s.o));
        let (mp, vp) = (pitch(tiles * o), pitch(tiles * c));
        for xi in 0..16 {
            let m = &mut self.m[xi * mp..xi * mp + tiles * o];
            let v = &self.v[xi * vp..xi * vp + tiles * c];
            product(s, tiles, m, v, &u[xi * o..]);
        }
        for (image, dst) in dst.chunks_exact_mut(plane).enumerate() {
            self.transform_output(s, rows.clone(), (image * per_image, tiles), dst);
        }
    }

    /// `image` [C, H, W] into slot `slot` of `rows`, padded and channels innermost, zeros
    /// where the windows leave the image. Once per image: the blocks' windows overlap by two
    /// rows.
    pub(super) fn gather(&mut self, s: Shape, slot: usize, image: &[f32]) {
        let (th, tw) = s.tiles();
        let width = 2 * tw + 2;
        let padded_rows = 2 * th + 2;
        let c = lanes(s.c);
        let rows = &mut self.rows[slot * padded_len(s)..(slot + 1) * padded_len(s)];
        rows.fill(0.0);
        let columns = s.w.min(width - s.pad.1);
        for r in 0..padded_rows {
            let Some(y) = r.checked_sub(s.pad.0).filter(|&y| y < s.h) else {
                continue;
            };
            // The row's C × columns block, from [channel][column] to [column][channel].
            let line = &mut rows[(r * width + s.pad.1) * c..];
            transpose(&image[y * s.w..], s.h * s.w, line, c, (s.c, columns));
        }
    }

    /// V = Bᵀ d B for every channel of the `count.start` tiles from tile row `first` of the
    /// image in slot `slot`, into `v` [16][tile][lanes(C)] from tile `offset` on, planes
    /// sized for `count.end` tiles; eight channels of one tile at a time in registers.
    #[inline(always)]
    pub(super) fn transform_input(
        &mut self,
        s: Shape,
        slot: usize,
        first: usize,
        count: std::ops::Range<usize>,
        offset: usize,
    ) {
        let (_, tw) = s.tiles();
        let width = 2 * tw + 2;
        let c = lanes(s.c);
        let vp = pitch(count.end * c);
        let Workspace { rows, v, .. } = self;
        let rows = &rows[slot * padded_len(s)..(slot + 1) * padded_len(s)];
        for t in 0..count.start {
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
                        value.put(v, (i * 4 + j) * vp + (offset + t) * c + k);
                    }
                }
            }
        }
    }

    /// Y = Aᵀ M A for every filter of one image's tiles in tile rows `rows`, from tile
    /// `offset` of `m`, whose planes are sized for `tiles` tiles, into `dst` [O, OH, OW]
    /// through `v`, reused as [row][column][lanes(O)]; eight filters of one tile at a time
    /// in registers.
    #[inline(always)]
    fn transform_output(
        &mut self,
        s: Shape,
        rows: std::ops::Range<usize>,
        (offset, tiles): (usize, usize),
        dst: &mut [f32],
    ) {
        let (oh, ow) = s.out();
        let (_, tw) = s.tiles();
        let o = lanes(s.o);
        let mp = pitch(tiles * o);
        let out_rows = (2 * rows.len()).min(oh - 2 * rows.start);
        let width = 2 * tw;
        let Workspace { v, m, .. } = self;
        for t in 0..rows.len() * tw {
            let (ty, tx) = (t / tw, t % tw);
            for k in (0..o).step_by(F8::LANES) {
                let mut tile = [F8::ZERO; 16];
                for (xi, value) in tile.iter_mut().enumerate() {
                    *value = F8::at(m, xi * mp + (offset + t) * o + k);
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

/// The length of one padded image in `rows`.
fn padded_len(s: Shape) -> usize {
    let (th, tw) = s.tiles();
    (2 * th + 2) * (2 * tw + 2) * lanes(s.c)
}

/// The distance between the 16 planes of a transform holding `len` elements each: 64 bytes
/// past a multiple of 4 KiB, so that a tile's 16 elements, one per plane, fall in 16
/// different sets of the L1 cache. At a multiple of 4 KiB (64 tiles of 32 or 64 channels)
/// they all fell in one set of 12 ways.
pub(super) fn pitch(len: usize) -> usize {
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
