// Fused scaled dot-product attention (src/ops/attention/): one invocation per output row.
// The forward pass runs an online softmax over the keys of one query row, holding the
// query and the output's accumulators in registers, and writes O and log Σ exp; the
// backward passes recompute the weights p_ij = exp(s_ij − lse_i), one query row (dq) or
// one key row (dk and dv) per invocation. Scores that are −inf (masked) are skipped.
// Head sizes D and DV are constants of the variant, held four to a vector (the lanes past
// them zero); arithmetic in f32 whatever the storage type.
//
// A dispatch covers the span [span_start, span_end) of the keys (of the queries for dk and
// dv) and continues from what the dispatch of the previous span wrote to its row, so that
// no invocation runs more loop iterations than the software device allows (gpu.rs).
alias TI = {{TI}};
alias TO = {{TO}};

// src/ops/attention/gpu.rs's `AttentionParams`. Every input is read as [b0, b1, rows,
// columns] through its own offset and strides; inputs by slot: q, k, v, dO, lse, δ, mask.
struct Params {
    // b1: batch-and-head h is (h / heads_inner, h % heads_inner).
    heads_inner: u32,
    // Output rows per batch-and-head, and in all.
    rows: u32,
    total: u32,
    queries: u32,
    keys: u32,
    span_start: u32,
    span_end: u32,
    offsets: array<vec4<u32>, 2>,
    strides: array<vec4<u32>, 7>,
}
@group(0) @binding(0) var<uniform> params: Params;

const D: u32 = {{D}}u;
const DV: u32 = {{DV}}u;
const D4: u32 = (D + 3u) / 4u;
const DV4: u32 = (DV + 3u) / 4u;
// 1 when query i sees only keys j ≤ i; 1 when slot 6 holds an additive mask.
const CAUSAL: u32 = {{CAUSAL}}u;
const MASKED: u32 = {{MASKED}}u;

@group(0) @binding(1) var<storage, read> q: array<TI>;
@group(0) @binding(2) var<storage, read> k: array<TI>;
@group(0) @binding(3) var<storage, read> v: array<TI>;
@group(0) @binding(4) var<storage, read> d_out: array<TI>;
@group(0) @binding(5) var<storage, read> lse: array<TI>;
@group(0) @binding(6) var<storage, read> delta: array<TI>;
@group(0) @binding(7) var<storage, read> mask: array<TI>;
@group(0) @binding(8) var<storage, read_write> out: array<TO>;

fn neg_inf() -> f32 {
    return bitcast<f32>(0xff800000u);
}

// Where row `row` of batch-and-head `head` starts in the input of `slot`.
fn row_at(slot: u32, head: vec2<u32>, row: u32) -> u32 {
    let s = params.strides[slot];
    return params.offsets[slot / 4u][slot % 4u] + head.x * s.x + head.y * s.y + row * s.z;
}

// The element offsets of columns 4·c4 .. 4·c4 + 3 of a row at `at` in the input of
// `slot`, each clamped to the last of `n` columns (the lanes past it read as zero).
fn lanes(slot: u32, at: u32, c4: u32, n: u32) -> vec4<u32> {
    let c = vec4<u32>(4u * c4) + vec4<u32>(0u, 1u, 2u, 3u);
    return vec4<u32>(at) + min(c, vec4<u32>(n - 1u)) * params.strides[slot].w;
}

fn live(c4: u32, n: u32) -> vec4<bool> {
    return vec4<u32>(4u * c4) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(n);
}

fn q4(at: u32, c4: u32) -> vec4<f32> {
    let i = lanes(0u, at, c4, D);
    return select(vec4<f32>(0.0), vec4<f32>(f32(q[i.x]), f32(q[i.y]), f32(q[i.z]), f32(q[i.w])), live(c4, D));
}

fn k4(at: u32, c4: u32) -> vec4<f32> {
    let i = lanes(1u, at, c4, D);
    return select(vec4<f32>(0.0), vec4<f32>(f32(k[i.x]), f32(k[i.y]), f32(k[i.z]), f32(k[i.w])), live(c4, D));
}

fn v4(at: u32, c4: u32) -> vec4<f32> {
    let i = lanes(2u, at, c4, DV);
    return select(vec4<f32>(0.0), vec4<f32>(f32(v[i.x]), f32(v[i.y]), f32(v[i.z]), f32(v[i.w])), live(c4, DV));
}

