// One timestep of a recurrent scan's backward pass (src/ops/recurrent/), run in the reverse
// of the scan's order: for ROWS batch rows and one unit j, h's total gradient (the trace's
// own gradient, plus the recurrent-product gradients of the timestep the scan ran next,
// through W_hh, read so that a workgroup's units read consecutive addresses; plus a GRU's
// direct path through z), an LSTM's c gradient, and then this timestep's gate gradients.
// Gradient row t + 1 holds timestep t; row 0 only the initial state's gradients, which the
// last dispatch (`params.step` 0) writes. Arithmetic in f32 whatever the storage type.
alias TI = {{TI}};
alias TO = {{TO}};

// Blocks of `hidden` per batch row in the trace's state gradient (h, and an LSTM's c), and
// in the gradient rows, and the one of those that holds h's.
const STATE_BLOCKS: u32 = {{STATE_BLOCKS}}u;
const GRAD_BLOCKS: u32 = {{GRAD_BLOCKS}}u;
const DH_BLOCK: u32 = {{DH_BLOCK}}u;

// The state blocks' gradient [T, B, STATE_BLOCKS·H], the trace [T, B, TRACE_BLOCKS·H],
// the recurrent weight [GATES·H, H], the initial h and c [B, H] (h again for cells without c).
@group(0) @binding(1) var<storage, read> grad: array<TI>;
@group(0) @binding(2) var<storage, read> y: array<TI>;
@group(0) @binding(3) var<storage, read> w: array<TI>;
@group(0) @binding(4) var<storage, read> h0: array<TI>;
@group(0) @binding(5) var<storage, read> c0: array<TI>;
@group(0) @binding(6) var<storage, read_write> d: array<TO>;

fn traced(t: u32, b: u32, block: u32, j: u32) -> f32 {
    let hidden = params.hidden;
    return f32(y[input_offset(1u) + (t * params.batch + b) * TRACE_BLOCKS * hidden + block * hidden + j]);
}

// Block `block` of the gradient row `row`.
fn later(row: u32, b: u32, block: u32, j: u32) -> f32 {
    let hidden = params.hidden;
    return f32(d[(row * params.batch + b) * GRAD_BLOCKS * hidden + block * hidden + j]);
}

// The gradient block of the recurrent product's gate block g (a GRU's n through the reset).
fn recurrent_block(g: u32) -> u32 {
    return select(g, 3u, CELL == 3u && g == 2u);
}

