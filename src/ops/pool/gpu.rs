//! Pooling and its gradients as dispatches of pool.wgsl.

use crate::dtype::DType;
use crate::ops::dispatch::{Arg, Dispatch, Lowering, ShaderVariant};
use crate::ops::op::StepDesc;
use crate::ops::params::{kernel_params, per_dim, Params};
use crate::ops::pool::window::{PoolKind, Window};
use crate::ops::shader_files::{ShaderFile, RENDERED_TYPES};
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

kernel_params! {
    /// pool.wgsl's `Params`: each view's strides (n, c, y, x) and offset.
    pub(crate) struct PoolParams {
        image_strides: [u32; 4],
        pooled_strides: [u32; 4],
        grad_strides: [u32; 4],
        elements: u32,
        image_offset: u32,
        pooled_offset: u32,
        grad_offset: u32,
    }
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
    let view = |l: &Layout| (l.offset as u32, per_dim(&l.strides)[0]);
    let mut params = PoolParams {
        elements: elements as u32,
        ..Default::default()
    };
    (params.image_offset, params.image_strides) = view(image);
    // The gradient's bindings are all in its layout; the average's never reads `pooled`,
    // which holds input 0.
    let bindings = if backward {
        (params.grad_offset, params.grad_strides) = view(step.inputs[0].1);
        let pooled = match kind {
            PoolKind::Max => {
                (params.pooled_offset, params.pooled_strides) = view(step.inputs[2].1);
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
        params: Params::of(&params),
        bindings,
        workgroups: elements.div_ceil(WORKGROUP) as u32,
    }])
}

/// The catalog's variants of pool.wgsl (src/shaders.rs): each kind, both ways, on a window
/// whose every size differs.
pub(crate) fn every_variant() -> Vec<ShaderVariant> {
    let window = Window {
        kernel: (3, 2),
        stride: (2, 1),
        padding: (1, 0),
        dilation: (1, 2),
    };
    let mut out = Vec::new();
    for t in RENDERED_TYPES {
        for kind in [PoolKind::Max, PoolKind::Average] {
            for backward in [false, true] {
                out.push(variant(kind, backward, (t, t), window, 3, (9, 7), (5, 5)));
            }
        }
    }
    out
}
