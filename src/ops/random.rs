//! On-device random numbers: `Op::Random` draws uniform samples from a hash of (seed,
//! element index), computed identically by the CPU path and by elementwise.wgsl's `random`
//! entry point (lowered with the elementwise kernels), so a seed gives the same samples on
//! every device.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops::Op;
use crate::shape::check_rank;
use crate::tensor::Tensor;

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

impl Tensor {
    /// Uniform samples in [0, 1) of `shape`, generated on the device from the value of
    /// `seed` (a one-element tensor holding an integer below 2^24). A new seed each call
    /// gives new samples without changing the plan.
    #[track_caller]
    pub fn random_like_seed(shape: &[usize], seed: &Tensor, dtype: DType) -> Result<Tensor> {
        check_rank("random", shape)?;
        seed.device().check_dtype("random", dtype)?;
        if seed.numel() != 1 {
            return Err(Error::invalid(
                "random",
                format!(
                    "the seed must have one element, it has shape {:?}",
                    seed.shape()
                ),
            ));
        }
        let device = seed.device().clone();
        Ok(Tensor::from_op(
            Op::Random,
            vec![seed.reshape_usize(&[])?],
            shape.to_vec(),
            dtype,
            device,
        ))
    }
}