fn g4(at: u32, c4: u32) -> vec4<f32> {
    let i = lanes(3u, at, c4, DV);
    return select(vec4<f32>(0.0), vec4<f32>(f32(d_out[i.x]), f32(d_out[i.y]), f32(d_out[i.z]), f32(d_out[i.w])), live(c4, DV));
}

// Output elements `first` + 4·c4 + lane: read (0 past `n`) and written (only below `n`).
fn out4(first: u32, c4: u32, n: u32) -> vec4<f32> {
    let i = vec4<u32>(first) + min(vec4<u32>(4u * c4) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(n - 1u));
    return select(vec4<f32>(0.0), vec4<f32>(f32(out[i.x]), f32(out[i.y]), f32(out[i.z]), f32(out[i.w])), live(c4, n));
}

fn store4(first: u32, c4: u32, n: u32, x: vec4<f32>) {
    let c = 4u * c4;
    out[first + c] = TO(x.x);
    if (c + 1u < n) {
        out[first + c + 1u] = TO(x.y);
    }
    if (c + 2u < n) {
        out[first + c + 2u] = TO(x.z);
    }
    if (c + 3u < n) {
        out[first + c + 3u] = TO(x.w);
    }
}

// This invocation's output row as (batch-and-head, row), or none past the last.
struct Row {
    head: vec2<u32>,
    row: u32,
    // Where the row starts in the output.
    at: u32,
    live: bool,
}

fn this_row(wg: vec3<u32>, nwg: vec3<u32>, lid: u32, width: u32) -> Row {
    let e = (wg.y * nwg.x + wg.x) * 64u + lid;
    let h = e / max(params.rows, 1u);
    return Row(vec2<u32>(h / params.heads_inner, h % params.heads_inner), e % max(params.rows, 1u), e * width, e < params.total);
}

// The keys of this dispatch's span that query i may see before the mask.
fn key_end(i: u32) -> u32 {
    if (CAUSAL == 1u) {
        return min(i + 1u, params.span_end);
    }
    return params.span_end;
}

// The mask's value for query i and key j (0 without one).
fn mask_at(head: vec2<u32>, i: u32, j: u32) -> f32 {
    if (MASKED == 1u) {
        return f32(mask[row_at(6u, head, i) + j * params.strides[6u].w]);
    }
    return 0.0;
}

// q_i · k_j / √D plus the mask: the score, −inf where hidden.
fn score(head: vec2<u32>, qi: ptr<function, array<vec4<f32>, D4>>, i: u32, j: u32) -> f32 {
    let at = row_at(1u, head, j);
    var s = 0.0;
    for (var c = 0u; c < D4; c++) {
        s += dot((*qi)[c], k4(at, c));
    }
    return s * inverseSqrt(f32(D)) + mask_at(head, i, j);
}

fn query_row(head: vec2<u32>, i: u32) -> array<vec4<f32>, D4> {
    var qi: array<vec4<f32>, D4>;
    let at = row_at(0u, head, i);
    for (var c = 0u; c < D4; c++) {
        qi[c] = q4(at, c);
    }
    return qi;
}

fn grad_row(head: vec2<u32>, i: u32) -> array<vec4<f32>, DV4> {
    var gi: array<vec4<f32>, DV4>;
    let at = row_at(3u, head, i);
    for (var c = 0u; c < DV4; c++) {
        gi[c] = g4(at, c);
    }
    return gi;
}

