// Softmax, log_softmax and logsumexp along rows, and cross-entropy from logits with
// class-index targets (the loss per row, and its gradient). Rendered after rows.wgsl, with
// one task per row. A row is read once for its maximum m and Σ exp(x − m) together (each
// lane rescales its sum when its maximum grows), so every exponent is ≤ 0 and nothing
// overflows; outputs shaped like the row read it once more, from cache.
//
// `softmax` computes log_softmax when LOG = 1 (a constant of the variant).
//
// The cross entropy reads rows.wgsl's `smoothing`, `targets_offset` and `targets_stride`,
// and its gradient `incoming_offset` and `incoming_stride` (0 when one value serves every
// row).
const LOG: u32 = {{LOG}}u;
@group(0) @binding(6) var<storage, read> targets: array<i32>;
@group(0) @binding(7) var<storage, read> incoming: array<TI>;

// exp(m − to) for a running maximum m overtaken by `to`; 0 while both are −inf, where the
// difference would be NaN.
fn rescale(m: vec4<f32>, to: vec4<f32>) -> vec4<f32> {
    return select(exp(m - to), vec4<f32>(0.0), to == vec4<f32>(neg_inf()));
}

// Whether any of five quads holds a NaN, lane by lane: the largest magnitude's bits pass
// +inf's (WGSL's max may drop a NaN). Testing each max instead made a softmax of 4096 rows
// of 4096 2.7% slower on lavapipe; with this test it is as fast as without one.
fn nan_in(a: vec4<f32>, b: vec4<f32>, c: vec4<f32>, d: vec4<f32>, e: vec4<f32>) -> vec4<bool> {
    let mask = vec4<u32>(0x7fffffffu);
    let ab = max(bitcast<vec4<u32>>(a) & mask, bitcast<vec4<u32>>(b) & mask);
    let cd = max(bitcast<vec4<u32>>(c) & mask, bitcast<vec4<u32>>(d) & mask);
    return max(max(ab, cd), bitcast<vec4<u32>>(e) & mask) > vec4<u32>(0x7f800000u);
}

// The row's maximum m and Σ exp(x − m), in one pass: each lane keeps four running pairs,
// rescaling its sum whenever its maximum grows.
fn row_stats(t: Task) -> vec2<f32> {
    var m = vec4<f32>(neg_inf());
    var s = vec4<f32>(0.0);
    if (t.live) {
        // Four of a lane's quads at a time share one rescaling: 1.25 exponentials per
        // element rather than 2.
        let count = quad_count(t);
        var k = t.lane;
        for (; k + 3u * LANES < count; k += 4u * LANES) {
            let x0 = quad(t, quad_at(t, k));
            let x1 = quad(t, quad_at(t, k + LANES));
            let x2 = quad(t, quad_at(t, k + 2u * LANES));
            let x3 = quad(t, quad_at(t, k + 3u * LANES));
            let plain = max(max(m, max(x0, x1)), max(x2, x3));
            let grown = select(plain, vec4<f32>(nan()), nan_in(m, x0, x1, x2, x3));
            s = s * rescale(m, grown) + rescale(x0, grown) + rescale(x1, grown) + rescale(x2, grown) + rescale(x3, grown);
            m = grown;
        }
        for (; k < count; k += LANES) {
            let x = quad(t, quad_at(t, k));
            let grown = max_or_nan4(m, x);
            s = s * rescale(m, grown) + rescale(x, grown);
            m = grown;
        }
        for (var i = tail_start(t) + t.lane; i < t.end; i += LANES) {
            let x = vec4<f32>(at(t, i), neg_inf(), neg_inf(), neg_inf());
            let grown = max_or_nan4(m, x);
            s = s * rescale(m, grown) + rescale(x, grown);
            m = grown;
        }
    }
    let top = combine(t, 1u, max_or_nan(max_or_nan(m.x, m.y), max_or_nan(m.z, m.w)));
    let scaled = s * rescale(m, vec4<f32>(top));
    return vec2<f32>(top, combine(t, 0u, (scaled.x + scaled.y) + (scaled.z + scaled.w)));
}

// log Σ exp(x): −inf for a row of −inf (exp(−inf − (−inf)) would be NaN), +inf for a row
// whose maximum is +inf (not inf − inf), as PyTorch's; NaN for a row holding NaN, whose
// maximum is NaN.
fn log_sum_exp(m: f32, s: f32) -> f32 {
    if (m == neg_inf() || m == pos_inf()) {
        return m;
    }
    return m + log(s);
}

// What a row's outputs need from its statistics: the maximum m, 1 / Σ exp(x − m), and
// log-softmax's shift m + log Σ exp(x − m).
struct Normalizer {
    m: f32,
    inv: f32,
    shift: f32,
}

