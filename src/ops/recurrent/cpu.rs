//! The CPU path's recurrent scans: per timestep the recurrent product (matmul's product,
//! plain or fast as the matmul itself runs, against W_hh packed once where it can be) and one pass over the units for the gate
//! arithmetic (gate_rows.rs), in f32 for f32 and f16 data, in f64 for f64 data and where
//! the CPU path runs its plain kernels (`autotune::plain_cpu`).

use rayon::prelude::*;

use crate::autotune::plain_cpu;
use crate::dtype::{DType, Element};
use crate::error::Result;
use crate::ops::matmul::cpu::product;
use crate::ops::matmul::packed_right::PackedRight;
use crate::ops::op::StepDesc;
use crate::ops::recurrent::cell::{CellKind, Scan};
use crate::ops::recurrent::cell_math::GateReal;
use crate::ops::recurrent::gate_rows::{backward_row, forward_row, BackwardInputs, RowInputs};
use crate::shape::Layout;
use crate::storage::{with_float_dtype, CpuData};

/// A dense [rows, cols] matrix.
fn matrix(rows: usize, cols: usize) -> Layout {
    Layout::contiguous(&[rows, cols])
}

/// Whether the gate passes over `T` data compute in f32, else in f64.
fn in_f32<T: Element>() -> bool {
    T::DTYPE != DType::F64 && !plain_cpu()
}

/// The scan's recurrent weight ([k, n], dense) packed once for its every timestep's product,
/// where the fast path runs and can pack it (`PackedRight`).
fn packed<T: Element>(weight: &[T], k: usize, n: usize) -> Option<PackedRight> {
    if plain_cpu() {
        return None;
    }
    PackedRight::new(weight, k, n)
}

/// Inputs x [T, B, G·H], W_hhᵀ [H, G·H], b_hh [G·H], h0 [B, H] (and c0), all dense from
/// their offsets; output the trace [T, B, blocks·H], each timestep in its time's row
/// whichever way `scan` runs.
pub(crate) fn run_scan_cpu(
    scan: Scan,
    step: &StepDesc,
    inputs: &[&CpuData],
    out: &mut CpuData,
) -> Result<()> {
    with_float_dtype!(step.out_dtype, T => {
        let (data, trace) = (|k: usize| &inputs[k].slice::<T>()[step.inputs[k].1.offset..], out.slice_mut::<T>());
        if in_f32::<T>() {
            forward_scan::<T, f32>(scan, step, &data, trace);
        } else {
            forward_scan::<T, f64>(scan, step, &data, trace);
        }
    });
    Ok(())
}

fn forward_scan<'a, T: Element, R: GateReal>(
    scan: Scan,
    step: &StepDesc,
    input: &impl Fn(usize) -> &'a [T],
    trace: &mut [T],
) {
    let kind = scan.cell;
    let (steps, batch, width) = (step.out_shape[0], step.out_shape[1], step.out_shape[2]);
    let hidden = width / kind.trace_blocks();
    let rows = kind.gates() * hidden;
    let (x, wt, bias) = (input(0), input(1), input(2));
    let states = batch * hidden;
    // The state before the timestep being computed: h, and an LSTM's c.
    let mut h = input(3)[..states].to_vec();
    let mut c = match kind {
        CellKind::Lstm => input(4)[..states].to_vec(),
        _ => vec![T::from_f64(0.0); states],
    };
    let mut recurrent = vec![T::from_f64(0.0); batch * rows];
    let packed = packed(wt, hidden, rows);
    for k in 0..steps {
        let t = scan.time(k, steps);
        match &packed {
            Some(wt) => wt.product(&h, batch, &mut recurrent),
            None => product(
                &matrix(batch, hidden),
                &matrix(hidden, rows),
                (&h, wt),
                &mut recurrent,
            ),
        }
        let row = &mut trace[t * batch * width..(t + 1) * batch * width];
        // Batch rows on all threads: each writes its own row of the trace.
        let inputs = RowInputs {
            x: &x[t * batch * rows..],
            recurrent: &recurrent,
            bias,
            h: &h,
            c: &c,
            hidden,
        };
        row.par_chunks_mut(width)
            .enumerate()
            .for_each(|(b, out)| match kind {
                CellKind::RnnTanh => forward_row::<T, R, 0>(&inputs, b, out),
                CellKind::RnnRelu => forward_row::<T, R, 1>(&inputs, b, out),
                CellKind::Lstm => forward_row::<T, R, 2>(&inputs, b, out),
                CellKind::Gru => forward_row::<T, R, 3>(&inputs, b, out),
            });
        for b in 0..batch {
            let blocks =
                |block: usize| b * width + block * hidden..b * width + (block + 1) * hidden;
            h[b * hidden..(b + 1) * hidden].copy_from_slice(&row[blocks(0)]);
            if kind == CellKind::Lstm {
                c[b * hidden..(b + 1) * hidden].copy_from_slice(&row[blocks(1)]);
            }
        }
    }
}

