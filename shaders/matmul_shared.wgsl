// Batched matrix product through workgroup memory, the classic form for GPUs with fast
// shared memory: a workgroup of 16×16 invocations computes a 64×64 tile of C[b] = A[b]·B[b],
// 4×4 per invocation. K advances 16 at a time: the workgroup stages A's 64×16 and B's 16×64
// slabs in workgroup memory (4 elements of each per invocation), then every invocation
// reads its rows and columns from there. Operands are read through their strides, so any
// layout, and any M, N, K: elements past the edges are staged as 0.
//
// Rendered after matmul_params.wgsl (the parameters), with the storage types filled in per
// variant (src/ops/shader_template.rs):
alias TI = {{TI}};
alias TO = {{TO}};

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
    let m = params.m;
    let n = params.n;
    let k = params.k;
    let tiles = params.tiles_m * params.tiles_n;
    // Uniform per workgroup, so the barriers below stay in uniform control flow.
    let task = wg.y * nwg.x + wg.x;
    if (task >= tiles * params.batch) {
        return;
    }
    let batch = task / tiles;
    let tile = task % tiles;
    let tile_m = (tile / params.tiles_n) * TILE;
    let tile_n = (tile % params.tiles_n) * TILE;

    var a_base = params.a_offset;
    var b_base = params.b_offset;
    var rem = batch;
    for (var d = i32(params.batch_rank) - 1; d >= 0; d--) {
        let i = u32(d);
        let coord = rem % params.batch_shape[i / 4u][i % 4u];
        rem = rem / params.batch_shape[i / 4u][i % 4u];
        a_base += coord * params.a_batch_strides[i / 4u][i % 4u];
        b_base += coord * params.b_batch_strides[i / 4u][i % 4u];
    }
    let a_rs = params.a_row_stride;
    let a_cs = params.a_col_stride;
    let b_rs = params.b_row_stride;
    let b_cs = params.b_col_stride;

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
