//! Softmax, log-softmax and logsumexp as row tasks of softmax.wgsl.

use crate::ops::dispatch::{Arg, Lowering, ShaderVariant, Tuner};
use crate::ops::op::SoftmaxKind;
use crate::ops::op::StepDesc;
use crate::ops::row_tasks::{choose_lanes, row_variant, Rows};
use crate::ops::shader_files::{ShaderFile, RENDERED_TYPES};

pub(crate) fn lower(kind: SoftmaxKind, step: &StepDesc, tuner: &dyn Tuner) -> Lowering {
    choose_lanes(step, 1, tuner, &|subgroup| lower_with(kind, step, subgroup))
}

fn lower_with(kind: SoftmaxKind, step: &StepDesc, subgroup: Option<u32>) -> Lowering {
    let (dtype, layout) = step.inputs[0];
    let n = layout.shape[layout.rank() - 1];
    let (entry, out_binding) = match kind {
        SoftmaxKind::LogSumExp => ("logsumexp", 3),
        _ => ("softmax", 2),
    };
    let rows = Rows {
        file: ShaderFile::Softmax,
        entry,
        dtypes: (dtype, step.out_dtype),
        src: layout,
        reduced: 1,
        chunk: n,
        row_outputs: kind != SoftmaxKind::LogSumExp,
        weighted: false,
        subgroup,
        wide: false,
    };
    let code = (kind == SoftmaxKind::LogSoftmax) as u32;
    Lowering::of(vec![rows.dispatch(
        code,
        1.0,
        |_| {},
        vec![(1, Arg::Input(0)), (out_binding, Arg::Output(0))],
    )])
}

/// The catalog's variants of softmax.wgsl, the cross entropy's included (src/shaders.rs).
pub(crate) fn every_variant() -> Vec<ShaderVariant> {
    let mut out = Vec::new();
    for t in RENDERED_TYPES {
        for entry in [
            "softmax",
            "logsumexp",
            "cross_entropy",
            "cross_entropy_grad",
        ] {
            // (lanes, subgroup size, four-wide, log)
            for (lanes, size, quads, log) in [
                (1, None, false, 0),
                (64, None, false, 1),
                (8, None, true, 1),
                (32, Some(8), false, 0),
                (8, Some(8), true, 1),
            ] {
                out.push(
                    row_variant(
                        ShaderFile::Softmax,
                        entry,
                        (t, t),
                        lanes,
                        size,
                        (quads, false),
                    )
                    .with("LOG", log),
                );
            }
        }
    }
    out
}
