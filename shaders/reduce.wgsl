// Reductions of rows (the reduced axes, moved last): sum, max, min and product, and the
// position of the maximum or minimum. Rendered after rows.wgsl. Many or short rows take one
// pass, a task per row; a long row is cut into chunks whose partial results later passes
// fold (src/ops/reduce/gpu.rs builds that tree).
//
// The operation is a constant of each variant, so no pass decides it per element: for
// `reduce` and `reduce_columns`, OP 0 sum, 1 max, 2 min, 3 product; for the `arg` entries,
// 0 argmax, 1 argmin. With DOT = 1, `reduce` and `reduce_columns` multiply each element by its reduced index's
// entry of a vector before summing: the matrix-vector products of src/ops/matmul/gpu.rs.
//
// The vector is read at rows.wgsl's `weights_offset` and `weights_stride` (DOT = 1).
// A position is the element's index within its row, stored in the result (i32).
const OP: u32 = {{OP}}u;
const DOT: u32 = {{DOT}}u;
// 1 in the eight-wide variant (see rows.wgsl): `reduce` then reads octets.
const WIDE: u32 = {{WIDE}}u;
@group(0) @binding(4) var<storage, read_write> positions_out: array<u32>;
@group(0) @binding(5) var<storage, read> positions_in: array<u32>;
@group(0) @binding(8) var<storage, read> vector: array<TI>;

// The vector's entry for reduced element i (1 without DOT), and entries e..e+3.
fn weight(i: u32) -> f32 {
    if (DOT == 1u) {
        return f32(vector[params.weights_offset + i * params.weights_stride]);
    }
    return 1.0;
}

fn weights(e: u32) -> vec4<f32> {
    if (DOT == 1u) {
        return vec4<f32>(weight(e), weight(e + 1u), weight(e + 2u), weight(e + 3u));
    }
    return vec4<f32>(1.0);
}

fn identity(op: u32) -> f32 {
    switch op {
        case 1u: { return neg_inf(); }
        case 2u: { return pos_inf(); }
        case 3u: { return 1.0; }
        default: { return 0.0; }
    }
}

fn fold4(op: u32, a: vec4<f32>, b: vec4<f32>) -> vec4<f32> {
    switch op {
        case 1u: { return max_or_nan4(a, b); }
        case 2u: { return min_or_nan4(a, b); }
        case 3u: { return a * b; }
        default: { return a + b; }
    }
}

// Quad k of the task, times the vector's entries for it with DOT.
fn term(t: Task, k: u32) -> vec4<f32> {
    return quad_k(t, k) * weights(quad_at(t, k));
}

// The lane's eight quads from quad k, folded as a tree.
fn eight(t: Task, op: u32, k: u32) -> vec4<f32> {
    let a = fold4(op, fold4(op, term(t, k), term(t, k + LANES)), fold4(op, term(t, k + 2u * LANES), term(t, k + 3u * LANES)));
    let b = fold4(op, fold4(op, term(t, k + 4u * LANES), term(t, k + 5u * LANES)), fold4(op, term(t, k + 6u * LANES), term(t, k + 7u * LANES)));
    return fold4(op, a, b);
}

// A running total and, for a compensated sum, the low-order part its additions lost.
struct Total {
    value: vec4<f32>,
    lost: vec4<f32>,
}

// Kahan's step for a compensated sum: each addition's rounding error is carried into the
// next, so a lane's sum is off by a few roundings of its magnitudes however many quads it
// adds, where a plain running sum grows one rounding per addition. The new total is
// multiplied by the parameter `one` (exactly 1) before the error is taken from it: shader
// compilers may simplify (a + y) − a to y, which would leave no error to carry.
fn absorb(op: u32, compensated: bool, t: Total, x: vec4<f32>) -> Total {
    if (!compensated) {
        return Total(fold4(op, t.value, x), t.lost);
    }
    let y = x - t.lost;
    let next = (t.value + y) * params.one;
    return Total(next, (next - t.value) - y);
}

