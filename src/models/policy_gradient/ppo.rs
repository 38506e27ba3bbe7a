//! PPO with the clipped surrogate (Schulman et al., 2017), as CleanRL's `ppo.py` runs it on
//! CartPole: a batch of environments runs on for `n_steps` steps, generalized advantage
//! estimates (GAE) are computed from the critic's values, and the rollout is learned from
//! for `epochs` passes in shuffled minibatches, each a gradient step on
//! max(−r·A, −clip(r, 1 ± ε)·A) + c_v·(V − R)² − c_e·entropy, where r is the probability
//! ratio of the taken action under the new and the rollout's policy. Minibatches have one
//! size, so each is the same plan. The run is judged by the mean return of the last 100
//! episodes.

use std::collections::{HashMap, VecDeque};
use std::path::Path;

use super::rollout::{self, collect, gae, Rollout};
use super::{entropy, evaluate_greedy, ActorCritic, Agent, Update, WIDTH};
use crate::checkpoint::save_run;
use crate::counter_rng;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::graph::Tensor;
use crate::models::{environment_state, run_metadata, RunState};
use crate::nn::{loss, Module};
use crate::optim::{Adam, Optimizer, Schedule};
use crate::rl::{mean, CartPole, VecEnv};

const FAMILY: &str = "ppo";

/// Episodes in the window whose mean return judges the run.
pub const WINDOW: usize = 100;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PpoConfig {
    /// Environment steps in the whole run (each step of the batch is `envs` of them).
    pub env_steps: usize,
    pub envs: usize,
    /// Steps of every environment per rollout.
    pub n_steps: usize,
    /// Units in each of the two hidden layers of the actor and of the critic.
    pub hidden: usize,
    /// Adam's rate, annealed linearly to 0 over the run.
    pub lr: f64,
    pub gamma: f64,
    pub gae_lambda: f64,
    /// Passes over each rollout, and minibatches per pass (they must divide the rollout).
    pub epochs: usize,
    pub minibatches: usize,
    /// The probability ratio's clipping ε.
    pub clip: f64,
    pub value_coef: f64,
    pub entropy_coef: f64,
    pub max_grad_norm: f64,
}

/// CleanRL's `ppo.py` defaults for CartPole-v1 (4 environments × 128 steps, GAE 0.95,
/// 4 epochs of 4 minibatches, clipping 0.2, entropy 0.01, value 0.5, clip norm 0.5, Adam at
/// 2.5e-4 annealed), with separate 64-64 tanh networks.
pub const PPO_DEFAULTS: PpoConfig = PpoConfig {
    env_steps: 500_000,
    envs: 4,
    n_steps: 128,
    hidden: 64,
    lr: 2.5e-4,
    gamma: 0.99,
    gae_lambda: 0.95,
    epochs: 4,
    minibatches: 4,
    clip: 0.2,
    value_coef: 0.5,
    entropy_coef: 0.01,
    max_grad_norm: 0.5,
};

impl PpoConfig {
    fn rows(&self) -> usize {
        self.envs * self.n_steps
    }

    /// Rollouts in the whole run.
    fn rollouts(&self) -> usize {
        self.env_steps / self.rows().max(1)
    }

    fn check(&self) -> Result<()> {
        let sizes = [
            self.env_steps,
            self.envs,
            self.n_steps,
            self.hidden,
            self.epochs,
            self.minibatches,
        ];
        let fine = sizes.iter().all(|&c| c > 0)
            && self.rows().is_multiple_of(self.minibatches)
            && self.env_steps >= self.rows()
            && self.lr > 0.0
            && self.lr.is_finite()
            && (0.0..=1.0).contains(&self.gamma)
            && (0.0..=1.0).contains(&self.gae_lambda)
            && self.clip > 0.0
            && self.value_coef >= 0.0
            && self.entropy_coef >= 0.0
            && self.max_grad_norm > 0.0;
        if fine {
            return Ok(());
        }
        Err(Error::invalid(
            "ppo",
            format!("needs positive sizes, minibatches that divide envs × n_steps, a run of at least one rollout, positive lr, clip and clip norm, gamma and lambda in [0, 1] and coefficients ≥ 0; got {self:?}"),
        ))
    }
}

/// Independent random streams of a run, mixed with its seed.
const ACTING: u64 = 0x9900;
const SHUFFLE: u64 = 0x5b0f;

