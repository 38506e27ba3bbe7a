//! A2C, the synchronous advantage actor-critic: a batch of environments runs on, and every
//! `n_steps` steps of all of them make one update. The critic's value of the state after
//! the last step (or of the observation a truncated episode ended on; nothing after a
//! termination) closes the n-step returns R; the actor follows −log π(a|s) · (R − V(s)) and
//! the critic (R − V(s))², with an optional entropy bonus. Each update is the same plan:
//! the rollout is [n_steps × envs] rows.

use std::collections::HashMap;
use std::path::Path;

use super::{evaluate_greedy, probabilities, sample, Agent, RunningReturn, Update, ACTIONS, WIDTH};
use crate::checkpoint::{load_run, save_run};
use crate::counter_rng;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::graph::{no_grad, Tensor};
use crate::models::mlp::Mlp;
use crate::models::{check_run, environment_state, run_field, run_metadata, RunState};
use crate::nn::{loss, prefixed, Activation, Module, Parameter};
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

/// The actor (action logits) and the critic (a state's value), saved as `actor.*` and
/// `critic.*`.
pub struct ActorCritic {
    pub actor: Mlp,
    pub critic: Mlp,
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
        let sizes = |out| [WIDTH, config.hidden, config.hidden, out];
        let actor = Mlp::new(&sizes(ACTIONS), Activation::Tanh, seed, device)?;
        let critic = Mlp::new(&sizes(1), Activation::Tanh, seed ^ 0xc417, device)?;
        let networks = ActorCritic { actor, critic };
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
        let (metadata, state) = load_run(path, &run.networks, Some(&mut run.optimizer), device)?;
        check_run(path, &metadata, FAMILY, seed, &format!("{config:?}"))?;
        let mut state = RunState::new(state, path);
        let (snapshot, returns) = state.take_environments(config.envs)?;
        run.envs.restore(&snapshot).map_err(|e| state.error(e))?;
        run.returns = returns;
        run.running = RunningReturn(run_field(path, &metadata, "running")?);
        Ok((run, metadata))
    }
}

/// A rollout's rows, step-major ([n_steps, envs]), as the returns need them.
struct Rollout<'a> {
    rewards: &'a [f64],
    /// Whether a row's episode went on (not terminated) at its next observation.
    continues: &'a [bool],
    /// Whether a row's episode ended there, either way.
    ended: &'a [bool],
    /// The critic's value of each row's next observation (the one an episode ended on).
    next_values: &'a [f32],
    envs: usize,
}

/// The n-step return of each row, backwards per environment: a row's return runs on into
/// its environment's next row unless its episode ended there; the last rows, and rows
/// whose episode was truncated, close on the critic's value of the next observation; a
/// termination closes on nothing.
fn n_step_returns(r: &Rollout, gamma: f64) -> Vec<f32> {
    let rows = r.rewards.len();
    let n = rows / r.envs;
    let mut targets = vec![0.0f32; rows];
    for j in 0..r.envs {
        let mut g = 0.0;
        for t in (0..n).rev() {
            let k = t * r.envs + j;
            let follow = if r.ended[k] || t == n - 1 {
                if r.continues[k] {
                    r.next_values[k] as f64
                } else {
                    0.0
                }
            } else {
                g
            };
            g = r.rewards[k] + gamma * follow;
            targets[k] = g as f32;
        }
    }
    targets
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

    fn running_return(&self) -> f64 {
        self.running.0
    }

    /// One rollout of `n_steps` steps of every environment, and one gradient step.
    fn update(&mut self) -> Result<Update> {
        let (n, envs) = (self.config.n_steps, self.config.envs);
        let rows = n * envs;
        let stream = counter_rng::bits(self.seed ^ ACTING, self.optimizer.steps());
        let mut observations = Vec::with_capacity(rows * WIDTH);
        let mut next_observations = Vec::with_capacity(rows * WIDTH);
        let mut actions = Vec::with_capacity(rows);
        let mut rewards = Vec::with_capacity(rows);
        // Per row: 0 after a termination (nothing follows), else 1 (bootstrap from the
        // next observation's value, the one a truncated episode ended on included).
        let mut continues = Vec::with_capacity(rows);
        // Per row: whether the row's episode ended there (the return does not run on).
        let mut ended = Vec::with_capacity(rows);
        let mut finished = Vec::new();
        for t in 0..n {
            let p = probabilities(&self.networks.actor, self.envs.observations(), &self.device)?;
            let chosen: Vec<usize> = (0..envs)
                .map(|j| {
                    let u = counter_rng::uniform(stream, (t * envs + j) as u64);
                    sample(&p[j * ACTIONS..(j + 1) * ACTIONS], u)
                })
                .collect();
            observations.extend_from_slice(self.envs.observations());
            let step = self.envs.step(&chosen)?;
            let mut next = step.observations.clone();
            for (j, last) in &step.final_observations {
                next[j * WIDTH..(j + 1) * WIDTH].copy_from_slice(last);
            }
            next_observations.extend(next);
            for j in 0..envs {
                actions.push(chosen[j] as i32);
                rewards.push(step.rewards[j]);
                continues.push(!step.terminated[j]);
                ended.push(step.terminated[j] || step.truncated[j]);
                self.returns[j] += step.rewards[j];
                if ended[t * envs + j] {
                    finished.push(std::mem::take(&mut self.returns[j]));
                }
            }
        }
        let d = &self.device;
        let next = Tensor::from_vec(next_observations, &[rows, WIDTH], d)?;
        let next_values: Vec<f32> =
            no_grad(|| self.networks.critic.forward(&next)?.squeeze(-1))?.to_vec()?;
        let targets = n_step_returns(
            &Rollout {
                rewards: &rewards,
                continues: &continues,
                ended: &ended,
                next_values: &next_values,
                envs,
            },
            self.config.gamma,
        );
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
            let entropy = logits
                .softmax(-1)?
                .mul(&logits.log_softmax(-1)?)?
                .sum(&[-1], false)?
                .mean(&[], false)?
                .neg();
            objective = objective.sub(&entropy.mul_scalar(self.config.entropy_coef)?)?;
        }
        let loss = self.optimizer.step(&objective)?;
        for &r in &finished {
            self.running.add(r);
        }
        Ok(Update {
            returns: finished,
            loss,
            running: self.running.0,
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

#[cfg(test)]
mod tests {
    use super::{n_step_returns, Rollout};

    #[test]
    fn returns_close_on_the_critic_except_after_a_termination() {
        // Two environments, three steps, γ = 0.5. Environment 0 runs on throughout and
        // closes on V = 8; environment 1 terminates at step 0 (nothing follows), then is
        // truncated at step 1 (closes on that observation's value, 4) and closes its last
        // row on 2.
        let rollout = Rollout {
            rewards: &[1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
            continues: &[true, false, true, true, true, true],
            ended: &[false, true, false, true, false, false],
            next_values: &[100.0, 100.0, 100.0, 4.0, 8.0, 2.0],
            envs: 2,
        };
        let got = n_step_returns(&rollout, 0.5);
        // Environment 0: 1 + 0.5·8 = 5, 1 + 0.5·5 = 3.5, 1 + 0.5·3.5 = 2.75.
        // Environment 1: 1 + 0.5·2 = 2; 1 + 0.5·4 = 3; 1 + 0 = 1.
        assert_eq!(got, vec![2.75, 1.0, 3.5, 3.0, 5.0, 2.0]);
    }
}
