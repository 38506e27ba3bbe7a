//! The pre-norm transformer block of decoder-only language models (GPT-2's arrangement):
//! x + attention(norm1(x)), then + linear2(gelu(linear1(norm2(x)))), each branch through
//! dropout in training. Parameter names are those of PyTorch's `nn.TransformerEncoderLayer`
//! with `norm_first=True` and GELU (`self_attn.in_proj_weight`, `linear1.weight`,
//! `norm1.weight`, ...), so its state dict maps one to one.

use crate::device::Device;
use crate::dtype::DType;
use crate::error::Result;
use crate::graph::Tensor;
use crate::nn::{
    prefixed, Dropout, KvCache, LayerNorm, Linear, Module, MultiheadAttention, Parameter, Position,
};

/// The sizes and options of a `TransformerBlock`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TransformerConfig {
    pub embed_dim: usize,
    pub num_heads: usize,
    /// The hidden width of the feed-forward branch (4·embed_dim in GPT-2).
    pub feedforward: usize,
    pub dropout: f64,
    /// Each position attends only to itself and earlier ones.
    pub causal: bool,
}

pub struct TransformerBlock {
    pub norm1: LayerNorm,
    pub self_attn: MultiheadAttention,
    pub norm2: LayerNorm,
    pub linear1: Linear,
    pub linear2: Linear,
    dropout: Option<Dropout>,
    causal: bool,
}

impl TransformerBlock {
    pub fn new(
        config: TransformerConfig,
        seed: u64,
        dtype: DType,
        device: &Device,
    ) -> Result<TransformerBlock> {
        let (e, f) = (config.embed_dim, config.feedforward);
        Ok(TransformerBlock {
            norm1: LayerNorm::new(e, dtype, device)?,
            self_attn: MultiheadAttention::new(
                e,
                config.num_heads,
                config.dropout,
                seed,
                dtype,
                device,
            )?,
            norm2: LayerNorm::new(e, dtype, device)?,
            linear1: Linear::new(e, f, true, seed + 1, dtype, device)?,
            linear2: Linear::new(f, e, true, seed + 2, dtype, device)?,
            dropout: if config.dropout > 0.0 {
                Some(Dropout::new(config.dropout, seed + 3)?)
            } else {
                None
            },
            causal: config.causal,
        })
    }

    /// One new position `x` [B, 1, E] of a causal block, attending through `cache`
    /// (kv_cache.rs): the same as `forward` over the whole sequence at its last position.
    pub fn forward_cached(&self, x: &Tensor, cache: &mut KvCache, at: &Position) -> Result<Tensor> {
        let attended = self
            .self_attn
            .attend_cached(&self.norm1.forward(x)?, cache, at)?;
        self.feed_forward(x, attended)
    }

    /// The block after attention: the residual, then the GELU MLP branch.
    fn feed_forward(&self, x: &Tensor, attended: Tensor) -> Result<Tensor> {
        let x = x.add(&self.dropped(attended)?)?;
        let hidden = self.linear1.forward(&self.norm2.forward(&x)?)?.gelu();
        x.add(&self.dropped(self.linear2.forward(&hidden)?)?)
    }

    fn dropped(&self, x: Tensor) -> Result<Tensor> {
        match &self.dropout {
            Some(dropout) => dropout.forward(&x),
            None => Ok(x),
        }
    }
}

impl Module for TransformerBlock {
    // x: [batch, time, embed_dim] -> the same shape
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let normed = self.norm1.forward(x)?;
        let attended = self
            .self_attn
            .attend(&normed, &normed, &normed, None, None, self.causal)?;
        self.feed_forward(x, attended)
    }

    fn parameters(&self) -> Vec<(String, Parameter)> {
        let mut out = prefixed("self_attn", self.self_attn.parameters());
        out.extend(prefixed("linear1", self.linear1.parameters()));
        out.extend(prefixed("linear2", self.linear2.parameters()));
        out.extend(prefixed("norm1", self.norm1.parameters()));
        out.extend(prefixed("norm2", self.norm2.parameters()));
        if let Some(dropout) = &self.dropout {
            out.extend(prefixed("dropout", dropout.parameters()));
        }
        out
    }

    fn set_training(&mut self, training: bool) {
        self.self_attn.set_training(training);
        if let Some(dropout) = &mut self.dropout {
            dropout.set_training(training);
        }
    }
}
