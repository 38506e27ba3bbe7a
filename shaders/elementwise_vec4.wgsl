// Elementwise kernels four elements at a time, for the common case: a dense output from
// offset 0 and operands that are dense (offsets multiples of 4) or broadcast scalars.
// vec4 loads and stores are one memory operation where four scalar ones would be four
// gathers on a CPU-hosted device. The last vector may run past the element count: the
// output buffer is this op's own and rounded up to 256 bytes, so those lanes land in its
// padding. Arithmetic runs in f32.
//
// Rendered after elementwise_math.wgsl, with the names elementwise.wgsl takes.
alias TI = {{TI}};
alias TO = {{TO}};
alias F = vec4<f32>;
alias B = vec4<bool>;
alias U = vec4<u32>;
fn unary_op(x: vec4<f32>) -> vec4<f32> { return {{UNARY}}; }
fn binary_op(a: vec4<f32>, b: vec4<f32>) -> vec4<f32> { return {{BINARY}}; }
fn compare_op(a: vec4<TI>, b: vec4<TI>) -> vec4<bool> { return {{COMPARE}}; }

// Parameters (src/ops/elementwise/gpu.rs, `ElementwiseVec4Params`). Source k is the
// fused kernel's input k, or the other entry points' operand k.
struct Params {
    // Source k's offset: in vectors for a dense source, in elements for a scalar.
    offsets: array<vec4<u32>, 4>,
    // Vectors written (invocations).
    count: u32,
    // Dense sources, bit k for source k; the others are broadcast scalars.
    dense: u32,
    fill: f32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src0: array<vec4<TI>>;
@group(0) @binding(2) var<storage, read> src1: array<vec4<TI>>;
@group(0) @binding(3) var<storage, read> src2: array<vec4<TI>>;
@group(0) @binding(4) var<storage, read_write> dst: array<vec4<TO>>;
@group(0) @binding(5) var<storage, read> src3: array<vec4<TI>>;
@group(0) @binding(6) var<storage, read> src4: array<vec4<TI>>;
@group(0) @binding(7) var<storage, read> src5: array<vec4<TI>>;
@group(0) @binding(8) var<storage, read> src6: array<vec4<TI>>;
// Only fused kernels bind these: inputs 7..12 and outputs 1..3.
@group(0) @binding(9) var<storage, read> src7: array<vec4<TI>>;
@group(0) @binding(10) var<storage, read> src8: array<vec4<TI>>;
@group(0) @binding(11) var<storage, read> src9: array<vec4<TI>>;
@group(0) @binding(12) var<storage, read> src10: array<vec4<TI>>;
@group(0) @binding(13) var<storage, read> src11: array<vec4<TI>>;
@group(0) @binding(14) var<storage, read> src12: array<vec4<TI>>;
@group(0) @binding(15) var<storage, read_write> dst1: array<vec4<TO>>;
@group(0) @binding(16) var<storage, read_write> dst2: array<vec4<TO>>;
@group(0) @binding(17) var<storage, read_write> dst3: array<vec4<TO>>;

const WORKGROUP: u32 = 256u;

fn source_offset(k: u32) -> u32 {
    return params.offsets[k / 4u][k % 4u];
}

fn pow_(a: vec4<f32>, b: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(pow1(a.x, b.x), pow1(a.y, b.y), pow1(a.z, b.z), pow1(a.w, b.w));
}

fn vector(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wg.y * nwg.x + wg.x) * WORKGROUP + lid;
}

// Source k at vector i: a dense vector, or a scalar splat.
fn load0(i: u32) -> vec4<f32> {
    if ((params.dense & 1u) != 0u) {
        return vec4<f32>(src0[source_offset(0u) + i]);
    }
    return vec4<f32>(f32(src0[source_offset(0u) / 4u][source_offset(0u) % 4u]));
}

fn load1(i: u32) -> vec4<f32> {
    if ((params.dense & 2u) != 0u) {
        return vec4<f32>(src1[source_offset(1u) + i]);
    }
    return vec4<f32>(f32(src1[source_offset(1u) / 4u][source_offset(1u) % 4u]));
}

fn load2(i: u32) -> vec4<f32> {
    if ((params.dense & 4u) != 0u) {
        return vec4<f32>(src2[source_offset(2u) + i]);
    }
    return vec4<f32>(f32(src2[source_offset(2u) / 4u][source_offset(2u) % 4u]));
}

