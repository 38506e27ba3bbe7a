// Elementwise kernels over strided views: unary, binary, select3 (where) and fill.
// Arithmetic runs in f32 whatever the storage type.
//
// Rendered after elementwise_math.wgsl and hash.wgsl, with the storage types TI and TO, and
// the op: UNARY an expression of x, BINARY one of a and b, COMPARE a comparison of a and b
// in the storage type, FUSED the fused kernel's `fused_store` with the functions it calls
// (src/ops/elementwise/).
alias TI = {{TI}};
alias TO = {{TO}};
alias F = f32;
alias B = bool;
alias U = u32;
fn unary_op(x: f32) -> f32 { return {{UNARY}}; }
fn binary_op(a: f32, b: f32) -> f32 { return {{BINARY}}; }
fn compare_op(a: TI, b: TI) -> bool { return {{COMPARE}}; }

// Parameters (src/ops/elementwise/gpu.rs, `ElementwiseParams`). Source k is the fused
// kernel's input k, or the other entry points' operand k (src0..src2); the fused kernel
// reads `count`, `dense` and `offsets` only, and writes dense outputs from 0.
struct Params {
    shape: array<vec4<u32>, 2>,
    dst_strides: array<vec4<u32>, 2>,
    src0_strides: array<vec4<u32>, 2>,
    src1_strides: array<vec4<u32>, 2>,
    src2_strides: array<vec4<u32>, 2>,
    // Source k's offset.
    offsets: array<vec4<u32>, 4>,
    // Elements written (invocations).
    count: u32,
    rank: u32,
    // 1 when no operand is strided: each is dense or a broadcast scalar.
    unstrided: u32,
    // Dense sources, bit k for source k; the others are broadcast scalars.
    dense: u32,
    dst_dense: u32,
    dst_offset: u32,
    fill: f32,
}
@group(0) @binding(0) var<uniform> params: Params;

fn source_offset(k: u32) -> u32 {
    return params.offsets[k / 4u][k % 4u];
}
@group(0) @binding(1) var<storage, read> src0: array<TI>;
@group(0) @binding(2) var<storage, read> src1: array<TI>;
@group(0) @binding(3) var<storage, read> src2: array<TI>;
@group(0) @binding(4) var<storage, read_write> dst: array<TO>;
@group(0) @binding(5) var<storage, read> src3: array<TI>;
@group(0) @binding(6) var<storage, read> src4: array<TI>;
@group(0) @binding(7) var<storage, read> src5: array<TI>;
@group(0) @binding(8) var<storage, read> src6: array<TI>;
// Only fused kernels bind these: inputs 7..12 and outputs 1..3.
@group(0) @binding(9) var<storage, read> src7: array<TI>;
@group(0) @binding(10) var<storage, read> src8: array<TI>;
@group(0) @binding(11) var<storage, read> src9: array<TI>;
@group(0) @binding(12) var<storage, read> src10: array<TI>;
@group(0) @binding(13) var<storage, read> src11: array<TI>;
@group(0) @binding(14) var<storage, read> src12: array<TI>;
@group(0) @binding(15) var<storage, read_write> dst1: array<TO>;
@group(0) @binding(16) var<storage, read_write> dst2: array<TO>;
@group(0) @binding(17) var<storage, read_write> dst3: array<TO>;

const WORKGROUP: u32 = 256u;

fn pow_(a: f32, b: f32) -> f32 {
    return pow1(a, b);
}

struct Offsets {
    dst: u32,
    s0: u32,
    s1: u32,
    s2: u32,
}

fn element(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wg.y * nwg.x + wg.x) * WORKGROUP + lid;
}

