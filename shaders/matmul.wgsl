// Batched matrix product over strided operands: C[b] = A[b] · B[b], C dense.
// Each invocation computes a 4×4 block from registers, reading A and B straight from
// storage; a workgroup of 8×8 invocations covers a 32×32 tile. Edge tiles clamp their
// reads and skip their out-of-range writes, so any M, N, K works.
//
// Rendered after matmul_params.wgsl (the parameters), with the storage types filled in per
// variant (src/ops/shader_template.rs):
alias TI = {{TI}};
alias TO = {{TO}};

@group(0) @binding(1) var<storage, read> a: array<TI>;
@group(0) @binding(2) var<storage, read> b: array<TI>;
@group(0) @binding(3) var<storage, read_write> c: array<TO>;

@compute @workgroup_size(8, 8)
fn matmul(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_id) lid: vec3<u32>) {
    let m = params.m;
    let n = params.n;
    let k = params.k;
    let tiles = params.tiles_m * params.tiles_n;
    let task = wg.y * nwg.x + wg.x;
    if (task >= tiles * params.batch) {
        return;
    }
    let batch = task / tiles;
    let tile = task % tiles;
    let row0 = (tile / params.tiles_n) * 32u + lid.y * 4u;
    let col0 = (tile % params.tiles_n) * 32u + lid.x * 4u;

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
