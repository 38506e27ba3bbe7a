//! A 2-D window's geometry (stride, padding, dilation, groups), the sizes it gives, and
//! which product of a convolution a step computes.

use crate::ops::op::StepDesc;
use crate::shape::Layout;

/// The geometry of a 2-D window operation (convolution or pooling): (rows, columns) of
/// stride, zero padding and dilation, and the groups the channels split into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Conv2dSpec {
    pub stride: (usize, usize),
    pub padding: (usize, usize),
    pub dilation: (usize, usize),
    pub groups: usize,
}

impl Default for Conv2dSpec {
    fn default() -> Conv2dSpec {
        Conv2dSpec {
            stride: (1, 1),
            padding: (0, 0),
            dilation: (1, 1),
            groups: 1,
        }
    }
}

/// Output size along one axis, or None when the dilated kernel does not fit (or a size is
/// zero where it may not be, or past what a usize counts).
pub(crate) fn out_size(
    size: usize,
    kernel: usize,
    stride: usize,
    pad: usize,
    dilation: usize,
) -> Option<usize> {
    if stride == 0 || kernel == 0 || dilation == 0 {
        return None;
    }
    let span = dilation.checked_mul(kernel - 1)?.checked_add(1)?;
    let padded = pad.checked_mul(2)?.checked_add(size)?;
    (padded >= span).then(|| (padded - span) / stride + 1)
}

/// Every size a convolution's kernels need.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dims {
    pub(crate) n: usize,
    pub(crate) c: usize,
    pub(crate) h: usize,
    pub(crate) w: usize,
    pub(crate) o: usize,
    pub(crate) oh: usize,
    pub(crate) ow: usize,
    pub(crate) kh: usize,
    pub(crate) kw: usize,
}

impl Dims {
    fn new(image: &[usize], filters: &[usize], out_hw: (usize, usize)) -> Dims {
        Dims {
            n: image[0],
            c: image[1],
            h: image[2],
            w: image[3],
            o: filters[0],
            oh: out_hw.0,
            ow: out_hw.1,
            kh: filters[2],
            kw: filters[3],
        }
    }
}

/// Which product a step computes; its inputs are (image, weight), (output gradient, weight,
/// image) and (image, output gradient, weight): the last input of the gradients only gives
/// their shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Product {
    Forward = 0,
    GradInput = 1,
    GradWeight = 2,
}

/// Runs of images whose weight gradients the CPU path sums side by side (then adds in
/// order), so the sum's order depends on the batch size only, never on the threads.
pub(crate) const WEIGHT_PARTS: usize = 8;

impl Product {
    /// Which step inputs hold the image, the weight and the output gradient.
    pub(crate) fn input_indices(self) -> (usize, usize, usize) {
        match self {
            Product::Forward => (0, 1, 0),
            Product::GradInput => (2, 1, 0),
            Product::GradWeight => (0, 2, 1),
        }
    }

    /// The image's, the weight's and the output gradient's layouts, and the sizes.
    pub(crate) fn operands<'a>(
        self,
        step: &StepDesc<'a>,
    ) -> (&'a Layout, &'a Layout, Option<&'a Layout>, Dims) {
        let i = |k: usize| step.inputs[k].1;
        match self {
            Product::Forward => {
                let d = Dims::new(
                    &i(0).shape,
                    &i(1).shape,
                    (step.out_shape[2], step.out_shape[3]),
                );
                (i(0), i(1), None, d)
            }
            Product::GradInput => {
                let d = Dims::new(&i(2).shape, &i(1).shape, (i(0).shape[2], i(0).shape[3]));
                (i(2), i(1), Some(i(0)), d)
            }
            Product::GradWeight => {
                let d = Dims::new(&i(0).shape, &i(2).shape, (i(1).shape[2], i(1).shape[3]));
                (i(0), i(2), Some(i(1)), d)
            }
        }
    }
}

/// Offset of element `idx` of a strided 4-D view.
pub(crate) fn at(l: &Layout, idx: [usize; 4]) -> usize {
    l.offset
        + idx
            .iter()
            .zip(&l.strides)
            .map(|(i, s)| i * s)
            .sum::<usize>()
}

/// The outputs [lo, hi) along an axis of `outputs` whose tap `k` lands inside `size`:
/// 0 ≤ o·stride + k·dilation − pad < size.
pub(crate) fn inside(
    size: usize,
    outputs: usize,
    k: usize,
    stride: usize,
    dilation: usize,
    pad: usize,
) -> (usize, usize) {
    let shift = k * dilation;
    let lo = pad.saturating_sub(shift).div_ceil(stride);
    let hi = (size + pad)
        .saturating_sub(shift)
        .div_ceil(stride)
        .min(outputs);
    (lo, hi)
}
