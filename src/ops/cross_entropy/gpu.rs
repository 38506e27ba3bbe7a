//! Cross-entropy and its gradient as row tasks of softmax.wgsl.

use crate::ops::dispatch::{Arg, Lowering, Tuner};
use crate::ops::op::StepDesc;
use crate::ops::row_tasks::{choose_lanes, RowParams, Rows};
use crate::ops::shader_files::ShaderFile;

pub(crate) fn lower(
    smoothing: u64,
    backward: bool,
    step: &StepDesc,
    tuner: &dyn Tuner,
) -> Lowering {
    choose_lanes(step, 1, tuner, &|subgroup| {
        lower_with(smoothing, backward, step, subgroup)
    })
}

fn lower_with(smoothing: u64, backward: bool, step: &StepDesc, subgroup: Option<u32>) -> Lowering {
    let (dtype, layout) = step.inputs[0];
    let targets = step.inputs[1].1;
    let incoming = step.inputs.get(2).filter(|_| backward).map(|(_, g)| *g);
    let operands = |p: &mut RowParams| {
        p.smoothing = f64::from_bits(smoothing) as f32;
        (p.targets_offset, p.targets_stride) = (targets.offset as u32, targets.strides[0] as u32);
        if let Some(g) = incoming {
            (p.incoming_offset, p.incoming_stride) = (g.offset as u32, g.strides[0] as u32);
        }
    };
    let mut bindings = vec![(1, Arg::Input(0)), (6, Arg::Input(1))];
    if backward {
        bindings.extend([(2, Arg::Output(0)), (7, Arg::Input(2))]);
    } else {
        bindings.push((3, Arg::Output(0)));
    }
    let rows = Rows {
        file: ShaderFile::Softmax,
        entry: if backward {
            "cross_entropy_grad"
        } else {
            "cross_entropy"
        },
        dtypes: (dtype, step.out_dtype),
        src: layout,
        reduced: 1,
        chunk: layout.shape[1],
        row_outputs: backward,
        weighted: false,
        subgroup,
        wide: false,
    };
    Lowering::of(vec![rows.dispatch(0, 1.0, operands, bindings)])
}
