// What the register-tile product kernels share (matmul_blocked.wgsl and conv_gemm.wgsl
// are each rendered after it): C's type and binding, and how a 4×4 block of it is stored.
// Each variant sets the storage type, and the four-wide variant (VEC4 = 1: rows of C whole
// quads, so a block is wholly inside C or wholly past it) takes its `//|VEC4|` lines in
// place of the lines above them.
alias TO = {{TO}};
// 4×4 blocks per invocation along C's rows and columns: a workgroup of 8×8 invocations
// covers 32·TM × 32·TN.
const TM: u32 = {{TM}}u;
const TN: u32 = {{TN}}u;
@group(0) @binding(3) var<storage, read_write> c: array<TO>;
//|VEC4| @group(0) @binding(3) var<storage, read_write> c: array<vec4<TO>>;

// The first `count` elements of `v` to C from element `at`.
fn put_row(at: u32, v: vec4<f32>, count: u32) { for (var j = 0u; j < count; j++) { c[at + j] = TO(v[j]); } }
//|VEC4| fn put_row(at: u32, v: vec4<f32>, count: u32) { c[at / 4u] = vec4<TO>(v); }

// The block C[m0..m0+4, n0..n0+4] (columns along n) from `base`, as far as C's `size`
// (rows, columns) reaches.
fn store(block: mat4x4<f32>, base: u32, m0: u32, n0: u32, size: vec2<u32>) {
    if (n0 >= size.y) {
        return;
    }
    let rows = transpose(block);
    let count = min(4u, size.y - n0);
    for (var row = 0u; row < 4u; row++) {
        if (m0 + row < size.x) {
            put_row(base + (m0 + row) * size.y + n0, rows[row], count);
        }
    }
}

// Where an invocation's blocks lie: which batch (or convolution block), and the first row
// and column; not live past the last workgroup.
struct Tile {
    live: bool,
    batch: u32,
    m0: u32,
    n0: u32,
}

fn tile_at(wg: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>, tiles_m: u32, tiles_n: u32, batches: u32) -> Tile {
    let tiles = tiles_m * tiles_n;
    let task = wg.y * nwg.x + wg.x;
    let tile = task % tiles;
    return Tile(
        task < tiles * batches,
        task / tiles,
        (tile / tiles_n) * (32u * TM) + lid.y * (4u * TM),
        (tile % tiles_n) * (32u * TN) + lid.x * (4u * TN),
    );
}
