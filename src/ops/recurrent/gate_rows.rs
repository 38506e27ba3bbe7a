//! One timestep's gate pass over one batch row, forward and backward: the units LANES at a
//! time in `R` (cell_math.rs), with the cell fixed at compile time and the loop compiled
//! for the widest vectors the CPU has.

use crate::dtype::Element;
use crate::ops::recurrent::cell::CellKind;
use crate::ops::recurrent::cell_math::{backward_cell, forward_cell, GateReal};

/// Units a gate pass computes together. Their operands are copied into arrays this long, so
/// the arithmetic is one branch-free loop over fixed-length arrays, which vectorizes
/// whatever the number of units (a last, partial group computes zeros in its spare lanes).
const LANES: usize = 16;

type Lanes<R> = [R; LANES];

/// `src` (at most LANES values) into the first lanes of `dst`. `FULL` (src is LANES long)
/// copies a fixed-length array; the last, partial group copies lane by lane. They are
/// separate instantiations because LLVM merges two copies in one body into one call to
/// memcpy of a variable length, which cost more than the arithmetic.
#[inline(always)]
fn load<T: Element, R: GateReal, const FULL: bool>(dst: &mut Lanes<R>, src: &[T]) {
    if FULL {
        if let Some(all) = src.first_chunk::<LANES>() {
            *dst = std::array::from_fn(|l| R::k(all[l].to_f64()));
            return;
        }
    }
    dst.iter_mut()
        .zip(src)
        .for_each(|(d, s)| *d = R::k(s.to_f64()));
}

/// The first `dst.len()` lanes of `src` into `dst`, a whole group as in `load`.
#[inline(always)]
fn store<T: Element, R: GateReal, const FULL: bool>(dst: &mut [T], src: &Lanes<R>) {
    if FULL {
        if let Some(all) = dst.first_chunk_mut::<LANES>() {
            *all = std::array::from_fn(|l| T::from_f64(src[l].as_f64()));
            return;
        }
    }
    dst.iter_mut()
        .zip(src)
        .for_each(|(d, s)| *d = T::from_f64(s.as_f64()));
}

/// `load` for values already in `R`.
#[inline(always)]
fn load_real<R: GateReal, const FULL: bool>(dst: &mut Lanes<R>, src: &[R]) {
    if FULL {
        if let Some(all) = src.first_chunk::<LANES>() {
            *dst = *all;
            return;
        }
    }
    dst.iter_mut().zip(src).for_each(|(d, s)| *d = *s);
}

/// `store` for values already in `R`.
#[inline(always)]
fn store_real<R: GateReal, const FULL: bool>(dst: &mut [R], src: &Lanes<R>) {
    if FULL {
        if let Some(all) = dst.first_chunk_mut::<LANES>() {
            *all = *src;
            return;
        }
    }
    dst.iter_mut().zip(src).for_each(|(d, s)| *d = *s);
}

/// The units of the group from `first`: LANES of them when `FULL`, else the rest.
#[inline(always)]
fn group<const FULL: bool>(first: usize, hidden: usize) -> std::ops::Range<usize> {
    if FULL {
        first..first + LANES
    } else {
        first..hidden
    }
}

/// The units in full groups: the last, partial group (if any) starts here.
#[inline(always)]
fn whole_groups(hidden: usize) -> usize {
    hidden - hidden % LANES
}

/// What one timestep's forward gate pass reads: the timestep's input projections [B, G·H],
/// the recurrent products [B, G·H], b_hh, and the previous h and c [B, H].
pub(super) struct RowInputs<'a, T> {
    pub(super) x: &'a [T],
    pub(super) recurrent: &'a [T],
    pub(super) bias: &'a [T],
    pub(super) h: &'a [T],
    pub(super) c: &'a [T],
    pub(super) hidden: usize,
}

