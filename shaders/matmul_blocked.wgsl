// Batched matrix product from 4×4 blocks: each invocation computes TM×TN blocks (4·TM rows
// by 4·TN columns) of C[b] = A[b] · B[b] in registers, loading A and B straight from
// storage four elements at a time along whichever axis of each is contiguous (a block
// loaded by rows is transposed into place), so all four layouts (A and B each row- or
// column-major) run here. A workgroup of 8×8 invocations covers 32·TM × 32·TN. Needs
// K % 4 == 0 and the vector axes 4-aligned; rows and columns past M and N are clamped on
// load and skipped on store.
//
// Rendered after matmul_params.wgsl (the parameters) and tiles.wgsl (C and its stores).
// Each variant fills in these placeholders (src/ops/shader_template.rs; the operands'
// vector axes: 1 along k, 0 along m for A and along n for B):
alias TI = {{TI}};
const A_ALONG_K: u32 = {{A_ALONG_K}}u;
const B_ALONG_K: u32 = {{B_ALONG_K}}u;

@group(0) @binding(1) var<storage, read> a: array<vec4<TI>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<TI>>;

fn av(element: u32) -> vec4<f32> {
    return vec4<f32>(a[element / 4u]);
}

fn bv(element: u32) -> vec4<f32> {
    return vec4<f32>(b[element / 4u]);
}

// The block A[m0..m0+4, k0..k0+4] as a matrix (columns along k).
fn a_block(base: u32, m0: u32, k0: u32) -> mat4x4<f32> {
    let m = params.m;
    if (A_ALONG_K == 1u) {
        let rs = params.a_row_stride;
        let at = base + k0;
        return transpose(mat4x4<f32>(
            av(at + min(m0, m - 1u) * rs),
            av(at + min(m0 + 1u, m - 1u) * rs),
            av(at + min(m0 + 2u, m - 1u) * rs),
            av(at + min(m0 + 3u, m - 1u) * rs),
        ));
    }
    let cs = params.a_col_stride;
    let at = base + min(m0, m - 4u);
    return mat4x4<f32>(av(at + k0 * cs), av(at + (k0 + 1u) * cs), av(at + (k0 + 2u) * cs), av(at + (k0 + 3u) * cs));
}

// The block B[k0..k0+4, n0..n0+4] as a matrix (columns along n).
fn b_block(base: u32, k0: u32, n0: u32) -> mat4x4<f32> {
    let n = params.n;
    if (B_ALONG_K == 1u) {
        let cs = params.b_col_stride;
        let at = base + k0;
        return mat4x4<f32>(
            bv(at + min(n0, n - 1u) * cs),
            bv(at + min(n0 + 1u, n - 1u) * cs),
            bv(at + min(n0 + 2u, n - 1u) * cs),
            bv(at + min(n0 + 3u, n - 1u) * cs),
        );
    }
    let rs = params.b_row_stride;
    let at = base + min(n0, n - 4u);
    return transpose(mat4x4<f32>(bv(at + k0 * rs), bv(at + (k0 + 1u) * rs), bv(at + (k0 + 2u) * rs), bv(at + (k0 + 3u) * rs)));
}

// C's rows and columns.
fn c_size() -> vec2<u32> {
    return vec2<u32>(params.m, params.n);
}

// The subgroup form (MatmulKernel::Shuffled) takes its `//|SUBGROUPS|` lines: a flat
// workgroup, since naga gives subgroup ids only there, laid out as the 8×8 one, and each
// lane's subgroup id `sid` (lane i of a subgroup is local invocation i modulo its size,
// which the device's check verified on opening).
@compute @workgroup_size(8, 8)
//|SUBGROUPS| @compute @workgroup_size(64)
fn matmul(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
//|SUBGROUPS| fn matmul(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) index: u32, @builtin(subgroup_invocation_id) sid: u32) { let lid = vec3<u32>(index % 8u, index / 8u, 0u);
    let at = tile_at(wg, nwg, lid, params.tiles_m, params.tiles_n, params.batch);
    if (!at.live) {
        return;
    }
    let batch = at.batch;
    let m0 = at.m0;
    let n0 = at.n0;

    var a_base = params.a_offset * 4u;
    var b_base = params.b_offset * 4u;
    var rem = batch;
    for (var d = i32(params.batch_rank) - 1; d >= 0; d--) {
        let i = u32(d);
        let coord = rem % params.batch_shape[i / 4u][i % 4u];
        rem = rem / params.batch_shape[i / 4u][i % 4u];
        a_base += coord * params.a_batch_strides[i / 4u][i % 4u];
        b_base += coord * params.b_batch_strides[i / 4u][i % 4u];
    }

    let c_base = batch * params.m * params.n;
    // The accumulators, the k loop and the stores, generated per TM × TN by src/ops/matmul/gpu.rs
    // (named accumulators stay in registers; an array of them did not).
    {{BLOCKS}}
}
