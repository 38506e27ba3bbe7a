//! Lowerings of ONNX's LSTM and GRU onto the engine's recurrent scans (one kernel per
//! timestep), their gate blocks reordered from ONNX's (LSTM i, o, f, c; GRU z, r, h) to the
//! engine's, which are PyTorch's (i, f, g, o; r, z, n). A GRU that applies the reset gate
//! before its recurrent product (`linear_before_reset` = 0, ONNX's default, not PyTorch's
//! cell) runs as composed ops per timestep instead.

use super::call::{engine, Call, Out};
use crate::graph::Tensor;
use crate::ops::recurrent::{scan, CellKind, Scan};

type Res<T> = std::result::Result<T, String>;

/// Gate blocks `order` (of `hidden` rows each) of `t` along its first axis, stacked.
fn gates(t: &Tensor, hidden: usize, order: &[usize]) -> Res<Tensor> {
    let blocks = order
        .iter()
        .map(|&g| t.slice(0, (g * hidden) as isize, ((g + 1) * hidden) as isize, 1))
        .collect::<crate::error::Result<Vec<Tensor>>>();
    let blocks = engine(blocks)?;
    engine(Tensor::concat(&blocks.iter().collect::<Vec<_>>(), 0))
}

/// Row `d` of a per-direction input [directions, …], without that axis.
fn direction(t: &Tensor, d: usize) -> Res<Tensor> {
    engine(
        t.slice(0, d as isize, d as isize + 1, 1)
            .and_then(|t| t.squeeze(0)),
    )
}

/// What both ops read alike: the sequence [time, batch, input], the directions, the hidden
/// size and the initial states, with the attributes the engine does not lower refused.
struct Setup {
    x: Tensor,
    reverse: Vec<bool>,
    hidden: usize,
    batch_major: bool,
}

/// `defaults` are the op's activations for one direction (exporters often write them out).
fn setup(call: &Call, defaults: &[&str]) -> Res<Setup> {
    for refused in ["activation_alpha", "activation_beta", "clip"] {
        if call.has(refused) {
            return Err(format!("the attribute {refused} is not lowered"));
        }
    }
    let reverse = match call.string("direction", "forward")?.as_str() {
        "forward" => vec![false],
        "reverse" => vec![true],
        "bidirectional" => vec![false, true],
        other => return Err(format!("direction {other:?}")),
    };
    if let Some(given) = call.strings("activations")? {
        if given.len() != defaults.len() * reverse.len()
            || given.chunks(defaults.len()).any(|d| d != defaults)
        {
            return Err(format!(
                "activations {given:?}: only the defaults {defaults:?} are lowered"
            ));
        }
    }
    let batch_major = call.int("layout", 0)? != 0;
    let x = call.input(0)?;
    if x.rank() != 3 {
        return Err(format!("X must have three axes, got {:?}", x.shape()));
    }
    let x = match batch_major {
        true => engine(x.transpose(0, 1))?,
        false => x,
    };
    let hidden = usize::try_from(call.int("hidden_size", 0)?)
        .ok()
        .filter(|&h| h > 0)
        .ok_or("hidden_size must be positive")?;
    if call.is_given(4) {
        let steps = x.shape()[0] as i64;
        if call.host_ints(4)?.iter().any(|&n| n != steps) {
            return Err("sequence_lens shorter than the sequence are not lowered".into());
        }
    }
    Ok(Setup {
        x,
        reverse,
        hidden,
        batch_major,
    })
}

/// Initial state input `i` [directions, batch, hidden] (or batch first), or zeros.
fn state(call: &Call, s: &Setup, i: usize, d: usize) -> Res<Tensor> {
    match call.optional(i)? {
        Some(t) if s.batch_major => direction(&engine(t.transpose(0, 1))?, d),
        Some(t) => direction(&t, d),
        None => engine(Tensor::zeros(
            &[s.x.shape()[1], s.hidden],
            s.x.dtype(),
            s.x.device(),
        )),
    }
}

/// Y [time, directions, batch, hidden] and the last states [directions, batch, hidden],
/// in the layout asked for.
fn finish(s: &Setup, outputs: &[Tensor], states: &[Vec<Tensor>]) -> Out {
    let stacked = |ts: &[Tensor], axis| engine(Tensor::stack(&ts.iter().collect::<Vec<_>>(), axis));
    let y = stacked(outputs, 1)?;
    let mut out = vec![match s.batch_major {
        true => engine(y.permute(&[2, 0, 1, 3]))?,
        false => y,
    }];
    for state in states {
        let last = stacked(state, 0)?;
        out.push(match s.batch_major {
            true => engine(last.transpose(0, 1))?,
            false => last,
        });
    }
    Ok(out)
}

/// Bias input `i` [directions, 2·gates·hidden] split into the input and recurrent halves
/// of direction d, or zeros.
fn biases(call: &Call, s: &Setup, d: usize, rows: usize) -> Res<(Tensor, Tensor)> {
    match call.optional(3)? {
        Some(b) => {
            let b = direction(&b, d)?;
            let half = |k: isize| engine(b.slice(0, k * rows as isize, (k + 1) * rows as isize, 1));
            Ok((half(0)?, half(1)?))
        }
        None => {
            let zeros = engine(Tensor::zeros(&[rows], s.x.dtype(), s.x.device()))?;
            Ok((zeros.clone(), zeros))
        }
    }
}