fn offsets(i: u32) -> Offsets {
    var r = Offsets(params.dst_offset, source_offset(0u), source_offset(1u), source_offset(2u));
    if (params.unstrided == 1u) {
        let dense = params.dense;
        r.dst += select(0u, i, params.dst_dense != 0u);
        r.s0 += select(0u, i, (dense & 1u) != 0u);
        r.s1 += select(0u, i, (dense & 2u) != 0u);
        r.s2 += select(0u, i, (dense & 4u) != 0u);
        return r;
    }
    var rem = i;
    for (var d = i32(params.rank) - 1; d >= 0; d--) {
        let k = u32(d);
        let v = k / 4u;
        let l = k % 4u;
        let size = params.shape[v][l];
        let c = rem % size;
        rem = rem / size;
        r.dst += c * params.dst_strides[v][l];
        r.s0 += c * params.src0_strides[v][l];
        r.s1 += c * params.src1_strides[v][l];
        r.s2 += c * params.src2_strides[v][l];
    }
    return r;
}

// Input k of a fused kernel at element i.
fn fused_at(k: u32, i: u32) -> u32 {
    return source_offset(k) + select(0u, i, (params.dense & (1u << k)) != 0u);
}

fn in0(i: u32) -> f32 { return f32(src0[fused_at(0u, i)]); }
fn in1(i: u32) -> f32 { return f32(src1[fused_at(1u, i)]); }
fn in2(i: u32) -> f32 { return f32(src2[fused_at(2u, i)]); }
fn in3(i: u32) -> f32 { return f32(src3[fused_at(3u, i)]); }
fn in4(i: u32) -> f32 { return f32(src4[fused_at(4u, i)]); }
fn in5(i: u32) -> f32 { return f32(src5[fused_at(5u, i)]); }
fn in6(i: u32) -> f32 { return f32(src6[fused_at(6u, i)]); }
fn in7(i: u32) -> f32 { return f32(src7[fused_at(7u, i)]); }
fn in8(i: u32) -> f32 { return f32(src8[fused_at(8u, i)]); }
fn in9(i: u32) -> f32 { return f32(src9[fused_at(9u, i)]); }
fn in10(i: u32) -> f32 { return f32(src10[fused_at(10u, i)]); }
fn in11(i: u32) -> f32 { return f32(src11[fused_at(11u, i)]); }
fn in12(i: u32) -> f32 { return f32(src12[fused_at(12u, i)]); }

{{FUSED}}

@compute @workgroup_size(256)
fn fused(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let i = element(wg, nwg, lid);
    if (i >= params.count) {
        return;
    }
    fused_store(i);
}

@compute @workgroup_size(256)
fn unary(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let i = element(wg, nwg, lid);
    if (i >= params.count) {
        return;
    }
    let o = offsets(i);
    dst[o.dst] = TO(unary_op(f32(src0[o.s0])));
}

// A comparison in the storage type (i32 compares exactly), as 1 or 0.
@compute @workgroup_size(256)
fn compare(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let i = element(wg, nwg, lid);
    if (i >= params.count) {
        return;
    }
    let o = offsets(i);
    dst[o.dst] = TO(select(0, 1, compare_op(src0[o.s0], src1[o.s1])));
}

// Each element stored as it was read (TI is TO), exact for every storage type: i32 past
// 2^24 would not survive the f32 that `unary` computes in.
@compute @workgroup_size(256)
fn copy(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = element(wg, nwg, lid);
    if (i >= params.count) {
        return;
    }
    let o = offsets(i);
    dst[o.dst] = TO(src0[o.s0]);
}

@compute @workgroup_size(256)
fn binary(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let i = element(wg, nwg, lid);
    if (i >= params.count) {
        return;
    }
    let o = offsets(i);
    dst[o.dst] = TO(binary_op(f32(src0[o.s0]), f32(src1[o.s1])));
}

@compute @workgroup_size(256)
fn select3(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let i = element(wg, nwg, lid);
    if (i >= params.count) {
        return;
    }
    let o = offsets(i);
    dst[o.dst] = TO(select(src2[o.s2], src1[o.s1], f32(src0[o.s0]) != 0.0));
}

@compute @workgroup_size(256)
fn random(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let i = element(wg, nwg, lid);
    if (i >= params.count) {
        return;
    }
    let o = offsets(i);
    dst[o.dst] = TO(hashed_uniform(u32(f32(src0[o.s0])), i));
}

@compute @workgroup_size(256)
fn fill(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = element(wg, nwg, lid);
    if (i >= params.count) {
        return;
    }
    dst[offsets(i).dst] = TO(params.fill);
}