@compute @workgroup_size(64)
fn attention_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) lid: u32) {
    let r = this_row(wg, nwg, lid, DV + 1u);
    if (!r.live) {
        return;
    }
    var qi = query_row(r.head, r.row);
    var acc: array<vec4<f32>, DV4>;
    var m = neg_inf();
    var l = 0.0;
    // After the first span the row holds O and log Σ exp so far: the same state with
    // m = log Σ exp, so l = 1 and acc = O (none while every key so far was hidden).
    if (params.span_start > 0u) {
        let so_far = f32(out[r.at + DV]);
        if (so_far != neg_inf()) {
            m = so_far;
            l = 1.0;
            for (var c = 0u; c < DV4; c++) {
                acc[c] = out4(r.at, c, DV);
            }
        }
    }
    for (var j = params.span_start; j < key_end(r.row); j++) {
        let s = score(r.head, &qi, r.row, j);
        if (s == neg_inf()) {
            continue;
        }
        if (s > m) {
            let shrink = exp(m - s);
            l *= shrink;
            for (var c = 0u; c < DV4; c++) {
                acc[c] *= shrink;
            }
            m = s;
        }
        let w = exp(s - m);
        l += w;
        let at = row_at(2u, r.head, j);
        for (var c = 0u; c < DV4; c++) {
            acc[c] += w * v4(at, c);
        }
    }
    for (var c = 0u; c < DV4; c++) {
        store4(r.at, c, DV, acc[c] / l);
    }
    out[r.at + DV] = TO(m + log(l));
}

@compute @workgroup_size(64)
fn attention_grad_q(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
    let r = this_row(wg, nwg, lid, D);
    if (!r.live) {
        return;
    }
    let i = r.row;
    var qi = query_row(r.head, i);
    var gi = grad_row(r.head, i);
    let lse_i = f32(lse[row_at(4u, r.head, i)]);
    let delta_i = f32(delta[row_at(5u, r.head, i)]);
    var acc: array<vec4<f32>, D4>;
    for (var j = params.span_start; j < key_end(i); j++) {
        let s = score(r.head, &qi, i, j);
        if (s == neg_inf()) {
            continue;
        }
        let v_at = row_at(2u, r.head, j);
        var dp = 0.0;
        for (var c = 0u; c < DV4; c++) {
            dp += dot(gi[c], v4(v_at, c));
        }
        let ds = exp(s - lse_i) * (dp - delta_i) * inverseSqrt(f32(D));
        let k_at = row_at(1u, r.head, j);
        for (var c = 0u; c < D4; c++) {
            acc[c] += ds * k4(k_at, c);
        }
    }
    for (var c = 0u; c < D4; c++) {
        if (params.span_start > 0u) {
            acc[c] += out4(r.at, c, D);
        }
        store4(r.at, c, D, acc[c]);
    }
}

@compute @workgroup_size(64)
fn attention_grad_kv(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) lid: u32) {
    let r = this_row(wg, nwg, lid, D + DV);
    if (!r.live) {
        return;
    }
    let j = r.row;
    var kj: array<vec4<f32>, D4>;
    var vj: array<vec4<f32>, DV4>;
    var dk: array<vec4<f32>, D4>;
    var dv: array<vec4<f32>, DV4>;
    let k_at = row_at(1u, r.head, j);
    let v_at = row_at(2u, r.head, j);
    for (var c = 0u; c < D4; c++) {
        kj[c] = k4(k_at, c);
    }
    for (var c = 0u; c < DV4; c++) {
        vj[c] = v4(v_at, c);
    }
    var first = params.span_start;
    if (CAUSAL == 1u) {
        first = max(first, j);
    }
    for (var i = first; i < params.span_end; i++) {
        let q_at = row_at(0u, r.head, i);
        var s = 0.0;
        for (var c = 0u; c < D4; c++) {
            s += dot(q4(q_at, c), kj[c]);
        }
        s = s * inverseSqrt(f32(D)) + mask_at(r.head, i, j);
        if (s == neg_inf()) {
            continue;
        }
        let w = exp(s - f32(lse[row_at(4u, r.head, i)]));
        let g_at = row_at(3u, r.head, i);
        var dp = 0.0;
        for (var c = 0u; c < DV4; c++) {
            let g = g4(g_at, c);
            dp += dot(g, vj[c]);
            dv[c] += w * g;
        }
        let ds = w * (dp - f32(delta[row_at(5u, r.head, i)])) * inverseSqrt(f32(D));
        for (var c = 0u; c < D4; c++) {
            dk[c] += ds * q4(q_at, c);
        }
    }
    for (var c = 0u; c < D4; c++) {
        if (params.span_start > 0u) {
            dk[c] += out4(r.at, c, D);
        }
        store4(r.at, c, D, dk[c]);
    }
    for (var c = 0u; c < DV4; c++) {
        if (params.span_start > 0u) {
            dv[c] += out4(r.at + D, c, DV);
        }
        store4(r.at + D, c, DV, dv[c]);
    }
}