pub(super) fn lstm(call: &Call) -> Out {
    let s = setup(call, &["Sigmoid", "Tanh", "Tanh"])?;
    if call.int("input_forget", 0)? != 0 {
        return Err("input_forget = 1 is not lowered".into());
    }
    if call.is_given(7) {
        return Err("peepholes (input P) are not lowered".into());
    }
    let (w, r) = (call.input(1)?, call.input(2)?);
    let order = [0, 2, 3, 1];
    let (mut outputs, mut hs, mut cs) = (vec![], vec![], vec![]);
    for (d, &reverse) in s.reverse.iter().enumerate() {
        let (b_in, b_rec) = biases(call, &s, d, 4 * s.hidden)?;
        let w_d = gates(&direction(&w, d)?, s.hidden, &order)?;
        let r_d = gates(&direction(&r, d)?, s.hidden, &order)?;
        let bias = gates(&engine(b_in.add(&b_rec))?, s.hidden, &order)?;
        let projected = engine(s.x.matmul(&engine(w_d.t())?))?;
        let (h0, c0) = (state(call, &s, 5, d)?, state(call, &s, 6, d)?);
        let spec = Scan {
            cell: CellKind::Lstm,
            reverse,
        };
        let run = engine(scan(spec, &projected, (&r_d, &bias), &h0, Some(&c0)))?;
        outputs.push(run.outputs);
        hs.push(run.h);
        cs.push(run.c.ok_or("the LSTM scan gave no cell state")?);
    }
    finish(&s, &outputs, &[hs, cs])
}

pub(super) fn gru(call: &Call) -> Out {
    let s = setup(call, &["Sigmoid", "Tanh"])?;
    let (w, r) = (call.input(1)?, call.input(2)?);
    let before_reset = call.int("linear_before_reset", 0)? != 0;
    let (mut outputs, mut hs) = (vec![], vec![]);
    for (d, &reverse) in s.reverse.iter().enumerate() {
        let (b_in, b_rec) = biases(call, &s, d, 3 * s.hidden)?;
        let (w_d, r_d) = (direction(&w, d)?, direction(&r, d)?);
        let h0 = state(call, &s, 5, d)?;
        let (out, h) = match before_reset {
            true => {
                let order = [1, 0, 2];
                let w_d = gates(&w_d, s.hidden, &order)?;
                let b_in = gates(&b_in, s.hidden, &order)?;
                let projected = engine(s.x.matmul(&engine(w_d.t())?).and_then(|p| p.add(&b_in)))?;
                let r_d = gates(&r_d, s.hidden, &order)?;
                let b_rec = gates(&b_rec, s.hidden, &order)?;
                let spec = Scan {
                    cell: CellKind::Gru,
                    reverse,
                };
                let run = engine(scan(spec, &projected, (&r_d, &b_rec), &h0, None))?;
                (run.outputs, run.h)
            }
            false => engine(gru_reset_first(
                &s,
                (&w_d, &r_d),
                (&b_in, &b_rec),
                h0,
                reverse,
            ))?,
        };
        outputs.push(out);
        hs.push(h);
    }
    finish(&s, &outputs, &[hs])
}

/// ONNX's default GRU, one timestep at a time: z and r as usual, and
/// h̃ = tanh(x W_hᵀ + Wb_h + (r ⊙ h) R_hᵀ + Rb_h), h' = (1 − z) ⊙ h̃ + z ⊙ h.
fn gru_reset_first(
    s: &Setup,
    (w, r): (&Tensor, &Tensor),
    (b_in, b_rec): (&Tensor, &Tensor),
    mut h: Tensor,
    reverse: bool,
) -> crate::error::Result<(Tensor, Tensor)> {
    let hidden = s.hidden as isize;
    let projected = s.x.matmul(&w.t()?)?.add(b_in)?;
    let r_zr = r.slice(0, 0, 2 * hidden, 1)?.t()?;
    let r_h = r.slice(0, 2 * hidden, 3 * hidden, 1)?.t()?;
    let (b_zr, b_h) = (
        b_rec.slice(0, 0, 2 * hidden, 1)?,
        b_rec.slice(0, 2 * hidden, 3 * hidden, 1)?,
    );
    let steps = s.x.shape()[0];
    let mut outputs = vec![None; steps];
    for k in 0..steps {
        let t = if reverse { steps - 1 - k } else { k };
        let x_t = projected
            .slice(0, t as isize, t as isize + 1, 1)?
            .squeeze(0)?;
        let zr = x_t
            .slice(1, 0, 2 * hidden, 1)?
            .add(&h.matmul(&r_zr)?.add(&b_zr)?)?
            .sigmoid();
        let (z, reset) = (
            zr.slice(1, 0, hidden, 1)?,
            zr.slice(1, hidden, 2 * hidden, 1)?,
        );
        let candidate = x_t
            .slice(1, 2 * hidden, 3 * hidden, 1)?
            .add(&reset.mul(&h)?.matmul(&r_h)?.add(&b_h)?)?
            .tanh();
        h = candidate.add(&z.mul(&h.sub(&candidate)?)?)?;
        outputs[t] = Some(h.clone());
    }
    let outputs: Vec<Tensor> = outputs.into_iter().flatten().collect();
    let y = Tensor::stack(&outputs.iter().collect::<Vec<_>>(), 0)?;
    Ok((y, h))
}
