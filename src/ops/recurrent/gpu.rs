//! Recurrent scans as dispatches of recurrent.wgsl (one per timestep) and
//! recurrent_grad.wgsl (one per gradient row, from the last back), each invocation one
//! unit of four batch rows.

use crate::dtype::DType;
use crate::ops::dispatch::{Arg, Dispatch, Lowering, ShaderVariant};
use crate::ops::op::StepDesc;
use crate::ops::params::{kernel_params, Params};
use crate::ops::recurrent::cell::{CellKind, Scan};
use crate::ops::shader_files::{ShaderFile, RENDERED_TYPES};

kernel_params! {
    /// The `Params` of recurrent.wgsl and recurrent_grad.wgsl (their prelude
    /// recurrent_params.wgsl): the sizes, the timestep or gradient row a dispatch computes,
    /// and each input's offset in binding order.
    pub(crate) struct RecurrentParams {
        batch: u32,
        hidden: u32,
        step: u32,
        steps: u32,
        input_offsets: [[u32; 4]; 2],
        reverse: u32,
        _pad: [u32; 3],
    }
}

/// Invocations per workgroup (recurrent_params.wgsl), and each invocation's batch rows
/// and units in recurrent.wgsl and recurrent_grad.wgsl.
const WORKGROUP: usize = 64;
const ROWS: usize = 4;
const GRAD_ROWS: usize = 4;
const GRAD_UNITS: usize = 8;

fn variant(kind: CellKind, grad: bool, dtypes: (DType, DType)) -> ShaderVariant {
    let shared = |file, entry| {
        ShaderVariant::new(file, entry, dtypes)
            .with("CELL", kind.code())
            .with("GATES", kind.gates())
            .with("TRACE_BLOCKS", kind.trace_blocks())
    };
    if grad {
        shared(ShaderFile::RecurrentGrad, "scan_grad_step")
            .with("STATE_BLOCKS", kind.state_blocks())
            .with("GRAD_BLOCKS", kind.grad_blocks())
            .with("DH_BLOCK", kind.grad_h_block())
    } else {
        shared(ShaderFile::Recurrent, "scan_step")
    }
}

/// The scan (`grad` false; inputs x, W_hhᵀ, b_hh, h0 and c0) or its gradient (inputs the
/// state blocks' gradient, the trace, W_hh, h0 and c0), as in cpu.rs.
pub(crate) fn lower(scan: Scan, grad: bool, step: &StepDesc) -> Lowering {
    let kind = scan.cell;
    let dtype = step.inputs[0].0;
    let (steps, batch) = if grad {
        (step.inputs[1].1.shape[0], step.out_shape[1])
    } else {
        (step.out_shape[0], step.out_shape[1])
    };
    let hidden = step.inputs[3].1.shape[1];
    let mut input_offsets = [[0u32; 4]; 2];
    for (k, (_, layout)) in step.inputs.iter().enumerate() {
        input_offsets[k / 4][k % 4] = layout.offset as u32;
    }
    let c0 = if step.inputs.len() > 4 { 4 } else { 3 };
    let bindings = vec![
        (1, Arg::Input(0)),
        (2, Arg::Input(1)),
        (3, Arg::Input(2)),
        (4, Arg::Input(3)),
        (5, Arg::Input(c0)),
        (6, Arg::Output(0)),
    ];
    let (units, rows) = if grad {
        (GRAD_UNITS, GRAD_ROWS)
    } else {
        (1, ROWS)
    };
    let workgroups = (hidden.div_ceil(WORKGROUP * units) * batch.div_ceil(rows)) as u32;
    let order: Vec<usize> = if grad {
        (0..=steps).rev().collect()
    } else {
        (0..steps).collect()
    };
    let dispatches = order
        .into_iter()
        .map(|at| {
            let params = RecurrentParams {
                batch: batch as u32,
                hidden: hidden as u32,
                step: at as u32,
                steps: steps as u32,
                input_offsets,
                reverse: scan.reverse as u32,
                ..Default::default()
            };
            Dispatch {
                variant: variant(kind, grad, (dtype, step.out_dtype)),
                params: Params::of(&params),
                bindings: bindings.clone(),
                workgroups,
            }
        })
        .collect();
    Lowering::of(dispatches)
}

/// The catalog's variants (src/shaders.rs): both files for every cell in every type.
pub(crate) fn every_variant() -> Vec<ShaderVariant> {
    let kinds = [
        CellKind::RnnTanh,
        CellKind::RnnRelu,
        CellKind::Lstm,
        CellKind::Gru,
    ];
    RENDERED_TYPES
        .iter()
        .flat_map(|&t| {
            kinds
                .iter()
                .flat_map(move |&k| [variant(k, false, (t, t)), variant(k, true, (t, t))])
        })
        .collect()
}
