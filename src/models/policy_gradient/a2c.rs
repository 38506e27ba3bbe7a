//! A2C, the synchronous advantage actor-critic: a batch of environments runs on, and every
//! `n_steps` steps of all of them make one update. The critic's value of the state after
//! the last step (or of the observation a truncated episode ended on; nothing after a
//! termination) closes the n-step returns R; the actor follows −log π(a|s) · (R − V(s)) and
//! the critic (R − V(s))², with an optional entropy bonus. Each update is the same plan:
//! the rollout is [n_steps × envs] rows.

use std::collections::HashMap;
use std::path::Path;

use super::rollout::{self, collect, gae, Rollout};
use super::{entropy, evaluate_greedy, ActorCritic, Agent, RunningReturn, Update, WIDTH};
use crate::checkpoint::save_run;
use crate::counter_rng;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::graph::Tensor;
use crate::models::{environment_state, run_field, run_metadata, RunState};
use crate::nn::{loss, Module};
use crate::optim::{Adam, Optimizer};
use crate::rl::{CartPole, VecEnv};

const FAMILY: &str = "a2c";

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct A2cConfig {
    /// Environment steps in the whole run (each step of the batch is `envs` of them).
    pub env_steps: usize,
    pub envs: usize,
    /// Steps of every environment per update.
    pub n_steps: usize,
    /// Units in each of the two hidden layers of the actor and of the critic.
    pub hidden: usize,
    pub lr: f64,
    pub gamma: f64,
    pub value_coef: f64,
    pub entropy_coef: f64,
    pub max_grad_norm: f64,
}

/// RL Baselines3 Zoo's CartPole-v1 settings for A2C (8 environments, 5 steps, separate
/// 64-64 tanh networks, value weight 0.5, no entropy bonus, gradients clipped to 0.5), with
/// Adam in place of RMSprop.
pub const A2C_DEFAULTS: A2cConfig = A2cConfig {
    env_steps: 500_000,
    envs: 8,
    n_steps: 5,
    hidden: 64,
    lr: 7e-4,
    gamma: 0.99,
    value_coef: 0.5,
    entropy_coef: 0.0,
    max_grad_norm: 0.5,
};

impl A2cConfig {
    fn check(&self) -> Result<()> {
        let fine = [self.env_steps, self.envs, self.n_steps, self.hidden]
            .iter()
            .all(|&c| c > 0)
            && self.lr > 0.0
            && self.lr.is_finite()
            && (0.0..=1.0).contains(&self.gamma)
            && self.value_coef >= 0.0
            && self.entropy_coef >= 0.0
            && self.max_grad_norm > 0.0;
        if fine {
            return Ok(());
        }
        Err(Error::invalid(
            "a2c",
            format!("needs positive sizes, lr and clip, gamma in [0, 1] and coefficients ≥ 0; got {self:?}"),
        ))
    }
}

const ACTING: u64 = 0xa2c0;

pub struct A2c {
    pub config: A2cConfig,
    pub networks: ActorCritic,
    optimizer: Adam,
    envs: VecEnv<CartPole>,
    seed: u64,
    /// The return so far of each environment's episode.
    returns: Vec<f64>,
    running: RunningReturn,
    device: Device,
}

impl A2c {
    pub fn new(config: A2cConfig, seed: u64, device: &Device) -> Result<A2c> {
        config.check()?;
        let networks = ActorCritic::new(config.hidden, seed, device)?;
        let optimizer =
            Adam::new(networks.parameters(), config.lr).clip_grad_norm(config.max_grad_norm);
        Ok(A2c {
            envs: VecEnv::new(vec![CartPole::new(); config.envs], seed)?,
            networks,
            optimizer,
            seed,
            returns: vec![0.0; config.envs],
            running: RunningReturn::default(),
            device: device.clone(),
            config,
        })
    }

    /// The run saved at `path` by a run of the same `config` and `seed`, and its metadata.
    pub fn resume(
        config: A2cConfig,
        seed: u64,
        path: &Path,
        device: &Device,
    ) -> Result<(A2c, HashMap<String, String>)> {
        let mut run = A2c::new(config, seed, device)?;
        let (metadata, mut state) = RunState::load(
            path,
            (&run.networks, &mut run.optimizer),
            device,
            (FAMILY, seed, &format!("{config:?}")),
        )?;
        run.returns = state.restore_environments(&mut run.envs)?;
        run.running = RunningReturn(run_field(path, &metadata, "running")?);
        Ok((run, metadata))
    }
}

impl Agent for A2c {
    fn progress(&self) -> usize {
        self.optimizer.steps() as usize * self.config.n_steps * self.config.envs
    }

    fn planned(&self) -> usize {
        self.config.env_steps
    }

    fn updates(&self) -> u64 {
        self.optimizer.steps()
    }

    const SCORE: &'static str = "running return";

    fn score(&self) -> f64 {
        self.running.0
    }

    /// One rollout of `n_steps` steps of every environment, and one gradient step.
    fn update(&mut self) -> Result<Update> {
        let c = self.config;
        let rows = c.n_steps * c.envs;
        let stream = counter_rng::bits(self.seed ^ ACTING, self.optimizer.steps());
        let d = &self.device;
        let rollout = collect(
            &self.networks.actor,
            &mut self.envs,
            &mut self.returns,
            (c.n_steps, stream),
            d,
        )?;
        let values = rollout::values(&self.networks, &rollout, d)?;
        // With λ = 1 the returns are the n-step returns.
        let (_, targets) = gae(&rollout, (&values.0, &values.1), c.gamma, 1.0);
        let Rollout {
            observations,
            actions,
            finished,
            ..
        } = rollout;
        let x = Tensor::from_vec(observations, &[rows, WIDTH], d)?;
        let a = Tensor::from_vec(actions, &[rows], d)?;
        let targets = Tensor::from_vec(targets, &[rows], d)?;
        let logits = self.networks.actor.forward(&x)?;
        let values = self.networks.critic.forward(&x)?.squeeze(-1)?;
        let advantages = targets.sub(&values)?.detach();
        let nll = loss::cross_entropy_per_sample(&logits, &a, 0.0)?;
        let mut objective = nll
            .mul(&advantages)?
            .mean(&[], false)?
            .add(&loss::mse(&values, &targets)?.mul_scalar(self.config.value_coef)?)?;
        if self.config.entropy_coef > 0.0 {
            objective = objective.sub(&entropy(&logits)?.mul_scalar(self.config.entropy_coef)?)?;
        }
        let loss = self.optimizer.step(&objective)?;
        for &r in &finished {
            self.running.add(r);
        }
        Ok(Update {
            returns: finished,
            loss,
            score: self.running.0,
        })
    }

    /// The returns of `episodes` episodes from `seed` under the most probable actions.
    fn evaluate(&self, episodes: usize, seed: u64) -> Result<Vec<f64>> {
        evaluate_greedy(&self.networks.actor, episodes, seed, &self.device)
    }

    /// Save both networks, Adam's state, the environments mid-episode and the running
    /// return, with `metadata`.
    fn save(&self, path: &Path, mut metadata: HashMap<String, String>) -> Result<()> {
        let state = environment_state(&self.envs.snapshot(), &self.returns)?;
        metadata.extend(run_metadata(
            FAMILY,
            self.seed,
            &format!("{:?}", self.config),
        ));
        metadata.insert("running".to_string(), self.running.0.to_string());
        save_run(
            path,
            &self.networks,
            Some(&self.optimizer),
            &state,
            metadata,
        )
    }
}