// The lane's whole quads folded into one quad, eight a trip in a single loop: lavapipe
// pays for every loop it enters, and nested blocks cost more than the compensation.
fn lane_quads(t: Task, op: u32, compensated: bool) -> vec4<f32> {
    let count = quad_count(t);
    var total = Total(vec4<f32>(identity(op)), vec4<f32>(0.0));
    var k = t.lane;
    for (; k + 7u * LANES < count; k += 8u * LANES) {
        total = absorb(op, compensated, total, eight(t, op, k));
    }
    for (; k < count; k += LANES) {
        total = absorb(op, compensated, total, term(t, k));
    }
    return total.value;
}

// The octets' form of `lane_quads`, for the eight-wide variant: eight octets (sixteen
// quads) a trip, as a tree, so the compensation's cost spreads over 64 elements (it costs
// 13% of the row sums' time at four octets a trip, 9% at eight).
fn lane_octets(t: Task, op: u32, compensated: bool) -> vec4<f32> {
    let count = (t.end - t.start) / 8u;
    var total = Total(vec4<f32>(identity(op)), vec4<f32>(0.0));
    var j = t.lane;
    for (; j + 7u * LANES < count; j += 8u * LANES) {
        let a = fold4(op, octet_term(t, op, j), octet_term(t, op, j + LANES));
        let b = fold4(op, octet_term(t, op, j + 2u * LANES), octet_term(t, op, j + 3u * LANES));
        let c = fold4(op, octet_term(t, op, j + 4u * LANES), octet_term(t, op, j + 5u * LANES));
        let d = fold4(op, octet_term(t, op, j + 6u * LANES), octet_term(t, op, j + 7u * LANES));
        total = absorb(op, compensated, total, fold4(op, fold4(op, a, b), fold4(op, c, d)));
    }
    for (; j < count; j += LANES) {
        total = absorb(op, compensated, total, octet_term(t, op, j));
    }
    return total.value;
}

// Octet j's two quads folded, each times the vector's entries for it with DOT.
fn octet_term(t: Task, op: u32, j: u32) -> vec4<f32> {
    let o = octet_k(t, j);
    return fold4(op, o.lo * weights(quad_at(t, 2u * j)), o.hi * weights(quad_at(t, 2u * j + 1u)));
}

// The lane's whole quads (or octets) folded into one quad, and where the elements they
// leave begin.
fn lane_total(t: Task, op: u32, compensated: bool) -> vec4<f32> {
    if (WIDE == 1u) {
        return lane_octets(t, op, compensated);
    }
    return lane_quads(t, op, compensated);
}

fn lane_tail(t: Task) -> u32 {
    if (WIDE == 1u) {
        return t.start + 8u * ((t.end - t.start) / 8u);
    }
    return tail_start(t);
}

@compute @workgroup_size(64)
fn reduce(ids: Ids) {
    let t = task(ids);
    let op = OP;
    var acc4 = vec4<f32>(identity(op));
    var acc = identity(op);
    if (t.live) {
        acc4 = lane_total(t, op, op == 0u);
        // The compensation turns an infinite total into NaN (inf − inf): a lane whose sum
        // is not finite adds its elements again plainly, which gives IEEE's inf or NaN.
        if (op == 0u && !all(finite4(acc4))) {
            acc4 = lane_total(t, op, false);
        }
        for (var i = lane_tail(t) + t.lane; i < t.end; i += LANES) {
            acc = fold(op, acc, at(t, i) * weight(i));
        }
    }
    acc = fold(op, fold(op, fold(op, acc4.x, acc4.y), fold(op, acc4.z, acc4.w)), acc);
    let total = combine(t, op, acc);
    if (t.live && t.lane == 0u) {
        results[t.index] = TO(total * params.scale);
    }
}

// No position yet: loses every tie.
const NONE: u32 = 0xffffffffu;
var<workgroup> partial_positions: array<u32, WORKGROUP>;

