//! Sampling: `multinomial` draws one category per row from nonnegative weights, seeded, the
//! same categories on every device (the draw is defined in f32 with its sums in order; see
//! shaders/sample.wgsl). No gradient flows through a sample.

pub(crate) mod cpu;
pub(crate) mod gpu;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::Tensor;
use crate::ops::op::Op;

impl Tensor {
    /// One category per row of these weights (along the last axis; they need not sum to
    /// 1), as i32 indices of the leading shape. `seed` is a one-element tensor holding an
    /// integer below 2^24: a new seed each call draws anew without building a new plan.
    /// A row with a negative, NaN or infinite weight, or none above zero, is an error on
    /// the CPU path and gives −1 on the GPU.
    #[track_caller]
    pub fn multinomial(&self, seed: &Tensor) -> Result<Tensor> {
        let device = self.same_device("multinomial", seed)?;
        if self.rank() == 0 || seed.numel() != 1 {
            return Err(Error::invalid(
                "multinomial",
                format!(
                    "needs weights of rank ≥ 1 and a one-element seed, got shapes {:?} and {:?}",
                    self.shape(),
                    seed.shape()
                ),
            ));
        }
        let shape = self.shape()[..self.rank() - 1].to_vec();
        Ok(Tensor::from_op(
            Op::Multinomial,
            vec![self.contiguous(), seed.cast(DType::F32)?.reshape(&[])?],
            shape,
            DType::I32,
            device,
        ))
    }
}
