//! Fused scaled dot-product attention: softmax(q·kᵀ/√d + mask)·v with an online softmax,
//! one pass over the keys per query row, so the [Tq, Tk] score matrix is never written
//! (FlashAttention's recurrence). The forward op writes each query row's output and, in an
//! extra last column, the row's log Σ exp of the scores, which is all the backward pass
//! needs to recompute any weight: p_ij = exp(s_ij − lse_i). The backward pass is two ops
//! that recompute the scores: one per query row (dq), one per key row (dk and dv, side by
//! side in one output), both reading δ_i = Σ dO_i·O_i, a composed reduction.
//!
//! Every input is read through its own strides, as four axes [b0, b1, rows, columns]: the
//! heads' permuted views and a broadcast key-padding mask are read where they lie.
//!
//! A key whose score is −inf (masked) is skipped. A query row whose every key is masked
//! has output 0/0 = NaN, as the composed softmax gives, and passes no gradient.

pub(crate) mod cpu;
pub(crate) mod gpu;
pub(crate) mod spec;

pub(crate) use spec::{Attention, Pass};

use crate::error::{Error, Result};
use crate::graph::Tensor;
use crate::ops::op::Op;

/// The largest head size (of queries and keys, and of values) that the fused kernels take:
/// a GPU invocation holds a query's or key's row and its accumulators in registers.
pub const MAX_FUSED_HEAD: usize = 256;

/// Whether `fused` computes this attention: q [.., Tq, d], k [.., Tk, d] and v [.., Tk, dv]
/// with the same batch axes, head sizes from 1 to `MAX_FUSED_HEAD`, and a mask (if any)
/// that broadcasts to the scores and needs no gradient. Otherwise attention is composed.
pub(crate) fn fusable(q: &Tensor, k: &Tensor, v: &Tensor, mask: Option<&Tensor>) -> bool {
    let r = q.rank();
    if r < 2 || k.rank() != r || v.rank() != r {
        return false;
    }
    let (qs, ks, vs) = (q.shape(), k.shape(), v.shape());
    let heads_fit = |n: usize| (1..=MAX_FUSED_HEAD).contains(&n);
    let scores: Vec<usize> = qs[..r - 1].iter().chain([&ks[r - 2]]).copied().collect();
    qs[..r - 2] == ks[..r - 2]
        && qs[..r - 2] == vs[..r - 2]
        && ks[r - 1] == qs[r - 1]
        && ks[r - 2] == vs[r - 2]
        && ks[r - 2] >= 1
        && heads_fit(qs[r - 1])
        && heads_fit(vs[r - 1])
        && [k, v]
            .iter()
            .all(|t| t.device() == q.device() && t.dtype() == q.dtype())
        && mask.is_none_or(|m| {
            !m.requires_grad()
                && m.dtype() == q.dtype()
                && m.device() == q.device()
                && m.broadcast_to(&scores).is_ok()
        })
}

/// Keys from which a GPU runs attention fused: measured on the software Vulkan device
/// (forward and backward, causal, d 32), composed took 17.9 ms and fused 23.3 ms at 64
/// keys, composed 64.1 ms and fused 15.7 ms at 256.
const GPU_FUSED_FROM_KEYS: usize = 128;

/// Score-matrix bytes from which the CPU path runs attention fused: below, the composed
/// form's matrix products are faster (at 64 and at 1000 keys), above, its score matrix
/// costs more memory than a user expects an attention to hold.
const CPU_FUSED_FROM_BYTES: usize = 64 << 20;

/// Whether the fused kernels are the faster (or, on the CPU path, the only affordable)
/// way to compute this attention; `fusable` must hold.
pub(crate) fn prefers_fused(q: &Tensor, k: &Tensor) -> bool {
    let r = q.rank();
    let keys = k.shape()[r - 2];
    if q.device().is_gpu() {
        return keys >= GPU_FUSED_FROM_KEYS;
    }
    let scores: usize = q.shape()[..r - 1].iter().product::<usize>() * keys;
    scores.saturating_mul(q.dtype().size_in_bytes()) >= CPU_FUSED_FROM_BYTES
}

