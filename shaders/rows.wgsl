// What the row kernels share (reduce.wgsl and softmax.wgsl are each rendered after this
// prelude). A task is one row of a strided input, or one chunk of a long row; LANES
// invocations share a task and combine their partial results in workgroup memory, or with
// subgroup operations.
//
// Each variant fills in these placeholders (src/ops/shader_template.rs), and the four-wide
// variant (VEC4 = 1: dense rows starting at multiples of 4) takes its `//|VEC4|` lines in
// place of the lines above them. The eight-wide variant of reduce.wgsl (WIDE = 1: dense f32
// rows starting at multiples of 8, on devices with SHADER_INT64) takes the four-wide lines
// and then its `//|WIDE|` lines: it reads `src` as vec4<u64>, eight elements a load. On
// lavapipe a lane's storage load is a loop over the value's components, so 8-byte
// components halve the loop's trips per element: row sums of 4096×4096 read 25% faster.
alias TI = {{TI}};
alias TO = {{TO}};
const LANES: u32 = {{LANES}}u;
// 1: each task's lanes are whole subgroups (LANES a multiple of SUBGROUP_SIZE, the
// device's one size), which combine with subgroup operations and then, when there are
// several, through workgroup memory in subgroup order: two barriers instead of a tree's
// log2(LANES) + 1. This variant takes its `//|SUBGROUPS|` lines as the four-wide one takes
// its `//|VEC4|` lines.
const SUBGROUPS: u32 = {{SUBGROUPS}}u;
const SUBGROUP_SIZE: u32 = {{SUBGROUP_SIZE}}u;