pub struct Ppo {
    pub config: PpoConfig,
    pub networks: ActorCritic,
    optimizer: Adam,
    envs: VecEnv<CartPole>,
    seed: u64,
    rollouts: u64,
    returns: Vec<f64>,
    /// The returns of the last [`WINDOW`] episodes.
    recent: VecDeque<f64>,
    device: Device,
}

impl Ppo {
    pub fn new(config: PpoConfig, seed: u64, device: &Device) -> Result<Ppo> {
        config.check()?;
        let networks = ActorCritic::new(config.hidden, seed, device)?;
        let total = (config.rollouts() * config.epochs * config.minibatches) as u64;
        let optimizer = Adam::new(networks.parameters(), config.lr)
            .eps(1e-5)
            .clip_grad_norm(config.max_grad_norm)
            .schedule(Schedule::Linear { total, min_lr: 0.0 });
        Ok(Ppo {
            envs: VecEnv::new(vec![CartPole::new(); config.envs], seed)?,
            networks,
            optimizer,
            seed,
            rollouts: 0,
            returns: vec![0.0; config.envs],
            recent: VecDeque::with_capacity(WINDOW),
            device: device.clone(),
            config,
        })
    }

    /// The mean return of the last [`WINDOW`] episodes; 0 until that many have ended.
    fn window_mean(&self) -> f64 {
        if self.recent.len() < WINDOW {
            return 0.0;
        }
        self.recent.iter().sum::<f64>() / WINDOW as f64
    }

    /// The run saved at `path` by a run of the same `config` and `seed`, and its metadata.
    pub fn resume(
        config: PpoConfig,
        seed: u64,
        path: &Path,
        device: &Device,
    ) -> Result<(Ppo, HashMap<String, String>)> {
        let mut run = Ppo::new(config, seed, device)?;
        let (metadata, mut state) = RunState::load(
            path,
            (&run.networks, &mut run.optimizer),
            device,
            (FAMILY, seed, &format!("{config:?}")),
        )?;
        run.returns = state.restore_environments(&mut run.envs)?;
        let recent: Vec<f64> = state.take("episodes.recent")?;
        if recent.len() > WINDOW {
            return Err(state.error(format!("{} recent episodes", recent.len())));
        }
        run.recent = recent.into();
        run.rollouts = run.optimizer.steps() / (config.epochs * config.minibatches) as u64;
        Ok((run, metadata))
    }
}

impl Agent for Ppo {
    fn progress(&self) -> usize {
        self.rollouts as usize * self.config.rows()
    }

    fn planned(&self) -> usize {
        self.config.rollouts() * self.config.rows()
    }

    fn updates(&self) -> u64 {
        self.rollouts
    }

    const SCORE: &'static str = "mean return of the last 100 episodes";

    /// The mean return of the last 100 episodes; 0 until 100 have ended.
    fn score(&self) -> f64 {
        self.window_mean()
    }

    /// One rollout, then `epochs` passes over it in minibatches.
    fn update(&mut self) -> Result<Update> {
        let c = self.config;
        let rows = c.rows();
        let stream = counter_rng::bits(self.seed ^ ACTING, self.rollouts);
        let d = &self.device;
        let rollout = collect(
            &self.networks.actor,
            &mut self.envs,
            &mut self.returns,
            (c.n_steps, stream),
            d,
        )?;
        let values = rollout::values(&self.networks, &rollout, d)?;
        let (advantages, returns) = gae(&rollout, (&values.0, &values.1), c.gamma, c.gae_lambda);
        let Rollout {
            observations,
            actions,
            log_probs: old_log_probs,
            finished,
            ..
        } = rollout;
        let size = rows / c.minibatches;
        let mut losses = Vec::with_capacity(c.epochs * c.minibatches);
        for epoch in 0..c.epochs {
            let order = shuffled(
                rows,
                counter_rng::bits(
                    self.seed ^ SHUFFLE,
                    self.rollouts * c.epochs as u64 + epoch as u64,
                ),
            );
            for batch in order.chunks(size) {
                let pick = |v: &[f32], w: usize| -> Vec<f32> {
                    batch
                        .iter()
                        .flat_map(|&k| v[k * w..(k + 1) * w].iter().copied())
                        .collect()
                };
                let a: Vec<i32> = batch.iter().map(|&k| actions[k]).collect();
                let mut adv = pick(&advantages, 1);
                normalize(&mut adv);
                let minibatch = Minibatch {
                    observations: Tensor::from_vec(pick(&observations, WIDTH), &[size, WIDTH], d)?,
                    actions: Tensor::from_vec(a, &[size], d)?,
                    old_log_probs: Tensor::from_vec(pick(&old_log_probs, 1), &[size], d)?,
                    advantages: Tensor::from_vec(adv, &[size], d)?,
                    returns: Tensor::from_vec(pick(&returns, 1), &[size], d)?,
                };
                let objective = self.objective(&minibatch)?;
                losses.push(self.optimizer.step(&objective)?);
            }
        }
        self.rollouts += 1;
        for &r in &finished {
            if self.recent.len() == WINDOW {
                self.recent.pop_front();
            }
            self.recent.push_back(r);
        }
        Ok(Update {
            returns: finished,
            loss: mean(&losses).unwrap_or(f64::NAN),
            score: self.window_mean(),
        })
    }