/// Inputs the gradient of the trace's state blocks [T, B, state blocks·H], the trace
/// [T, B, blocks·H], W_hh [G·H, H] and h0 (and c0); output the gradient rows
/// [T + 1, B, grad blocks·H]: row 0 the initial state's, row t + 1 timestep t's, computed
/// in the reverse of the order `scan` ran.
pub(crate) fn run_scan_grad_cpu(
    scan: Scan,
    step: &StepDesc,
    inputs: &[&CpuData],
    out: &mut CpuData,
) -> Result<()> {
    with_float_dtype!(step.out_dtype, T => {
        let (data, d) = (|k: usize| &inputs[k].slice::<T>()[step.inputs[k].1.offset..], out.slice_mut::<T>());
        if in_f32::<T>() {
            backward_scan::<T, f32>(scan, step, &data, d);
        } else {
            backward_scan::<T, f64>(scan, step, &data, d);
        }
    });
    Ok(())
}

fn backward_scan<'a, T: Element, R: GateReal>(
    scan: Scan,
    step: &StepDesc,
    input: &impl Fn(usize) -> &'a [T],
    d: &mut [T],
) {
    let kind = scan.cell;
    let (steps, batch, width) = (
        step.inputs[1].1.shape[0],
        step.out_shape[1],
        step.out_shape[2],
    );
    let hidden = width / kind.grad_blocks();
    let (rows, lstm) = (kind.gates() * hidden, kind == CellKind::Lstm);
    let (g, y, w, h0) = (input(0), input(1), input(2), input(3));
    let c0 = lstm.then(|| input(4));
    // What the timestep computed just before (in this backward order) hands on: its
    // recurrent product's gradients [B, G·H], and its state's total gradients [B, H].
    let mut later = vec![T::from_f64(0.0); batch * rows];
    let mut later_dh = vec![R::k(0.0); batch * hidden];
    let mut later_dc = vec![R::k(0.0); batch * hidden];
    let mut through_w = vec![T::from_f64(0.0); batch * hidden];
    let zeros = vec![T::from_f64(0.0); hidden];
    let packed = packed(w, rows, hidden);
    for k in (0..=steps).rev() {
        // k > 0: the timestep `scan` ran k-th (from 1); k = 0: the initial state.
        let t = (k > 0).then(|| scan.time(k - 1, steps));
        let next_t = (k < steps).then(|| scan.time(k, steps));
        match (next_t, &packed) {
            (None, _) => {}
            (Some(_), Some(w)) => w.product(&later, batch, &mut through_w),
            (Some(_), None) => product(
                &matrix(batch, rows),
                &matrix(rows, hidden),
                (&later, w),
                &mut through_w,
            ),
        }
        let row = t.map_or(0, |t| t + 1);
        let row = &mut d[row * batch * width..(row + 1) * batch * width];
        // Batch rows on all threads: each writes its own gradient row and hand-on.
        let handed = later
            .par_chunks_mut(rows)
            .zip(later_dh.par_chunks_mut(hidden))
            .zip(later_dc.par_chunks_mut(hidden));
        let inputs = BackwardInputs {
            grad: g,
            trace: y,
            h0,
            c0,
            through_w: &through_w,
            zeros: &zeros,
            batch,
            hidden,
            t,
            next_t,
            previous_t: (k >= 2).then(|| scan.time(k - 2, steps)),
        };
        row.par_chunks_mut(width).zip(handed).enumerate().for_each(
            |(b, (out, handed))| match kind {
                CellKind::RnnTanh => backward_row::<T, R, 0>(&inputs, b, out, handed),
                CellKind::RnnRelu => backward_row::<T, R, 1>(&inputs, b, out, handed),
                CellKind::Lstm => backward_row::<T, R, 2>(&inputs, b, out, handed),
                CellKind::Gru => backward_row::<T, R, 3>(&inputs, b, out, handed),
            },
        );
    }
}
