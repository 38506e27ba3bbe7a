// What the recurrent scan kernels share (recurrent.wgsl and recurrent_grad.wgsl are each
// rendered after this prelude): src/ops/recurrent/gpu.rs's `RecurrentParams`, and the
// gates' nonlinearities as the CPU path computes them (src/ops/recurrent/cpu.rs).
struct Params {
    batch: u32,
    hidden: u32,
    // Which of the scan's timesteps this dispatch computes, in the order the scan runs
    // (recurrent.wgsl from 0; recurrent_grad.wgsl from `steps` back, 0 the initial state).
    step: u32,
    steps: u32,
    // Each input's first element, in binding order from binding 1.
    input_offsets: array<vec4<u32>, 2>,
    // 1 when the scan runs from the last timestep to the first.
    reverse: u32,
}
@group(0) @binding(0) var<uniform> params: Params;

// Which cell: 0 RNN with tanh, 1 RNN with relu, 2 LSTM, 3 GRU (`CellKind::code`).
const CELL: u32 = {{CELL}}u;
// Gate blocks in the weights' rows; blocks of `hidden` per batch row in the trace.
const GATES: u32 = {{GATES}}u;
const TRACE_BLOCKS: u32 = {{TRACE_BLOCKS}}u;
const WORKGROUP: u32 = 64u;

fn input_offset(k: u32) -> u32 {
    return params.input_offsets[k / 4u][k % 4u];
}

// The timestep that the scan runs k-th (from 0): rows of the trace are in time order.
fn time(k: u32) -> u32 {
    return select(k, params.steps - 1u - k, params.reverse != 0u);
}

// relu that keeps a NaN (max(v, 0) may drop it), as the CPU path's cell does.
fn relu_or_nan(v: f32) -> f32 {
    let nan = (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
    return select(max(v, 0.0), v, nan);
}

fn sigmoid(v: f32) -> f32 {
    return 1.0 / (1.0 + exp(-v));
}

// tanh through exp(-2|x|): never overflows, unlike (e^x - e^-x) / (e^x + e^-x).
fn tanh_(v: f32) -> f32 {
    let e = exp(-2.0 * abs(v));
    return sign(v) * (1.0 - e) / (1.0 + e);
}

// The first unit and the first batch row of this invocation, which computes `units`
// consecutive units of `rows` batch rows; a workgroup's units are consecutive so that its
// weight reads are.
fn units_and_rows(wg: vec3<u32>, nwg: vec3<u32>, lid: u32, units: u32, rows: u32) -> vec2<u32> {
    let span = WORKGROUP * units;
    let unit_tiles = (params.hidden + span - 1u) / span;
    let e = wg.y * nwg.x + wg.x;
    return vec2<u32>((e % unit_tiles) * span + lid * units, (e / unit_tiles) * rows);
}
