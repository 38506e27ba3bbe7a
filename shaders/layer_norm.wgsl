// Layer normalization without its scale and shift: each row to (x − mean)·r, with
// r = 1/sqrt(var + ε) and var the biased variance; and the gradient of that with respect to
// x, r·(g − mean(g) − x̂·mean(g·x̂)) for x̂ the normalized row and g the output's gradient.
// Rendered after rows.wgsl, one task per row, ε in rows.wgsl's `epsilon`. The variance is
// taken from the deviations once the mean is known (a second read of the row, from cache),
// which keeps the cancellation of E[x²] − mean² out of it.
//
// `layer_norm_grad` reads g from `grads`: dense rows from `incoming_offset`.
@group(0) @binding(7) var<storage, read> grads: array<TI>;

// The row's mean and r; every lane of the task gets them. Idle lanes take part in the
// combining with zeros, so its barriers stay in uniform control flow.
fn moments(t: Task) -> vec2<f32> {
    let n = f32(params.row_length);
    var s4 = vec4<f32>(0.0);
    var s = 0.0;
    if (t.live) {
        for (var k = t.lane; k < quad_count(t); k += LANES) {
            s4 += quad_k(t, k);
        }
        for (var i = tail_start(t) + t.lane; i < t.end; i += LANES) {
            s += at(t, i);
        }
    }
    let mean = combine(t, 0u, (s4.x + s4.y) + (s4.z + s4.w) + s) / n;
    var q4 = vec4<f32>(0.0);
    var q = 0.0;
    if (t.live) {
        for (var k = t.lane; k < quad_count(t); k += LANES) {
            let d = quad_k(t, k) - mean;
            q4 += d * d;
        }
        for (var i = tail_start(t) + t.lane; i < t.end; i += LANES) {
            let d = at(t, i) - mean;
            q += d * d;
        }
    }
    let variance = combine(t, 0u, (q4.x + q4.y) + (q4.z + q4.w) + q) / n;
    return vec2<f32>(mean, 1.0 / sqrt(variance + params.epsilon));
}

@compute @workgroup_size(64)
fn layer_norm(ids: Ids) {
    let t = task(ids);
    let m = moments(t);
    if (!t.live) {
        return;
    }
    let out = t.row * params.row_length;
    for (var k = t.lane; k < quad_count(t); k += LANES) {
        put4(out + quad_at(t, k), (quad_k(t, k) - m.x) * m.y);
    }
    for (var i = tail_start(t) + t.lane; i < t.end; i += LANES) {
        put(out + i, (at(t, i) - m.x) * m.y);
    }
}

// Element i of the task's row of g.
fn grad_at(t: Task, i: u32) -> f32 {
    return f32(grads[params.incoming_offset + t.row * params.row_length + i]);
}

fn grad_quad(t: Task, e: u32) -> vec4<f32> {
    return vec4<f32>(grad_at(t, e), grad_at(t, e + 1u), grad_at(t, e + 2u), grad_at(t, e + 3u));
}

@compute @workgroup_size(64)
fn layer_norm_grad(ids: Ids) {
    let t = task(ids);
    let m = moments(t);
    var g4 = vec4<f32>(0.0);
    var gx4 = vec4<f32>(0.0);
    var gs = 0.0;
    var gxs = 0.0;
    if (t.live) {
        for (var k = t.lane; k < quad_count(t); k += LANES) {
            let g = grad_quad(t, quad_at(t, k));
            g4 += g;
            gx4 += g * ((quad_k(t, k) - m.x) * m.y);
        }
        for (var i = tail_start(t) + t.lane; i < t.end; i += LANES) {
            let g = grad_at(t, i);
            gs += g;
            gxs += g * ((at(t, i) - m.x) * m.y);
        }
    }
    let n = f32(params.row_length);
    let mean_g = combine(t, 0u, (g4.x + g4.y) + (g4.z + g4.w) + gs) / n;
    let mean_gx = combine(t, 0u, (gx4.x + gx4.y) + (gx4.z + gx4.w) + gxs) / n;
    if (!t.live) {
        return;
    }
    let out = t.row * params.row_length;
    for (var k = t.lane; k < quad_count(t); k += LANES) {
        let e = quad_at(t, k);
        let x = (quad_k(t, k) - m.x) * m.y;
        put4(out + e, m.y * (grad_quad(t, e) - mean_g - x * mean_gx));
    }
    for (var i = tail_start(t) + t.lane; i < t.end; i += LANES) {
        let x = (at(t, i) - m.x) * m.y;
        put(out + i, m.y * (grad_at(t, i) - mean_g - x * mean_gx));
    }
}
