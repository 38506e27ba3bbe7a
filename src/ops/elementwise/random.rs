//! On-device random numbers: `Op::Random` draws uniform samples from a hash of (seed,
//! element index), computed identically by the CPU path and by elementwise.wgsl's `random`
//! entry point, so a seed gives the same samples on every device.

/// Chris Wellons' lowbias32 integer hash: full avalanche in 32-bit arithmetic, so WGSL
/// (elementwise.wgsl's `random`) computes exactly the same values.
fn hash32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^ (x >> 16)
}

/// Sample `index` of stream `seed`, uniform in [0, 1) with 24 bits.
pub(crate) fn hashed_uniform(seed: u32, index: u32) -> f64 {
    (hash32(index ^ hash32(seed)) >> 8) as f64 / (1u32 << 24) as f64
}