struct Best {
    value: f32,
    position: u32,
}

// Whether number v at position i beats `b`: a larger value for argmax (smaller for argmin),
// or an equal one earlier in the row. NaN compares false here: `best_of` finds a lane's
// first NaN apart, where NaN tests in each comparison cost a quarter of an argmax on
// lavapipe.
fn beats_number(op: u32, v: f32, i: u32, b: Best) -> bool {
    let strictly = select(v > b.value, v < b.value, op == 1u);
    return strictly || (v == b.value && i < b.position);
}

// Whether (v, i) beats `b` as lanes and chunks combine: NaN beats every number and the
// first NaN wins (as PyTorch's and NumPy's argmax and argmin). A row of ±inf still has a
// position, the first.
fn beats(op: u32, v: f32, i: u32, b: Best) -> bool {
    let v_nan = is_nan(v);
    let b_nan = is_nan(b.value);
    if (v_nan || b_nan) {
        return v_nan && (!b_nan || i < b.position);
    }
    return beats_number(op, v, i, b);
}

fn consider(op: u32, b: Best, v: f32, i: u32) -> Best {
    if (beats(op, v, i, b)) {
        return Best(v, i);
    }
    return b;
}

fn consider_number(op: u32, b: Best, v: f32, i: u32) -> Best {
    if (beats_number(op, v, i, b)) {
        return Best(v, i);
    }
    return b;
}

// The position of the lane's first NaN (NONE if it has none), visiting its elements in
// `best_of`'s order.
fn first_nan(t: Task) -> u32 {
    for (var k = t.lane; k < quad_count(t); k += LANES) {
        let e = quad_at(t, k);
        let nan = is_nan4(quad(t, e));
        if (any(nan)) {
            return select(select(select(e + 3u, e + 2u, nan.z), e + 1u, nan.y), e, nan.x);
        }
    }
    for (var i = tail_start(t) + t.lane; i < t.end; i += LANES) {
        if (is_nan(at(t, i))) {
            return i;
        }
    }
    return NONE;
}

// The task's best element, agreed by all its lanes. Each lane visits its elements in row
// order, so ties keep the earliest; the lanes' tree keeps it too. A lane keeps the largest
// magnitude's bits it reads, which pass +inf's only if it read a NaN: then (rarely) it reads
// its elements again for the first NaN, which wins.
fn best_of(t: Task, op: u32) -> Best {
    var b = Best(select(neg_inf(), pos_inf(), op == 1u), NONE);
    var widest = vec4<u32>(0u);
    if (t.live) {
        for (var k = t.lane; k < quad_count(t); k += LANES) {
            let e = quad_at(t, k);
            let x = quad(t, e);
            widest = max(widest, bitcast<vec4<u32>>(x) & vec4<u32>(0x7fffffffu));
            b = consider_number(op, b, x.x, e);
            b = consider_number(op, b, x.y, e + 1u);
            b = consider_number(op, b, x.z, e + 2u);
            b = consider_number(op, b, x.w, e + 3u);
        }
        for (var i = tail_start(t) + t.lane; i < t.end; i += LANES) {
            let v = at(t, i);
            widest.x = max(widest.x, bitcast<u32>(v) & 0x7fffffffu);
            b = consider_number(op, b, v, i);
        }
        if (any(widest > vec4<u32>(0x7f800000u))) {
            b = Best(nan(), first_nan(t));
        }
    }
    if (LANES == 1u) {
        return b;
    }
    if (SUBGROUPS == 1u) {
        let part = subgroup_best(op, b);
        if (LANES == SUBGROUP_SIZE) {
            return part;
        }
        if (t.lane % SUBGROUP_SIZE == 0u) {
            partials[t.first + t.lane / SUBGROUP_SIZE] = part.value;
            partial_positions[t.first + t.lane / SUBGROUP_SIZE] = part.position;
        }
        workgroupBarrier();
        var out = Best(partials[t.first], partial_positions[t.first]);
        for (var k = 1u; k < LANES / SUBGROUP_SIZE; k++) {
            out = consider(op, out, partials[t.first + k], partial_positions[t.first + k]);
        }
        workgroupBarrier();
        return out;
    }
    partials[t.first + t.lane] = b.value;
    partial_positions[t.first + t.lane] = b.position;
    workgroupBarrier();
    for (var s = LANES / 2u; s > 0u; s = s / 2u) {
        if (t.lane < s) {
            let here = Best(partials[t.first + t.lane], partial_positions[t.first + t.lane]);
            let v = partials[t.first + t.lane + s];
            let i = partial_positions[t.first + t.lane + s];
            if (beats(op, v, i, here)) {
                partials[t.first + t.lane] = v;
                partial_positions[t.first + t.lane] = i;
            }
        }
        workgroupBarrier();
    }
    let out = Best(partials[t.first], partial_positions[t.first]);
    workgroupBarrier();
    return out;
}