// Parameters (src/ops/row_tasks.rs, `RowParams`). In reduce.wgsl's `reduce_columns`, `rows`
// counts the outputs and `row_length` the rows folded into each, read through the inner
// shape and strides.
struct Params {
    outer_shape: array<vec4<u32>, 2>,
    outer_strides: array<vec4<u32>, 2>,
    inner_shape: array<vec4<u32>, 2>,
    inner_strides: array<vec4<u32>, 2>,
    rows: u32,
    row_length: u32,
    // Exactly 1, read where a compiler must not fold arithmetic (reduce.wgsl's `absorb`).
    one: f32,
    src_offset: u32,
    outer_rank: u32,
    inner_rank: u32,
    // Elements per task, and tasks per row.
    chunk: u32,
    tasks_per_row: u32,
    // Applied to results.
    scale: f32,
    // The dot product's vector (reduce.wgsl).
    weights_offset: u32,
    weights_stride: u32,
    // The cross entropy's targets, label smoothing and incoming gradient (softmax.wgsl).
    targets_offset: u32,
    targets_stride: u32,
    smoothing: f32,
    incoming_offset: u32,
    incoming_stride: u32,
    // Layer normalization's ε (layer_norm.wgsl).
    epsilon: f32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<TI>;
//|VEC4| @group(0) @binding(1) var<storage, read> src: array<vec4<TI>>;
//|WIDE| @group(0) @binding(1) var<storage, read> src: array<vec4<u64>>;
// Outputs shaped like the input rows go to `dst`, written four at a time in the four-wide
// variant (which then runs only on rows of a multiple of 4 elements); one value per task
// goes to `results`, always one at a time, since invocations of different tasks may write
// neighbouring values.
@group(0) @binding(2) var<storage, read_write> dst: array<TO>;
//|VEC4| @group(0) @binding(2) var<storage, read_write> dst: array<vec4<TO>>;
@group(0) @binding(3) var<storage, read_write> results: array<TO>;

const WORKGROUP: u32 = 64u;
var<workgroup> partials: array<f32, WORKGROUP>;

fn neg_inf() -> f32 {
    return bitcast<f32>(0xff800000u);
}

fn pos_inf() -> f32 {
    return bitcast<f32>(0x7f800000u);
}

fn nan() -> f32 {
    return bitcast<f32>(0x7fc00000u);
}

// NaN by its bits: shader compilers may assume that v == v.
fn is_nan(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

fn is_nan4(v: vec4<f32>) -> vec4<bool> {
    return (bitcast<vec4<u32>>(v) & vec4<u32>(0x7fffffffu)) > vec4<u32>(0x7f800000u);
}

// Neither infinite nor NaN, by the bits: GLSL lets a compiler assume there are no
// infinities, and Mesa's GL driver folds a comparison with inf away.
fn finite4(v: vec4<f32>) -> vec4<bool> {
    return (bitcast<vec4<u32>>(v) & vec4<u32>(0x7f800000u)) != vec4<u32>(0x7f800000u);
}

// max and min that give NaN where either operand is NaN, as PyTorch's max and min do
// (WGSL leaves max and min of NaN to the implementation, which mostly drops the NaN).
fn max_or_nan(a: f32, b: f32) -> f32 {
    return select(select(max(a, b), b, is_nan(b)), a, is_nan(a));
}

fn min_or_nan(a: f32, b: f32) -> f32 {
    return select(select(min(a, b), b, is_nan(b)), a, is_nan(a));
}

fn max_or_nan4(a: vec4<f32>, b: vec4<f32>) -> vec4<f32> {
    return select(select(max(a, b), b, is_nan4(b)), a, is_nan4(a));
}

fn min_or_nan4(a: vec4<f32>, b: vec4<f32>) -> vec4<f32> {
    return select(select(min(a, b), b, is_nan4(b)), a, is_nan4(a));
}

// An invocation's ids; the subgroup variant adds its subgroup and its place in it.
struct Ids { @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32 }
//|SUBGROUPS| struct Ids { @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32, @builtin(subgroup_id) group: u32, @builtin(subgroup_invocation_id) lane: u32 }

fn workgroup_index(ids: Ids) -> u32 {
    return ids.wg.y * ids.nwg.x + ids.wg.x;
}

// The invocation's task within its workgroup, and its lane within the task.
fn slot_lane(ids: Ids) -> vec2<u32> { return vec2<u32>(ids.lid / LANES, ids.lid % LANES); }
//|SUBGROUPS| fn slot_lane(ids: Ids) -> vec2<u32> { let k = LANES / SUBGROUP_SIZE; return vec2<u32>(ids.group / k, (ids.group % k) * SUBGROUP_SIZE + ids.lane); }

struct Task {
    // Row and chunk; `index` is row * tasks per row + chunk, where a per-task result goes.
    row: u32,
    index: u32,
    live: bool,
    lane: u32,
    // Index of the task's first lane in `partials`.
    first: u32,
    // The row's first element in `src`, and the task's element range within the row.
    base: u32,
    start: u32,
    end: u32,
    // In the four-wide variant, the index in `src` of the task's first quad; in the
    // eight-wide one, of its first octet (eight elements).
    quads: u32,
    octets: u32,
}

fn task(ids: Ids) -> Task {
    let slot = slot_lane(ids);
    let index = workgroup_index(ids) * (WORKGROUP / LANES) + slot.x;
    let per_row = params.tasks_per_row;
    var t: Task;
    t.index = index;
    t.row = index / per_row;
    t.live = t.row < params.rows;
    t.lane = slot.y;
    t.first = slot.x * LANES;
    var rem = t.row;
    var off = params.src_offset;
    for (var d = i32(params.outer_rank) - 1; d >= 0; d--) {
        let k = u32(d);
        let size = params.outer_shape[k / 4u][k % 4u];
        off += (rem % size) * params.outer_strides[k / 4u][k % 4u];
        rem = rem / size;
    }
    t.base = off;
    t.start = (index % per_row) * params.chunk;
    t.end = min(t.start + params.chunk, params.row_length);
    t.quads = (t.base + t.start) / 4u;
    t.octets = (t.base + t.start) / 8u;
    return t;
}

// Offset of the row's element i from the row's first.
fn element(i: u32) -> u32 {
    let rank = params.inner_rank;
    if (rank <= 1u) {
        return i * params.inner_strides[0].x;
    }
    var rem = i;
    var off = 0u;
    for (var d = i32(rank) - 1; d >= 0; d--) {
        let k = u32(d);
        let size = params.inner_shape[k / 4u][k % 4u];
        off += (rem % size) * params.inner_strides[k / 4u][k % 4u];
        rem = rem / size;
    }
    return off;
}

fn at(t: Task, i: u32) -> f32 { return f32(src[t.base + element(i)]); }
//|VEC4| fn at(t: Task, i: u32) -> f32 { return f32(src[(t.base + i) / 4u][(t.base + i) % 4u]); }
//|WIDE| fn at(t: Task, i: u32) -> f32 { let e = t.base + i; return bitcast<f32>(u32(src[e / 8u][(e / 2u) % 4u] >> (32u * (e % 2u)))); }

// Elements 4q..4q+3 of `src`, in the forms that read it whole quads at a time (in the
// eight-wide one, half of a vec4<u64>, low words first).
fn src_quad(q: u32) -> vec4<f32> { return vec4<f32>(f32(src[4u * q]), f32(src[4u * q + 1u]), f32(src[4u * q + 2u]), f32(src[4u * q + 3u])); }
//|VEC4| fn src_quad(q: u32) -> vec4<f32> { return vec4<f32>(src[q]); }
//|WIDE| fn src_quad(q: u32) -> vec4<f32> { let w = src[q / 2u]; let h = select(w.xy, w.zw, q % 2u == 1u); return bitcast<vec4<f32>>(vec4<u32>(u32(h.x), u32(h.x >> 32u), u32(h.y), u32(h.y >> 32u))); }

// Elements e..e+3 of the row, e a multiple of 4.
fn quad(t: Task, e: u32) -> vec4<f32> { return vec4<f32>(at(t, e), at(t, e + 1u), at(t, e + 2u), at(t, e + 3u)); }
//|VEC4| fn quad(t: Task, e: u32) -> vec4<f32> { return src_quad((t.base + e) / 4u); }

// The task's quad k, the one at quad_at(t, k). The four-wide form indexes from `t.quads`,
// computed once: lavapipe's compiler does not hoist the rest of `quad`'s arithmetic out of
// loops, and it costs as much as the load.
fn quad_k(t: Task, k: u32) -> vec4<f32> { return quad(t, quad_at(t, k)); }
//|VEC4| fn quad_k(t: Task, k: u32) -> vec4<f32> { return src_quad(t.quads + k); }

// The task's octet j, elements start + 8j .. start + 8j + 7: its quads 2j and 2j + 1. The
// eight-wide form reads them as one vec4<u64>.
struct Octet {
    lo: vec4<f32>,
    hi: vec4<f32>,
}

fn octet_k(t: Task, j: u32) -> Octet { return Octet(quad_k(t, 2u * j), quad_k(t, 2u * j + 1u)); }
//|WIDE| fn octet_k(t: Task, j: u32) -> Octet { let w = src[t.octets + j]; return Octet(bitcast<vec4<f32>>(vec4<u32>(u32(w.x), u32(w.x >> 32u), u32(w.y), u32(w.y >> 32u))), bitcast<vec4<f32>>(vec4<u32>(u32(w.z), u32(w.z >> 32u), u32(w.w), u32(w.w >> 32u)))); }

// The task's lanes visit its whole quads in turn: quad k starts at element quad_at(t, k),
// for k from t.lane below quad_count(t) in steps of LANES. Then the last (end − start) % 4
// elements, from tail_start(t).
fn quad_count(t: Task) -> u32 {
    return (t.end - t.start) / 4u;
}

fn quad_at(t: Task, k: u32) -> u32 {
    return t.start + 4u * k;
}

fn tail_start(t: Task) -> u32 {
    return t.start + 4u * quad_count(t);
}

// Output element `at` (never called by a four-wide variant, whose rows have no tail), and
// elements at..at+3 for `at` a multiple of 4.
fn put(at: u32, v: f32) { dst[at] = TO(v); }
//|VEC4| fn put(at: u32, v: f32) { dst[at / 4u][at % 4u] = TO(v); }
fn put4(at: u32, v: vec4<f32>) { put(at, v.x); put(at + 1u, v.y); put(at + 2u, v.z); put(at + 3u, v.w); }
//|VEC4| fn put4(at: u32, v: vec4<f32>) { dst[at / 4u] = vec4<TO>(v); }

// Combine the LANES values of each task through `partials`; every lane gets the result.
// The barriers sit in uniform control flow: idle lanes take part with identities.
// `op`: 0 sum, 1 max, 2 min, 3 product.
fn fold(op: u32, a: f32, b: f32) -> f32 {
    switch op {
        case 1u: { return max_or_nan(a, b); }
        case 2u: { return min_or_nan(a, b); }
        case 3u: { return a * b; }
        default: { return a + b; }
    }
}

fn combine(t: Task, op: u32, v: f32) -> f32 {
    if (LANES == 1u) {
        return v;
    }
    if (SUBGROUPS == 1u) {
        let part = subgroup_fold(op, v);
        if (LANES == SUBGROUP_SIZE) {
            return part;
        }
        if (t.lane % SUBGROUP_SIZE == 0u) {
            partials[t.first + t.lane / SUBGROUP_SIZE] = part;
        }
        workgroupBarrier();
        var out = partials[t.first];
        for (var k = 1u; k < LANES / SUBGROUP_SIZE; k++) {
            out = fold(op, out, partials[t.first + k]);
        }
        workgroupBarrier();
        return out;
    }
    partials[t.first + t.lane] = v;
    workgroupBarrier();
    for (var s = LANES / 2u; s > 0u; s = s / 2u) {
        if (t.lane < s) {
            partials[t.first + t.lane] = fold(op, partials[t.first + t.lane], partials[t.first + t.lane + s]);
        }
        workgroupBarrier();
    }
    let out = partials[t.first];
    workgroupBarrier();
    return out;
}

// A max or min is NaN where a lane's value is (subgroupMax leaves NaN to the implementation).
fn subgroup_fold(op: u32, v: f32) -> f32 { return v; }
//|SUBGROUPS| fn subgroup_fold(op: u32, v: f32) -> f32 { let nan_seen = subgroupMax(select(0u, 1u, is_nan(v))) == 1u; switch op { case 1u: { return select(subgroupMax(v), nan(), nan_seen); } case 2u: { return select(subgroupMin(v), nan(), nan_seen); } case 3u: { return subgroupMul(v); } default: { return subgroupAdd(v); } } }
