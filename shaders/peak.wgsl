// The device's own peaks, for the roofline of `lepton bench` (src/backend/gpu/peaks.rs):
// `copy` streams one buffer into another, a vec4 per invocation (bytes per second; a copy
// of one element is the cost of a dispatch that does nothing); `stream_read` has each
// workgroup sum READS·64 adjacent vec4 of the source, 64 adjacent at a time, into 64
// (bytes per second where reads dominate, as in reductions); `fma_chain` runs eight
// independent chains of vec4 fused multiply-adds in registers (FLOP per second), reading
// one element and writing one so that nothing is optimized away.
@group(0) @binding(0) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<f32>>;

const WORKGROUP: u32 = 64u;
// Elements of the source each `stream_read` invocation sums; peaks.rs sizes its output to
// match, a whole number of workgroups.
const READS: u32 = 16u;
// Multiply-adds per chain; peaks.rs counts 2 FLOP for each of CHAIN · 8 chains · 4 lanes.
const CHAIN: u32 = 256u;

fn element(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wg.y * nwg.x + wg.x) * WORKGROUP + lid;
}

@compute @workgroup_size(64)
fn copy(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = element(wg, nwg, lid);
    if (i < arrayLength(&dst)) {
        dst[i] = src[i];
    }
}

@compute @workgroup_size(64)
fn stream_read(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let i = element(wg, nwg, lid);
    let count = arrayLength(&dst);
    if (i < count) {
        var total = vec4<f32>(0.0);
        for (var r = 0u; r < READS; r += 2u) {
            let at = 2u * i + r * count;
            total += src[at] + src[at + 1u];
        }
        dst[i] = total;
    }
}

@compute @workgroup_size(64)
fn fma_chain(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let i = element(wg, nwg, lid);
    let seed = src[i % arrayLength(&src)];
    var a0 = seed;
    var a1 = seed + 1.0;
    var a2 = seed + 2.0;
    var a3 = seed + 3.0;
    var a4 = seed + 4.0;
    var a5 = seed + 5.0;
    var a6 = seed + 6.0;
    var a7 = seed + 7.0;
    let m = vec4<f32>(0.9999);
    let s = vec4<f32>(0.0001);
    for (var k = 0u; k < CHAIN; k++) {
        a0 = fma(a0, m, s);
        a1 = fma(a1, m, s);
        a2 = fma(a2, m, s);
        a3 = fma(a3, m, s);
        a4 = fma(a4, m, s);
        a5 = fma(a5, m, s);
        a6 = fma(a6, m, s);
        a7 = fma(a7, m, s);
    }
    if (i < arrayLength(&dst)) {
        dst[i] = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7));
    }
}
