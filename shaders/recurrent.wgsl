// One timestep of a recurrent scan (src/ops/recurrent/): for ROWS batch rows and one unit j,
// the recurrent product's GATES values (h_prev · W_hhᵀ, the weight read transposed so that
// a workgroup's units read consecutive addresses), then every gate, the cell update and the
// new h, written to the trace's row of the timestep the scan runs `params.step`-th. The
// previous state is the row of the timestep run before, or the initial state. Arithmetic
// in f32 whatever the storage type.
alias TI = {{TI}};
alias TO = {{TO}};

// Every timestep's input projection [T, B, GATES·H], the recurrent weight transposed
// [H, GATES·H], its bias [GATES·H], the initial h and c [B, H] (h again for cells without c).
@group(0) @binding(1) var<storage, read> x: array<TI>;
@group(0) @binding(2) var<storage, read> wt: array<TI>;
@group(0) @binding(3) var<storage, read> bias: array<TI>;
@group(0) @binding(4) var<storage, read> h0: array<TI>;
@group(0) @binding(5) var<storage, read> c0: array<TI>;
@group(0) @binding(6) var<storage, read_write> trace: array<TO>;

// Block `block` (0 h, 1 an LSTM's c) of the state before this timestep.
fn state(b: u32, j: u32, block: u32) -> f32 {
    let hidden = params.hidden;
    if (params.step == 0u) {
        if (block == 0u) {
            return f32(h0[input_offset(3u) + b * hidden + j]);
        }
        return f32(c0[input_offset(4u) + b * hidden + j]);
    }
    let row = time(params.step - 1u) * params.batch + b;
    return f32(trace[row * TRACE_BLOCKS * hidden + block * hidden + j]);
}

// Batch rows per invocation: each weight read serves this many.
const ROWS: u32 = 4u;

@compute @workgroup_size(64)
fn scan_step(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let at = units_and_rows(wg, nwg, lid, 1u, ROWS);
    let j = at.x;
    let first = at.y;
    let hidden = params.hidden;
    let batch = params.batch;
    if (j >= hidden || first >= batch) {
        return;
    }
    let rows = GATES * hidden;
    let t = time(params.step);
    // acc[r][g]: gate g's recurrent product for batch row first + r. The previous h of
    // those rows starts at h_at[r] in h0 or, after the first timestep, in the trace.
    var acc: array<vec4<f32>, ROWS>;
    var h_at: array<u32, ROWS>;
    for (var r = 0u; r < ROWS; r++) {
        let b = min(first + r, batch - 1u);
        if (params.step == 0u) {
            h_at[r] = input_offset(3u) + b * hidden;
        } else {
            h_at[r] = (time(params.step - 1u) * batch + b) * TRACE_BLOCKS * hidden;
        }
    }
    let w_at = input_offset(1u) + j;
    // One loop per buffer the previous h lies in: WGSL cannot pick a storage buffer by a
    // value, and a branch per read cost a fifth of the time on the software device.
    if (params.step == 0u) {
        for (var k = 0u; k < hidden; k++) {
            var w = vec4<f32>(0.0);
            for (var g = 0u; g < GATES; g++) {
                w[g] = f32(wt[w_at + k * rows + g * hidden]);
            }
            for (var r = 0u; r < ROWS; r++) {
                acc[r] += f32(h0[h_at[r] + k]) * w;
            }
        }
    } else {
        for (var k = 0u; k < hidden; k++) {
            var w = vec4<f32>(0.0);
            for (var g = 0u; g < GATES; g++) {
                w[g] = f32(wt[w_at + k * rows + g * hidden]);
            }
            for (var r = 0u; r < ROWS; r++) {
                acc[r] += f32(trace[h_at[r] + k]) * w;
            }
        }
    }
    for (var r = 0u; r < ROWS; r++) {
        let b = first + r;
        if (b >= batch) {
            break;
        }
        var xs = vec4<f32>(0.0);
        var rs = vec4<f32>(0.0);
        for (var g = 0u; g < GATES; g++) {
            let u = g * hidden + j;
            xs[g] = f32(x[input_offset(0u) + (t * batch + b) * rows + u]);
            rs[g] = acc[r][g] + f32(bias[input_offset(2u) + u]);
        }
        let out = (t * batch + b) * TRACE_BLOCKS * hidden + j;
        switch CELL {
            case 0u: {
                trace[out] = TO(tanh_(xs[0] + rs[0]));
            }
            case 1u: {
                trace[out] = TO(relu_or_nan(xs[0] + rs[0]));
            }
            case 2u: {
                let i = sigmoid(xs[0] + rs[0]);
                let f = sigmoid(xs[1] + rs[1]);
                let g = tanh_(xs[2] + rs[2]);
                let o = sigmoid(xs[3] + rs[3]);
                let c = f * state(b, j, 1u) + i * g;
                trace[out] = TO(o * tanh_(c));
                trace[out + hidden] = TO(c);
                trace[out + 2u * hidden] = TO(i);
                trace[out + 3u * hidden] = TO(f);
                trace[out + 4u * hidden] = TO(g);
                trace[out + 5u * hidden] = TO(o);
            }
            default: {
                let reset = sigmoid(xs[0] + rs[0]);
                let z = sigmoid(xs[1] + rs[1]);
                let n = tanh_(xs[2] + reset * rs[2]);
                trace[out] = TO(n + z * (state(b, j, 0u) - n));
                trace[out + hidden] = TO(reset);
                trace[out + 2u * hidden] = TO(z);
                trace[out + 3u * hidden] = TO(n);
                trace[out + 4u * hidden] = TO(rs[2]);
            }
        }
    }
}
