//! The CPU path's recurrent scans: per timestep the recurrent product (matmul's product,
//! plain or fast as the matmul itself runs) and one pass over the units for the gate
//! arithmetic, in f64 (exp without libm: storage/fast_exp.rs, within 2 ulp). `forward_cell` and
//! `backward_cell` are the definitions that recurrent.wgsl is tested against.

use rayon::prelude::*;

use crate::dtype::Element;
use crate::error::Result;
use crate::ops::matmul::cpu::product;
use crate::ops::op::StepDesc;
use crate::ops::recurrent::cell::{CellKind, Scan};
use crate::shape::Layout;
use crate::storage::fast_exp::exp;
use crate::storage::{with_float_dtype, CpuData};

#[inline(always)]
fn sigmoid(v: f64) -> f64 {
    1.0 / (1.0 + exp(-v))
}

/// tanh through exp(−2|v|), which never overflows.
#[inline(always)]
fn tanh(v: f64) -> f64 {
    let e = exp(-2.0 * v.abs());
    ((1.0 - e) / (1.0 + e)).copysign(v)
}

/// One unit's new trace blocks (mod.rs) from its gate blocks' input projections `x` and
/// recurrent products `r` (each with its bias), and its previous h and c.
#[inline(always)]
pub(crate) fn forward_cell(kind: CellKind, x: [f64; 4], r: [f64; 4], h: f64, c: f64) -> [f64; 6] {
    match kind {
        CellKind::RnnTanh => [tanh(x[0] + r[0]), 0.0, 0.0, 0.0, 0.0, 0.0],
        CellKind::RnnRelu => [(x[0] + r[0]).max(0.0), 0.0, 0.0, 0.0, 0.0, 0.0],
        CellKind::Lstm => {
            let i = sigmoid(x[0] + r[0]);
            let f = sigmoid(x[1] + r[1]);
            let g = tanh(x[2] + r[2]);
            let o = sigmoid(x[3] + r[3]);
            let c = f * c + i * g;
            [o * tanh(c), c, i, f, g, o]
        }
        CellKind::Gru => {
            let reset = sigmoid(x[0] + r[0]);
            let z = sigmoid(x[1] + r[1]);
            let n = tanh(x[2] + reset * r[2]);
            [n + z * (h - n), reset, z, n, r[2], 0.0]
        }
    }
}

/// One unit's gradient blocks (mod.rs) for one timestep from its trace blocks `y`, its
/// previous h and c, and the total gradients of its new h and c. An LSTM's c block
/// returns c's total gradient, the path through h included.
#[inline(always)]
pub(crate) fn backward_cell(
    kind: CellKind,
    y: [f64; 6],
    (h, c): (f64, f64),
    (dh, dc): (f64, f64),
) -> [f64; 6] {
    match kind {
        CellKind::RnnTanh => [dh * (1.0 - y[0] * y[0]), dh, 0.0, 0.0, 0.0, 0.0],
        CellKind::RnnRelu => [if y[0] > 0.0 { dh } else { 0.0 }, dh, 0.0, 0.0, 0.0, 0.0],
        CellKind::Lstm => {
            let [_, c_new, i, f, g, o] = y;
            let tc = tanh(c_new);
            let dc = dc + dh * o * (1.0 - tc * tc);
            [
                dc * g * i * (1.0 - i),
                dc * c * f * (1.0 - f),
                dc * i * (1.0 - g * g),
                dh * tc * o * (1.0 - o),
                dh,
                dc,
            ]
        }
        CellKind::Gru => {
            let [_, reset, z, n, hn, _] = y;
            let dn = dh * (1.0 - z) * (1.0 - n * n);
            [
                dn * hn * reset * (1.0 - reset),
                dh * (h - n) * z * (1.0 - z),
                dn,
                dn * reset,
                dh,
                0.0,
            ]
        }
    }
}

/// What one timestep's forward gate pass reads: the timestep's input projections [B, G·H],
/// the recurrent products [B, G·H], b_hh, and the previous h and c [B, H].
struct RowInputs<'a, T> {
    x: &'a [T],
    recurrent: &'a [T],
    bias: &'a [T],
    h: &'a [T],
    c: &'a [T],
    hidden: usize,
}