/// The forward gate pass over batch row `b` into its trace row `out`, computing in `R`, with
/// the cell (`CELL`, `CellKind::code`) fixed at compile time so the loop over units has no
/// branch and vectorizes; where the CPU has AVX-512, sixteen f32 lanes wide, or AVX2's
/// eight, instead of SSE's four (the same IEEE operations lane by lane, so the same
/// results).
pub(super) fn forward_row<T: Element, R: GateReal, const CELL: u32>(
    i: &RowInputs<T>,
    b: usize,
    out: &mut [T],
) {
    #[cfg(target_arch = "x86_64")]
    if crate::storage::vector_width::avx512() {
        // SAFETY: the CPU has these AVX-512 extensions, checked just above.
        return unsafe { forward_row_avx512::<T, R, CELL>(i, b, out) };
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        return unsafe { forward_row_avx2::<T, R, CELL>(i, b, out) };
    }
    forward_row_portable::<T, R, CELL>(i, b, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq")]
unsafe fn forward_row_avx512<T: Element, R: GateReal, const CELL: u32>(
    i: &RowInputs<T>,
    b: usize,
    out: &mut [T],
) {
    forward_row_portable::<T, R, CELL>(i, b, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn forward_row_avx2<T: Element, R: GateReal, const CELL: u32>(
    i: &RowInputs<T>,
    b: usize,
    out: &mut [T],
) {
    forward_row_portable::<T, R, CELL>(i, b, out)
}

#[inline(always)]
fn forward_row_portable<T: Element, R: GateReal, const CELL: u32>(
    i: &RowInputs<T>,
    b: usize,
    out: &mut [T],
) {
    let whole = whole_groups(i.hidden);
    for first in (0..whole).step_by(LANES) {
        forward_group::<T, R, CELL, true>(i, b, out, first);
    }
    if whole < i.hidden {
        forward_group::<T, R, CELL, false>(i, b, out, whole);
    }
}

/// The forward gate pass over one group of units from `first`.
#[inline(always)]
fn forward_group<T: Element, R: GateReal, const CELL: u32, const FULL: bool>(
    i: &RowInputs<T>,
    b: usize,
    out: &mut [T],
    first: usize,
) {
    let kind = CellKind::from_code(CELL);
    let (hidden, rows) = (i.hidden, kind.gates() * i.hidden);
    let zero = [R::k(0.0); LANES];
    let units = group::<FULL>(first, hidden);
    let (mut x, mut r, mut bias) = ([zero; 4], [zero; 4], [zero; 4]);
    for g in 0..kind.gates() {
        let at = b * rows + g * hidden;
        load::<T, R, FULL>(&mut x[g], &i.x[at..][units.clone()]);
        load::<T, R, FULL>(&mut r[g], &i.recurrent[at..][units.clone()]);
        load::<T, R, FULL>(&mut bias[g], &i.bias[g * hidden..][units.clone()]);
    }
    let (mut h, mut c) = (zero, zero);
    load::<T, R, FULL>(&mut h, &i.h[b * hidden..][units.clone()]);
    load::<T, R, FULL>(&mut c, &i.c[b * hidden..][units.clone()]);
    let mut y = [zero; 6];
    for l in 0..LANES {
        let xl = [x[0][l], x[1][l], x[2][l], x[3][l]];
        let rl = [
            r[0][l] + bias[0][l],
            r[1][l] + bias[1][l],
            r[2][l] + bias[2][l],
            r[3][l] + bias[3][l],
        ];
        let cell = forward_cell(kind, xl, rl, h[l], c[l]);
        for (block, v) in cell.into_iter().enumerate() {
            y[block][l] = v;
        }
    }
    for (block, y) in y.iter().enumerate().take(kind.trace_blocks()) {
        store::<T, R, FULL>(&mut out[block * hidden..][units.clone()], y);
    }
}

/// What one timestep's backward gate pass reads: the state blocks' gradient, the trace, the
/// initial state, the later timestep's gradients through W_hh [B, H], and which timesteps
/// these are: `t` this one (None: the initial state's row), `next_t` the one the scan ran
/// after it, `previous_t` the one before (None: the initial state).
pub(super) struct BackwardInputs<'a, T> {
    pub(super) grad: &'a [T],
    pub(super) trace: &'a [T],
    pub(super) h0: &'a [T],
    pub(super) c0: Option<&'a [T]>,
    pub(super) through_w: &'a [T],
    /// `hidden` zeros, which stand in for the operands of a missing timestep.
    pub(super) zeros: &'a [T],
    pub(super) batch: usize,
    pub(super) hidden: usize,
    pub(super) t: Option<usize>,
    pub(super) next_t: Option<usize>,
    pub(super) previous_t: Option<usize>,
}

/// What a row hands on to the timestep computed after it (in backward order): its
/// recurrent product's gradients [G·H], and h's and c's total gradients [H].
pub(super) type Handed<'a, T, R> = ((&'a mut [T], &'a mut [R]), &'a mut [R]);

/// The backward gate pass over batch row `b` into its gradient row `out`, the cell fixed at
/// compile time and as wide as the CPU allows, as in `forward_row`.
pub(super) fn backward_row<T: Element, R: GateReal, const CELL: u32>(
    i: &BackwardInputs<T>,
    b: usize,
    out: &mut [T],
    handed: Handed<T, R>,
) {
    #[cfg(target_arch = "x86_64")]
    if crate::storage::vector_width::avx512() {
        // SAFETY: the CPU has these AVX-512 extensions, checked just above.
        return unsafe { backward_row_avx512::<T, R, CELL>(i, b, out, handed) };
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        return unsafe { backward_row_avx2::<T, R, CELL>(i, b, out, handed) };
    }
    backward_row_portable::<T, R, CELL>(i, b, out, handed)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq")]
unsafe fn backward_row_avx512<T: Element, R: GateReal, const CELL: u32>(
    i: &BackwardInputs<T>,
    b: usize,
    out: &mut [T],
    handed: Handed<T, R>,
) {
    backward_row_portable::<T, R, CELL>(i, b, out, handed)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn backward_row_avx2<T: Element, R: GateReal, const CELL: u32>(
    i: &BackwardInputs<T>,
    b: usize,
    out: &mut [T],
    handed: Handed<T, R>,
) {
    backward_row_portable::<T, R, CELL>(i, b, out, handed)
}

#[inline(always)]
fn backward_row_portable<'a, T: Element, R: GateReal, const CELL: u32>(
    i: &BackwardInputs<'a, T>,
    b: usize,
    out: &mut [T],
    ((later, later_dh), later_dc): Handed<T, R>,
) {
    let kind = CellKind::from_code(CELL);
    let (hidden, lstm, dh_block) = (i.hidden, kind == CellKind::Lstm, kind.grad_h_block());
    let width = kind.trace_blocks() * hidden;
    // Block `block` of row b at timestep t of the trace or its gradient. Every operand of
    // the loop below is such a slice (or zeros where a timestep is missing), so the loop
    // has no branch and vectorizes.
    let block_of = |data: &'a [T], width: usize, t: usize, block: usize| -> &'a [T] {
        let start = (t * i.batch + b) * width + block * hidden;
        &data[start..start + hidden]
    };
    let block = |data: &'a [T], t: usize, block: usize| block_of(data, width, t, block);
    let outer = |t: usize, block: usize| block_of(i.grad, kind.state_blocks() * hidden, t, block);
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
            let factor = R::k(next_factor[j].to_f64());
            let mut dh = R::k(through_w[j].to_f64());
            let mut dc = R::k(0.0);
            match kind {
                CellKind::Gru => dh = dh + later_dh[j] * factor,
                CellKind::Lstm => dc = later_dc[j] * factor,
                _ => {}
            }
            let mut blocks = [R::k(0.0); 6];
            (blocks[dh_block], blocks[dh_block + 1]) = (dh, dc);
            for (k, v) in blocks.iter().take(kind.grad_blocks()).enumerate() {
                out[k * hidden + j] = T::from_f64(v.as_f64());
            }
        }
        return;
    };
    let outer_dh = outer(t, 0);
    let outer_dc = if lstm { outer(t, 1) } else { zeros };
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
    backward_units::<T, R, CELL>(&operands, out, later, later_dh, later_dc);
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

/// The backward pass over one row's units, LANES at a time as in `forward_row_portable`.
#[inline(always)]
fn backward_units<T: Element, R: GateReal, const CELL: u32>(
    o: &UnitOperands<T>,
    out: &mut [T],
    later: &mut [T],
    later_dh: &mut [R],
    later_dc: &mut [R],
) {
    let mut handed = (later, later_dh, later_dc);
    let (hidden, whole) = (o.through_w.len(), whole_groups(o.through_w.len()));
    for first in (0..whole).step_by(LANES) {
        backward_group::<T, R, CELL, true>(o, out, &mut handed, first);
    }
    if whole < hidden {
        backward_group::<T, R, CELL, false>(o, out, &mut handed, whole);
    }
}

/// The backward pass over one group of units from `first`.
#[inline(always)]
fn backward_group<T: Element, R: GateReal, const CELL: u32, const FULL: bool>(
    o: &UnitOperands<T>,
    out: &mut [T],
    (later, later_dh, later_dc): &mut (&mut [T], &mut [R], &mut [R]),
    first: usize,
) {
    let kind = CellKind::from_code(CELL);
    let (hidden, dh_block) = (o.through_w.len(), kind.grad_h_block());
    let zero = [R::k(0.0); LANES];
    let units = group::<FULL>(first, hidden);
    let lanes = |src: &[T]| {
        let mut v = zero;
        load::<T, R, FULL>(&mut v, &src[units.clone()]);
        v
    };
    let (outer_dh, outer_dc) = (lanes(o.outer.0), lanes(o.outer.1));
    let (through_w, next_factor) = (lanes(o.through_w), lanes(o.next_factor));
    // A loop, not `map`: `map` is a call that the wide-vector target does not reach.
    let mut ys = [zero; 6];
    for (y, src) in ys.iter_mut().zip(o.ys) {
        *y = lanes(src);
    }
    let (h, c) = (lanes(o.previous.0), lanes(o.previous.1));
    let (mut handed_dh, mut handed_dc) = (zero, zero);
    load_real::<R, FULL>(&mut handed_dh, &later_dh[units.clone()]);
    load_real::<R, FULL>(&mut handed_dc, &later_dc[units.clone()]);
    let mut blocks = [zero; 6];
    for l in 0..LANES {
        let mut dh = outer_dh[l] + through_w[l];
        let mut dc = outer_dc[l];
        match kind {
            CellKind::Gru => dh = dh + handed_dh[l] * next_factor[l],
            CellKind::Lstm => dc = dc + handed_dc[l] * next_factor[l],
            _ => {}
        }
        let y = [ys[0][l], ys[1][l], ys[2][l], ys[3][l], ys[4][l], ys[5][l]];
        let cell = backward_cell(kind, y, (h[l], c[l]), (dh, dc));
        for (k, v) in cell.into_iter().enumerate() {
            blocks[k][l] = v;
        }
    }
    for (k, block) in blocks.iter().enumerate().take(kind.grad_blocks()) {
        store::<T, R, FULL>(&mut out[k * hidden..][units.clone()], block);
    }
    for gate in 0..kind.gates() {
        let block = &blocks[kind.recurrent_grad_block(gate)];
        store::<T, R, FULL>(&mut later[gate * hidden..][units.clone()], block);
    }
    store_real::<R, FULL>(&mut later_dh[units.clone()], &blocks[dh_block]);
    store_real::<R, FULL>(&mut later_dc[units.clone()], &blocks[dh_block + 1]);
}
