// Sampling a category per row from nonnegative weights (src/ops/sample/), one invocation per
// row. Defined in f32 with every sum taken in order, so the CPU path, which does the same
// operations, draws the same categories: u from hash.wgsl (exact in f32), the threshold
// u·total (one correctly rounded product), and the first category whose running sum
// passes it. A row with a negative, NaN or infinite weight, or none above zero, gets −1,
// where the CPU path reports an error.
//
// Rendered after hash.wgsl, with the weights' storage type TI and the output's TO (i32).
alias TI = {{TI}};
alias TO = {{TO}};

// Parameters (src/ops/sample/gpu.rs, `SampleParams`): rows of `length` weights, dense from
// `src_offset`; the seed's element.
struct Params {
    rows: u32,
    length: u32,
    src_offset: u32,
    seed_offset: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<TI>;
@group(0) @binding(2) var<storage, read> seed: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<TO>;

const WORKGROUP: u32 = 64u;

// By the bits: compilers may assume v == v.
fn finite_nonnegative(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7fffffffu) < 0x7f800000u && v >= 0.0;
}

@compute @workgroup_size(64)
fn multinomial(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let row = (wg.y * nwg.x + wg.x) * WORKGROUP + lid;
    if (row >= params.rows) {
        return;
    }
    let base = params.src_offset + row * params.length;
    var total = 0.0;
    var valid = true;
    for (var j = 0u; j < params.length; j++) {
        let w = f32(src[base + j]);
        valid = valid && finite_nonnegative(w);
        total += w;
    }
    if (!valid || !finite_nonnegative(total) || total == 0.0) {
        dst[row] = TO(-1);
        return;
    }
    let threshold = hashed_uniform(u32(seed[params.seed_offset]), row) * total;
    var running = 0.0;
    var pick = params.length;
    var last = 0u;
    for (var j = 0u; j < params.length; j++) {
        let w = f32(src[base + j]);
        running += w;
        if (w > 0.0) {
            last = j;
        }
        if (pick == params.length && running > threshold) {
            pick = j;
        }
    }
    // Rounding can leave the running sum at the threshold: the last category with weight.
    dst[row] = TO(select(last, pick, pick < params.length));
}