/// softmax(q·kᵀ/√d + mask)·v by the fused kernels.
#[track_caller]
pub(crate) fn fused(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
    causal: bool,
) -> Result<Tensor> {
    if !fusable(q, k, v, mask) {
        return Err(Error::invalid(
            "attention",
            format!(
                "the fused kernels need q [.., Tq, d], k [.., Tk ≥ 1, d], v [.., Tk, dv] of one \
                 dtype and device with the same batch axes, head sizes 1 to {MAX_FUSED_HEAD}, \
                 and a mask (if any) that broadcasts to the scores and needs no gradient; got \
                 {:?}, {:?}, {:?}",
                q.shape(),
                k.shape(),
                v.shape()
            ),
        ));
    }
    let r = q.rank();
    let batch = &q.shape()[..r - 2];
    let (tq, tk, dv) = (q.shape()[r - 2], k.shape()[r - 2], v.shape()[r - 1]);
    let mut inputs = vec![four_axes(q)?, four_axes(k)?, four_axes(v)?];
    if let Some(mask) = mask {
        let full: Vec<usize> = batch.iter().copied().chain([tq, tk]).collect();
        inputs.push(four_axes(&mask.broadcast_to(&full)?)?);
    }
    let lead = [inputs[0].shape()[0], inputs[0].shape()[1]];
    let spec = Attention {
        pass: Pass::Forward,
        causal,
        masked: mask.is_some(),
    };
    let out = Tensor::from_op(
        Op::Attention(spec),
        inputs,
        vec![lead[0], lead[1], tq, dv + 1],
        q.dtype(),
        q.device().clone(),
    );
    let shape: Vec<isize> = batch
        .iter()
        .map(|&n| n as isize)
        .chain([tq as isize, dv as isize])
        .collect();
    out.slice(-1, 0, dv as isize, 1)?.reshape(&shape)
}

/// `t` [.., rows, columns] as [b0, b1, rows, columns]: leading axes added, or all but the
/// last batch axis merged.
fn four_axes(t: &Tensor) -> Result<Tensor> {
    let s = t.shape();
    let r = s.len();
    let (rows, cols) = (s[r - 2] as isize, s[r - 1] as isize);
    match r {
        2 => t.reshape(&[1, 1, rows, cols]),
        3 => t.reshape(&[1, s[0] as isize, rows, cols]),
        4 => Ok(t.clone()),
        _ => {
            let outer: usize = s[..r - 3].iter().product();
            t.reshape(&[outer as isize, s[r - 3] as isize, rows, cols])
        }
    }
}

/// The gradients of the forward op's inputs (q, k, v and the mask, which gets none) from
/// its output `y` [b0, b1, Tq, dv + 1] and the output's gradient `g`.
pub(crate) fn grad(
    spec: Attention,
    inputs: &[Tensor],
    y: &Tensor,
    g: &Tensor,
) -> Result<Vec<Option<Tensor>>> {
    let (q, k) = (&inputs[0], &inputs[1]);
    let [b0, b1, tq, width] = y.shape()[..] else {
        unreachable!("the forward op's output has four axes")
    };
    let (dv, d, tk) = (width - 1, q.shape()[3], k.shape()[2]);
    let out = y.slice(-1, 0, dv as isize, 1)?;
    let lse = y.slice(-1, dv as isize, width as isize, 1)?;
    let d_out = g.slice(-1, 0, dv as isize, 1)?;
    let delta = d_out.mul(&out)?.sum(&[-1], true)?;
    let mut grad_inputs = inputs[..3].to_vec();
    grad_inputs.extend([d_out, lse, delta]);
    grad_inputs.extend(inputs.get(3).cloned());
    let pass = |pass, shape| {
        Tensor::from_op(
            Op::Attention(Attention { pass, ..spec }),
            grad_inputs.clone(),
            shape,
            y.dtype(),
            y.device().clone(),
        )
    };
    let dq = pass(Pass::GradQ, vec![b0, b1, tq, d]);
    let dkv = pass(Pass::GradKv, vec![b0, b1, tk, d + dv]);
    let mut grads = vec![
        Some(dq),
        Some(dkv.slice(-1, 0, d as isize, 1)?),
        Some(dkv.slice(-1, d as isize, (d + dv) as isize, 1)?),
    ];
    if spec.masked {
        grads.push(None);
    }
    Ok(grads)
}
