//! Reinforcement-learning environments in plain Rust: the `Env` trait that users implement
//! for their own, a batch of environments stepped together (`VecEnv`, whose observations
//! are one [envs, observation] block for one forward pass), and two built in, exactly as
//! Gymnasium defines them: CartPole-v1 and the slippery 4×4 FrozenLake. Every random draw
//! comes from the seed given to `reset`, so a seed fixes an episode.

mod cartpole;
mod evaluate;
mod frozen_lake;
mod replay;
mod vec_env;

pub use cartpole::{CartPole, CartPoleState};
pub use evaluate::{first_episodes, held_out_seed, mean};
pub use frozen_lake::{FrozenLake, Move};
pub use replay::{ReplayBatch, ReplayBuffer, Transition};
pub use vec_env::{VecEnv, VecSnapshot, VecStep};

use crate::error::Result;

/// The values an observation or an action may take.
#[derive(Clone, Debug, PartialEq)]
pub enum Space {
    /// One of 0..n.
    Discrete(usize),
    /// A vector with each element in [low, high] (infinite bounds allowed).
    Box { low: Vec<f32>, high: Vec<f32> },
}

impl Space {
    /// The length of an element of the space as a flat f32 vector: 1 for a discrete space.
    pub fn width(&self) -> usize {
        match self {
            Space::Discrete(_) => 1,
            Space::Box { low, .. } => low.len(),
        }
    }
}

/// What one step of an episode gives back. `terminated` ends the episode in the task's own
/// terms (the pole fell, a hole): nothing follows, so no value is bootstrapped past it.
/// `truncated` ends it at the time limit: the state had a future, and bootstrapping through
/// it is correct.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub observation: Vec<f32>,
    pub reward: f64,
    pub terminated: bool,
    pub truncated: bool,
}

impl Step {
    /// Whether the episode is over, either way.
    pub fn done(&self) -> bool {
        self.terminated || self.truncated
    }
}

/// An environment: episodes of observations, actions and rewards.
pub trait Env {
    type Action: Copy + Send;

    fn observation_space(&self) -> Space;
    fn action_space(&self) -> Space;

    /// Start an episode, its random draws fixed by `seed`; the first observation.
    fn reset(&mut self, seed: u64) -> Vec<f32>;

    /// Act once. An action outside the action space, or a step after the episode ended
    /// (or before the first reset), is an error, and the episode is left as it was.
    fn step(&mut self, action: Self::Action) -> Result<Step>;
}

/// An environment whose episode in progress can be saved and restored, so that a training
/// run resumed from a checkpoint goes on exactly as if it had not stopped.
pub trait Resumable: Env + Clone {
    /// The whole state, as numbers.
    fn snapshot(&self) -> Vec<f64>;

    /// Return to a state that [`Resumable::snapshot`] gave; a malformed one is an error,
    /// and then the environment is left as it was.
    fn restore(&mut self, state: &[f64]) -> Result<()>;
}
