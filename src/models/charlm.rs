//! Character language models on a text corpus (the tiny Shakespeare text by default): an
//! embedding, then an LSTM or GRU, or a decoder-only transformer (learned positions,
//! pre-norm causal blocks, a final norm and a head tied to the token embedding, as
//! nanoGPT's), predicting each next character. Validation reports nats per character on
//! the held-out tail, every character of it predicted once.

use crate::data::consecutive_windows;
use crate::device::Device;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::{no_grad, Tensor};
use crate::nn::{
    loss, prefixed, CellKind, Embedding, Init, KvCache, LayerNorm, Linear, Module, Parameter,
    Recurrent, RecurrentConfig, RecurrentState, TransformerBlock, TransformerConfig,
};

/// Which network reads the characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    Lstm,
    Gru,
    Transformer,
}

impl Arch {
    pub fn name(self) -> &'static str {
        match self {
            Arch::Lstm => "lstm",
            Arch::Gru => "gru",
            Arch::Transformer => "transformer",
        }
    }

    pub fn parse(name: &str) -> Result<Arch> {
        match name {
            "lstm" => Ok(Arch::Lstm),
            "gru" => Ok(Arch::Gru),
            "transformer" => Ok(Arch::Transformer),
            _ => Err(Error::invalid(
                "charlm",
                format!("unknown architecture {name:?} (lstm, gru or transformer)"),
            )),
        }
    }
}

/// The sizes of a character model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CharLmConfig {
    pub arch: Arch,
    pub vocab: usize,
    /// The embedding's width (the transformer's width throughout).
    pub embed: usize,
    /// A recurrent layer's units (unused by the transformer).
    pub hidden: usize,
    pub layers: usize,
    /// Attention heads (transformer only).
    pub heads: usize,
    /// The longest context the model is trained on (the transformer's position table).
    pub context: usize,
}

impl CharLmConfig {
    /// The LSTM: one layer of 256 units over a 64-wide embedding, context 64.
    pub fn recurrent(arch: Arch, vocab: usize) -> CharLmConfig {
        CharLmConfig {
            arch,
            vocab,
            embed: 64,
            hidden: 256,
            layers: 1,
            heads: 0,
            context: 64,
        }
    }

    /// nanoGPT's "baby GPT" on the CPU: 4 layers, 4 heads, width 128, context 64.
    pub fn baby_gpt(vocab: usize) -> CharLmConfig {
        CharLmConfig {
            arch: Arch::Transformer,
            vocab,
            embed: 128,
            hidden: 0,
            layers: 4,
            heads: 4,
            context: 64,
        }
    }

