//! A replay buffer of transitions for off-policy learning (DQN): a ring of the last
//! `capacity` transitions in flat host arrays, sampled uniformly with replacement from a
//! counter-based stream, so that a seed and a draw number fix a batch.

use crate::counter_rng;
use crate::error::{Error, Result};

/// One transition: the observation, the action taken, the reward, the observation that
/// followed (the one the episode ended on, when it ended), and whether the episode
/// terminated there (nothing to bootstrap) rather than going on or being truncated.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Transition<'a> {
    pub observation: &'a [f32],
    pub action: usize,
    pub reward: f64,
    pub next_observation: &'a [f32],
    pub terminated: bool,
}

/// A sampled batch, laid out for upload: observations [batch, width] row-major.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReplayBatch {
    pub observations: Vec<f32>,
    pub actions: Vec<i32>,
    pub rewards: Vec<f32>,
    pub next_observations: Vec<f32>,
    /// 1 where the episode terminated at the transition, else 0.
    pub terminated: Vec<f32>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ReplayBuffer {
    capacity: usize,
    width: usize,
    /// Where the next transition goes; once the ring is full, the oldest is there.
    next: usize,
    len: usize,
    contents: ReplayBatch,
}

impl ReplayBuffer {
    /// Room for `capacity` transitions of observations `width` long.
    pub fn new(capacity: usize, width: usize) -> Result<ReplayBuffer> {
        if capacity == 0 || width == 0 {
            return Err(Error::invalid(
                "replay_buffer",
                format!("needs a capacity and a width above 0, got {capacity} and {width}"),
            ));
        }
        Ok(ReplayBuffer {
            capacity,
            width,
            next: 0,
            len: 0,
            contents: ReplayBatch::default(),
        })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn width(&self) -> usize {
        self.width
    }

    /// Store `t`, replacing the oldest transition once the buffer is full.
    pub fn push(&mut self, t: Transition) -> Result<()> {
        if t.observation.len() != self.width || t.next_observation.len() != self.width {
            return Err(Error::invalid(
                "replay_buffer",
                format!(
                    "observations of {} and {} values in a buffer of width {}",
                    t.observation.len(),
                    t.next_observation.len(),
                    self.width
                ),
            ));
        }
        let action = i32::try_from(t.action).map_err(|_| {
            Error::invalid(
                "replay_buffer",
                format!("action {} is not an i32", t.action),
            )
        })?;
        let c = &mut self.contents;
        let w = self.width;
        if self.len < self.capacity {
            c.observations.extend_from_slice(t.observation);
            c.next_observations.extend_from_slice(t.next_observation);
            c.actions.push(action);
            c.rewards.push(t.reward as f32);
            c.terminated.push(f32::from(u8::from(t.terminated)));
            self.len += 1;
        } else {
            let k = self.next;
            c.observations[k * w..(k + 1) * w].copy_from_slice(t.observation);
            c.next_observations[k * w..(k + 1) * w].copy_from_slice(t.next_observation);
            c.actions[k] = action;
            c.rewards[k] = t.reward as f32;
            c.terminated[k] = f32::from(u8::from(t.terminated));
        }
        self.next = (self.next + 1) % self.capacity;
        Ok(())
    }

    /// `batch` transitions drawn uniformly with replacement: draw number `draw` of stream
    /// `seed` (the same pair gives the same batch from the same contents).
    pub fn sample(&self, batch: usize, seed: u64, draw: u64) -> Result<ReplayBatch> {
        if self.len == 0 {
            return Err(Error::invalid("replay_buffer", "sampling an empty buffer"));
        }
        let w = self.width;
        let c = &self.contents;
        let mut out = ReplayBatch {
            observations: Vec::with_capacity(batch * w),
            actions: Vec::with_capacity(batch),
            rewards: Vec::with_capacity(batch),
            next_observations: Vec::with_capacity(batch * w),
            terminated: Vec::with_capacity(batch),
        };
        let stream = counter_rng::bits(seed, draw);
        for i in 0..batch as u64 {
            let k = (counter_rng::uniform(stream, i) * self.len as f64) as usize;
            let k = k.min(self.len - 1);
            out.observations
                .extend_from_slice(&c.observations[k * w..(k + 1) * w]);
            out.next_observations
                .extend_from_slice(&c.next_observations[k * w..(k + 1) * w]);
            out.actions.push(c.actions[k]);
            out.rewards.push(c.rewards[k]);
            out.terminated.push(c.terminated[k]);
        }
        Ok(out)
    }

    /// Everything stored, in storage order (which sampling depends on), for a checkpoint.
    pub fn stored(&self) -> &ReplayBatch {
        &self.contents
    }

    /// Where the next transition goes: the oldest one's slot once the buffer is full.
    pub fn next_slot(&self) -> usize {
        self.next
    }

    /// The buffer that [`ReplayBuffer::stored`] and [`ReplayBuffer::next_slot`] describe,
    /// which samples as it did.
    pub fn restore(
        capacity: usize,
        width: usize,
        contents: ReplayBatch,
        next: usize,
    ) -> Result<ReplayBuffer> {
        let mut buffer = ReplayBuffer::new(capacity, width)?;
        let n = contents.actions.len();
        let consistent = contents.observations.len() == n * width
            && contents.next_observations.len() == n * width
            && contents.rewards.len() == n
            && contents.terminated.len() == n
            && n <= capacity
            && next < capacity
            && (n == capacity || next == n);
        if !consistent {
            return Err(Error::invalid(
                "replay_buffer",
                format!("{n} stored transitions, next slot {next}: not a buffer of width {width} and capacity {capacity}"),
            ));
        }
        if contents.actions.iter().any(|&a| a < 0) {
            return Err(Error::invalid("replay_buffer", "a negative action"));
        }
        buffer.len = n;
        buffer.next = next;
        buffer.contents = contents;
        Ok(buffer)
    }
}
