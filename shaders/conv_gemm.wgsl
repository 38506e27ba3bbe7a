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

// Parameters (u32 words), as conv.wgsl's:
//   0 N  1 C  2 H  3 W  4 O  5 OH  6 OW  7 KH  8 KW  9, 10 stride  11, 12 padding
//   13, 14 dilation  15 groups   16 image offset, 17..20 its strides (n, c, y, x)
//   21 weight offset, 22..25 its strides (o, c, i, j)
//   26 output gradient offset, 27..30 its strides (n, o, y, x)
//   31 tiles along rows  32 tiles along columns  33 blocks
//   34 rows M  35 columns N  36 K (per split for the weight's gradient)
//   37 images per split (the weight's gradient)
@group(0) @binding(0) var<uniform> params: array<vec4<u32>, 12>;

fn p(k: u32) -> u32 {
    return params[k / 4u][k % 4u];
}
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
        return vec2<u32>(p(5), p(6));
    }
    return vec2<u32>(p(7), p(8));
}

// Where the block's first reduced index ends: a group's channels, or for the weight's
// gradient its split's last image + 1 (the loop runs whole quads of k, whose last may
// reach into the next split's first image). Set by `conv`.
var<private> k_end: u32;

fn k_derive(k: K) -> K {
    var d = k;
    d.live = d.a < k_end;
    if (PRODUCT == 2u) {
        d.dy = i32(d.b * p(9));
        d.dx = i32(d.c * p(10));
        d.off = i32(d.a * p(17)) + d.dy * i32(p(19)) + d.dx * i32(p(20));
        d.a_off = d.a * p(27) + d.b * p(29) + d.c * p(30);
    } else {
        d.dy = i32(d.b * p(13));
        d.dx = i32(d.c * p(14));
        if (PRODUCT == 0u) {
            d.off = i32(d.a * p(18)) + d.dy * i32(p(19)) + d.dx * i32(p(20));
            d.a_off = d.a * p(23) + d.b * p(24) + d.c * p(25);
        } else {
            d.off = i32(d.a * p(28)) - d.dy * i32(p(29)) - d.dx * i32(p(30));
            d.a_off = d.a * p(22) + d.b * p(24) + d.c * p(25);
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
    col.live = n < p(35);
    let at = min(n, p(35) - 1u);
    if (PRODUCT == 2u) {
        let taps = p(7) * p(8);
        col.y0 = i32(((at % taps) / p(8)) * p(13)) - i32(p(11));
        col.x0 = i32((at % p(8)) * p(14)) - i32(p(12));
        col.base = i32(p(16) + (blk.in_ch + at / taps) * p(18)) + col.y0 * i32(p(19)) + col.x0 * i32(p(20));
    } else if (PRODUCT == 0u) {
        col.y0 = i32((at / p(6)) * p(9)) - i32(p(11));
        col.x0 = i32((at % p(6)) * p(10)) - i32(p(12));
        col.base = i32(p(16) + blk.n * p(17) + blk.in_ch * p(18)) + col.y0 * i32(p(19)) + col.x0 * i32(p(20));
    } else {
        col.y = at / p(3);
        col.x = at % p(3);
        col.y0 = i32(col.y + p(11));
        col.x0 = i32(col.x + p(12));
        col.base = i32(p(26) + blk.n * p(27) + blk.out_ch * p(28)) + col.y0 * i32(p(29)) + col.x0 * i32(p(30));
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
    let r = min(m, p(34) - 1u);
    if (PRODUCT == 0u) {
        return p(21) + (blk.out_ch + r) * p(22);
    }
    if (PRODUCT == 1u) {
        return p(21) + blk.out_ch * p(22) + r * p(23);
    }
    return p(26) + (blk.out_ch + r) * p(28);
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
            if (k.live && col.live && ty >= 0 && tx >= 0 && u32(ty) < p(5) && u32(tx) < p(6)) {
                v = f32(out_grad[u32(col.base + k.off)]);
            }
        } else {
            let sy = i32(p(9));
            let sx = i32(p(10));
            if (k.live && col.live && ty >= 0 && tx >= 0 && ty % sy == 0 && tx % sx == 0
                && u32(ty / sy) < p(5) && u32(tx / sx) < p(6)) {
                v = f32(out_grad[p(26) + blk.n * p(27) + (blk.out_ch + k.a) * p(28) + u32(ty / sy) * p(29) + u32(tx / sx) * p(30)]);
            }
        }
        return v;
    }
    let y = col.y0 + k.dy;
    let x = col.x0 + k.dx;
    if (k.live && col.live && y >= 0 && x >= 0 && u32(y) < p(2) && u32(x) < p(3)) {
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
    return vec2<u32>(p(34), p(35));
}

@compute @workgroup_size(8, 8)
fn conv(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
    let at = tile_at(wg, nwg, lid, p(31), p(32), p(33));
    if (!at.live) {
        return;
    }
    let b = at.batch;
    let m0 = at.m0;
    let n0 = at.n0;
    let groups = p(15);
    let blk = Block(b / groups, (b % groups) * (p(1) / groups), (b % groups) * (p(4) / groups));
    var first = 0u;
    if (PRODUCT == 2u) {
        first = blk.n * p(37);
        k_end = min(p(0), first + p(37));
    } else {
        k_end = select(p(1) / groups, p(4) / groups, PRODUCT == 1u);
    }
    // Where this block's C starts: [N, O, pixels] forward, [N, C, pixels] for the image's
    // gradient, [split, O, C/groups·KH·KW] for the weight's (its blk.n is the split).
    var c_base = (blk.n * p(4) + blk.out_ch) * p(35);
    if (PRODUCT == 1u) {
        c_base = (blk.n * p(1) + blk.in_ch) * p(35);
    }
    // The accumulators, the k loop and the stores, generated per TM × TN by src/ops/conv/gpu.rs
    // (named accumulators stay in registers; an array of them did not).
    {{BLOCKS}}
}
