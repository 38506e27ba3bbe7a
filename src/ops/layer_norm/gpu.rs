//! Layer normalization and its gradient as row tasks of layer_norm.wgsl.

use crate::ops::dispatch::{Arg, Lowering, ShaderVariant, Tuner};
use crate::ops::op::StepDesc;
use crate::ops::row_tasks::{choose_lanes, row_variant, Rows};
use crate::ops::shader_files::{ShaderFile, RENDERED_TYPES};

pub(crate) fn lower(eps: u64, grad: bool, step: &StepDesc, tuner: &dyn Tuner) -> Lowering {
    choose_lanes(step, 1, tuner, &|subgroup| {
        lower_with(eps, grad, step, subgroup)
    })
}

fn lower_with(eps: u64, grad: bool, step: &StepDesc, subgroup: Option<u32>) -> Lowering {
    let (dtype, layout) = step.inputs[0];
    let rows = Rows {
        file: ShaderFile::LayerNorm,
        entry: if grad {
            "layer_norm_grad"
        } else {
            "layer_norm"
        },
        dtypes: (dtype, step.out_dtype),
        src: layout,
        reduced: 1,
        chunk: layout.shape[layout.rank() - 1],
        row_outputs: true,
        weighted: false,
        subgroup,
        wide: false,
    };
    let mut bindings = vec![(1, Arg::Input(0)), (2, Arg::Output(0))];
    if grad {
        bindings.push((7, Arg::Input(1)));
    }
    let gradient_offset = step.inputs.get(1).map_or(0, |(_, l)| l.offset);
    Lowering::of(vec![rows.dispatch(
        0,
        1.0,
        |p| {
            p.epsilon = f64::from_bits(eps) as f32;
            p.incoming_offset = gradient_offset as u32;
        },
        bindings,
    )])
}

/// The catalog's variants of layer_norm.wgsl (src/shaders.rs).
pub(crate) fn every_variant() -> Vec<ShaderVariant> {
    let mut out = Vec::new();
    for t in RENDERED_TYPES {
        for entry in ["layer_norm", "layer_norm_grad"] {
            // (lanes, subgroup size, four-wide)
            for (lanes, size, quads) in [
                (1, None, false),
                (64, None, false),
                (8, None, true),
                (32, Some(8), false),
                (8, Some(8), true),
            ] {
                out.push(row_variant(
                    ShaderFile::LayerNorm,
                    entry,
                    (t, t),
                    lanes,
                    size,
                    (quads, false),
                ));
            }
        }
    }
    out
}
