// 2-D convolution as implicit matrix products on register tiles: each invocation computes
// TM×TN blocks of 4×4 of C = A·B, gathering A's and B's elements through the convolution's
// index arithmetic (zero outside the image, and past the product's edges); no im2col
// buffer. A workgroup of 8×8 invocations covers 32·TM × 32·TN; a block of C is one
// (image, group) pair, or one group for the weight's gradient.
//
//   PRODUCT 0, forward:      C[o, pixel]  A = weight[o, (c, i, j)]   B = image[(c, i, j), pixel]
//   PRODUCT 1, grad_input:   C[c, pixel]  A = weight[(o, i, j), c]ᵀ  B = out_grad[(o, i, j), pixel]
//   PRODUCT 2, grad_weight:  C[o, (c, i, j)]  A = out_grad[o, (n, oy, ox)]  B = image[(n, oy, ox), (c, i, j)]
//
// k runs over a triple (the reduced indices), stepped by carrying rather than divided out.
// The weight's gradient has few rows and columns and a long k, so its images may be split
// among blocks: each writes its partial product to [split, O, C/groups·KH·KW], which a
// column sum then adds.
//
// Rendered after tiles.wgsl (C and its stores). What each variant fills in (its
// placeholders, src/ops/shader_template.rs):
alias TI = {{TI}};
const PRODUCT: u32 = {{PRODUCT}}u;
// 1 when both strides are 1: the image's gradient then needs no divisions.
const UNIT_STRIDE: u32 = {{UNIT_STRIDE}}u;

