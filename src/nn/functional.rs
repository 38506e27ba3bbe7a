//! One-hot encoding, composed from primitives: it runs on every device as they do.

use crate::error::Result;
use crate::graph::Tensor;

impl Tensor {
    /// Class indices (stored as floats) to one-hot rows over `classes`: [...] -> [..., classes].
    #[track_caller]
    pub fn one_hot(&self, classes: usize) -> Result<Tensor> {
        let ids = Tensor::arange(0.0, classes as f64, 1.0, self.dtype(), self.device())?;
        self.unsqueeze(-1)?.eq(&ids)
    }
}
