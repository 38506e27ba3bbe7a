//! The CPU path's fused attention (mod.rs), in f64; it and attention.wgsl are each held to
//! the composed form on their own device (tests/fused_attention.rs). Each batch-and-head task first copies the rows it reads many times
//! into dense f64 matrices, so that every inner loop is a dense dot product or update;
//! its query (or key) rows then run in parallel blocks.

use rayon::prelude::*;

use crate::dtype::Element;
use crate::error::Result;
use crate::ops::attention::spec::{Attention, Pass};
use crate::ops::op::StepDesc;
use crate::shape::Layout;
use crate::storage::{with_float_dtype, CpuData};

/// Rows of the output per parallel task within one batch-and-head.
const ROW_BLOCK: usize = 32;

/// An input read as [b0, b1, rows, columns] through its layout.
struct Operand<'a, T> {
    data: &'a [T],
    layout: &'a Layout,
}

impl<T: Element> Operand<'_, T> {
    fn at(&self, head: [usize; 2], row: usize, col: usize) -> f64 {
        let s = &self.layout.strides;
        let i = self.layout.offset + head[0] * s[0] + head[1] * s[1] + row * s[2] + col * s[3];
        self.data[i].to_f64()
    }

    /// Rows `0..rows` of one batch-and-head as a dense f64 matrix.
    fn dense(&self, head: [usize; 2]) -> Vec<f64> {
        let (rows, cols) = (self.layout.shape[2], self.layout.shape[3]);
        (0..rows * cols)
            .map(|i| self.at(head, i / cols, i % cols))
            .collect()
    }
}

/// The sizes every pass shares, and what it reads.
struct Problem<'a, T> {
    spec: Attention,
    q: Operand<'a, T>,
    k: Operand<'a, T>,
    v: Operand<'a, T>,
    /// dO, lse and δ: the backward passes' inputs.
    grads: Option<[Operand<'a, T>; 3]>,
    mask: Option<Operand<'a, T>>,
    tq: usize,
    tk: usize,
    d: usize,
    dv: usize,
    scale: f64,
}

impl<T: Element> Problem<'_, T> {
    /// Keys that query `i` may see before the mask: all, or with `causal` those up to i.
    fn visible_keys(&self, i: usize) -> usize {
        if self.spec.causal {
            (i + 1).min(self.tk)
        } else {
            self.tk
        }
    }

    /// Queries that see key `j` before the mask.
    fn seeing_queries(&self, j: usize) -> std::ops::Range<usize> {
        if self.spec.causal {
            j.min(self.tq)..self.tq
        } else {
            0..self.tq
        }
    }

    /// The score of query row `qi` (dense, d values) against key `j`: −inf where hidden.
    fn score(&self, head: [usize; 2], (i, qi): (usize, &[f64]), (j, kj): (usize, &[f64])) -> f64 {
        let s = dot(qi, kj) * self.scale;
        match &self.mask {
            Some(mask) => s + mask.at(head, i, j),
            None => s,
        }
    }
}

/// Σ a·b over eight running sums, so the products vectorize rather than wait on one sum.
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut sums = [0.0; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 = a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a8.zip(b8) {
        for l in 0..8 {
            sums[l] += x[l] * y[l];
        }
    }
    sums.iter().sum::<f64>() + tail
}

/// `acc += w · x`.
fn add_scaled(acc: &mut [f64], w: f64, x: &[f64]) {
    acc.iter_mut().zip(x).for_each(|(a, v)| *a += w * v);
}

/// One query row of the forward pass into `out` (dv + 1 values): the online softmax over
/// the visible keys, then O and log Σ exp.
fn forward_row<T: Element>(
    p: &Problem<T>,
    head: [usize; 2],
    kv: (&[f64], &[f64]),
    i: usize,
    out: &mut [T],
) {
    let (d, dv) = (p.d, p.dv);
    let qi: Vec<f64> = (0..d).map(|c| p.q.at(head, i, c)).collect();
    let (mut m, mut l) = (f64::NEG_INFINITY, 0.0);
    let mut acc = vec![0.0; dv];
    for j in 0..p.visible_keys(i) {
        let s = p.score(head, (i, &qi), (j, &kv.0[j * d..][..d]));
        if s == f64::NEG_INFINITY {
            continue;
        }
        if s > m {
            let shrink = (m - s).exp();
            l *= shrink;
            acc.iter_mut().for_each(|a| *a *= shrink);
            m = s;
        }
        let w = (s - m).exp();
        l += w;
        add_scaled(&mut acc, w, &kv.1[j * dv..][..dv]);
    }
    for (o, a) in out.iter_mut().zip(&acc) {
        *o = T::from_f64(a / l);
    }
    out[dv] = T::from_f64(m + l.ln());
}

