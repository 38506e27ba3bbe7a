// Max and average pooling over NCHW images (src/ops/pool/). `pool` runs one invocation
// per output element; `pool_grad` one per image element, gathering from the windows that
// read it, so no two invocations write the same element. Arithmetic runs in f32.
//
// The max keeps the first of equal maxima in window order, and NaN wins; its gradient goes
// to that element only: an element receives a window's gradient when it equals the pooled
// value and no earlier tap of the window does.
//
// Each variant fills in these placeholders (src/ops/shader_template.rs). The
// image's and window's sizes are constants, so that every division below is by a
// constant: lavapipe runs a division by a runtime value one lane at a time.
alias TI = {{TI}};
alias TO = {{TO}};
// 0 max, 1 average (padding counts as zeros: the sum is over KH·KW).
const AVERAGE: u32 = {{AVERAGE}}u;
const C: u32 = {{C}}u;
const H: u32 = {{H}}u;
const W: u32 = {{W}}u;
const OH: u32 = {{OH}}u;
const OW: u32 = {{OW}}u;
const KH: u32 = {{KH}}u;
const KW: u32 = {{KW}}u;
const SH: u32 = {{SH}}u;
const SW: u32 = {{SW}}u;
const PH: u32 = {{PH}}u;
const PW: u32 = {{PW}}u;
const DH: u32 = {{DH}}u;
const DW: u32 = {{DW}}u;

// Parameters (src/ops/pool/gpu.rs, `PoolParams`): each view's strides (n, c, y, x) and
// offset; the pooled output is read by the max's gradient only.
struct Params {
    image_strides: vec4<u32>,
    pooled_strides: vec4<u32>,
    grad_strides: vec4<u32>,
    // Elements written (invocations).
    elements: u32,
    image_offset: u32,
    pooled_offset: u32,
    grad_offset: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> image: array<TI>;
@group(0) @binding(2) var<storage, read> pooled: array<TI>;
@group(0) @binding(3) var<storage, read> out_grad: array<TI>;
@group(0) @binding(4) var<storage, read_write> dst: array<TO>;

const WORKGROUP: u32 = 256u;

fn element(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wg.y * nwg.x + wg.x) * WORKGROUP + lid;
}

// Offset of plane `plane`'s first element in a view of this offset and these strides.
fn plane_base(offset: u32, strides: vec4<u32>, plane: u32) -> u32 {
    return offset + (plane / C) * strides.x + (plane % C) * strides.y;
}

fn offset(strides: vec4<u32>, base: u32, at: vec2<u32>) -> u32 {
    return base + at.x * strides.z + at.y * strides.w;
}

// Image row and column of tap t (window order) of output o; negative or past the image
// in the padding.
fn tap(o: vec2<u32>, t: u32) -> vec2<i32> {
    let reach = o * vec2<u32>(SH, SW) + vec2<u32>(t / KW * DH, t % KW * DW);
    return vec2<i32>(reach) - vec2<i32>(i32(PH), i32(PW));
}

fn inside(at: vec2<i32>) -> bool {
    return all(at >= vec2<i32>(0)) && all(at < vec2<i32>(i32(H), i32(W)));
}

// By the bits: compilers may assume v == v.
fn is_nan(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

// Whether v is the value the max kept, m: equal, or both NaN.
fn matches(v: f32, m: f32) -> bool {
    return v == m || (is_nan(v) && is_nan(m));
}

@compute @workgroup_size(256)
fn pool(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let e = element(wg, nwg, lid);
    if (e >= params.elements) {
        return;
    }
    let o = vec2<u32>((e / OW) % OH, e % OW);
    let base = plane_base(params.image_offset, params.image_strides, e / (OH * OW));
    var m = bitcast<f32>(0xff800000u);
    var sum = 0.0;
    for (var t = 0u; t < KH * KW; t++) {
        let at = tap(o, t);
        if (inside(at)) {
            let v = f32(image[offset(params.image_strides, base, vec2<u32>(at))]);
            if (AVERAGE == 1u) {
                sum += v;
            } else if (v > m || (is_nan(v) && !is_nan(m))) {
                m = v;
            }
        }
    }
    dst[e] = TO(select(m, sum / f32(KH * KW), AVERAGE == 1u));
}

// Whether no tap of output o before t matches m.
fn first(o: vec2<u32>, t: u32, m: f32, base: u32) -> bool {
    // A constant trip count, so the loop unrolls (lanes stop at different taps).
    var earlier = false;
    for (var u = 0u; u < KH * KW - 1u; u++) {
        let at = tap(o, u);
        if (u < t && inside(at)) {
            earlier = earlier || matches(f32(image[offset(params.image_strides, base, vec2<u32>(at))]), m);
        }
    }
    return !earlier;
}

// The output along one axis whose tap k reads image position q, or past `outputs` when
// none does: o·stride + k·dilation − pad = q.
fn reader(q: u32, k: u32, stride: u32, pad: u32, dilation: u32, outputs: u32) -> u32 {
    let reach = q + pad;
    let shift = k * dilation;
    if (reach < shift || (reach - shift) % stride != 0u) {
        return outputs;
    }
    return (reach - shift) / stride;
}

@compute @workgroup_size(256)
fn pool_grad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let e = element(wg, nwg, lid);
    if (e >= params.elements) {
        return;
    }
    let plane = e / (H * W);
    let q = vec2<u32>((e / W) % H, e % W);
    let image_base = plane_base(params.image_offset, params.image_strides, plane);
    let pooled_base = plane_base(params.pooled_offset, params.pooled_strides, plane);
    let grad_base = plane_base(params.grad_offset, params.grad_strides, plane);
    var v = 0.0;
    if (AVERAGE == 0u) {
        v = f32(image[offset(params.image_strides, image_base, q)]);
    }
    var sum = 0.0;
    for (var i = 0u; i < KH; i++) {
        let oy = reader(q.x, i, SH, PH, DH, OH);
        if (oy >= OH) {
            continue;
        }
        for (var j = 0u; j < KW; j++) {
            let ox = reader(q.y, j, SW, PW, DW, OW);
            if (ox >= OW) {
                continue;
            }
            let o = vec2<u32>(oy, ox);
            let g = f32(out_grad[offset(params.grad_strides, grad_base, o)]);
            if (AVERAGE == 1u) {
                sum += g;
            } else {
                let m = f32(pooled[offset(params.pooled_strides, pooled_base, o)]);
                if (matches(v, m) && first(o, i * KW + j, m, image_base)) {
                    sum += g;
                }
            }
        }
    }
    dst[e] = TO(select(sum, sum / f32(KH * KW), AVERAGE == 1u));
}
