//! Text from a character model: the prompt once, then one character a step. A recurrent
//! model carries its state; the transformer keeps each block's keys and values (a KV cache)
//! and, when its context is full, starts again from the last half of it. The next
//! character is drawn on the host from the last position's logits (temperature, top-k) with
//! the counter-based generator, so a seed gives the same text on every device (up to the
//! rounding of the logits themselves).

use crate::device::Device;
use crate::error::{Error, Result};
use crate::graph::{no_grad, Tensor};
use crate::models::charlm::CharLm;
use crate::nn::RecurrentState;

/// How the next character is drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sampling {
    /// Logits are divided by this; 0 picks the most likely character.
    pub temperature: f64,
    /// Only the k most likely characters are drawn from.
    pub top_k: Option<usize>,
    pub seed: u64,
}

impl Sampling {
    fn check(&self) -> Result<()> {
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return Err(Error::invalid(
                "generate",
                format!(
                    "the temperature must be finite and ≥ 0, got {}",
                    self.temperature
                ),
            ));
        }
        if self.top_k == Some(0) {
            return Err(Error::invalid("generate", "top-k must be at least 1"));
        }
        Ok(())
    }

    /// The id drawn from `logits` for the `draw`-th character.
    pub fn pick(&self, logits: &[f32], draw: u64) -> Result<u32> {
        if logits.is_empty() || logits.iter().any(|v| v.is_nan()) {
            return Err(Error::invalid(
                "generate",
                "the model's logits are empty or NaN",
            ));
        }
        let mut order: Vec<usize> = (0..logits.len()).collect();
        // Most likely first; ties to the lower id.
        order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
        if self.temperature == 0.0 {
            return Ok(order[0] as u32);
        }
        order.truncate(self.top_k.unwrap_or(order.len()).min(order.len()));
        let best = logits[order[0]] as f64;
        let weights: Vec<f64> = order
            .iter()
            .map(|&i| ((logits[i] as f64 - best) / self.temperature).exp())
            .collect();
        let target = crate::counter_rng::uniform(self.seed, draw) * weights.iter().sum::<f64>();
        let mut sum = 0.0;
        for (&i, w) in order.iter().zip(&weights) {
            sum += w;
            if target < sum {
                return Ok(i as u32);
            }
        }
        Ok(*order.last().unwrap_or(&0) as u32)
    }
}

/// `tokens` ids continuing `prompt` (at least one id).
pub fn generate(
    model: &CharLm,
    prompt: &[u32],
    tokens: usize,
    sampling: &Sampling,
    device: &Device,
) -> Result<Vec<u32>> {
    sampling.check()?;
    if prompt.is_empty() {
        return Err(Error::invalid(
            "generate",
            "the prompt needs at least one character",
        ));
    }
    let vocab = model.config.vocab;
    if let Some(&bad) = prompt.iter().find(|&&i| i as usize >= vocab) {
        return Err(Error::invalid(
            "generate",
            format!("id {bad} is past the vocabulary of {vocab}"),
        ));
    }
    let ids = |xs: &[u32]| -> Result<Tensor> {
        let v: Vec<i32> = xs.iter().map(|&i| i as i32).collect();
        Tensor::from_vec(v, &[1, xs.len()], device)
    };
    let last_logits = |logits: &Tensor| -> Result<Vec<f32>> {
        let time = logits.shape()[1] as isize;
        logits.slice(1, time - 1, time, 1)?.to_vec()
    };
    no_grad(|| {
        let mut text = prompt.to_vec();
        let mut out = Vec::with_capacity(tokens);
        let mut caches = model.kv_caches();
        let context = model.config.context;
        // The transformer reads through its caches, one character a step; when they are
        // full they start again from the last half context.
        let feed_cached = |caches: &mut Vec<_>, text: &[u32]| -> Result<Vec<f32>> {
            let mut logits = Vec::new();
            for &id in text {
                logits = model.forward_cached(&ids(&[id])?, caches)?.to_vec()?;
            }
            Ok(logits)
        };
        let (mut state, mut next) = if caches.is_empty() {
            let (logits, state) = model.forward_with_state(&ids(prompt)?, None)?;
            (state, last_logits(&logits)?)
        } else {
            let from = prompt.len().saturating_sub(context);
            (None, feed_cached(&mut caches, &prompt[from..])?)
        };
        for draw in 0..tokens as u64 {
            let id = sampling.pick(&next, draw)?;
            out.push(id);
            text.push(id);
            if draw + 1 == tokens as u64 {
                break;
            }
            next = match &state {
                Some(s) => {
                    let (logits, after) = recurrent_step(model, &ids(&[id])?, s)?;
                    state = Some(after);
                    logits
                }
                None if caches[0].len() < context => feed_cached(&mut caches, &[id])?,
                None => {
                    caches = model.kv_caches();
                    let from = text.len() - (context / 2).max(1);
                    feed_cached(&mut caches, &text[from..])?
                }
            };
        }
        Ok(out)
    })
}

/// One character through a recurrent model from `state`: its logits and the state after
/// it, computed in one submission and cut from the graph, so the next step's graph starts
/// from data, not from every step before it.
fn recurrent_step(
    model: &CharLm,
    id: &Tensor,
    state: &RecurrentState,
) -> Result<(Vec<f32>, RecurrentState)> {
    let (logits, after) = model.forward_with_state(id, Some(state))?;
    let after = after.ok_or_else(|| Error::invalid("generate", "the model returned no state"))?;
    let mut all = vec![&logits, &after.h];
    all.extend(after.c.as_ref());
    crate::realize::realize(&all)?;
    Ok((logits.to_vec()?, after.detach()))
}
