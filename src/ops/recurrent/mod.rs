//! Recurrent scans: one direction of one recurrent layer's time loop as one op. Its input
//! is every timestep's input projection (one matrix product before the op); each timestep
//! then runs one kernel that computes the recurrent product and all the gate arithmetic
//! for a block of units (cpu.rs: one product and one pass). The backward pass runs one
//! kernel per timestep the same way, backwards; the weight's and bias's gradients are one
//! matrix product and one sum over every timestep after it. So a layer costs T kernels
//! forward and T + 1 backward, plus a constant, where composed ops cost some twenty per
//! timestep.
//!
//! The op's output is the trace: per timestep and batch row, blocks of `hidden` values,
//! first the new h, then what the backward pass needs (cell.rs lists them per cell). Only
//! the state blocks (h, and an LSTM's c) leave the op, so the gradient op reads the
//! gradient of those alone. It writes per timestep the gate gradients and the state's, and
//! in an extra first row the initial state's.

pub(crate) mod cell;
pub(crate) mod cell_math;
pub(crate) mod cpu;
mod gate_rows;
pub(crate) mod gpu;

pub use cell::CellKind;
pub(crate) use cell::Scan;

use crate::error::{Error, Result};
use crate::graph::Tensor;
use crate::ops::op::Op;

/// What a scan gives: every timestep's h [time, batch, hidden] and the last state.
pub(crate) struct Scanned {
    pub outputs: Tensor,
    pub h: Tensor,
    pub c: Option<Tensor>,
}

/// Run `scan`'s recurrence over `x` [time, batch, gates·hidden] (every timestep's input
/// projection, its bias included) with the recurrent weight `w_hh` [gates·hidden, hidden]
/// and bias `b_hh` [gates·hidden], from h0 (and for an LSTM c0) [batch, hidden].
#[track_caller]
pub(crate) fn scan(
    spec: Scan,
    x: &Tensor,
    (w_hh, b_hh): (&Tensor, &Tensor),
    h0: &Tensor,
    c0: Option<&Tensor>,
) -> Result<Scanned> {
    let kind = spec.cell;
    let device = x.device().clone();
    let hidden = w_hh.shape().last().copied().unwrap_or(0);
    let rows = kind.gates() * hidden;
    let (steps, batch) = match x.shape() {
        &[t, b, g] if t > 0 && g == rows => (t, b),
        _ => {
            return Err(Error::invalid(
                kind.name(),
                format!(
                    "needs input projections [time ≥ 1, batch, {rows}], got {:?}",
                    x.shape()
                ),
            ))
        }
    };
    let state_shapes = std::iter::once(h0)
        .chain(c0)
        .all(|s| s.shape() == [batch, hidden]);
    if w_hh.shape() != [rows, hidden]
        || b_hh.shape() != [rows]
        || !state_shapes
        || c0.is_some() != (kind == CellKind::Lstm)
    {
        return Err(Error::invalid(
            kind.name(),
            format!(
                "needs w_hh [{rows}, {hidden}], b_hh [{rows}] and the state [{batch}, {hidden}] \
                 (c only for an LSTM), got {:?}, {:?}, {:?}, {:?}",
                w_hh.shape(),
                b_hh.shape(),
                h0.shape(),
                c0.map(|c| c.shape().to_vec())
            ),
        ));
    }
    for t in [w_hh, b_hh, h0].into_iter().chain(c0) {
        x.same_device(kind.name(), t)?;
        x.same_dtype(kind.name(), t)?;
    }
    // The transpose makes each kernel's reads of the weight contiguous across units.
    let mut inputs = vec![
        x.contiguous(),
        w_hh.t()?.contiguous(),
        b_hh.contiguous(),
        h0.contiguous(),
    ];
    inputs.extend(c0.map(Tensor::contiguous));
    let trace = Tensor::from_op(
        Op::Recurrent(spec),
        inputs,
        vec![steps, batch, kind.trace_blocks() * hidden],
        x.dtype(),
        device,
    );
    let t = spec.time(steps - 1, steps) as isize;
    let last = trace.slice(0, t, t + 1, 1)?.squeeze(0)?;
    Ok(Scanned {
        outputs: blocks(&trace, hidden, 0, 1)?,
        h: blocks(&last, hidden, 0, 1)?,
        c: if kind == CellKind::Lstm {
            Some(blocks(&last, hidden, 1, 1)?)
        } else {
            None
        },
    })
}