// Parameters (src/ops/conv/gpu.rs, `ConvParams`): each view's strides (the image's along n,
// c, y, x; the weight's along o, c, i, j; the output gradient's along n, o, y, x) and
// offset; the convolution's geometry; the product's tiles along rows and columns, blocks,
// rows M, columns N and reduced length K (per split for the weight's gradient), and images
// per split (the weight's gradient).
struct Params {
    image_strides: vec4<u32>,
    weight_strides: vec4<u32>,
    grad_strides: vec4<u32>,
    n: u32,
    c: u32,
    h: u32,
    w: u32,
    o: u32,
    oh: u32,
    ow: u32,
    kh: u32,
    kw: u32,
    stride_y: u32,
    stride_x: u32,
    pad_y: u32,
    pad_x: u32,
    dilation_y: u32,
    dilation_x: u32,
    groups: u32,
    image_offset: u32,
    weight_offset: u32,
    grad_offset: u32,
    tiles_r: u32,
    tiles_c: u32,
    blocks: u32,
    rows: u32,
    cols: u32,
    k: u32,
    images_per_split: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
// The parameters copied into each invocation's private memory at its start (`conv`), which
// lavapipe keeps in registers: read from the uniform block, the loops' reads of strides
// and sizes made the weight's gradient 10% slower.
var<private> p: Params;
@group(0) @binding(1) var<storage, read> image: array<TI>;
@group(0) @binding(2) var<storage, read> weight: array<TI>;
@group(0) @binding(4) var<storage, read> out_grad: array<TI>;

// A reduced index k as its triple (channel, kernel row, kernel column), or for the weight's
// gradient (image, output row, output column); with what it adds to a column's address in
// B and to a row's in A, and to the row and column B reads.
struct K {
    a: u32,
    b: u32,
    c: u32,
    live: bool,
    off: i32,
    dy: i32,
    dx: i32,
    a_off: u32,
}

fn k_sizes() -> vec2<u32> {
    if (PRODUCT == 2u) {
        return vec2<u32>(p.oh, p.ow);
    }
    return vec2<u32>(p.kh, p.kw);
}

// Where the block's first reduced index ends: a group's channels, or for the weight's
// gradient its split's last image + 1 (the loop runs whole quads of k, whose last may
// reach into the next split's first image). Set by `conv`.
var<private> k_end: u32;

fn k_derive(k: K) -> K {
    var d = k;
    d.live = d.a < k_end;
    if (PRODUCT == 2u) {
        d.dy = i32(d.b * p.stride_y);
        d.dx = i32(d.c * p.stride_x);
        d.off = i32(d.a * p.image_strides.x) + d.dy * i32(p.image_strides.z) + d.dx * i32(p.image_strides.w);
        d.a_off = d.a * p.grad_strides.x + d.b * p.grad_strides.z + d.c * p.grad_strides.w;
    } else {
        d.dy = i32(d.b * p.dilation_y);
        d.dx = i32(d.c * p.dilation_x);
        if (PRODUCT == 0u) {
            d.off = i32(d.a * p.image_strides.y) + d.dy * i32(p.image_strides.z) + d.dx * i32(p.image_strides.w);
            d.a_off = d.a * p.weight_strides.y + d.b * p.weight_strides.z + d.c * p.weight_strides.w;
        } else {
            d.off = i32(d.a * p.grad_strides.y) - d.dy * i32(p.grad_strides.z) - d.dx * i32(p.grad_strides.w);
            d.a_off = d.a * p.weight_strides.x + d.b * p.weight_strides.z + d.c * p.weight_strides.w;
        }
    }
    return d;
}

fn k_first(first: u32) -> K {
    var k: K;
    k.a = first;
    return k_derive(k);
}

fn k_next(k: K) -> K {
    let sizes = k_sizes();
    var n = k;
    n.c += 1u;
    if (n.c == sizes.y) {
        n.c = 0u;
        n.b += 1u;
        if (n.b == sizes.x) {
            n.b = 0u;
            n.a += 1u;
        }
    }
    return k_derive(n);
}

struct Quad {
    k0: K,
    k1: K,
    k2: K,
    k3: K,
}

// Which (image, group) a block is, and its channel offsets.
struct Block {
    n: u32,
    in_ch: u32,
    out_ch: u32,
}

// A column of C, as B reads it: where its window starts (row and column, before k's share)
// and its address there. Forward: an output pixel; the image's gradient: an input pixel
// (shifted by the padding); the weight's gradient: (channel, kernel row, kernel column).
struct Col {
    live: bool,
    y0: i32,
    x0: i32,
    base: i32,
    // The image's gradient with strides: the pixel itself.
    y: u32,
    x: u32,
}

fn column(blk: Block, n: u32) -> Col {
    var col: Col;
    col.live = n < p.cols;
    let at = min(n, p.cols - 1u);
    if (PRODUCT == 2u) {
        let taps = p.kh * p.kw;
        col.y0 = i32(((at % taps) / p.kw) * p.dilation_y) - i32(p.pad_y);
        col.x0 = i32((at % p.kw) * p.dilation_x) - i32(p.pad_x);
        col.base = i32(p.image_offset + (blk.in_ch + at / taps) * p.image_strides.y) + col.y0 * i32(p.image_strides.z) + col.x0 * i32(p.image_strides.w);
    } else if (PRODUCT == 0u) {
        col.y0 = i32((at / p.ow) * p.stride_y) - i32(p.pad_y);
        col.x0 = i32((at % p.ow) * p.stride_x) - i32(p.pad_x);
        col.base = i32(p.image_offset + blk.n * p.image_strides.x + blk.in_ch * p.image_strides.y) + col.y0 * i32(p.image_strides.z) + col.x0 * i32(p.image_strides.w);
    } else {
        col.y = at / p.w;
        col.x = at % p.w;
        col.y0 = i32(col.y + p.pad_y);
        col.x0 = i32(col.x + p.pad_x);
        col.base = i32(p.grad_offset + blk.n * p.grad_strides.x + blk.out_ch * p.grad_strides.y) + col.y0 * i32(p.grad_strides.z) + col.x0 * i32(p.grad_strides.w);
    }
    return col;
}

struct Cols {
    c0: Col,
    c1: Col,
    c2: Col,
    c3: Col,
}

fn columns(blk: Block, n0: u32) -> Cols {
    return Cols(column(blk, n0), column(blk, n0 + 1u), column(blk, n0 + 2u), column(blk, n0 + 3u));
}

// Where row m of A starts (m clamped: rows past the edge are computed, never stored).
fn a_row(blk: Block, m: u32) -> u32 {
    let r = min(m, p.rows - 1u);
    if (PRODUCT == 0u) {
        return p.weight_offset + (blk.out_ch + r) * p.weight_strides.x;
    }
    if (PRODUCT == 1u) {
        return p.weight_offset + blk.out_ch * p.weight_strides.x + r * p.weight_strides.y;
    }
    return p.grad_offset + (blk.out_ch + r) * p.grad_strides.y;
}

fn a_at(row: u32, k: K) -> f32 {
    var v = 0.0;
    if (k.live) {
        if (PRODUCT == 2u) {
            v = f32(out_grad[row + k.a_off]);
        } else {
            v = f32(weight[row + k.a_off]);
        }
    }
    return v;
}

// B[k, column]: zero past the edges, outside the image, and (for the image's gradient) where
// no output position reads the pixel through this tap.
fn b_at(blk: Block, k: K, col: Col) -> f32 {
    var v = 0.0;
    if (PRODUCT == 1u) {
        let ty = col.y0 - k.dy;
        let tx = col.x0 - k.dx;
        if (UNIT_STRIDE == 1u) {
            if (k.live && col.live && ty >= 0 && tx >= 0 && u32(ty) < p.oh && u32(tx) < p.ow) {
                v = f32(out_grad[u32(col.base + k.off)]);
            }
        } else {
            let sy = i32(p.stride_y);
            let sx = i32(p.stride_x);
            if (k.live && col.live && ty >= 0 && tx >= 0 && ty % sy == 0 && tx % sx == 0
                && u32(ty / sy) < p.oh && u32(tx / sx) < p.ow) {
                v = f32(out_grad[p.grad_offset + blk.n * p.grad_strides.x + (blk.out_ch + k.a) * p.grad_strides.y + u32(ty / sy) * p.grad_strides.z + u32(tx / sx) * p.grad_strides.w]);
            }
        }
        return v;
    }
    let y = col.y0 + k.dy;
    let x = col.x0 + k.dx;
    if (k.live && col.live && y >= 0 && x >= 0 && u32(y) < p.h && u32(x) < p.w) {
        v = f32(image[u32(col.base + k.off)]);
    }
    return v;
}

// The block A[m0..m0+4, k..k+4] as a matrix (columns along k).
fn a_block(blk: Block, m0: u32, q: Quad) -> mat4x4<f32> {
    let r0 = a_row(blk, m0);
    let r1 = a_row(blk, m0 + 1u);
    let r2 = a_row(blk, m0 + 2u);
    let r3 = a_row(blk, m0 + 3u);
    return mat4x4<f32>(
        vec4<f32>(a_at(r0, q.k0), a_at(r1, q.k0), a_at(r2, q.k0), a_at(r3, q.k0)),
        vec4<f32>(a_at(r0, q.k1), a_at(r1, q.k1), a_at(r2, q.k1), a_at(r3, q.k1)),
        vec4<f32>(a_at(r0, q.k2), a_at(r1, q.k2), a_at(r2, q.k2), a_at(r3, q.k2)),
        vec4<f32>(a_at(r0, q.k3), a_at(r1, q.k3), a_at(r2, q.k3), a_at(r3, q.k3)),
    );
}

// The block B[k..k+4, the four columns] as a matrix (columns along the columns of C).
fn b_block(blk: Block, q: Quad, cols: Cols) -> mat4x4<f32> {
    return mat4x4<f32>(
        vec4<f32>(b_at(blk, q.k0, cols.c0), b_at(blk, q.k1, cols.c0), b_at(blk, q.k2, cols.c0), b_at(blk, q.k3, cols.c0)),
        vec4<f32>(b_at(blk, q.k0, cols.c1), b_at(blk, q.k1, cols.c1), b_at(blk, q.k2, cols.c1), b_at(blk, q.k3, cols.c1)),
        vec4<f32>(b_at(blk, q.k0, cols.c2), b_at(blk, q.k1, cols.c2), b_at(blk, q.k2, cols.c2), b_at(blk, q.k3, cols.c2)),
        vec4<f32>(b_at(blk, q.k0, cols.c3), b_at(blk, q.k1, cols.c3), b_at(blk, q.k2, cols.c3), b_at(blk, q.k3, cols.c3)),
    );
}

// C's rows and columns.
fn c_size() -> vec2<u32> {
    return vec2<u32>(p.rows, p.cols);
}

@compute @workgroup_size(8, 8)
fn conv(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
    p = params;
    let at = tile_at(wg, nwg, lid, p.tiles_r, p.tiles_c, p.blocks);
    if (!at.live) {
        return;
    }
    let b = at.batch;
    let m0 = at.m0;
    let n0 = at.n0;
    let groups = p.groups;
    let blk = Block(b / groups, (b % groups) * (p.c / groups), (b % groups) * (p.o / groups));
    var first = 0u;
    if (PRODUCT == 2u) {
        first = blk.n * p.images_per_split;
        k_end = min(p.n, first + p.images_per_split);
    } else {
        k_end = select(p.c / groups, p.o / groups, PRODUCT == 1u);
    }
    // Where this block's C starts: [N, O, pixels] forward, [N, C, pixels] for the image's
    // gradient, [split, O, C/groups·KH·KW] for the weight's (its blk.n is the split).
    var c_base = (blk.n * p.o + blk.out_ch) * p.cols;
    if (PRODUCT == 1u) {
        c_base = (blk.n * p.c + blk.in_ch) * p.cols;
    }
    // The accumulators, the k loop and the stores, generated per TM × TN by src/ops/conv/gpu.rs
    // (named accumulators stay in registers; an array of them did not).
    {{BLOCKS}}
}