// The subgroup's best: its earliest NaN if a lane holds one, else the extreme value at the
// earliest position that holds it.
fn subgroup_best(op: u32, b: Best) -> Best { return b; }
//|SUBGROUPS| fn subgroup_best(op: u32, b: Best) -> Best { let first_nan = subgroupMin(select(NONE, b.position, is_nan(b.value))); let v = select(subgroupMax(b.value), subgroupMin(b.value), op == 1u); let at = subgroupMin(select(NONE, b.position, b.value == v)); if (first_nan != NONE) { return Best(nan(), first_nan); } return Best(v, at); }

// Only an empty row, which the op refuses, has no best: position 0.
fn position_of(b: Best) -> u32 {
    return select(b.position, 0u, b.position == NONE);
}

// One pass over whole rows: the result is the position.
@compute @workgroup_size(64)
fn arg(ids: Ids) {
    let t = task(ids);
    let b = best_of(t, OP);
    if (t.live && t.lane == 0u) {
        results[t.index] = TO(position_of(b));
    }
}

// The first pass over chunks of long rows: each chunk's best value and position (its first
// NaN if it holds one, which then beats every number in the next pass).
@compute @workgroup_size(64)
fn arg_chunks(ids: Ids) {
    let t = task(ids);
    let b = best_of(t, OP);
    if (t.live && t.lane == 0u) {
        results[t.index] = TO(select(b.value, nan(), b.position == NONE));
        positions_out[t.index] = b.position;
    }
}

// The last pass, over each row's chunk results in chunk order (so an earlier chunk wins a
// tie, as its positions are smaller): the position its best chunk found.
@compute @workgroup_size(64)
fn arg_merge(ids: Ids) {
    let t = task(ids);
    let b = best_of(t, OP);
    if (t.live && t.lane == 0u) {
        var position = 0u;
        if (b.position != NONE) {
            position = positions_in[t.row * params.row_length + b.position];
        }
        results[t.index] = TO(position);
    }
}

// Reductions over leading axes, whose kept axes are dense (column sums, a bias gradient):
// a task is COLUMN_QUADS quads of adjacent outputs and a chunk of the reduced rows, so each
// read takes four neighbouring elements. Parameters as rows.wgsl's, except: 0 outputs, 1 reduced rows,
// 6 rows per task, 7 tasks per output; the inner shape and strides describe the rows. The
// results of chunk c go to [c, outputs].
fn column_quad(o: u32) -> vec4<f32> { return vec4<f32>(f32(src[o]), f32(src[o + 1u]), f32(src[o + 2u]), f32(src[o + 3u])); }
//|VEC4| fn column_quad(o: u32) -> vec4<f32> { return src_quad(o / 4u); }

// Quads of neighbouring outputs one task folds (set per variant: 1, 2, 4 or 8), so each
// invocation reads a longer run of every row. Accumulators past COLUMN_QUADS are dead at
// compile time (lavapipe runs arrays indexed in loops through memory); quads past the
// outputs are read (within the buffer, or clamped by robust access) and never stored.
const COLUMN_QUADS: u32 = {{COLUMN_QUADS}}u;

