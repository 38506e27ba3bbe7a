// Gathering along one axis, and its adjoint (src/ops/gather/). Each invocation writes one
// output element; arithmetic runs in f32 whatever the storage type.
//
// `gather`: the output has the index's shape; element p reads `src` at p with its AXIS
// coordinate replaced by the index's value at p (i32). A value that names no position
// (negative, or past the axis) reads NaN, where the CPU path reports an error.
//
// `scatter_add`: the output has the gathered source's shape; each element sums, in index
// order along the axis, the terms of `src` (the gather's output gradient, of the index's
// shape) whose index names it. Every element owns its sum, so the result is the same every
// run; the cost is the index's length along the axis per element.
alias TI = {{TI}};
alias TO = {{TO}};

// Parameters (src/ops/gather/gpu.rs, `GatherParams`). `shape` is the output's; `src_*` and
// `index_*` are the two inputs' layouts.
struct Params {
    shape: array<vec4<u32>, 2>,
    src_strides: array<vec4<u32>, 2>,
    index_strides: array<vec4<u32>, 2>,
    index_shape: array<vec4<u32>, 2>,
    // Elements written (invocations).
    count: u32,
    rank: u32,
    axis: u32,
    src_offset: u32,
    index_offset: u32,
    // `gather`: the source's size along the axis; `scatter_add`: the index's.
    axis_size: u32,
    // `scatter_add`: the positions along the index's axis that this dispatch sums; a span
    // after the first continues the sum the one before stored (src/ops/gather/gpu.rs).
    span_start: u32,
    span_end: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<TI>;
@group(0) @binding(2) var<storage, read> index: array<i32>;
@group(0) @binding(3) var<storage, read_write> dst: array<TO>;

const WORKGROUP: u32 = 256u;

fn extent(d: u32) -> u32 {
    return params.shape[d / 4u][d % 4u];
}

fn src_stride(d: u32) -> u32 {
    return params.src_strides[d / 4u][d % 4u];
}

fn index_stride(d: u32) -> u32 {
    return params.index_strides[d / 4u][d % 4u];
}

fn element(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wg.y * nwg.x + wg.x) * WORKGROUP + lid;
}

// The position index value v names along an axis of `size`, or `size` when it names none.
fn position(v: i32, size: u32) -> u32 {
    if (v < 0 || u32(v) >= size) {
        return size;
    }
    return u32(v);
}

@compute @workgroup_size(256)
fn gather(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let e = element(wg, nwg, lid);
    if (e >= params.count) {
        return;
    }
    var rem = e;
    var source = params.src_offset;
    var k = params.index_offset;
    for (var d = i32(params.rank) - 1; d >= 0; d--) {
        let u = u32(d);
        let c = rem % extent(u);
        rem = rem / extent(u);
        k += c * index_stride(u);
        if (u != params.axis) {
            source += c * src_stride(u);
        }
    }
    let at = position(index[k], params.axis_size);
    if (at == params.axis_size) {
        dst[e] = TO(bitcast<f32>(0x7fc00000u));
        return;
    }
    dst[e] = TO(f32(src[source + at * src_stride(params.axis)]));
}

@compute @workgroup_size(256)
fn scatter_add(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let e = element(wg, nwg, lid);
    if (e >= params.count) {
        return;
    }
    var rem = e;
    var source = params.src_offset;
    var k = params.index_offset;
    var at = 0u;
    // Off the index along another axis, no term lands here.
    var reached = true;
    for (var d = i32(params.rank) - 1; d >= 0; d--) {
        let u = u32(d);
        let c = rem % extent(u);
        rem = rem / extent(u);
        if (u == params.axis) {
            at = c;
        } else {
            reached = reached && c < params.index_shape[u / 4u][u % 4u];
            source += c * src_stride(u);
            k += c * index_stride(u);
        }
    }
    var sum = 0.0;
    if (params.span_start > 0u) {
        sum = f32(dst[e]);
    }
    if (reached) {
        let step_source = src_stride(params.axis);
        let step_k = index_stride(params.axis);
        for (var j = params.span_start; j < params.span_end; j++) {
            if (index[k + j * step_k] == i32(at)) {
                sum += f32(src[source + j * step_source]);
            }
        }
    }
    dst[e] = TO(sum);
}
