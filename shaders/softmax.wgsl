// Row kernels over the last axis of a strided input: softmax, log_softmax and logsumexp, and
// cross-entropy from logits with class-index targets (the loss per row, and its gradient).
// LANES invocations share a row. Each row is read in two passes, one for its maximum m and
// one for Σ exp(x − m), so every exponent is ≤ 0 and nothing overflows; row outputs take a
// third pass, which finds the row in cache.
//
// Specialized per variant by src/backend/gpu/shaders.rs, which replaces these lines, and in
// the four-wide variant (dense rows starting at multiples of 4) each line followed by a
// `// vec4:` line with that line's text:
alias TI = f32;
alias TO = f32;
const LANES: u32 = 64u;

// Parameters (u32 words):
//   0 rows   1 row length   2 kind: 0 softmax, 1 log_softmax, 2 logsumexp
//   3 src offset   4 outer rank   5 src stride along the row
//   6 label smoothing (f32 bits)   7 targets offset   8 targets stride
//   9 incoming gradient offset   10 its stride (0 when one value serves every row)
//   16..23 outer shape   24..31 outer strides
// Output: dense, [rows, row length] or [rows].
@group(0) @binding(0) var<uniform> params: array<vec4<u32>, 8>;

fn p(k: u32) -> u32 {
    return params[k / 4u][k % 4u];
}
@group(0) @binding(1) var<storage, read> src: array<TI>;
// vec4: @group(0) @binding(1) var<storage, read> src: array<vec4<TI>>;
@group(0) @binding(2) var<storage, read_write> dst: array<TO>;
// vec4: @group(0) @binding(2) var<storage, read_write> dst: array<vec4<TO>>;
@group(0) @binding(3) var<storage, read> targets: array<TI>;
@group(0) @binding(4) var<storage, read> incoming: array<TI>;

const WORKGROUP: u32 = 64u;
var<workgroup> partials: array<f32, WORKGROUP>;

fn neg_inf() -> f32 {
    return bitcast<f32>(0xff800000u);
}

fn nan() -> f32 {
    return bitcast<f32>(0x7fc00000u);
}

// Where this invocation's row is, and which of its elements it visits.
struct Task {
    row: u32,
    live: bool,
    lane: u32,
    // Index of the row's first lane in `partials`.
    first: u32,
    base: u32,
}

