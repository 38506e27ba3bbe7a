// Batched matrix product over strided operands: C[b] = A[b] · B[b], C dense.
// Each invocation computes a 4×4 block from registers, reading A and B straight from
// storage; a workgroup of 8×8 invocations covers a 32×32 tile. Edge tiles clamp their
// reads and skip their out-of-range writes, so any M, N, K works.
//
// The storage types, filled in per variant (src/ops/shader_template.rs):
alias TI = {{TI}};
alias TO = {{TO}};

// Parameters (u32 words):
//   0 M  1 N  2 K  3 batch count  4 tiles along M  5 tiles along N  6 A offset  7 B offset
//   8 A row stride  9 A column stride  10 B row stride  11 B column stride  12 batch rank
//   16..23 batch shape   24..31 A batch strides   32..39 B batch strides
@group(0) @binding(0) var<storage, read> p: array<u32>;
@group(0) @binding(1) var<storage, read> a: array<TI>;
@group(0) @binding(2) var<storage, read> b: array<TI>;
@group(0) @binding(3) var<storage, read_write> c: array<TO>;

@compute @workgroup_size(8, 8)
fn matmul(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_id) lid: vec3<u32>) {
    let m = p[0];
    let n = p[1];
    let k = p[2];
    let tiles = p[4] * p[5];
    let task = wg.y * nwg.x + wg.x;
    if (task >= tiles * p[3]) {
        return;
    }
    let batch = task / tiles;
    let tile = task % tiles;
    let row0 = (tile / p[5]) * 32u + lid.y * 4u;
    let col0 = (tile % p[5]) * 32u + lid.x * 4u;

    var a_base = p[6];
    var b_base = p[7];
    var rem = batch;
    for (var d = i32(p[12]) - 1; d >= 0; d--) {
        let i = u32(d);
        let coord = rem % p[16u + i];
        rem = rem / p[16u + i];
        a_base += coord * p[24u + i];
        b_base += coord * p[32u + i];
    }
    let a_rs = p[8];
    let a_cs = p[9];
    let b_rs = p[10];
    let b_cs = p[11];
    // Clamped rows and columns: reads stay in bounds; their results are never written.
    let ra = vec4<u32>(min(row0, m - 1u), min(row0 + 1u, m - 1u), min(row0 + 2u, m - 1u), min(row0 + 3u, m - 1u)) * a_rs + a_base;
    let cb = vec4<u32>(min(col0, n - 1u), min(col0 + 1u, n - 1u), min(col0 + 2u, n - 1u), min(col0 + 3u, n - 1u)) * b_cs + b_base;

    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var kk = 0u; kk < k; kk++) {
        let ak = kk * a_cs;
        let bk = kk * b_rs;
        let bv = vec4<f32>(f32(b[cb.x + bk]), f32(b[cb.y + bk]), f32(b[cb.z + bk]), f32(b[cb.w + bk]));
        acc0 += f32(a[ra.x + ak]) * bv;
        acc1 += f32(a[ra.y + ak]) * bv;
        acc2 += f32(a[ra.z + ak]) * bv;
        acc3 += f32(a[ra.w + ak]) * bv;
    }
    let rows = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
    let c_base = batch * m * n;
    for (var i = 0u; i < 4u; i++) {
        let row = row0 + i;
        if (row >= m) {
            break;
        }
        for (var j = 0u; j < 4u; j++) {
            let col = col0 + j;
            if (col < n) {
                c[c_base + row * n + col] = TO(rows[i][j]);
            }
        }
    }
}