// Input k of a fused kernel at vector i.
fn fused_in(k: u32, i: u32) -> vec4<u32> {
    let off = source_offset(k);
    if ((params.dense & (1u << k)) != 0u) {
        return vec4<u32>(off + i, 4u, 0u, 0u);
    }
    return vec4<u32>(off / 4u, off % 4u, 0u, 0u);
}

fn pick(v: vec4<TI>, at: vec4<u32>) -> vec4<f32> {
    return select(vec4<f32>(f32(v[min(at.y, 3u)])), vec4<f32>(v), at.y == 4u);
}

fn in0(i: u32) -> vec4<f32> { let at = fused_in(0u, i); return pick(src0[at.x], at); }
fn in1(i: u32) -> vec4<f32> { let at = fused_in(1u, i); return pick(src1[at.x], at); }
fn in2(i: u32) -> vec4<f32> { let at = fused_in(2u, i); return pick(src2[at.x], at); }
fn in3(i: u32) -> vec4<f32> { let at = fused_in(3u, i); return pick(src3[at.x], at); }
fn in4(i: u32) -> vec4<f32> { let at = fused_in(4u, i); return pick(src4[at.x], at); }
fn in5(i: u32) -> vec4<f32> { let at = fused_in(5u, i); return pick(src5[at.x], at); }
fn in6(i: u32) -> vec4<f32> { let at = fused_in(6u, i); return pick(src6[at.x], at); }
fn in7(i: u32) -> vec4<f32> { let at = fused_in(7u, i); return pick(src7[at.x], at); }
fn in8(i: u32) -> vec4<f32> { let at = fused_in(8u, i); return pick(src8[at.x], at); }
fn in9(i: u32) -> vec4<f32> { let at = fused_in(9u, i); return pick(src9[at.x], at); }
fn in10(i: u32) -> vec4<f32> { let at = fused_in(10u, i); return pick(src10[at.x], at); }
fn in11(i: u32) -> vec4<f32> { let at = fused_in(11u, i); return pick(src11[at.x], at); }
fn in12(i: u32) -> vec4<f32> { let at = fused_in(12u, i); return pick(src12[at.x], at); }

{{FUSED}}

@compute @workgroup_size(256)
fn fused(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let i = vector(wg, nwg, lid);
    if (i >= params.count) {
        return;
    }
    fused_store(i);
}

@compute @workgroup_size(256)
fn unary(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let i = vector(wg, nwg, lid);
    if (i >= params.count) {
        return;
    }
    dst[i] = vec4<TO>(unary_op(load0(i)));
}

// Source k at vector i in its storage type: a dense vector, or a scalar splat.
fn raw0(i: u32) -> vec4<TI> {
    let at = source_offset(0u);
    if ((params.dense & 1u) != 0u) {
        return src0[at + i];
    }
    return vec4<TI>(src0[at / 4u][at % 4u]);
}

fn raw1(i: u32) -> vec4<TI> {
    let at = source_offset(1u);
    if ((params.dense & 2u) != 0u) {
        return src1[at + i];
    }
    return vec4<TI>(src1[at / 4u][at % 4u]);
}

// A comparison in the storage type, as elementwise.wgsl's `compare`.
@compute @workgroup_size(256)
fn compare(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let i = vector(wg, nwg, lid);
    if (i >= params.count) {
        return;
    }
    dst[i] = vec4<TO>(select(vec4<i32>(0), vec4<i32>(1), compare_op(raw0(i), raw1(i))));
}

// Each element stored as it was read (TI is TO), as elementwise.wgsl's `copy`.
@compute @workgroup_size(256)
fn copy(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = vector(wg, nwg, lid);
    if (i >= params.count) {
        return;
    }
    dst[i] = vec4<TO>(raw0(i));
}

@compute @workgroup_size(256)
fn binary(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let i = vector(wg, nwg, lid);
    if (i >= params.count) {
        return;
    }
    dst[i] = vec4<TO>(binary_op(load0(i), load1(i)));
}

@compute @workgroup_size(256)
fn select3(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let i = vector(wg, nwg, lid);
    if (i >= params.count) {
        return;
    }
    dst[i] = vec4<TO>(select(load2(i), load1(i), load0(i) != vec4<f32>(0.0)));
}

@compute @workgroup_size(256)
fn fill(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = vector(wg, nwg, lid);
    if (i >= params.count) {
        return;
    }
    dst[i] = vec4<TO>(vec4<f32>(params.fill));
}