fn task(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> Task {
    let rows_per_group = WORKGROUP / LANES;
    let row = (wg.y * nwg.x + wg.x) * rows_per_group + lid / LANES;
    var t: Task;
    t.row = row;
    t.live = row < p(0);
    t.lane = lid % LANES;
    t.first = lid - t.lane;
    var rem = row;
    var off = p(3);
    for (var d = i32(p(4)) - 1; d >= 0; d--) {
        let k = u32(d);
        let size = p(16u + k);
        off += (rem % size) * p(24u + k);
        rem = rem / size;
    }
    t.base = off;
    return t;
}

fn at(t: Task, i: u32) -> f32 { return f32(src[t.base + i * p(5)]); }
// vec4: fn at(t: Task, i: u32) -> f32 { return f32(src[(t.base + i) / 4u][(t.base + i) % 4u]); }

// Elements e..e+3 of the row, e a multiple of 4.
fn quad(t: Task, e: u32) -> vec4<f32> { return vec4<f32>(at(t, e), at(t, e + 1u), at(t, e + 2u), at(t, e + 3u)); }
// vec4: fn quad(t: Task, e: u32) -> vec4<f32> { return vec4<f32>(src[(t.base + e) / 4u]); }

// Combine the LANES values of each row in `partials`; every lane gets the result. The
// barriers sit in uniform control flow: inactive rows take part with identities.
fn combine_max(t: Task, v: f32) -> f32 {
    if (LANES == 1u) {
        return v;
    }
    partials[t.first + t.lane] = v;
    workgroupBarrier();
    for (var s = LANES / 2u; s > 0u; s = s / 2u) {
        if (t.lane < s) {
            partials[t.first + t.lane] = max(partials[t.first + t.lane], partials[t.first + t.lane + s]);
        }
        workgroupBarrier();
    }
    let out = partials[t.first];
    workgroupBarrier();
    return out;
}

fn combine_sum(t: Task, v: f32) -> f32 {
    if (LANES == 1u) {
        return v;
    }
    partials[t.first + t.lane] = v;
    workgroupBarrier();
    for (var s = LANES / 2u; s > 0u; s = s / 2u) {
        if (t.lane < s) {
            partials[t.first + t.lane] = partials[t.first + t.lane] + partials[t.first + t.lane + s];
        }
        workgroupBarrier();
    }
    let out = partials[t.first];
    workgroupBarrier();
    return out;
}

// Output element `at`, and elements at..at+3 for `at` a multiple of 4.
fn put(at: u32, v: f32) { dst[at] = TO(v); }
// vec4: fn put(at: u32, v: f32) { dst[at / 4u][at % 4u] = TO(v); }
fn put4(at: u32, v: vec4<f32>) { put(at, v.x); put(at + 1u, v.y); put(at + 2u, v.z); put(at + 3u, v.w); }
// vec4: fn put4(at: u32, v: vec4<f32>) { dst[at / 4u] = vec4<TO>(v); }

// Lanes visit the row's whole quads in turn, then its last n % 4 elements.
fn quads(n: u32) -> u32 {
    return n / 4u;
}

// exp(m − to) for a running maximum m overtaken by `to`; 0 while both are −inf, where the
// difference would be NaN.
fn rescale(m: vec4<f32>, to: vec4<f32>) -> vec4<f32> {
    return select(exp(m - to), vec4<f32>(0.0), to == vec4<f32>(neg_inf()));
}

// The row's maximum m and Σ exp(x − m), in one pass: each lane keeps four running pairs,
// rescaling its sum whenever its maximum grows.
fn row_stats(t: Task) -> vec2<f32> {
    let n = p(1);
    var m = vec4<f32>(neg_inf());
    var s = vec4<f32>(0.0);
    if (t.live) {
        for (var q = t.lane; q < quads(n); q += LANES) {
            let x = quad(t, 4u * q);
            let grown = max(m, x);
            s = s * rescale(m, grown) + rescale(x, grown);
            m = grown;
        }
        for (var i = 4u * quads(n) + t.lane; i < n; i += LANES) {
            let x = vec4<f32>(at(t, i), neg_inf(), neg_inf(), neg_inf());
            let grown = max(m, x);
            s = s * rescale(m, grown) + rescale(x, grown);
            m = grown;
        }
    }
    let top = combine_max(t, max(max(m.x, m.y), max(m.z, m.w)));
    let scaled = s * rescale(m, vec4<f32>(top));
    return vec2<f32>(top, combine_sum(t, (scaled.x + scaled.y) + (scaled.z + scaled.w)));
}

// log Σ exp(x): −inf for a row of −inf (exp(−inf − (−inf)) would be NaN).
fn log_sum_exp(m: f32, s: f32) -> f32 {
    if (m == neg_inf()) {
        return m;
    }
    return m + log(s);
}

@compute @workgroup_size(64)
fn softmax(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let t = task(wg, nwg, lid);
    let stats = row_stats(t);
    let m = stats.x;
    let s = stats.y;
    if (!t.live) {
        return;
    }
    let n = p(1);
    let kind = p(2);
    if (kind == 2u) {
        if (t.lane == 0u) {
            put(t.row, log_sum_exp(m, s));
        }
        return;
    }
    let out = t.row * n;
    let inv = 1.0 / s;
    let shift = m + log(s);
    for (var q = t.lane; q < quads(n); q += LANES) {
        let x = quad(t, 4u * q);
        put4(out + 4u * q, select(x - shift, exp(x - m) * inv, kind == 0u));
    }
    for (var i = 4u * quads(n) + t.lane; i < n; i += LANES) {
        let x = at(t, i);
        put(out + i, select(x - shift, exp(x - m) * inv, kind == 0u));
    }
}

// The row's class, or n when the target is not an integer in [0, n): such rows give NaN.
fn target_class(t: Task) -> u32 {
    let v = f32(targets[p(7) + t.row * p(8)]);
    let n = p(1);
    if (v >= 0.0 && v < f32(n) && v == floor(v)) {
        return u32(v);
    }
    return n;
}

// loss = logsumexp(x) − Σ w·x, with weights w = (1 − ε)·onehot(target) + ε/n.
@compute @workgroup_size(64)
fn cross_entropy(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let t = task(wg, nwg, lid);
    let stats = row_stats(t);
    let m = stats.x;
    let s = stats.y;
    let eps = bitcast<f32>(p(6));
    let n = p(1);
    var sum4 = vec4<f32>(0.0);
    var total = 0.0;
    if (t.live && eps != 0.0) {
        for (var q = t.lane; q < quads(n); q += LANES) {
            sum4 += quad(t, 4u * q);
        }
        for (var i = 4u * quads(n) + t.lane; i < n; i += LANES) {
            total += at(t, i);
        }
    }
    total = combine_sum(t, (sum4.x + sum4.y) + (sum4.z + sum4.w) + total);
    if (!t.live || t.lane != 0u) {
        return;
    }
    let picked_class = target_class(t);
    if (picked_class == n) {
        put(t.row, nan());
        return;
    }
    let picked = (1.0 - eps) * at(t, picked_class) + eps / f32(n) * total;
    put(t.row, log_sum_exp(m, s) - picked);
}

// d loss / d x = g · (softmax(x) − w), g the incoming gradient of the row's loss.
@compute @workgroup_size(64)
fn cross_entropy_grad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) lid: u32) {
    let t = task(wg, nwg, lid);
    let stats = row_stats(t);
    let m = stats.x;
    let s = stats.y;
    if (!t.live) {
        return;
    }
    let n = p(1);
    let picked_class = target_class(t);
    let g = f32(incoming[p(9) + t.row * p(10)]);
    let eps = bitcast<f32>(p(6));
    let spread = eps / f32(n);
    let inv = 1.0 / s;
    let out = t.row * n;
    // A row without a class is NaN throughout.
    let bad = select(0.0, nan(), picked_class == n);
    for (var q = t.lane; q < quads(n); q += LANES) {
        let index = vec4<u32>(4u * q) + vec4<u32>(0u, 1u, 2u, 3u);
        let w = spread + select(vec4<f32>(0.0), vec4<f32>(1.0 - eps), index == vec4<u32>(picked_class));
        put4(out + 4u * q, g * (exp(quad(t, 4u * q) - m) * inv - w) + bad);
    }
    for (var i = 4u * quads(n) + t.lane; i < n; i += LANES) {
        let w = spread + select(0.0, 1.0 - eps, i == picked_class);
        put(out + i, g * (exp(at(t, i) - m) * inv - w) + bad);
    }
}
