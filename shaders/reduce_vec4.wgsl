// reduce.wgsl's kernel for dense rows whose starts are multiples of 4: four elements per
// load (one memory operation, where four scalar loads are four gathers on a CPU-hosted
// device). Components past the row's end are masked. Same parameters as reduce.wgsl.
//
// Specialized per variant by src/backend/gpu/shaders.rs, which replaces these lines:
alias TI = f32;
alias TO = f32;

// Parameters (u32 words):
//   0 rows   1 row length   2 chunk length   3 chunks per row   4 op: 0 sum, 1 max, 2 min
//   5 scale applied to the result (f32 bits)   6 src offset   7 outer rank   8 inner rank
//   16..23 outer shape   24..31 outer strides   32..39 inner shape   40..47 inner strides
// Output: dst[row * chunks + chunk], dense.
@group(0) @binding(0) var<storage, read> p: array<u32>;
@group(0) @binding(1) var<storage, read> src: array<vec4<TI>>;
@group(0) @binding(2) var<storage, read_write> dst: array<TO>;

const WORKGROUP: u32 = 256u;
var<workgroup> partial: array<f32, WORKGROUP>;

fn identity(op: u32) -> f32 {
    switch op {
        case 1u: { return bitcast<f32>(0xff800000u); }
        case 2u: { return bitcast<f32>(0x7f800000u); }
        default: { return 0.0; }
    }
}

fn combine(op: u32, a: f32, b: f32) -> f32 {
    switch op {
        case 1u: { return max(a, b); }
        case 2u: { return min(a, b); }
        default: { return a + b; }
    }
}

// Offset of outer index i (the row's first element).
fn unravel(i: u32, rank: u32, shape_at: u32, strides_at: u32) -> u32 {
    var rem = i;
    var off = 0u;
    for (var d = i32(rank) - 1; d >= 0; d--) {
        let k = u32(d);
        let size = p[shape_at + k];
        off += (rem % size) * p[strides_at + k];
        rem = rem / size;
    }
    return off;
}

@compute @workgroup_size(256)
fn reduce(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let task = wg.y * nwg.x + wg.x;
    let chunks = p[3];
    if (task >= p[0] * chunks) {
        return;
    }
    let op = p[4];
    let row = task / chunks;
    let chunk = task % chunks;
    let base = p[6] + unravel(row, p[7], 16u, 24u);
    let start = chunk * p[2];
    let end = min(start + p[2], p[1]);
    var acc = identity(op);
    let none = identity(op);
    for (var e = start + lid * 4u; e < end; e += WORKGROUP * 4u) {
        let v = vec4<f32>(src[(base + e) / 4u]);
        acc = combine(op, acc, v.x);
        acc = combine(op, acc, select(none, v.y, e + 1u < end));
        acc = combine(op, acc, select(none, v.z, e + 2u < end));
        acc = combine(op, acc, select(none, v.w, e + 3u < end));
    }
    partial[lid] = acc;
    workgroupBarrier();
    for (var s = WORKGROUP / 2u; s > 0u; s = s / 2u) {
        if (lid < s) {
            partial[lid] = combine(op, partial[lid], partial[lid + s]);
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        dst[task] = TO(partial[0] * bitcast<f32>(p[5]));
    }
}
