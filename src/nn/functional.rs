//! One-hot encoding, composed from primitives: it runs on every device as they do.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::Tensor;

/// The most classes: the indices are compared in f32, whose integers are exact to 2^24.
const MAX_CLASSES: usize = 1 << 24;

impl Tensor {
    /// i32 class indices to f32 one-hot rows over `classes`: [...] -> [..., classes]. An
    /// index outside [0, classes) gives a row of zeros.
    #[track_caller]
    pub fn one_hot(&self, classes: usize) -> Result<Tensor> {
        Error::expect_indices("one_hot", self.dtype())?;
        if classes > MAX_CLASSES {
            return Err(Error::invalid(
                "one_hot",
                format!("{classes} classes; at most 2^24"),
            ));
        }
        let ids = Tensor::arange(0.0, classes as f64, 1.0, DType::F32, self.device())?;
        self.cast(DType::F32)?.unsqueeze(-1)?.eq(&ids)
    }
}