/// The gradients of a scan's inputs (x, the transposed weight, the bias, h0 and c0) from
/// its trace `y` and `g`, the gradient of the trace's state blocks [T, B, state blocks·H]
/// (autodiff gives no more: `rules::gradient_columns`).
pub(crate) fn grad(
    spec: Scan,
    inputs: &[Tensor],
    y: &Tensor,
    g: &Tensor,
) -> Result<Vec<Option<Tensor>>> {
    let kind = spec.cell;
    let (steps, batch) = (y.shape()[0], y.shape()[1]);
    let hidden = inputs[3].shape()[1];
    let rows = kind.gates() * hidden;
    let mut grad_inputs = vec![
        g.contiguous(),
        y.clone(),
        inputs[1].t()?.contiguous(),
        inputs[3].clone(),
    ];
    grad_inputs.extend(inputs.get(4).cloned());
    let d = Tensor::from_op(
        Op::RecurrentGrad(spec),
        grad_inputs,
        vec![steps + 1, batch, kind.grad_blocks() * hidden],
        y.dtype(),
        y.device().clone(),
    );
    let span = |t: &Tensor, first: usize, count: usize| blocks(t, hidden, first, count);
    let initial = d.slice(0, 0, 1, 1)?.squeeze(0)?;
    let timesteps = d.slice(0, 1, steps as isize + 1, 1)?;
    let dx = span(&timesteps, 0, kind.gates())?;
    let recurrent = if kind == CellKind::Gru {
        Tensor::concat(&[&span(&timesteps, 0, 2)?, &span(&timesteps, 3, 1)?], 2)?
    } else {
        dx.clone()
    };
    // Each timestep's previous h, in time order.
    let h0 = inputs[3].unsqueeze(0)?;
    let previous_h = if steps == 1 {
        h0
    } else {
        let last = steps as isize;
        let hs = if spec.reverse {
            span(&y.slice(0, 1, last, 1)?, 0, 1)?
        } else {
            span(&y.slice(0, 0, last - 1, 1)?, 0, 1)?
        };
        let ordered = if spec.reverse { [&hs, &h0] } else { [&h0, &hs] };
        Tensor::concat(&ordered, 0)?
    };
    let flat_recurrent = recurrent.reshape(&[(steps * batch) as isize, rows as isize])?;
    // W_hh's gradient in W_hh's own order [G·H, H], given as the transposed input's: the
    // parameter's gradient is then dense, not a transposed view that every optimizer
    // operation would read at a stride.
    let dwt = flat_recurrent
        .t()?
        .matmul(&previous_h.reshape(&[(steps * batch) as isize, hidden as isize])?)?
        .t()?;
    let db = flat_recurrent.sum(&[0], false)?;
    let dh0 = span(&initial, kind.grad_h_block(), 1)?;
    let mut grads = vec![Some(dx), Some(dwt), Some(db), Some(dh0)];
    if kind == CellKind::Lstm {
        grads.push(Some(span(&initial, kind.grad_h_block() + 1, 1)?));
    }
    Ok(grads)
}

/// Blocks `first..first + count` of `hidden` values along the last axis of `t`.
fn blocks(t: &Tensor, hidden: usize, first: usize, count: usize) -> Result<Tensor> {
    t.slice(
        -1,
        (first * hidden) as isize,
        ((first + count) * hidden) as isize,
        1,
    )
}
