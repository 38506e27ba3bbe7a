// Batched matrix product through workgroup memory, the classic form for GPUs with fast
// shared memory: a workgroup of 16×16 invocations computes a 64×64 tile of C[b] = A[b]·B[b],
// 4×4 per invocation. K advances 16 at a time: the workgroup stages A's 64×16 and B's 16×64
// slabs in workgroup memory (4 elements of each per invocation), then every invocation
// reads its rows and columns from there. Operands are read through their strides, so any
// layout, and any M, N, K: elements past the edges are staged as 0.
//
// The storage types, filled in per variant (src/ops/shader_template.rs):
alias TI = {{TI}};
alias TO = {{TO}};

// Parameters (u32 words), as matmul.wgsl's:
//   0 M  1 N  2 K  3 batch count  4 tiles along M  5 tiles along N  6 A offset  7 B offset
//   8 A row stride  9 A column stride  10 B row stride  11 B column stride  12 batch rank
//   16..23 batch shape   24..31 A batch strides   32..39 B batch strides
@group(0) @binding(0) var<uniform> params: array<vec4<u32>, 10>;

fn p(k: u32) -> u32 {
    return params[k / 4u][k % 4u];
}
@group(0) @binding(1) var<storage, read> a: array<TI>;
@group(0) @binding(2) var<storage, read> b: array<TI>;
@group(0) @binding(3) var<storage, read_write> c: array<TO>;

const TILE: u32 = 64u;
const DEPTH: u32 = 16u;
// A's slab as [row][k], B's as [k][column].
var<workgroup> a_slab: array<f32, 1024>;
var<workgroup> b_slab: array<f32, 1024>;

@compute @workgroup_size(16, 16)
fn matmul(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) flat: u32) {
    let m = p(0);
    let n = p(1);
    let k = p(2);
    let tiles = p(4) * p(5);
    // Uniform per workgroup, so the barriers below stay in uniform control flow.
    let task = wg.y * nwg.x + wg.x;
    if (task >= tiles * p(3)) {
        return;
    }
    let batch = task / tiles;
    let tile = task % tiles;
    let tile_m = (tile / p(5)) * TILE;
    let tile_n = (tile % p(5)) * TILE;

    var a_base = p(6);
    var b_base = p(7);
    var rem = batch;
    for (var d = i32(p(12)) - 1; d >= 0; d--) {
        let i = u32(d);
        let coord = rem % p(16u + i);
        rem = rem / p(16u + i);
        a_base += coord * p(24u + i);
        b_base += coord * p(32u + i);
    }
    let a_rs = p(8);
    let a_cs = p(9);
    let b_rs = p(10);
    let b_cs = p(11);

    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var k0 = 0u; k0 < k; k0 += DEPTH) {
        for (var i = 0u; i < 4u; i++) {
            let e = flat + 256u * i;
            let row = tile_m + e / DEPTH;
            let ka = k0 + e % DEPTH;
            var va = 0.0;
            if (row < m && ka < k) {
                va = f32(a[a_base + row * a_rs + ka * a_cs]);
            }
            a_slab[e] = va;
            let kb = k0 + e / TILE;
            let col = tile_n + e % TILE;
            var vb = 0.0;
            if (kb < k && col < n) {
                vb = f32(b[b_base + kb * b_rs + col * b_cs]);
            }
            b_slab[e] = vb;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < DEPTH; kk++) {
            let bv = vec4<f32>(
                b_slab[kk * TILE + lid.x * 4u],
                b_slab[kk * TILE + lid.x * 4u + 1u],
                b_slab[kk * TILE + lid.x * 4u + 2u],
                b_slab[kk * TILE + lid.x * 4u + 3u],
            );
            let r = lid.y * 4u * DEPTH + kk;
            acc0 += a_slab[r] * bv;
            acc1 += a_slab[r + DEPTH] * bv;
            acc2 += a_slab[r + 2u * DEPTH] * bv;
            acc3 += a_slab[r + 3u * DEPTH] * bv;
        }
        workgroupBarrier();
    }
    let c_base = batch * m * n;
    let row0 = tile_m + lid.y * 4u;
    let col0 = tile_n + lid.x * 4u;
    let rows = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
    for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
            if (row0 + i < m && col0 + j < n) {
                c[c_base + (row0 + i) * n + col0 + j] = TO(rows[i][j]);
            }
        }
    }
}