fn column_step(op: u32, acc: vec4<f32>, j: u32, row: u32, w: f32) -> vec4<f32> {
    if (j >= COLUMN_QUADS) {
        return acc;
    }
    return fold4(op, acc, column_quad(row + 4u * j) * w);
}

// The task's total of one quad, combined over its lanes.
fn column_total(t: Task, op: u32, a: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(combine(t, op, a.x), combine(t, op, a.y), combine(t, op, a.z), combine(t, op, a.w));
}

// Store a task's totals of one quad: outputs at .. at + 3 of `chunk`, those that exist.
// Combining and storing stay apart: wrapped together in one function, they made column
// sums of 128×256 on lavapipe 8× slower.
fn store_columns(t: Task, chunk: u32, at: u32, total: vec4<f32>) {
    let outputs = params.rows;
    if (t.live && t.lane == 0u) {
        for (var c = 0u; c < 4u; c++) {
            if (at + c < outputs) {
                results[chunk * outputs + at + c] = TO(total[c] * params.scale);
            }
        }
    }
}

@compute @workgroup_size(64)
fn reduce_columns(ids: Ids) {
    let slot = slot_lane(ids);
    let index = workgroup_index(ids) * (WORKGROUP / LANES) + slot.x;
    let outputs = params.rows;
    let groups = (outputs + 4u * COLUMN_QUADS - 1u) / (4u * COLUMN_QUADS);
    var t: Task;
    t.lane = slot.y;
    t.first = slot.x * LANES;
    t.live = index < groups * params.tasks_per_row;
    let q = index % groups;
    let chunk = index / groups;
    let start = chunk * params.chunk;
    let end = min(start + params.chunk, params.row_length);
    let first_output = 4u * COLUMN_QUADS * q;
    let base = params.src_offset + first_output;
    let op = OP;
    let id = vec4<f32>(identity(op));
    var a0 = id;
    var a1 = id;
    var a2 = id;
    var a3 = id;
    var a4 = id;
    var a5 = id;
    var a6 = id;
    var a7 = id;
    // A task folds at most 64 rows (parameter 6), so each output is at most 64 additions
    // deep before the lanes' tree, in one loop.
    if (t.live) {
        for (var r = start + t.lane; r < end; r += LANES) {
            let row = base + element(r);
            let w = weight(r);
            a0 = column_step(op, a0, 0u, row, w);
            a1 = column_step(op, a1, 1u, row, w);
            a2 = column_step(op, a2, 2u, row, w);
            a3 = column_step(op, a3, 3u, row, w);
            a4 = column_step(op, a4, 4u, row, w);
            a5 = column_step(op, a5, 5u, row, w);
            a6 = column_step(op, a6, 6u, row, w);
            a7 = column_step(op, a7, 7u, row, w);
        }
    }
    store_columns(t, chunk, first_output + 0u, column_total(t, op, a0));
    if (COLUMN_QUADS > 1u) {
        store_columns(t, chunk, first_output + 4u, column_total(t, op, a1));
    }
    if (COLUMN_QUADS > 2u) {
        store_columns(t, chunk, first_output + 8u, column_total(t, op, a2));
    }
    if (COLUMN_QUADS > 3u) {
        store_columns(t, chunk, first_output + 12u, column_total(t, op, a3));
    }
    if (COLUMN_QUADS > 4u) {
        store_columns(t, chunk, first_output + 16u, column_total(t, op, a4));
    }
    if (COLUMN_QUADS > 5u) {
        store_columns(t, chunk, first_output + 20u, column_total(t, op, a5));
    }
    if (COLUMN_QUADS > 6u) {
        store_columns(t, chunk, first_output + 24u, column_total(t, op, a6));
    }
    if (COLUMN_QUADS > 7u) {
        store_columns(t, chunk, first_output + 28u, column_total(t, op, a7));
    }
}
