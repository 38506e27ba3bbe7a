//! One unit's arithmetic for one timestep, forward and backward, generic over the type it
//! runs in: f64, the definition that the fast path and recurrent.wgsl are tested against,
//! or f32, the CPU path's fast path for f32 and f16 data (twice the vector lanes of f64, as
//! the GPU computes it). Both use exp without libm (storage/fast_exp.rs: f64 within 2 ulp,
//! f32 within 1), so loops over units vectorize.

use crate::ops::recurrent::cell::CellKind;
use crate::storage::arithmetic::Real;
use crate::storage::fast_exp::{exp, exp_f32};

/// The arithmetic a gate pass runs in.
pub(crate) trait GateReal: Real {
    fn gate_exp(self) -> Self;
}

impl GateReal for f64 {
    #[inline(always)]
    fn gate_exp(self) -> f64 {
        exp(self)
    }
}

impl GateReal for f32 {
    #[inline(always)]
    fn gate_exp(self) -> f32 {
        exp_f32(self)
    }
}

#[inline(always)]
fn sigmoid<R: GateReal>(v: R) -> R {
    let one = R::k(1.0);
    one / (one + (-v).gate_exp())
}

/// tanh through exp(−2|v|), which never overflows.
#[inline(always)]
fn tanh<R: GateReal>(v: R) -> R {
    let one = R::k(1.0);
    let e = (R::k(-2.0) * v.abs()).gate_exp();
    let t = (one - e) / (one + e);
    if v < R::k(0.0) {
        -t
    } else {
        t
    }
}

/// One unit's new trace blocks (mod.rs) from its gate blocks' input projections `x` and
/// recurrent products `r` (each with its bias), and its previous h and c.
#[inline(always)]
pub(crate) fn forward_cell<R: GateReal>(
    kind: CellKind,
    x: [R; 4],
    r: [R; 4],
    h: R,
    c: R,
) -> [R; 6] {
    let zero = R::k(0.0);
    match kind {
        CellKind::RnnTanh => [tanh(x[0] + r[0]), zero, zero, zero, zero, zero],
        CellKind::RnnRelu => [(x[0] + r[0]).max(zero), zero, zero, zero, zero, zero],
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
            [n + z * (h - n), reset, z, n, r[2], zero]
        }
    }
}

/// One unit's gradient blocks (mod.rs) for one timestep from its trace blocks `y`, its
/// previous h and c, and the total gradients of its new h and c. An LSTM's c block
/// returns c's total gradient, the path through h included.
#[inline(always)]
pub(crate) fn backward_cell<R: GateReal>(
    kind: CellKind,
    y: [R; 6],
    (h, c): (R, R),
    (dh, dc): (R, R),
) -> [R; 6] {
    let (zero, one) = (R::k(0.0), R::k(1.0));
    match kind {
        CellKind::RnnTanh => [dh * (one - y[0] * y[0]), dh, zero, zero, zero, zero],
        CellKind::RnnRelu => [
            if y[0] > zero { dh } else { zero },
            dh,
            zero,
            zero,
            zero,
            zero,
        ],
        CellKind::Lstm => {
            let [_, c_new, i, f, g, o] = y;
            let tc = tanh(c_new);
            let dc = dc + dh * o * (one - tc * tc);
            [
                dc * g * i * (one - i),
                dc * c * f * (one - f),
                dc * i * (one - g * g),
                dh * tc * o * (one - o),
                dh,
                dc,
            ]
        }
        CellKind::Gru => {
            let [_, reset, z, n, hn, _] = y;
            let dn = dh * (one - z) * (one - n * n);
            [
                dn * hn * reset * (one - reset),
                dh * (h - n) * z * (one - z),
                dn,
                dn * reset,
                dh,
                zero,
            ]
        }
    }
}