/// The forward gate pass over batch row `b` into its trace row `out`, with the cell
/// (`CELL`, `CellKind::code`) fixed at compile time so the loop over units has no branch
/// and vectorizes; where the CPU has AVX-512, eight f64 lanes wide, or AVX2's four, instead
/// of SSE's two (the same IEEE operations lane by lane, so the same results).
fn forward_row<T: Element, const CELL: u32>(i: &RowInputs<T>, b: usize, out: &mut [T]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F, checked just above.
        return unsafe { forward_row_avx512::<T, CELL>(i, b, out) };
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { forward_row_avx2::<T, CELL>(i, b, out) };
    }
    forward_row_portable::<T, CELL>(i, b, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn forward_row_avx512<T: Element, const CELL: u32>(
    i: &RowInputs<T>,
    b: usize,
    out: &mut [T],
) {
    forward_row_portable::<T, CELL>(i, b, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn forward_row_avx2<T: Element, const CELL: u32>(i: &RowInputs<T>, b: usize, out: &mut [T]) {
    forward_row_portable::<T, CELL>(i, b, out)
}

#[inline(always)]
fn forward_row_portable<T: Element, const CELL: u32>(i: &RowInputs<T>, b: usize, out: &mut [T]) {
    let kind = CellKind::from_code(CELL);
    let (hidden, rows) = (i.hidden, kind.gates() * i.hidden);
    for j in 0..hidden {
        let mut xs = [0.0; 4];
        let mut rs = [0.0; 4];
        for g in 0..kind.gates() {
            let u = g * hidden + j;
            xs[g] = i.x[b * rows + u].to_f64();
            rs[g] = i.recurrent[b * rows + u].to_f64() + i.bias[u].to_f64();
        }
        let s = b * hidden + j;
        let y = forward_cell(kind, xs, rs, i.h[s].to_f64(), i.c[s].to_f64());
        for (block, v) in y.iter().take(kind.trace_blocks()).enumerate() {
            out[block * hidden + j] = T::from_f64(*v);
        }
    }
}

/// What one timestep's backward gate pass reads: the trace's gradient and the trace, the
/// initial state, the later timestep's gradients through W_hh [B, H], and which timesteps
/// these are: `t` this one (None: the initial state's row), `next_t` the one the scan ran
/// after it, `previous_t` the one before (None: the initial state).
struct BackwardInputs<'a, T> {
    grad: &'a [T],
    trace: &'a [T],
    h0: &'a [T],
    c0: Option<&'a [T]>,
    through_w: &'a [T],
    /// `hidden` zeros, which stand in for the operands of a missing timestep.
    zeros: &'a [T],
    batch: usize,
    hidden: usize,
    t: Option<usize>,
    next_t: Option<usize>,
    previous_t: Option<usize>,
}

/// What a row hands on to the timestep computed after it (in backward order): its
/// recurrent product's gradients [G·H], and h's and c's total gradients [H].
type Handed<'a, T> = ((&'a mut [T], &'a mut [f64]), &'a mut [f64]);

/// The backward gate pass over batch row `b` into its gradient row `out`, the cell fixed at
/// compile time and as wide as the CPU allows, as in `forward_row`.
fn backward_row<T: Element, const CELL: u32>(
    i: &BackwardInputs<T>,
    b: usize,
    out: &mut [T],
    handed: Handed<T>,
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F, checked just above.
        return unsafe { backward_row_avx512::<T, CELL>(i, b, out, handed) };
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { backward_row_avx2::<T, CELL>(i, b, out, handed) };
    }
    backward_row_portable::<T, CELL>(i, b, out, handed)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn backward_row_avx512<T: Element, const CELL: u32>(
    i: &BackwardInputs<T>,
    b: usize,
    out: &mut [T],
    handed: Handed<T>,
) {
    backward_row_portable::<T, CELL>(i, b, out, handed)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn backward_row_avx2<T: Element, const CELL: u32>(
    i: &BackwardInputs<T>,
    b: usize,
    out: &mut [T],
    handed: Handed<T>,
) {
    backward_row_portable::<T, CELL>(i, b, out, handed)
}

#[inline(always)]
fn backward_row_portable<'a, T: Element, const CELL: u32>(
    i: &BackwardInputs<'a, T>,
    b: usize,
    out: &mut [T],
    ((later, later_dh), later_dc): Handed<T>,
) {
    let kind = CellKind::from_code(CELL);
    let (hidden, lstm, dh_block) = (i.hidden, kind == CellKind::Lstm, kind.grad_h_block());
    let width = kind.trace_blocks() * hidden;
    // Block `block` of row b at timestep t of the trace or its gradient. Every operand of
    // the loop below is such a slice (or zeros where a timestep is missing), so the loop
    // has no branch and vectorizes.
    let block = |data: &'a [T], t: usize, block: usize| -> &'a [T] {
        let start = (t * i.batch + b) * width + block * hidden;
        &data[start..start + hidden]
    };
    let state = b * hidden..(b + 1) * hidden;
    let zeros = &i.zeros[..hidden];
    // h's gradient through W_hh from the timestep after, and that timestep's factor on the
    // gradient handed back (GRU: its z on h; LSTM: its f on c).
    let (through_w, next_factor) = match i.next_t {
        Some(n) => (
            &i.through_w[state.clone()],
            match kind {
                CellKind::Gru => block(i.trace, n, 2),
                CellKind::Lstm => block(i.trace, n, 3),
                _ => zeros,
            },
        ),
        None => (zeros, zeros),
    };
    let Some(t) = i.t else {
        // The initial state's row: its h and c gradients only.
        for j in 0..hidden {
            let mut dh = through_w[j].to_f64();
            let mut dc = 0.0;
            match kind {
                CellKind::Gru => dh += later_dh[j] * next_factor[j].to_f64(),
                CellKind::Lstm => dc = later_dc[j] * next_factor[j].to_f64(),
                _ => {}
            }
            let mut blocks = [0.0; 6];
            (blocks[dh_block], blocks[dh_block + 1]) = (dh, dc);
            for (k, v) in blocks.iter().take(kind.grad_blocks()).enumerate() {
                out[k * hidden + j] = T::from_f64(*v);
            }
        }
        return;
    };
    let outer_dh = block(i.grad, t, 0);
    let outer_dc = if lstm { block(i.grad, t, 1) } else { zeros };
    let ys: [&[T]; 6] = std::array::from_fn(|k| {
        if k < kind.trace_blocks() {
            block(i.trace, t, k)
        } else {
            zeros
        }
    });
    let (h_prev, c_prev) = match i.previous_t {
        None => (
            &i.h0[state.clone()],
            i.c0.map_or(zeros, |c| &c[state.clone()]),
        ),
        Some(p) => (
            block(i.trace, p, 0),
            if lstm { block(i.trace, p, 1) } else { zeros },
        ),
    };
    let operands = UnitOperands {
        outer: (outer_dh, outer_dc),
        through_w,
        next_factor,
        ys,
        previous: (h_prev, c_prev),
    };
    backward_units::<T, CELL>(&operands, out, later, later_dh, later_dc);
}

/// The slices of one batch row that the backward pass over its units reads, each `hidden`
/// long: the gradients from outside the scan (h, c), h's through W_hh, the later
/// timestep's factor, the trace blocks, and the previous state (h, c).
struct UnitOperands<'a, T> {
    outer: (&'a [T], &'a [T]),
    through_w: &'a [T],
    next_factor: &'a [T],
    ys: [&'a [T]; 6],
    previous: (&'a [T], &'a [T]),
}

/// The backward pass over one row's units. The outputs are parameters of their own, so the
/// compiler knows that they alias nothing the loop reads, and vectorizes it.
#[inline(always)]
fn backward_units<T: Element, const CELL: u32>(
    o: &UnitOperands<T>,
    out: &mut [T],
    later: &mut [T],
    later_dh: &mut [f64],
    later_dc: &mut [f64],
) {
    let kind = CellKind::from_code(CELL);
    let (hidden, dh_block) = (o.through_w.len(), kind.grad_h_block());
    for j in 0..hidden {
        let mut dh = o.outer.0[j].to_f64() + o.through_w[j].to_f64();
        let mut dc = o.outer.1[j].to_f64();
        match kind {
            CellKind::Gru => dh += later_dh[j] * o.next_factor[j].to_f64(),
            CellKind::Lstm => dc += later_dc[j] * o.next_factor[j].to_f64(),
            _ => {}
        }
        let y: [f64; 6] = std::array::from_fn(|k| o.ys[k][j].to_f64());
        let previous = (o.previous.0[j].to_f64(), o.previous.1[j].to_f64());
        let blocks = backward_cell(kind, y, previous, (dh, dc));
        for (k, v) in blocks.iter().take(kind.grad_blocks()).enumerate() {
            out[k * hidden + j] = T::from_f64(*v);
        }
        for gate in 0..kind.gates() {
            later[gate * hidden + j] = T::from_f64(blocks[kind.recurrent_grad_block(gate)]);
        }
        later_dh[j] = blocks[dh_block];
        later_dc[j] = blocks[dh_block + 1];
    }
}

/// A dense [rows, cols] matrix.
fn matrix(rows: usize, cols: usize) -> Layout {
    Layout::contiguous(&[rows, cols])
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
    let kind = scan.cell;
    let (steps, batch, width) = (step.out_shape[0], step.out_shape[1], step.out_shape[2]);
    let hidden = width / kind.trace_blocks();
    let rows = kind.gates() * hidden;
    let at = |k: usize| step.inputs[k].1.offset;
    with_float_dtype!(step.out_dtype, T => {
        let input = |k: usize| &inputs[k].slice::<T>()[at(k)..];
        let (x, wt, bias) = (input(0), input(1), input(2));
        let states = batch * hidden;
        // The state before the timestep being computed: h, and an LSTM's c.
        let mut h = input(3)[..states].to_vec();
        let mut c = match kind {
            CellKind::Lstm => input(4)[..states].to_vec(),
            _ => vec![T::from_f64(0.0); states],
        };
        let trace = out.slice_mut::<T>();
        let mut recurrent = vec![T::from_f64(0.0); batch * rows];
        for k in 0..steps {
            let t = scan.time(k, steps);
            product(&matrix(batch, hidden), &matrix(hidden, rows), (&h, wt), &mut recurrent);
            let row = &mut trace[t * batch * width..(t + 1) * batch * width];
            // Batch rows on all threads: each writes its own row of the trace.
            let inputs = RowInputs { x: &x[t * batch * rows..], recurrent: &recurrent, bias, h: &h, c: &c, hidden };
            row.par_chunks_mut(width).enumerate().for_each(|(b, out)| match kind {
                CellKind::RnnTanh => forward_row::<T, 0>(&inputs, b, out),
                CellKind::RnnRelu => forward_row::<T, 1>(&inputs, b, out),
                CellKind::Lstm => forward_row::<T, 2>(&inputs, b, out),
                CellKind::Gru => forward_row::<T, 3>(&inputs, b, out),
            });
            for b in 0..batch {
                let blocks = |block: usize| b * width + block * hidden..b * width + (block + 1) * hidden;
                h[b * hidden..(b + 1) * hidden].copy_from_slice(&row[blocks(0)]);
                if kind == CellKind::Lstm {
                    c[b * hidden..(b + 1) * hidden].copy_from_slice(&row[blocks(1)]);
                }
            }
        }
    });
    Ok(())
}

/// Inputs the trace's gradient and the trace [T, B, blocks·H], W_hh [G·H, H] and h0 (and
/// c0); output the gradient rows [T + 1, B, grad blocks·H]: row 0 the initial state's, row
/// t + 1 timestep t's, computed in the reverse of the order `scan` ran.
pub(crate) fn run_scan_grad_cpu(
    scan: Scan,
    step: &StepDesc,
    inputs: &[&CpuData],
    out: &mut CpuData,
) -> Result<()> {
    let kind = scan.cell;
    let (steps, batch, width) = (
        step.inputs[1].1.shape[0],
        step.out_shape[1],
        step.out_shape[2],
    );
    let hidden = width / kind.grad_blocks();
    let (rows, lstm) = (kind.gates() * hidden, kind == CellKind::Lstm);
    let at = |k: usize| step.inputs[k].1.offset;
    with_float_dtype!(step.out_dtype, T => {
        let input = |k: usize| &inputs[k].slice::<T>()[at(k)..];
        let (g, y, w, h0) = (input(0), input(1), input(2), input(3));
        let c0 = lstm.then(|| input(4));
        let d = out.slice_mut::<T>();
        // What the timestep computed just before (in this backward order) hands on: its
        // recurrent product's gradients [B, G·H], and its state's total gradients [B, H].
        let mut later = vec![T::from_f64(0.0); batch * rows];
        let mut later_dh = vec![0.0; batch * hidden];
        let mut later_dc = vec![0.0; batch * hidden];
        let mut through_w = vec![T::from_f64(0.0); batch * hidden];
        let zeros = vec![T::from_f64(0.0); hidden];
        for k in (0..=steps).rev() {
            // k > 0: the timestep `scan` ran k-th (from 1); k = 0: the initial state.
            let t = (k > 0).then(|| scan.time(k - 1, steps));
            let next_t = (k < steps).then(|| scan.time(k, steps));
            if next_t.is_some() {
                product(&matrix(batch, rows), &matrix(rows, hidden), (&later, w), &mut through_w);
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
            row.par_chunks_mut(width).zip(handed).enumerate().for_each(|(b, (out, handed))| match kind {
                CellKind::RnnTanh => backward_row::<T, 0>(&inputs, b, out, handed),
                CellKind::RnnRelu => backward_row::<T, 1>(&inputs, b, out, handed),
                CellKind::Lstm => backward_row::<T, 2>(&inputs, b, out, handed),
                CellKind::Gru => backward_row::<T, 3>(&inputs, b, out, handed),
            });
        }
    });
    Ok(())
}