    fn evaluate(&self, episodes: usize, seed: u64) -> Result<Vec<f64>> {
        evaluate_greedy(&self.networks.actor, episodes, seed, &self.device)
    }

    /// Save both networks, Adam's state, the environments mid-episode and the recent
    /// episodes' returns, with `metadata`.
    fn save(&self, path: &Path, mut metadata: HashMap<String, String>) -> Result<()> {
        let mut state = environment_state(&self.envs.snapshot(), &self.returns)?;
        let recent: Vec<f64> = self.recent.iter().copied().collect();
        let len = recent.len();
        state.push((
            "episodes.recent".to_string(),
            Tensor::from_vec(recent, &[len], &Device::cpu())?,
        ));
        metadata.extend(run_metadata(
            FAMILY,
            self.seed,
            &format!("{:?}", self.config),
        ));
        save_run(
            path,
            &self.networks,
            Some(&self.optimizer),
            &state,
            metadata,
        )
    }
}

/// One minibatch of a rollout, on the device.
struct Minibatch {
    observations: Tensor,
    actions: Tensor,
    old_log_probs: Tensor,
    advantages: Tensor,
    returns: Tensor,
}

impl Ppo {
    /// The clipped surrogate, the value loss and the entropy bonus of a minibatch.
    fn objective(&self, m: &Minibatch) -> Result<Tensor> {
        let c = &self.config;
        let logits = self.networks.actor.forward(&m.observations)?;
        let log_probs = loss::cross_entropy_per_sample(&logits, &m.actions, 0.0)?.neg();
        let ratio = log_probs.sub(&m.old_log_probs)?.exp();
        let unclipped = ratio.mul(&m.advantages)?.neg();
        let clipped = ratio
            .clamp(1.0 - c.clip, 1.0 + c.clip)?
            .mul(&m.advantages)?
            .neg();
        let policy = unclipped.maximum(&clipped)?.mean(&[], false)?;
        let values = self.networks.critic.forward(&m.observations)?.squeeze(-1)?;
        let value = loss::mse(&values, &m.returns)?.mul_scalar(0.5 * c.value_coef)?;
        policy
            .add(&value)?
            .sub(&entropy(&logits)?.mul_scalar(c.entropy_coef)?)
    }
}

/// 0..n in an order drawn from `stream` (Fisher–Yates).
fn shuffled(n: usize, stream: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = ((counter_rng::uniform(stream, i as u64) * (i + 1) as f64) as usize).min(i);
        order.swap(i, j);
    }
    order
}

/// Scale to mean 0 and standard deviation 1 (the 1e-8 keeps equal values finite).
fn normalize(values: &mut [f32]) {
    let n = values.len().max(1) as f64;
    let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = values
        .iter()
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    let scale = 1.0 / (var.sqrt() + 1e-8);
    for v in values.iter_mut() {
        *v = ((*v as f64 - mean) * scale) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::shuffled;

    #[test]
    fn a_shuffle_is_a_permutation_fixed_by_its_stream() {
        let a = shuffled(513, 7);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..513).collect::<Vec<_>>());
        assert_eq!(a, shuffled(513, 7));
        assert_ne!(a, shuffled(513, 8));
    }
}
