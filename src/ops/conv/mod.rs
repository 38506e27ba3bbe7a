//! 2-D convolution over NCHW images as implicit matrix products: the forward product and
//! the two gradient products each read the image through its window arithmetic, with no
//! im2col buffer on the GPU (gpu.rs). The CPU path (cpu.rs) opens with the plain kernel,
//! the definition; its fast paths gather each image's columns once and hand the products
//! to `gemm` (im2col.rs), or for 3×3 filters at unit stride with enough channels go
//! through Winograd's F(2×2, 3×3) (winograd/). Here: the `Tensor` methods, shape rules and
//! gradients.

pub(crate) mod cpu;
pub(crate) mod geometry;
pub(crate) mod gpu;
mod im2col;
mod per_thread;
mod transpose;
mod winograd;

use std::panic::Location;

use crate::error::{Error, Result};
use crate::graph::Tensor;
use crate::ops::conv::geometry::{out_size, Conv2dSpec};
use crate::ops::op::Op;

impl Tensor {
    /// 2-D convolution (cross-correlation, as PyTorch): input [N, C, H, W], weight
    /// [O, C/groups, KH, KW], optional bias [O] -> [N, O, OH, OW].
    #[track_caller]
    pub fn conv2d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        spec: &Conv2dSpec,
    ) -> Result<Tensor> {
        let location = Location::caller();
        let mismatch = |why: String| Error::ShapeMismatch {
            op: "conv2d",
            lhs: self.shape().to_vec(),
            rhs: weight.shape().to_vec(),
            why,
            location,
        };
        if weight.rank() != 4 || self.rank() != 4 {
            return Err(mismatch(
                "input [N, C, H, W] and weight [O, C/groups, KH, KW]".into(),
            ));
        }
        let (c, o, g) = (self.shape()[1], weight.shape()[0], spec.groups);
        if g == 0 || c % g != 0 || o % g != 0 || weight.shape()[1] != c / g {
            return Err(mismatch(format!(
                "{c} input channels, {o} outputs and {g} groups do not fit the weight"
            )));
        }
        let (kh, kw) = (weight.shape()[2], weight.shape()[3]);
        let pointwise = (kh, kw) == (1, 1) && spec.stride == (1, 1) && spec.padding == (0, 0);
        let out = if pointwise && g == 1 {
            // A 1×1 convolution is W [O, C] times each image as [C, H·W]: a plain product
            // on the matrix kernels (their gradients too).
            let (n, h, w) = (self.shape()[0], self.shape()[2], self.shape()[3]);
            let pixels = self.reshape_usize(&[n, c, h * w])?;
            weight
                .reshape_usize(&[o, c])?
                .matmul(&pixels)?
                .reshape_usize(&[n, o, h, w])?
        } else {
            conv2d(self, weight, *spec)?
        };
        match bias {
            Some(b) => out.add(&b.reshape(&[o as isize, 1, 1])?),
            None => Ok(out),
        }
    }

    /// 1-D convolution: input [N, C, L], weight [O, C/groups, K], optional bias [O] ->
    /// [N, O, OL], with the spec's second (column) stride, padding and dilation. It runs on
    /// the 2-D kernels over images one row high.
    #[track_caller]
    pub fn conv1d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        spec: &Conv2dSpec,
    ) -> Result<Tensor> {
        if self.rank() != 3 || weight.rank() != 3 {
            return Err(Error::ShapeMismatch {
                op: "conv1d",
                lhs: self.shape().to_vec(),
                rhs: weight.shape().to_vec(),
                why: "input [N, C, L] and weight [O, C/groups, K]".into(),
                location: Location::caller(),
            });
        }
        let flat = Conv2dSpec {
            stride: (1, spec.stride.1),
            padding: (0, spec.padding.1),
            dilation: (1, spec.dilation.1),
            groups: spec.groups,
        };
        self.unsqueeze(2)?
            .conv2d(&weight.unsqueeze(2)?, bias, &flat)?
            .squeeze(2)
    }
}

/// The convolution of `x` [N, C, H, W] with `weight` [O, C/groups, KH, KW]: [N, O, OH, OW].
/// Shapes are checked by the caller (`Tensor::conv2d`).
#[track_caller]
pub(crate) fn conv2d(x: &Tensor, weight: &Tensor, geometry: Conv2dSpec) -> Result<Tensor> {
    let device = x.same_device("conv2d", weight)?;
    x.same_dtype("conv2d", weight)?;
    let (h, w) = (x.shape()[2], x.shape()[3]);
    let (kh, kw) = (weight.shape()[2], weight.shape()[3]);
    let g = geometry;
    let sizes = (
        out_size(h, kh, g.stride.0, g.padding.0, g.dilation.0),
        out_size(w, kw, g.stride.1, g.padding.1, g.dilation.1),
    );
    let (Some(oh), Some(ow)) = sizes else {
        return Err(Error::ShapeMismatch {
            op: "conv2d",
            lhs: x.shape().to_vec(),
            rhs: weight.shape().to_vec(),
            why: format!(
                "the kernel (with padding {:?}, dilation {:?}, stride {:?}) does not fit the image",
                g.padding, g.dilation, g.stride
            ),
            location: Location::caller(),
        });
    };
    Ok(Tensor::from_op(
        Op::Conv2d(geometry),
        vec![x.clone(), weight.clone()],
        vec![x.shape()[0], weight.shape()[0], oh, ow],
        x.dtype(),
        device,
    ))
}

/// Gradients of the convolution with respect to its image and its weight, given `g`, the
/// gradient of its output.
pub(crate) fn grad(geometry: Conv2dSpec, x: &Tensor, weight: &Tensor, g: &Tensor) -> [Tensor; 2] {
    let dx = Tensor::from_op(
        Op::Conv2dGradInput(geometry),
        vec![g.clone(), weight.clone(), x.clone()],
        x.shape().to_vec(),
        x.dtype(),
        x.device().clone(),
    );
    let dw = Tensor::from_op(
        Op::Conv2dGradWeight(geometry),
        vec![x.clone(), g.clone(), weight.clone()],
        weight.shape().to_vec(),
        weight.dtype(),
        weight.device().clone(),
    );
    [dx, dw]
}