// Softmax of four elements of the row, or log-softmax with LOG = 1.
fn normalized(o: Normalizer, x: vec4<f32>) -> vec4<f32> {
    if (LOG == 1u) {
        return x - o.shift;
    }
    return exp(x - o.m) * o.inv;
}

@compute @workgroup_size(64)
fn softmax(ids: Ids) {
    let t = task(ids);
    let stats = row_stats(t);
    if (!t.live) {
        return;
    }
    let o = Normalizer(stats.x, 1.0 / stats.y, stats.x + log(stats.y));
    let out = t.row * params.row_length;
    // Four quads a trip: lavapipe spends much of a trip on the loop itself (24 against
    // 26.5 ms for 4096×4096, one quad a trip).
    let count = quad_count(t);
    var k = t.lane;
    for (; k + 3u * LANES < count; k += 4u * LANES) {
        let x0 = quad_k(t, k);
        let x1 = quad_k(t, k + LANES);
        let x2 = quad_k(t, k + 2u * LANES);
        let x3 = quad_k(t, k + 3u * LANES);
        put4(out + quad_at(t, k), normalized(o, x0));
        put4(out + quad_at(t, k + LANES), normalized(o, x1));
        put4(out + quad_at(t, k + 2u * LANES), normalized(o, x2));
        put4(out + quad_at(t, k + 3u * LANES), normalized(o, x3));
    }
    for (; k < count; k += LANES) {
        put4(out + quad_at(t, k), normalized(o, quad_k(t, k)));
    }
    for (var i = tail_start(t) + t.lane; i < t.end; i += LANES) {
        put(out + i, normalized(o, vec4<f32>(at(t, i))).x);
    }
}

@compute @workgroup_size(64)
fn logsumexp(ids: Ids) {
    let t = task(ids);
    let stats = row_stats(t);
    if (t.live && t.lane == 0u) {
        results[t.row] = TO(log_sum_exp(stats.x, stats.y));
    }
}

// The row's class, or n when the target is not in [0, n): such rows give NaN.
fn target_class(t: Task) -> u32 {
    let v = targets[params.targets_offset + t.row * params.targets_stride];
    let n = params.row_length;
    if (v >= 0 && u32(v) < n) {
        return u32(v);
    }
    return n;
}

// loss = logsumexp(x) − Σ w·x, with weights w = (1 − ε)·onehot(target) + ε/n.
@compute @workgroup_size(64)
fn cross_entropy(ids: Ids) {
    let t = task(ids);
    let stats = row_stats(t);
    let eps = params.smoothing;
    var sum4 = vec4<f32>(0.0);
    var total = 0.0;
    if (t.live && eps != 0.0) {
        for (var k = t.lane; k < quad_count(t); k += LANES) {
            sum4 += quad(t, quad_at(t, k));
        }
        for (var i = tail_start(t) + t.lane; i < t.end; i += LANES) {
            total += at(t, i);
        }
    }
    total = combine(t, 0u, (sum4.x + sum4.y) + (sum4.z + sum4.w) + total);
    if (!t.live || t.lane != 0u) {
        return;
    }
    let n = params.row_length;
    let class_index = target_class(t);
    if (class_index == n) {
        results[t.row] = TO(nan());
        return;
    }
    let picked = (1.0 - eps) * at(t, class_index) + eps / f32(n) * total;
    results[t.row] = TO(stats.x + log(stats.y) - picked);
}

// d loss / d x = g · (softmax(x) − w), g the incoming gradient of the row's loss.
@compute @workgroup_size(64)
fn cross_entropy_grad(ids: Ids) {
    let t = task(ids);
    let stats = row_stats(t);
    if (!t.live) {
        return;
    }
    let n = params.row_length;
    let class_index = target_class(t);
    let g = f32(incoming[params.incoming_offset + t.row * params.incoming_stride]);
    let eps = params.smoothing;
    let spread = eps / f32(n);
    let inv = 1.0 / stats.y;
    let m = stats.x;
    let out = t.row * n;
    // A row without a class is NaN throughout.
    let bad = select(0.0, nan(), class_index == n);
    for (var k = t.lane; k < quad_count(t); k += LANES) {
        let e = quad_at(t, k);
        let index = vec4<u32>(e) + vec4<u32>(0u, 1u, 2u, 3u);
        let w = spread + select(vec4<f32>(0.0), vec4<f32>(1.0 - eps), index == vec4<u32>(class_index));
        put4(out + e, g * (exp(quad(t, e) - m) * inv - w) + bad);
    }
    for (var i = tail_start(t) + t.lane; i < t.end; i += LANES) {
        let w = spread + select(0.0, 1.0 - eps, i == class_index);
        put(out + i, g * (exp(at(t, i) - m) * inv - w) + bad);
    }
}
