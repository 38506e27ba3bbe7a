//! Functions composed from primitives: the softmax family and one-hot encoding. Composed,
//! they run on every device and get their gradients from the primitives'.

use crate::error::Result;
use crate::tensor::Tensor;

impl Tensor {
    /// log Σ exp along `axis`, stable for large inputs (the maximum is subtracted first).
    #[track_caller]
    pub fn logsumexp(&self, axis: isize, keepdim: bool) -> Result<Tensor> {
        // The shift is a constant for differentiation: the result does not depend on it.
        let shift = self.max(&[axis], true)?.detach();
        let out = self
            .sub(&shift)?
            .exp()
            .sum(&[axis], true)?
            .log()
            .add(&shift)?;
        if keepdim {
            Ok(out)
        } else {
            out.squeeze(axis)
        }
    }

    /// log(softmax(x)) along `axis`, computed without forming the softmax.
    #[track_caller]
    pub fn log_softmax(&self, axis: isize) -> Result<Tensor> {
        self.sub(&self.logsumexp(axis, true)?)
    }

    /// exp(x) / Σ exp(x) along `axis`.
    #[track_caller]
    pub fn softmax(&self, axis: isize) -> Result<Tensor> {
        Ok(self.log_softmax(axis)?.exp())
    }

    /// Class indices (stored as floats) to one-hot rows over `classes`: [...] -> [..., classes].
    #[track_caller]
    pub fn one_hot(&self, classes: usize) -> Result<Tensor> {
        let ids = Tensor::arange(0.0, classes as f64, 1.0, self.dtype(), self.device())?;
        self.unsqueeze(-1)?.eq(&ids)
    }
}