// Unit j of batch row b: h's (and c's) total gradient from the state's gradient, `through`
// (the later timestep's recurrent-product gradients through W_hh) and the direct paths,
// then timestep t's gate gradients; or with k = 0 the initial state's.
fn unit_grad(k: u32, t: u32, next: u32, b: u32, j: u32, through: f32) {
    let hidden = params.hidden;
    let batch = params.batch;
    let steps = params.steps;
    var dh = 0.0;
    var dc = 0.0;
    if (k > 0u) {
        let outer = input_offset(0u) + (t * batch + b) * STATE_BLOCKS * hidden + j;
        dh = f32(grad[outer]);
        if (CELL == 2u) {
            dc = f32(grad[outer + hidden]);
        }
    }
    if (k < steps) {
        dh += through;
        if (CELL == 3u) {
            dh += later(next + 1u, b, DH_BLOCK, j) * traced(next, b, 2u, j);
        }
        if (CELL == 2u) {
            dc += later(next + 1u, b, DH_BLOCK + 1u, j) * traced(next, b, 3u, j);
        }
    }
    if (k == 0u) {
        let initial = b * GRAD_BLOCKS * hidden + j;
        d[initial + DH_BLOCK * hidden] = TO(dh);
        if (CELL == 2u) {
            d[initial + (DH_BLOCK + 1u) * hidden] = TO(dc);
        }
        return;
    }
    let out = ((t + 1u) * batch + b) * GRAD_BLOCKS * hidden + j;
    let before = time(max(k, 2u) - 2u);
    let h_new = traced(t, b, 0u, j);
    switch CELL {
        case 0u: {
            d[out] = TO(dh * (1.0 - h_new * h_new));
        }
        case 1u: {
            d[out] = TO(select(0.0, dh, h_new > 0.0));
        }
        case 2u: {
            var c_prev = 0.0;
            if (k == 1u) {
                c_prev = f32(c0[input_offset(4u) + b * hidden + j]);
            } else {
                c_prev = traced(before, b, 1u, j);
            }
            let tc = tanh_(traced(t, b, 1u, j));
            let i = traced(t, b, 2u, j);
            let f = traced(t, b, 3u, j);
            let g = traced(t, b, 4u, j);
            let o = traced(t, b, 5u, j);
            let dc_total = dc + dh * o * (1.0 - tc * tc);
            d[out] = TO(dc_total * g * i * (1.0 - i));
            d[out + hidden] = TO(dc_total * c_prev * f * (1.0 - f));
            d[out + 2u * hidden] = TO(dc_total * i * (1.0 - g * g));
            d[out + 3u * hidden] = TO(dh * tc * o * (1.0 - o));
            d[out + 5u * hidden] = TO(dc_total);
        }
        default: {
            var h_prev = 0.0;
            if (k == 1u) {
                h_prev = f32(h0[input_offset(3u) + b * hidden + j]);
            } else {
                h_prev = traced(before, b, 0u, j);
            }
            let reset = traced(t, b, 1u, j);
            let z = traced(t, b, 2u, j);
            let n = traced(t, b, 3u, j);
            let dn = dh * (1.0 - z) * (1.0 - n * n);
            d[out] = TO(dn * traced(t, b, 4u, j) * reset * (1.0 - reset));
            d[out + hidden] = TO(dh * (h_prev - n) * z * (1.0 - z));
            d[out + 2u * hidden] = TO(dn);
            d[out + 3u * hidden] = TO(dn * reset);
        }
    }
    d[out + DH_BLOCK * hidden] = TO(dh);
}

// Invocations compute UNITS consecutive units of ROWS batch rows: each weight read serves
// ROWS rows and each gradient read UNITS units.
const UNITS: u32 = 8u;
const ROWS: u32 = 4u;

@compute @workgroup_size(64)
fn scan_grad_step(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let at = units_and_rows(wg, nwg, lid, UNITS, ROWS);
    let first_unit = at.x;
    let first = at.y;
    let hidden = params.hidden;
    let batch = params.batch;
    if (first_unit >= hidden || first >= batch) {
        return;
    }
    // This dispatch computes the timestep the scan ran k-th (from 1), or with k = 0 the
    // initial state; `next` is the timestep the scan ran after it.
    let k = params.step;
    let steps = params.steps;
    let t = time(max(k, 1u) - 1u);
    let next = time(min(k, steps - 1u));
    // through_w[q][i]: unit first_unit + i of batch row first + q.
    var through_w: array<array<f32, UNITS>, ROWS>;
    if (k < steps) {
        let last_unit = hidden - 1u;
        for (var g = 0u; g < GATES; g++) {
            // Where the rows' gradients of gate block g start in the later row.
            var at: array<u32, ROWS>;
            for (var q = 0u; q < ROWS; q++) {
                let b = min(first + q, batch - 1u);
                at[q] = ((next + 1u) * batch + b) * GRAD_BLOCKS * hidden + recurrent_block(g) * hidden;
            }
            let w_gate = input_offset(2u) + g * hidden * hidden;
            for (var u = 0u; u < hidden; u++) {
                let row = w_gate + u * hidden;
                var weight: array<f32, UNITS>;
                for (var i = 0u; i < UNITS; i++) {
                    weight[i] = f32(w[row + min(first_unit + i, last_unit)]);
                }
                for (var q = 0u; q < ROWS; q++) {
                    let v = f32(d[at[q] + u]);
                    for (var i = 0u; i < UNITS; i++) {
                        through_w[q][i] += v * weight[i];
                    }
                }
            }
        }
    }
    for (var q = 0u; q < ROWS; q++) {
        let b = first + q;
        for (var i = 0u; i < UNITS; i++) {
            let j = first_unit + i;
            if (b < batch && j < hidden) {
                unit_grad(k, t, next, b, j, through_w[q][i]);
            }
        }
    }
}
