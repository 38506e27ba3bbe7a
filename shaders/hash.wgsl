// Counter-based random numbers that the CPU path computes identically
// (src/ops/elementwise/random.rs): rendered before elementwise.wgsl (`random`) and
// sample.wgsl (`multinomial`).

// Chris Wellons' lowbias32: full avalanche in 32-bit integer arithmetic.
fn hash32(v: u32) -> u32 {
    var x = v;
    x ^= x >> 16u;
    x *= 0x7feb352du;
    x ^= x >> 15u;
    x *= 0x846ca68bu;
    return x ^ (x >> 16u);
}

// Sample `index` of stream `seed`, uniform in [0, 1) with 24 bits (exact in f32).
fn hashed_uniform(seed: u32, index: u32) -> f32 {
    return f32(hash32(index ^ hash32(seed)) >> 8u) / 16777216.0;
}
