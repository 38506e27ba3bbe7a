//! Generating one position at a time: a `KvCache` keeps the keys and values of the
//! positions seen so far, so each new position costs one step of attention over them, not a
//! pass over the whole context again. The cache has a fixed capacity and every step has the
//! same shapes (the new position is written through a one-hot row and the unused positions
//! are masked out, both data), so after the first step each step replays one plan.

use crate::error::{Error, Result};
use crate::graph::Tensor;
use crate::nn::attention::scaled_dot_product_attention;
use crate::nn::MultiheadAttention;

/// Keys and values [batch, heads, capacity, head_dim] of the first `len` positions.
pub struct KvCache {
    keys: Option<Tensor>,
    values: Option<Tensor>,
    len: usize,
    capacity: usize,
}

/// What one step writes and reads: the new position as a one-hot row [capacity] and the
/// scores' mask [capacity] (0 up to the new position, −inf after).
pub struct Position {
    pub one_hot: Tensor,
    mask: Tensor,
}

impl KvCache {
    pub fn new(capacity: usize) -> KvCache {
        KvCache {
            keys: None,
            values: None,
            len: 0,
            capacity,
        }
    }

    /// Positions held.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The keys and values held, to realize with a step's output.
    pub fn tensors(&self) -> Vec<&Tensor> {
        self.keys.iter().chain(&self.values).collect()
    }

    /// The keys and values cut from the graphs that computed them (after they are
    /// realized), so the next step's graph starts from data.
    pub fn detach(&mut self) {
        self.keys = self.keys.as_ref().map(Tensor::detach);
        self.values = self.values.as_ref().map(Tensor::detach);
    }

    /// The next position's one-hot row and mask, or an error when the cache is full.
    pub fn next_position(&self, like: &Tensor) -> Result<Position> {
        if self.len >= self.capacity {
            return Err(Error::invalid(
                "kv_cache",
                format!("the cache holds its {} positions already", self.capacity),
            ));
        }
        let one_hot: Vec<f32> = (0..self.capacity)
            .map(|p| if p == self.len { 1.0 } else { 0.0 })
            .collect();
        let mask: Vec<f32> = (0..self.capacity)
            .map(|p| {
                if p <= self.len {
                    0.0
                } else {
                    f32::NEG_INFINITY
                }
            })
            .collect();
        let data = |v: Vec<f32>| -> Result<Tensor> {
            Tensor::from_vec(v, &[self.capacity], like.device())?.cast(like.dtype())
        };
        Ok(Position {
            one_hot: data(one_hot)?,
            mask: data(mask)?,
        })
    }
}

impl MultiheadAttention {
    /// Self-attention of one new position `x` [B, 1, E] (at `at`, from
    /// [`KvCache::next_position`]) over it and the positions in `cache`, which takes the new
    /// key and value. The same as causal attention over the whole sequence at its last
    /// position.
    pub fn attend_cached(&self, x: &Tensor, cache: &mut KvCache, at: &Position) -> Result<Tensor> {
        if x.rank() != 3 || x.shape()[1] != 1 {
            return Err(Error::invalid(
                "attend_cached",
                format!(
                    "expects one position [batch, 1, embed], got {:?}",
                    x.shape()
                ),
            ));
        }
        let (q, k, v) = (
            self.project(x, 0)?,
            self.project(x, 1)?,
            self.project(x, 2)?,
        );
        let slot = at.one_hot.reshape(&[1, 1, cache.capacity as isize, 1])?;
        // Written as old·(1 − slot) + new·slot: the same shapes at every position.
        let write = |old: &Option<Tensor>, new: &Tensor| -> Result<Tensor> {
            let placed = new.mul(&slot)?;
            match old {
                Some(old) => old.mul(&slot.neg().add_scalar(1.0)?)?.add(&placed),
                None => Ok(placed),
            }
        };
        let (keys, values) = (write(&cache.keys, &k)?, write(&cache.values, &v)?);
        let attended = scaled_dot_product_attention(&q, &keys, &values, Some(&at.mask), false)?;
        let out = self.join_heads(&attended)?;
        cache.keys = Some(keys);
        cache.values = Some(values);
        cache.len += 1;
        Ok(out)
    }
}
