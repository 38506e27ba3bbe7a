//! Attention in PyTorch's conventions: `scaled_dot_product_attention` as a function and
//! `MultiheadAttention` (batch first, `in_proj_weight` and `out_proj`, causal and
//! key-padding masks, dropout on the weights). Both run the fused kernels (ops/attention/:
//! an online softmax, the score matrix never written) where those are faster (on a GPU
//! from 128 keys) or the score matrix would be large (on the CPU path from 64 MiB), and
//! otherwise the composed form, which materializes the scores and is the reference the
//! fused kernels are tested against; always composed for head sizes above 256, batch axes
//! that differ between q, k and v, a mask that needs a gradient, and dropout on the
//! weights in training. `fused_attention` asks for the fused kernels outright.

use crate::device::Device;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::Tensor;
use crate::nn::{prefixed, Dropout, Init, Linear, Module, Parameter};
use crate::ops::attention;

/// softmax(q·kᵀ/√d + mask)·v over the last two axes: q [.., Tq, d], k [.., Tk, d], v [.., Tk,
/// dv]; `mask` is added to the scores (−inf hides a key) and broadcasts to [.., Tq, Tk];
/// `causal` hides every key j > i from query i (PyTorch's `is_causal`: the top-left
/// triangle when Tq ≠ Tk).
#[track_caller]
pub fn scaled_dot_product_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
    causal: bool,
) -> Result<Tensor> {
    if attention::fusable(q, k, v, mask) && attention::prefers_fused(q, k) {
        attention::fused(q, k, v, mask, causal)
    } else {
        composed_attention(q, k, v, mask, causal)
    }
}

/// `scaled_dot_product_attention` by the fused kernels whatever the sizes (an error where
/// they do not apply: head sizes above 256, batch axes that differ, a mask that needs a
/// gradient): the score matrix is never held, on either device.
#[track_caller]
pub fn fused_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
    causal: bool,
) -> Result<Tensor> {
    attention::fused(q, k, v, mask, causal)
}

/// `scaled_dot_product_attention` composed from matrix products, the mask and a softmax,
/// with the score matrix materialized: the reference that the fused kernels are held to.
#[track_caller]
pub fn composed_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
    causal: bool,
) -> Result<Tensor> {
    attention_weights(q, k, mask, causal)?.matmul(v)
}

/// The weights softmax(q·kᵀ/√d + mask) of `scaled_dot_product_attention`.
#[track_caller]
pub(crate) fn attention_weights(
    q: &Tensor,
    k: &Tensor,
    mask: Option<&Tensor>,
    causal: bool,
) -> Result<Tensor> {
    let d = *q.shape().last().unwrap_or(&0);
    if d == 0 || q.rank() < 2 {
        return Err(Error::invalid(
            "attention",
            format!("needs queries [.., T, d] with d ≥ 1, got {:?}", q.shape()),
        ));
    }
    let mut scores = q
        .matmul(&k.transpose(-2, -1)?)?
        .mul_scalar(1.0 / (d as f64).sqrt())?;
    if let Some(mask) = mask {
        scores = scores.add(mask)?;
    }
    if causal {
        let r = scores.rank();
        let (tq, tk) = (scores.shape()[r - 2], scores.shape()[r - 1]);
        let future = Tensor::ones(&[tq, tk], scores.dtype(), scores.device())?.triu(1)?;
        scores = scores.masked_fill(&future, f64::NEG_INFINITY)?;
    }
    scores.softmax(-1)
}

/// Multi-head attention over batch-first sequences [batch, time, embed_dim], with PyTorch's
/// parameters: `in_proj_weight` [3·E, E] and `in_proj_bias` [3·E] (queries, keys and values
/// stacked), and `out_proj`.
pub struct MultiheadAttention {
    pub in_proj_weight: Parameter,
    pub in_proj_bias: Parameter,
    pub out_proj: Linear,
    heads: usize,
    dropout: Option<Dropout>,
}

impl MultiheadAttention {
    /// PyTorch's initialization: `in_proj_weight` Xavier-uniform, biases zero, `out_proj`'s
    /// weight as a Linear layer's. `dropout` applies to the attention weights in training.
    pub fn new(
        embed_dim: usize,
        num_heads: usize,
        dropout: f64,
        seed: u64,
        dtype: DType,
        device: &Device,
    ) -> Result<MultiheadAttention> {
        if num_heads == 0 || embed_dim == 0 || !embed_dim.is_multiple_of(num_heads) {
            return Err(Error::invalid(
                "multihead_attention",
                format!(
                    "embed_dim {embed_dim} must be a positive multiple of num_heads {num_heads}"
                ),
            ));
        }
        let e = embed_dim;
        let in_proj_weight = Init::XavierUniform {
            fan_in: e,
            fan_out: 3 * e,
        }
        .tensor(&[3 * e, e], seed, dtype, device)?;
        let out_proj = Linear::new(e, e, true, seed ^ 0x0a77, dtype, device)?;
        if let Some(bias) = &out_proj.bias {
            bias.set(Tensor::zeros(&[e], dtype, device)?);
        }
        Ok(MultiheadAttention {
            in_proj_weight: Parameter::new(in_proj_weight),
            in_proj_bias: Parameter::new(Tensor::zeros(&[3 * e], dtype, device)?),
            out_proj,
            heads: num_heads,
            dropout: if dropout > 0.0 {
                Some(Dropout::new(dropout, seed ^ 0xd20b)?)
            } else {
                None
            },
        })
    }

