//! What the actor-critics (A2C, PPO) share: a rollout of a batch of environments under the
//! current policy, the critic's values of its rows, and generalized advantage estimates
//! with the returns they imply.

use super::{probabilities, sample, ActorCritic, ACTIONS, WIDTH};
use crate::counter_rng;
use crate::device::Device;
use crate::error::Result;
use crate::graph::{no_grad, Tensor};
use crate::nn::Module;
use crate::rl::{CartPole, VecEnv};

/// `n_steps` steps of every environment, in step-major rows ([n_steps, envs]).
pub(super) struct Rollout {
    pub envs: usize,
    pub observations: Vec<f32>,
    /// The observation after each row: the one its episode ended on, where it ended.
    pub next_observations: Vec<f32>,
    pub actions: Vec<i32>,
    /// The log-probability of each row's action under the rollout's policy.
    pub log_probs: Vec<f32>,
    pub rewards: Vec<f64>,
    /// Whether a row's episode went on past it (not terminated): a truncated one did.
    pub continues: Vec<bool>,
    /// Whether a row's episode ended there, either way.
    pub ended: Vec<bool>,
    /// The returns of the episodes that ended, in order.
    pub finished: Vec<f64>,
}

/// Run `envs` for `n_steps` steps with actions drawn from `stream`, adding each step's
/// rewards to `returns` (each environment's episode so far).
pub(super) fn collect(
    actor: &crate::models::mlp::Mlp,
    envs: &mut VecEnv<CartPole>,
    returns: &mut [f64],
    (n_steps, stream): (usize, u64),
    device: &Device,
) -> Result<Rollout> {
    let count = envs.len();
    let rows = n_steps * count;
    let mut r = Rollout {
        envs: count,
        observations: Vec::with_capacity(rows * WIDTH),
        next_observations: Vec::with_capacity(rows * WIDTH),
        actions: Vec::with_capacity(rows),
        log_probs: Vec::with_capacity(rows),
        rewards: Vec::with_capacity(rows),
        continues: Vec::with_capacity(rows),
        ended: Vec::with_capacity(rows),
        finished: Vec::new(),
    };
    for t in 0..n_steps {
        let p = probabilities(actor, envs.observations(), device)?;
        let chosen: Vec<usize> = (0..count)
            .map(|j| {
                let u = counter_rng::uniform(stream, (t * count + j) as u64);
                sample(&p[j * ACTIONS..(j + 1) * ACTIONS], u)
            })
            .collect();
        r.observations.extend_from_slice(envs.observations());
        let step = envs.step(&chosen)?;
        let mut next = step.observations.clone();
        for (j, last) in &step.final_observations {
            next[j * WIDTH..(j + 1) * WIDTH].copy_from_slice(last);
        }
        r.next_observations.extend(next);
        for (j, &a) in chosen.iter().enumerate() {
            r.actions.push(a as i32);
            // An action drawn only because rounding left the sum short of 1 has probability
            // 0; its log stays finite.
            r.log_probs
                .push(p[j * ACTIONS + a].max(f32::MIN_POSITIVE).ln());
            r.rewards.push(step.rewards[j]);
            r.continues.push(!step.terminated[j]);
            let over = step.terminated[j] || step.truncated[j];
            r.ended.push(over);
            returns[j] += step.rewards[j];
            if over {
                r.finished.push(std::mem::take(&mut returns[j]));
            }
        }
    }
    Ok(r)
}

/// The critic's values of the rollout's rows and of their next observations, in one
/// forward pass without gradients.
pub(super) fn values(
    networks: &ActorCritic,
    r: &Rollout,
    device: &Device,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let rows = r.actions.len();
    let both = [&r.observations[..], &r.next_observations].concat();
    let x = Tensor::from_vec(both, &[2 * rows, WIDTH], device)?;
    let mut values: Vec<f32> = no_grad(|| networks.critic.forward(&x)?.squeeze(-1))?.to_vec()?;
    let next = values.split_off(rows);
    Ok((values, next))
}