    /// The sizes as checkpoint metadata.
    pub fn to_metadata(&self) -> Vec<(String, String)> {
        [
            ("arch", self.arch.name().to_string()),
            ("vocab_size", self.vocab.to_string()),
            ("embed", self.embed.to_string()),
            ("hidden", self.hidden.to_string()),
            ("layers", self.layers.to_string()),
            ("heads", self.heads.to_string()),
            ("context", self.context.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// The sizes from checkpoint metadata, or an error naming what is missing or malformed.
    pub fn from_metadata(meta: &std::collections::HashMap<String, String>) -> Result<CharLmConfig> {
        let field = |key: &str| -> Result<usize> {
            meta.get(key).and_then(|v| v.parse().ok()).ok_or_else(|| {
                Error::invalid("charlm", format!("the checkpoint has no valid {key:?}"))
            })
        };
        let arch = meta
            .get("arch")
            .ok_or_else(|| Error::invalid("charlm", "the checkpoint names no architecture"))?;
        Ok(CharLmConfig {
            arch: Arch::parse(arch)?,
            vocab: field("vocab_size")?,
            embed: field("embed")?,
            hidden: field("hidden")?,
            layers: field("layers")?,
            heads: field("heads")?,
            context: field("context")?,
        })
    }
}

enum Body {
    Recurrent {
        layer: Recurrent,
        head: Linear,
    },
    Transformer {
        positions: Parameter,
        blocks: Vec<TransformerBlock>,
        norm: LayerNorm,
    },
}

/// A character language model: i32 ids [batch, time] to next-character
/// logits [batch, time, vocab].
pub struct CharLm {
    pub config: CharLmConfig,
    tokens: Embedding,
    body: Body,
}

impl CharLm {
    pub fn new(config: CharLmConfig, seed: u64, device: &Device) -> Result<CharLm> {
        let c = config;
        if c.vocab == 0 || c.embed == 0 || c.layers == 0 || c.context == 0 {
            return Err(Error::invalid(
                "charlm",
                format!("needs positive sizes, got {c:?}"),
            ));
        }
        let dtype = DType::F32;
        let mut tokens = Embedding::new(c.vocab, c.embed, seed, dtype, device)?;
        let body = match c.arch {
            Arch::Lstm | Arch::Gru => {
                let kind = if c.arch == Arch::Lstm {
                    CellKind::Lstm
                } else {
                    CellKind::Gru
                };
                let rc = RecurrentConfig {
                    num_layers: c.layers,
                    batch_first: true,
                    ..RecurrentConfig::new(c.embed, c.hidden)
                };
                Body::Recurrent {
                    layer: Recurrent::new(kind, rc, seed + 1, dtype, device)?,
                    head: Linear::new(c.hidden, c.vocab, true, seed + 2, dtype, device)?,
                }
            }
            Arch::Transformer => {
                // GPT-2's N(0, 0.02) for both tables: the head is the token table, and
                // PyTorch's N(0, 1) would start it with logits of size √width.
                tokens.weight = Parameter::new(Init::Normal(0.02).tensor(
                    &[c.vocab, c.embed],
                    seed,
                    dtype,
                    device,
                )?);
                let block = TransformerConfig {
                    embed_dim: c.embed,
                    num_heads: c.heads,
                    feedforward: 4 * c.embed,
                    dropout: 0.0,
                    causal: true,
                };
                Body::Transformer {
                    positions: Parameter::new(Init::Normal(0.02).tensor(
                        &[c.context, c.embed],
                        seed + 1,
                        dtype,
                        device,
                    )?),
                    blocks: (0..c.layers)
                        .map(|l| {
                            TransformerBlock::new(block, seed + 10 * (l as u64 + 1), dtype, device)
                        })
                        .collect::<Result<_>>()?,
                    norm: LayerNorm::new(c.embed, dtype, device)?,
                }
            }
        };
        Ok(CharLm {
            config,
            tokens,
            body,
        })
    }

    /// Logits for `ids` [batch, time] continuing from `state` (recurrent models), and the
    /// state after them.
    pub fn forward_with_state(
        &self,
        ids: &Tensor,
        state: Option<&RecurrentState>,
    ) -> Result<(Tensor, Option<RecurrentState>)> {
        if ids.rank() != 2 {
            return Err(Error::invalid(
                "charlm",
                format!("expects ids [batch, time], got {:?}", ids.shape()),
            ));
        }
        let x = self.tokens.forward(ids)?;
        match &self.body {
            Body::Recurrent { layer, head } => {
                let (out, last) = layer.forward_with_state(&x, state)?;
                Ok((head.forward(&out)?, Some(last)))
            }
            Body::Transformer {
                positions,
                blocks,
                norm,
            } => {
                let time = ids.shape()[1];
                if time > self.config.context {
                    return Err(Error::invalid(
                        "charlm",
                        format!(
                            "a context of {time} is past the model's {}",
                            self.config.context
                        ),
                    ));
                }
                let mut x = x.add(&positions.get().slice(0, 0, time as isize, 1)?)?;
                for block in blocks {
                    x = block.forward(&x)?;
                }
                let logits = norm.forward(&x)?.matmul(&self.tokens.weight.get().t()?)?;
                Ok((logits, None))
            }
        }
    }

    /// One cache per transformer block, for [`CharLm::forward_cached`] (none for a recurrent
    /// model).
    pub fn kv_caches(&self) -> Vec<KvCache> {
        match &self.body {
            Body::Transformer { blocks, .. } => blocks
                .iter()
                .map(|_| KvCache::new(self.config.context))
                .collect(),
            Body::Recurrent { .. } => Vec::new(),
        }
    }

    /// The transformer's logits [batch, 1, vocab] for one new id per row `ids` [batch, 1]
    /// after the positions in `caches` (from [`CharLm::kv_caches`]), which take it: one step
    /// per character instead of a pass over the context. The caches come back realized and
    /// cut from the graph.
    pub fn forward_cached(&self, ids: &Tensor, caches: &mut [KvCache]) -> Result<Tensor> {
        let Body::Transformer {
            positions,
            blocks,
            norm,
        } = &self.body
        else {
            return Err(Error::invalid(
                "charlm",
                "only the transformer has a key-value cache",
            ));
        };
        let first = caches
            .first()
            .ok_or_else(|| Error::invalid("charlm", "no caches given"))?;
        let at = first.next_position(&positions.get())?;
        let capacity = first.capacity() as isize;
        let position = at
            .one_hot
            .reshape(&[1, capacity])?
            .matmul(&positions.get())?;
        let mut x = self.tokens.forward(ids)?.add(&position)?;
        for (block, cache) in blocks.iter().zip(caches.iter_mut()) {
            x = block.forward_cached(&x, cache, &at)?;
        }
        let logits = norm.forward(&x)?.matmul(&self.tokens.weight.get().t()?)?;
        let mut all = vec![&logits];
        all.extend(caches.iter().flat_map(KvCache::tensors));
        crate::realize::realize(&all)?;
        caches.iter_mut().for_each(KvCache::detach);
        Ok(logits)
    }

    /// The mean cross-entropy (nats per character) of predicting `targets` from `ids`, both
    /// [batch, time].
    pub fn loss(&self, ids: &Tensor, targets: &Tensor) -> Result<Tensor> {
        let logits = self.forward(ids)?;
        let v = self.config.vocab as isize;
        loss::cross_entropy(&logits.reshape(&[-1, v])?, &targets.reshape(&[-1])?, 0.0)
    }

    /// Nats per character over all of `ids` (each character but the first predicted once,
    /// in windows of the model's context, `rows` windows a pass).
    pub fn validation_loss(&self, ids: &[u32], rows: usize, device: &Device) -> Result<f64> {
        let windows = consecutive_windows(ids, self.config.context);
        let context = self.config.context;
        let (mut total, mut count) = (0.0, 0usize);
        for start in (0..windows.rows).step_by(rows.max(1)) {
            let n = rows.min(windows.rows - start);
            let span = start * context..(start + n) * context;
            let x = Tensor::from_slice(&windows.inputs[span.clone()], &[n, context], device)?;
            let y = Tensor::from_slice(&windows.targets[span], &[n, context], device)?;
            let mean: Vec<f32> = no_grad(|| self.loss(&x, &y))?.to_vec()?;
            total += mean[0] as f64 * (n * context) as f64;
            count += n * context;
        }
        Ok(total / count.max(1) as f64)
    }
}

/// A model saved by `lepton train charlm --save` (or [`save_metadata`]'s keys), with its
/// vocabulary.
pub fn load(path: &std::path::Path, device: &Device) -> Result<(CharLm, Vec<char>)> {
    let (meta, shapes) = crate::checkpoint::header(path)?;
    let config = CharLmConfig::from_metadata(&meta)?;
    check_sizes(&config, &shapes)?;
    let vocab: Vec<char> = meta
        .get("vocab")
        .and_then(|v| serde_json::from_str::<String>(v).ok())
        .ok_or_else(|| Error::invalid("charlm", "the checkpoint has no valid \"vocab\""))?
        .chars()
        .collect();
    if vocab.len() != config.vocab {
        return Err(Error::invalid(
            "charlm",
            format!(
                "the checkpoint's vocabulary has {} characters, its model {}",
                vocab.len(),
                config.vocab
            ),
        ));
    }
    let model = CharLm::new(config, 0, device)?;
    crate::checkpoint::load_training(path, &model, None, device)?;
    Ok((model, vocab))
}

/// The sizes in a checkpoint's metadata against its tensors' shapes, before a model of those
/// sizes is built: a corrupt size is an error, not an allocation past memory.
fn check_sizes(
    c: &CharLmConfig,
    shapes: &std::collections::HashMap<String, Vec<usize>>,
) -> Result<()> {
    let last = c.layers.saturating_sub(1);
    let wanted: Vec<(String, Vec<usize>)> = match c.arch {
        Arch::Transformer => vec![
            ("transformer.wte.weight".into(), vec![c.vocab, c.embed]),
            ("transformer.wpe.weight".into(), vec![c.context, c.embed]),
            (
                format!("transformer.h.{last}.linear1.weight"),
                vec![c.embed.saturating_mul(4), c.embed],
            ),
        ],
        Arch::Lstm | Arch::Gru => {
            let gates = if c.arch == Arch::Lstm { 4 } else { 3 };
            vec![
                ("embedding.weight".into(), vec![c.vocab, c.embed]),
                (
                    format!("rnn.weight_hh_l{last}"),
                    vec![c.hidden.saturating_mul(gates), c.hidden],
                ),
                ("head.weight".into(), vec![c.vocab, c.hidden]),
            ]
        }
    };
    for (name, shape) in wanted {
        if shapes.get(&name) != Some(&shape) {
            return Err(Error::invalid(
                "charlm",
                format!(
                    "the checkpoint's sizes ({c:?}) want {name} of shape {shape:?}, the file has {:?}",
                    shapes.get(&name)
                ),
            ));
        }
    }
    if c.arch == Arch::Transformer && (c.heads == 0 || c.heads > c.embed) {
        return Err(Error::invalid(
            "charlm",
            format!("{} heads for width {}", c.heads, c.embed),
        ));
    }
    Ok(())
}

/// Metadata that [`load`] reads: the sizes, and the vocabulary as a JSON string.
pub fn save_metadata(config: &CharLmConfig, vocab: &[char]) -> Vec<(String, String)> {
    let mut meta = config.to_metadata();
    let text: String = vocab.iter().collect();
    meta.push(("vocab".into(), serde_json::Value::String(text).to_string()));
    meta
}

impl Module for CharLm {
    fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        Ok(self.forward_with_state(ids, None)?.0)
    }

    /// nanoGPT's names for the transformer (`transformer.wte.weight`, `transformer.wpe.weight`,
    /// `transformer.h.0.…`, `transformer.ln_f.…`); `embedding`, `rnn` and `head` otherwise.
    fn parameters(&self) -> Vec<(String, Parameter)> {
        match &self.body {
            Body::Recurrent { layer, head } => {
                let mut out = prefixed("embedding", self.tokens.parameters());
                out.extend(prefixed("rnn", layer.parameters()));
                out.extend(prefixed("head", head.parameters()));
                out
            }
            Body::Transformer {
                positions,
                blocks,
                norm,
            } => {
                let mut out = prefixed("transformer.wte", self.tokens.parameters());
                out.push(("transformer.wpe.weight".into(), positions.clone()));
                for (l, block) in blocks.iter().enumerate() {
                    out.extend(prefixed(&format!("transformer.h.{l}"), block.parameters()));
                }
                out.extend(prefixed("transformer.ln_f", norm.parameters()));
                out
            }
        }
    }

    fn set_training(&mut self, training: bool) {
        match &mut self.body {
            Body::Recurrent { layer, .. } => layer.set_training(training),
            Body::Transformer { blocks, .. } => {
                blocks.iter_mut().for_each(|b| b.set_training(training))
            }
        }
    }
}