    /// Attention of `query` [B, T, E] over `key` and `value` [B, S, E]. `key_padding_mask`
    /// [B, S] is nonzero at keys to ignore; `mask` is added to the scores [T, S] (or [B·heads
    /// broadcastable]); `causal` hides later keys.
    #[track_caller]
    pub fn attend(
        &self,
        query: &Tensor,
        key: &Tensor,
        value: &Tensor,
        key_padding_mask: Option<&Tensor>,
        mask: Option<&Tensor>,
        causal: bool,
    ) -> Result<Tensor> {
        let e = self.in_proj_weight.shape()[1];
        for t in [query, key, value] {
            if t.rank() != 3 || t.shape()[2] != e {
                return Err(Error::invalid(
                    "multihead_attention",
                    format!("expects [batch, time, {e}], got {:?}", t.shape()),
                ));
            }
        }
        let (q, k, v) = (
            self.project(query, 0)?,
            self.project(key, 1)?,
            self.project(value, 2)?,
        );
        let mut scores_mask = mask.cloned();
        if let Some(padding) = key_padding_mask {
            let (batch, keys) = (key.shape()[0], key.shape()[1]);
            let hidden = padding
                .reshape(&[batch as isize, 1, 1, keys as isize])?
                .cast(q.dtype())?;
            let additive = Tensor::zeros(&[batch, 1, 1, keys], q.dtype(), q.device())?
                .masked_fill(&hidden, f64::NEG_INFINITY)?;
            scores_mask = Some(match scores_mask {
                Some(m) => m.add(&additive)?,
                None => additive,
            });
        }
        let attended = match &self.dropout {
            Some(dropout) if dropout.active() => {
                let weights = attention_weights(&q, &k, scores_mask.as_ref(), causal)?;
                dropout.forward(&weights)?.matmul(&v)?
            }
            _ => scaled_dot_product_attention(&q, &k, &v, scores_mask.as_ref(), causal)?,
        };
        self.join_heads(&attended)
    }
}

impl MultiheadAttention {
    /// `x` [B, T, E] through block `k` of the input projection (0 queries, 1 keys, 2
    /// values), split into heads: [B, heads, T, E/heads].
    pub(crate) fn project(&self, x: &Tensor, k: isize) -> Result<Tensor> {
        let (w, b) = (self.in_proj_weight.get(), self.in_proj_bias.get());
        let e = w.shape()[1] as isize;
        let y = x
            .matmul(&w.slice(0, k * e, (k + 1) * e, 1)?.t()?)?
            .add(&b.slice(0, k * e, (k + 1) * e, 1)?)?;
        let (batch, time) = (y.shape()[0] as isize, y.shape()[1] as isize);
        y.reshape(&[batch, time, self.heads as isize, -1])?
            .permute(&[0, 2, 1, 3])
    }

    /// Heads [B, heads, T, E/heads] joined [B, T, E] and through `out_proj`.
    pub(crate) fn join_heads(&self, heads: &Tensor) -> Result<Tensor> {
        let (batch, time) = (heads.shape()[0] as isize, heads.shape()[2] as isize);
        let joined = heads.permute(&[0, 2, 1, 3])?.reshape(&[batch, time, -1])?;
        self.out_proj.forward(&joined)
    }
}

impl Module for MultiheadAttention {
    /// Self-attention of x [B, T, E], no masks.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.attend(x, x, x, None, None, false)
    }

    fn parameters(&self) -> Vec<(String, Parameter)> {
        let mut out = vec![
            ("in_proj_weight".to_string(), self.in_proj_weight.clone()),
            ("in_proj_bias".to_string(), self.in_proj_bias.clone()),
        ];
        out.extend(prefixed("out_proj", self.out_proj.parameters()));
        if let Some(dropout) = &self.dropout {
            out.extend(prefixed("dropout", dropout.parameters()));
        }
        out
    }

    fn set_training(&mut self, training: bool) {
        if let Some(dropout) = &mut self.dropout {
            dropout.set_training(training);
        }
    }
}