/// One query row of dq: scale · Σ_j p_ij (dO_i·v_j − δ_i) k_j.
fn grad_q_row<T: Element>(
    p: &Problem<T>,
    head: [usize; 2],
    kv: (&[f64], &[f64]),
    i: usize,
    out: &mut [T],
) {
    let (d, dv) = (p.d, p.dv);
    let [d_out, lse, delta] = p.grads.as_ref().expect("a backward pass has dO, lse and δ");
    let qi: Vec<f64> = (0..d).map(|c| p.q.at(head, i, c)).collect();
    let gi: Vec<f64> = (0..dv).map(|c| d_out.at(head, i, c)).collect();
    let (lse, delta) = (lse.at(head, i, 0), delta.at(head, i, 0));
    let mut acc = vec![0.0; d];
    for j in 0..p.visible_keys(i) {
        let kj = &kv.0[j * d..][..d];
        let s = p.score(head, (i, &qi), (j, kj));
        if s == f64::NEG_INFINITY {
            continue;
        }
        let w = (s - lse).exp();
        add_scaled(&mut acc, w * (dot(&gi, &kv.1[j * dv..][..dv]) - delta), kj);
    }
    for (o, a) in out.iter_mut().zip(&acc) {
        *o = T::from_f64(a * p.scale);
    }
}

/// What a key row's gradients read of every query: q and dO dense, lse and δ.
struct Queries {
    q: Vec<f64>,
    d_out: Vec<f64>,
    lse: Vec<f64>,
    delta: Vec<f64>,
}

/// One key row of dk (scale · Σ_i p_ij (dO_i·v_j − δ_i) q_i) and dv (Σ_i p_ij dO_i), side
/// by side in `out`.
fn grad_kv_row<T: Element>(
    p: &Problem<T>,
    head: [usize; 2],
    all: &Queries,
    j: usize,
    out: &mut [T],
) {
    let (d, dv) = (p.d, p.dv);
    let kj: Vec<f64> = (0..d).map(|c| p.k.at(head, j, c)).collect();
    let vj: Vec<f64> = (0..dv).map(|c| p.v.at(head, j, c)).collect();
    let (mut dk, mut dvj) = (vec![0.0; d], vec![0.0; dv]);
    for i in p.seeing_queries(j) {
        let qi = &all.q[i * d..][..d];
        let s = p.score(head, (i, qi), (j, &kj));
        if s == f64::NEG_INFINITY {
            continue;
        }
        let gi = &all.d_out[i * dv..][..dv];
        let w = (s - all.lse[i]).exp();
        add_scaled(&mut dvj, w, gi);
        add_scaled(&mut dk, w * (dot(gi, &vj) - all.delta[i]), qi);
    }
    for (o, a) in out[..d].iter_mut().zip(&dk) {
        *o = T::from_f64(a * p.scale);
    }
    for (o, a) in out[d..].iter_mut().zip(&dvj) {
        *o = T::from_f64(*a);
    }
}

/// One batch-and-head's rows of the output (`out`, dense, `width` values per row).
fn head_rows<T: Element>(p: &Problem<T>, head: [usize; 2], out: &mut [T], width: usize) {
    let rows = |out: &mut [T], row: &(dyn Fn(usize, &mut [T]) + Sync)| {
        out.par_chunks_mut(ROW_BLOCK * width)
            .enumerate()
            .for_each(|(block, chunk)| {
                for (r, o) in chunk.chunks_mut(width).enumerate() {
                    row(block * ROW_BLOCK + r, o);
                }
            });
    };
    match p.spec.pass {
        Pass::Forward | Pass::GradQ => {
            let (k, v) = (p.k.dense(head), p.v.dense(head));
            if p.spec.pass == Pass::Forward {
                rows(out, &|i, o| forward_row(p, head, (&k, &v), i, o));
            } else {
                rows(out, &|i, o| grad_q_row(p, head, (&k, &v), i, o));
            }
        }
        Pass::GradKv => {
            let [d_out, lse, delta] = p.grads.as_ref().expect("a backward pass has dO, lse and δ");
            let all = Queries {
                q: p.q.dense(head),
                d_out: d_out.dense(head),
                lse: lse.dense(head),
                delta: delta.dense(head),
            };
            rows(out, &|j, o| grad_kv_row(p, head, &all, j, o));
        }
    }
}

pub(crate) fn run_attention_cpu(
    spec: Attention,
    step: &StepDesc,
    inputs: &[&CpuData],
    out: &mut CpuData,
) -> Result<()> {
    let layout = |k: usize| step.inputs[k].1;
    let [b0, b1, _, width] = step.out_shape[..] else {
        unreachable!("attention's output has four axes")
    };
    let (tq, d) = (layout(0).shape[2], layout(0).shape[3]);
    let (tk, dv) = (layout(2).shape[2], layout(2).shape[3]);
    let mask_at = if spec.pass == Pass::Forward { 3 } else { 6 };
    with_float_dtype!(step.out_dtype, T => {
        let operand = |k: usize| Operand { data: inputs[k].slice::<T>(), layout: layout(k) };
        let problem = Problem {
            spec,
            q: operand(0),
            k: operand(1),
            v: operand(2),
            grads: (spec.pass != Pass::Forward).then(|| [operand(3), operand(4), operand(5)]),
            mask: spec.masked.then(|| operand(mask_at)),
            tq,
            tk,
            d,
            dv,
            scale: 1.0 / (d as f64).sqrt(),
        };
        let out = out.slice_mut::<T>();
        let head_len = out.len() / (b0 * b1).max(1);
        out.par_chunks_mut(head_len.max(1))
            .enumerate()
            .for_each(|(h, chunk)| head_rows(&problem, [h / b1, h % b1], chunk, width));
    });
    Ok(())
}
