//! Pooling and its gradients as dispatches of pool.wgsl.

use crate::dtype::DType;
use crate::ops::dispatch::{Arg, Dispatch, Lowering, ShaderVariant};
use crate::ops::op::StepDesc;
use crate::ops::pool::window::{PoolKind, Window};
use crate::ops::shader_files::ShaderFile;
use crate::shape::Layout;

/// The shader variant of `kind`'s kernel for `window` over images of `c` channels of
/// `image` (rows, columns), pooled to `pooled`: every size is a constant of the variant.
pub(crate) fn variant(
    kind: PoolKind,
    backward: bool,
    (input, output): (DType, DType),
    window: Window,
    c: usize,
    image: (usize, usize),
    pooled: (usize, usize),
) -> ShaderVariant {
    let sizes = [
        ("AVERAGE", kind as usize),
        ("C", c),
        ("H", image.0),
        ("W", image.1),
        ("OH", pooled.0),
        ("OW", pooled.1),
        ("KH", window.kernel.0),
        ("KW", window.kernel.1),
        ("SH", window.stride.0),
        ("SW", window.stride.1),
        ("PH", window.padding.0),
        ("PW", window.padding.1),
        ("DH", window.dilation.0),
        ("DW", window.dilation.1),
    ];
    let entry = if backward { "pool_grad" } else { "pool" };
    sizes.iter().fold(
        ShaderVariant::new(ShaderFile::Pool, entry, (input, output)),
        |v, &(name, size)| v.with(name, size),
    )
}

/// Invocations per workgroup in pool.wgsl.
const WORKGROUP: usize = 256;

pub(crate) fn lower(kind: PoolKind, window: Window, backward: bool, step: &StepDesc) -> Lowering {
    // Forward: inputs (image). Backward: (output gradient, image[, pooled]).
    let image = step.inputs[usize::from(backward)].1;
    let pooled = if backward {
        &step.inputs[0].1.shape
    } else {
        step.out_shape
    };
    let elements: usize = step.out_shape.iter().product();
    let mut params = vec![0u32; 16];
    params[0] = elements as u32;
    let mut put = |at: usize, l: &Layout| {
        params[at] = l.offset as u32;
        for (s, v) in params[at + 1..at + 5].iter_mut().zip(&l.strides) {
            *s = *v as u32;
        }
    };
    put(1, image);
    // The gradient's bindings are all in its layout; the average's never reads `pooled`,
    // which holds input 0.
    let bindings = if backward {
        put(11, step.inputs[0].1);
        let pooled = match kind {
            PoolKind::Max => {
                put(6, step.inputs[2].1);
                2
            }
            PoolKind::Average => 0,
        };
        vec![
            (1, Arg::Input(1)),
            (2, Arg::Input(pooled)),
            (3, Arg::Input(0)),
            (4, Arg::Output(0)),
        ]
    } else {
        vec![(1, Arg::Input(0)), (4, Arg::Output(0))]
    };
    Lowering::of(vec![Dispatch {
        variant: variant(
            kind,
            backward,
            (step.inputs[0].0, step.out_dtype),
            window,
            image.shape[1],
            (image.shape[2], image.shape[3]),
            (pooled[2], pooled[3]),
        ),
        params,
        bindings,
        workgroups: elements.div_ceil(WORKGROUP) as u32,
    }])
}
