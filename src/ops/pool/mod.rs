//! Max and average pooling over NCHW images, forward and backward, one kernel each.
//! The max keeps the first of equal maxima in window order, and NaN wins (as PyTorch), so
//! its gradient goes to exactly one element per window. The backward kernels gather (one
//! invocation per image element) rather than scatter, so no atomics are needed: an element
//! finds the windows that read it, and for the max, whether it is their first maximum.

pub(crate) mod cpu;
pub(crate) mod gpu;
pub(crate) mod window;

use std::panic::Location;

use crate::error::{Error, Result};
use crate::graph::Tensor;
use crate::ops::conv::geometry::out_size;
use crate::ops::conv::geometry::Conv2dSpec;
use crate::ops::op::Op;
use crate::ops::pool::window::{PoolKind, Window};

impl Tensor {
    /// Max over each window of an [N, C, H, W] image; padding never wins. Ties go to the
    /// first in window order and NaN propagates, as in PyTorch.
    #[track_caller]
    pub fn max_pool2d(&self, kernel: (usize, usize), spec: &Conv2dSpec) -> Result<Tensor> {
        self.pool(PoolKind::Max, kernel, spec)
    }

    /// Mean over each window, padding counted as zeros (PyTorch's default).
    #[track_caller]
    pub fn avg_pool2d(&self, kernel: (usize, usize), spec: &Conv2dSpec) -> Result<Tensor> {
        self.pool(PoolKind::Average, kernel, spec)
    }

    /// Mean over the spatial axes: [N, C, H, W] -> [N, C, 1, 1].
    #[track_caller]
    pub fn adaptive_avg_pool2d_1x1(&self) -> Result<Tensor> {
        if self.rank() != 4 {
            return Err(Error::invalid(
                "adaptive_avg_pool2d",
                format!("expects [N, C, H, W] input, got {:?}", self.shape()),
            ));
        }
        self.mean(&[2, 3], true)
    }

    #[track_caller]
    fn pool(&self, kind: PoolKind, kernel: (usize, usize), spec: &Conv2dSpec) -> Result<Tensor> {
        let op = kind.name();
        if self.rank() != 4 {
            return Err(Error::invalid(
                op,
                format!("expects [N, C, H, W] input, got {:?}", self.shape()),
            ));
        }
        if spec.groups != 1 {
            return Err(Error::invalid(op, "pooling has no groups; pass groups = 1"));
        }
        let window = Window {
            kernel,
            stride: spec.stride,
            padding: spec.padding,
            dilation: spec.dilation,
        };
        // PyTorch's rule: it keeps every window touching the image.
        if 2 * spec.padding.0 > kernel.0 || 2 * spec.padding.1 > kernel.1 {
            return Err(Error::invalid(
                op,
                format!(
                    "padding {:?} exceeds half the kernel {kernel:?}",
                    spec.padding
                ),
            ));
        }
        let (h, w) = (self.shape()[2], self.shape()[3]);
        let sizes = (
            out_size(h, kernel.0, spec.stride.0, spec.padding.0, spec.dilation.0),
            out_size(w, kernel.1, spec.stride.1, spec.padding.1, spec.dilation.1),
        );
        let (Some(oh), Some(ow)) = sizes else {
            return Err(Error::ShapeMismatch {
                op,
                lhs: self.shape().to_vec(),
                rhs: vec![kernel.0, kernel.1],
                why: format!(
                    "the kernel (with padding {:?}, dilation {:?}, stride {:?}) does not fit the image",
                    spec.padding, spec.dilation, spec.stride
                ),
                location: Location::caller(),
            });
        };
        Ok(Tensor::from_op(
            Op::Pool2d(kind, window),
            vec![self.clone()],
            vec![self.shape()[0], self.shape()[1], oh, ow],
            self.dtype(),
            self.device().clone(),
        ))
    }
}

/// The gradient with respect to the image `x`, given the pooled `y` and its gradient `g`.
pub(crate) fn grad(kind: PoolKind, window: Window, x: &Tensor, y: &Tensor, g: &Tensor) -> Tensor {
    let mut inputs = vec![g.clone(), x.clone()];
    if kind == PoolKind::Max {
        inputs.push(y.clone());
    }
    Tensor::from_op(
        Op::Pool2dGrad(kind, window),
        inputs,
        x.shape().to_vec(),
        x.dtype(),
        x.device().clone(),
    )
}