/// Generalized advantage estimates and the returns they imply (A + V), backwards per
/// environment: δ = r + γ·V(next) − V, with V(next) = 0 after a termination; A = δ +
/// γλ·A(next row), the chain cut where an episode ended (either way) and after the last
/// row. With λ = 1 the returns are the n-step returns, closed on the critic's value of the
/// last rows' next observations and of a truncated episode's last observation.
pub(super) fn gae(
    r: &Rollout,
    (values, next_values): (&[f32], &[f32]),
    gamma: f64,
    lambda: f64,
) -> (Vec<f32>, Vec<f32>) {
    let rows = r.rewards.len();
    let n = rows / r.envs;
    let (mut advantages, mut returns) = (vec![0.0f32; rows], vec![0.0f32; rows]);
    for j in 0..r.envs {
        let mut next_advantage = 0.0;
        for t in (0..n).rev() {
            let k = t * r.envs + j;
            let bootstrap = if r.continues[k] {
                next_values[k] as f64
            } else {
                0.0
            };
            let delta = r.rewards[k] + gamma * bootstrap - values[k] as f64;
            let chained = if r.ended[k] || t == n - 1 {
                0.0
            } else {
                next_advantage
            };
            let a = delta + gamma * lambda * chained;
            advantages[k] = a as f32;
            returns[k] = (a + values[k] as f64) as f32;
            next_advantage = a;
        }
    }
    (advantages, returns)
}

#[cfg(test)]
mod tests {
    use super::{gae, Rollout};

    /// Two environments, two steps, rewards 1. Environment 0 runs on; environment 1
    /// terminates at step 0 (nothing to bootstrap) and is truncated at step 1 (its last
    /// observation is valued 4).
    fn rollout() -> Rollout {
        Rollout {
            envs: 2,
            observations: Vec::new(),
            next_observations: Vec::new(),
            actions: vec![0; 4],
            log_probs: Vec::new(),
            rewards: vec![1.0; 4],
            continues: vec![true, false, true, true],
            ended: vec![false, true, false, true],
            finished: Vec::new(),
        }
    }

    #[test]
    fn advantages_chain_within_episodes_and_bootstrap_only_past_truncations() {
        // γ = λ = 0.5. Environment 0: δ₁ = 1 + 0.5·6 − 2 = 2, A₁ = 2; δ₀ = 1 + 0.5·2 − 1 =
        // 1, A₀ = 1 + 0.25·2 = 1.5. Environment 1: δ₀ = 1 − 3 = −2, unchained; δ₁ = 1 +
        // 0.5·4 − 1 = 2.
        let values = [1.0, 3.0, 2.0, 1.0];
        let next = [2.0, 100.0, 6.0, 4.0];
        let (advantages, returns) = gae(&rollout(), (&values, &next), 0.5, 0.5);
        assert_eq!(advantages, vec![1.5, -2.0, 2.0, 2.0]);
        assert_eq!(returns, vec![2.5, 1.0, 4.0, 3.0]);
    }

    #[test]
    fn lambda_one_gives_the_n_step_returns_whatever_the_values() {
        // γ = 0.5: environment 0 closes on V = 8 after two rewards (1 + 0.5·(1 + 0.5·8) =
        // 3.5, then 5); environment 1 closes on nothing, then on its last observation's 4.
        for values in [[0.0, 0.0, 0.0, 0.0], [7.0, -3.0, 2.0, 0.5]] {
            // The next observation of a row that runs on is the next row's observation.
            let next = [values[2], 100.0, 8.0, 4.0];
            let (_, returns) = gae(&rollout(), (&values, &next), 0.5, 1.0);
            assert_eq!(returns, vec![3.5, 1.0, 5.0, 3.0], "{values:?}");
        }
    }
}
