//! A batch of environments stepped together, so that one forward pass chooses every
//! action. An environment whose episode ends is reset at once (its next seed drawn from
//! the batch's seed and the episode's number), and the observation that ended it is kept
//! in `VecStep::final_observations` for bootstrapping through a truncation.

use crate::counter_rng;
use crate::error::{Error, Result};
use crate::rl::{Env, Resumable};

/// One step of every environment: observations [envs, width] row-major (the next episode's
/// first for those that ended), and per environment the reward and how its episode ended.
#[derive(Clone, Debug, PartialEq)]
pub struct VecStep {
    pub observations: Vec<f32>,
    pub rewards: Vec<f64>,
    pub terminated: Vec<bool>,
    pub truncated: Vec<bool>,
    /// For each environment whose episode ended: its index and the observation it ended on.
    pub final_observations: Vec<(usize, Vec<f32>)>,
}

#[derive(Clone)]
pub struct VecEnv<E: Env> {
    envs: Vec<E>,
    seed: u64,
    episodes: u64,
    observations: Vec<f32>,
    width: usize,
}

impl<E: Env> VecEnv<E> {
    /// `envs`, each reset with its own seed drawn from `seed`.
    pub fn new(mut envs: Vec<E>, seed: u64) -> Result<VecEnv<E>> {
        let Some(first) = envs.first() else {
            return Err(Error::invalid("vec_env", "needs at least one environment"));
        };
        let width = first.observation_space().width();
        let mut observations = Vec::with_capacity(envs.len() * width);
        for (k, env) in envs.iter_mut().enumerate() {
            observations.extend(env.reset(episode_seed(seed, k as u64)));
        }
        let episodes = envs.len() as u64;
        Ok(VecEnv {
            envs,
            seed,
            episodes,
            observations,
            width,
        })
    }

    pub fn len(&self) -> usize {
        self.envs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.envs.is_empty()
    }

    /// The current observations, [envs, width] row-major.
    pub fn observations(&self) -> &[f32] {
        &self.observations
    }

    pub fn width(&self) -> usize {
        self.width
    }

    /// Step environment k with `actions[k]`, resetting those whose episode ends.
    pub fn step(&mut self, actions: &[E::Action]) -> Result<VecStep> {
        if actions.len() != self.envs.len() {
            return Err(Error::invalid(
                "vec_env",
                format!(
                    "{} actions for {} environments",
                    actions.len(),
                    self.envs.len()
                ),
            ));
        }
        let n = self.envs.len();
        let mut out = VecStep {
            observations: Vec::with_capacity(n * self.width),
            rewards: Vec::with_capacity(n),
            terminated: Vec::with_capacity(n),
            truncated: Vec::with_capacity(n),
            final_observations: Vec::new(),
        };
        for (k, (env, &action)) in self.envs.iter_mut().zip(actions).enumerate() {
            let step = env.step(action)?;
            out.rewards.push(step.reward);
            out.terminated.push(step.terminated);
            out.truncated.push(step.truncated);
            if step.done() {
                out.final_observations.push((k, step.observation));
                out.observations
                    .extend(env.reset(episode_seed(self.seed, self.episodes)));
                self.episodes += 1;
            } else {
                out.observations.extend(step.observation);
            }
        }
        self.observations.clone_from(&out.observations);
        Ok(out)
    }
}

/// Where a batch of environments stands: the episodes begun, each environment's own
/// snapshot and the current observations.
#[derive(Clone, Debug, PartialEq)]
pub struct VecSnapshot {
    pub episodes: u64,
    pub envs: Vec<Vec<f64>>,
    pub observations: Vec<f32>,
}

impl<E: Resumable> VecEnv<E> {
    pub fn snapshot(&self) -> VecSnapshot {
        VecSnapshot {
            episodes: self.episodes,
            envs: self.envs.iter().map(Resumable::snapshot).collect(),
            observations: self.observations.clone(),
        }
    }

    /// Return to `snapshot` (of a batch of the same size and seed); a mismatch is an
    /// error, and then the batch is left as it was.
    pub fn restore(&mut self, snapshot: &VecSnapshot) -> Result<()> {
        if snapshot.envs.len() != self.envs.len()
            || snapshot.observations.len() != self.observations.len()
        {
            return Err(Error::invalid(
                "vec_env",
                format!(
                    "a snapshot of {} environments and {} observation values for {} and {}",
                    snapshot.envs.len(),
                    snapshot.observations.len(),
                    self.envs.len(),
                    self.observations.len()
                ),
            ));
        }
        let mut envs = self.envs.clone();
        for (env, state) in envs.iter_mut().zip(&snapshot.envs) {
            env.restore(state)?;
        }
        self.envs = envs;
        self.episodes = snapshot.episodes;
        self.observations.clone_from(&snapshot.observations);
        Ok(())
    }
}

/// The seed of the batch's episode number `episode`.
fn episode_seed(seed: u64, episode: u64) -> u64 {
    counter_rng::bits(seed, episode)
}
