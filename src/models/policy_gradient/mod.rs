//! Policy-gradient methods on CartPole-v1: REINFORCE (Williams, 1992), the advantage
//! actor-critic, A2C (Mnih et al., 2016), and PPO (Schulman et al., 2017). All act by
//! sampling a categorical policy on the host from the probabilities of one forward pass
//! over every environment. REINFORCE and A2C are judged as PyTorch's examples judge them,
//! by a running mean of the episode returns (an exponential average of weight 0.05,
//! starting from 10); PPO by the mean return of the last 100 episodes; 475 is solved.

mod a2c;
mod ppo;
mod reinforce;
mod rollout;

pub use a2c::{A2c, A2cConfig, A2C_DEFAULTS};
pub use ppo::{Ppo, PpoConfig, PPO_DEFAULTS, WINDOW};
pub use reinforce::{Reinforce, ReinforceConfig, REINFORCE_DEFAULTS};

use std::collections::HashMap;
use std::path::Path;

use crate::device::Device;
use crate::error::Result;
use crate::graph::{no_grad, Tensor};
use crate::models::mlp::Mlp;
use crate::nn::{prefixed, Activation, Module, Parameter};
use crate::rl::{first_episodes, CartPole};

/// CartPole's observation width and action count.
const WIDTH: usize = 4;
const ACTIONS: usize = 2;

/// The running return's weight on each new episode, and where it starts.
pub const RUNNING_WEIGHT: f64 = 0.05;
pub const RUNNING_START: f64 = 10.0;

/// A score of this counts as solving CartPole-v1.
pub const SOLVED: f64 = 475.0;

/// The exponential running mean of episode returns.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RunningReturn(pub f64);

impl Default for RunningReturn {
    fn default() -> RunningReturn {
        RunningReturn(RUNNING_START)
    }
}

impl RunningReturn {
    pub fn add(&mut self, episode_return: f64) {
        self.0 = (1.0 - RUNNING_WEIGHT) * self.0 + RUNNING_WEIGHT * episode_return;
    }
}

/// The actor (action logits) and the critic (a state's value), saved as `actor.*` and
/// `critic.*`.
pub struct ActorCritic {
    pub actor: Mlp,
    pub critic: Mlp,
}

impl ActorCritic {
    /// Separate 4-hidden-hidden tanh networks, as Stable-Baselines3's default policy.
    pub fn new(hidden: usize, seed: u64, device: &Device) -> Result<ActorCritic> {
        let sizes = |out| [WIDTH, hidden, hidden, out];
        Ok(ActorCritic {
            actor: Mlp::new(&sizes(ACTIONS), Activation::Tanh, seed, device)?,
            critic: Mlp::new(&sizes(1), Activation::Tanh, seed ^ 0xc417, device)?,
        })
    }
}

impl Module for ActorCritic {
    /// The actor's logits.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.actor.forward(x)
    }

    fn parameters(&self) -> Vec<(String, Parameter)> {
        let mut all = prefixed("actor", self.actor.parameters());
        all.extend(prefixed("critic", self.critic.parameters()));
        all
    }
}

/// What one update did.
#[derive(Clone, Debug, PartialEq)]
pub struct Update {
    /// The returns of the episodes that ended in the update's rollout, in order.
    pub returns: Vec<f64>,
    pub loss: f64,
    /// The run's score after these episodes ([`Agent::score`]).
    pub score: f64,
}

/// A policy-gradient run on CartPole, for the training loop, the CLI and the tests.
pub trait Agent {
    /// How far the run has come, in its own unit: episodes (REINFORCE) or environment
    /// steps (A2C).
    fn progress(&self) -> usize;

    /// The planned length of the run, in the same unit.
    fn planned(&self) -> usize;

    /// Roll out with the current policy and take one gradient step.
    fn update(&mut self) -> Result<Update>;

    /// The figure the run is judged by: the running return (REINFORCE, A2C) or the mean
    /// return of the last 100 episodes (PPO).
    fn score(&self) -> f64;

    /// What [`Agent::score`] is, for reports.
    const SCORE: &'static str;

    /// Updates taken so far.
    fn updates(&self) -> u64;

    /// The returns of `episodes` episodes from `seed` under the most probable actions.
    fn evaluate(&self, episodes: usize, seed: u64) -> Result<Vec<f64>>;

    /// Save the whole run, with `metadata` beside its own.
    fn save(&self, path: &Path, metadata: HashMap<String, String>) -> Result<()>;
}

/// Update `agent` until `until` (at most the planned length) or a score of `stop_at`,
/// handing each update to `on_update`; whether it reached `stop_at`.
pub fn train<A: Agent>(
    agent: &mut A,
    until: usize,
    stop_at: Option<f64>,
    mut on_update: impl FnMut(&A, &Update) -> Result<()>,
) -> Result<bool> {
    let until = until.min(agent.planned());
    while agent.progress() < until {
        let update = agent.update()?;
        on_update(agent, &update)?;
        if stop_at.is_some_and(|goal| update.score >= goal) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The action whose cumulative probability first exceeds `u` (uniform in [0, 1)); the last
/// action when rounding leaves the sum short of `u`.
fn sample(probabilities: &[f32], u: f64) -> usize {
    let mut total = 0.0;
    for (a, &p) in probabilities.iter().enumerate() {
        total += p as f64;
        if u < total {
            return a;
        }
    }
    probabilities.len() - 1
}

/// The actions' probabilities under `policy` for observations [n, 4] row-major, in one
/// forward pass.
fn probabilities(policy: &Mlp, observations: &[f32], device: &Device) -> Result<Vec<f32>> {
    let x = Tensor::from_slice(observations, &[observations.len() / WIDTH, WIDTH], device)?;
    no_grad(|| policy.forward(&x)?.softmax(-1))?.to_vec()
}

/// The mean entropy of the categorical distributions of `logits` [n, actions].
fn entropy(logits: &Tensor) -> Result<Tensor> {
    Ok(logits
        .softmax(-1)?
        .mul(&logits.log_softmax(-1)?)?
        .sum(&[-1], false)?
        .mean(&[], false)?
        .neg())
}

/// The returns of `episodes` CartPole episodes seeded from `seed` under the policy's most
/// probable actions, all run together.
fn evaluate_greedy(policy: &Mlp, episodes: usize, seed: u64, device: &Device) -> Result<Vec<f64>> {
    first_episodes(vec![CartPole::new(); episodes], seed, |obs| {
        let x = Tensor::from_slice(obs, &[obs.len() / WIDTH, WIDTH], device)?;
        let best = no_grad(|| policy.forward(&x)?.argmax(Some(1), false))?;
        Ok(best.to_vec::<i32>()?.iter().map(|&a| a as usize).collect())
    })
}

#[cfg(test)]
mod tests {
    use super::{sample, RunningReturn};

    #[test]
    fn sampling_follows_the_cumulative_probabilities() {
        let p = [0.25, 0.75];
        assert_eq!(sample(&p, 0.0), 0);
        assert_eq!(sample(&p, 0.2499), 0);
        assert_eq!(sample(&p, 0.25), 1);
        assert_eq!(sample(&p, 0.9999), 1);
        // Probabilities that round short of 1 leave the last action for the rest.
        assert_eq!(sample(&[0.3, 0.3], 0.9), 1);
    }

    #[test]
    fn the_running_return_is_pytorchs() {
        let mut r = RunningReturn::default();
        r.add(30.0);
        assert!((r.0 - (0.95 * 10.0 + 0.05 * 30.0)).abs() < 1e-12);
    }
}
