// Elementwise kernels over strided views: unary, binary, select3 (where) and fill.
// Arithmetic runs in f32 whatever the storage type.
//
// Rendered after elementwise_math.wgsl, with the storage types TI and TO, and the op:
// UNARY an expression of x, BINARY one of a and b, FUSED the fused kernel's `fused_store`
// with the functions it calls (src/ops/elementwise/).
alias TI = {{TI}};
alias TO = {{TO}};
alias F = f32;
alias B = bool;
fn unary_op(x: f32) -> f32 { return {{UNARY}}; }
fn binary_op(a: f32, b: f32) -> f32 { return {{BINARY}}; }

// Parameters of `fused` (u32 words): 0 element count, 1 dense inputs (bit k for input k;
// the others are broadcast scalars), 2..14 input offsets. The outputs are dense from 0.
//
// Parameters of the other entry points (u32 words):
//   0 element count   1 rank   2 no operand strided (1): each is dense or a broadcast scalar
//   3 dst offset   4..6 src0..src2 offsets   7 fill value (f32 bits)
//   8..15 shape   16..23 dst strides   24..31, 32..39, 40..47 src0..src2 strides
//   48 dense operands, bit k for operand k (0 dst, 1..3 src0..src2); the others are scalars
@group(0) @binding(0) var<uniform> params: array<vec4<u32>, 13>;

fn p(k: u32) -> u32 {
    return params[k / 4u][k % 4u];
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
    if (p(2) == 1u) {
        let dense = p(48);
        return Offsets(
            p(3) + select(0u, i, (dense & 1u) != 0u),
            p(4) + select(0u, i, (dense & 2u) != 0u),
            p(5) + select(0u, i, (dense & 4u) != 0u),
            p(6) + select(0u, i, (dense & 8u) != 0u),
        );
    }
    var r = Offsets(p(3), p(4), p(5), p(6));
    var rem = i;
    for (var d = i32(p(1)) - 1; d >= 0; d--) {
        let k = u32(d);
        let size = p(8u + k);
        let c = rem % size;
        rem = rem / size;
        r.dst += c * p(16u + k);
        r.s0 += c * p(24u + k);
        r.s1 += c * p(32u + k);
        r.s2 += c * p(40u + k);
    }
    return r;
}

// Input k of a fused kernel at element i.
fn fused_at(k: u32, i: u32) -> u32 {
    return p(2u + k) + select(0u, i, (p(1) & (1u << k)) != 0u);
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
    if (i >= p(0)) {
        return;
    }
    fused_store(i);
}

@compute @workgroup_size(256)
fn unary(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let i = element(wg, nwg, lid);
    if (i >= p(0)) {
        return;
    }
    let o = offsets(i);
    dst[o.dst] = TO(unary_op(f32(src0[o.s0])));
}

@compute @workgroup_size(256)
fn binary(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let i = element(wg, nwg, lid);
    if (i >= p(0)) {
        return;
    }
    let o = offsets(i);
    dst[o.dst] = TO(binary_op(f32(src0[o.s0]), f32(src1[o.s1])));
}

@compute @workgroup_size(256)
fn select3(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let i = element(wg, nwg, lid);
    if (i >= p(0)) {
        return;
    }
    let o = offsets(i);
    dst[o.dst] = TO(select(src2[o.s2], src1[o.s1], f32(src0[o.s0]) != 0.0));
}

// lowbias32 (as src/ops/elementwise/random.rs): uniform in [0, 1) from (seed, index).
fn hash32(v: u32) -> u32 {
    var x = v;
    x ^= x >> 16u;
    x *= 0x7feb352du;
    x ^= x >> 15u;
    x *= 0x846ca68bu;
    return x ^ (x >> 16u);
}

@compute @workgroup_size(256)
fn random(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let i = element(wg, nwg, lid);
    if (i >= p(0)) {
        return;
    }
    let o = offsets(i);
    let seed = u32(f32(src0[o.s0]));
    dst[o.dst] = TO(f32(hash32(i ^ hash32(seed)) >> 8u) / 16777216.0);
}

@compute @workgroup_size(256)
fn fill(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = element(wg, nwg, lid);
    if (i >= p(0)) {
        return;
    }
    dst[offsets(i).dst] = TO(bitcast<f32>(p(7)));
}
