//! Judging a policy: the returns of the first episode of each of a batch of environments,
//! all stepped together so that one call of the policy acts for every one of them.

use crate::counter_rng;
use crate::error::Result;
use crate::rl::{Env, VecEnv};

/// The undiscounted return of the first episode of each of `envs` (reset from `seed` as
/// [`VecEnv::new`] does), acting with `policy`, which maps observations [envs, width] to
/// one action per environment. Environments whose episode has ended keep stepping (the
/// batch moves together) until every first episode is over, and their later rewards are
/// not counted.
pub fn first_episodes<E: Env>(
    envs: Vec<E>,
    seed: u64,
    mut policy: impl FnMut(&[f32]) -> Result<Vec<E::Action>>,
) -> Result<Vec<f64>> {
    let mut batch = VecEnv::new(envs, seed)?;
    let mut returns = vec![0.0; batch.len()];
    let mut over = vec![false; batch.len()];
    while over.iter().any(|o| !o) {
        let actions = policy(batch.observations())?;
        let step = batch.step(&actions)?;
        for k in 0..returns.len() {
            if !over[k] {
                returns[k] += step.rewards[k];
                over[k] = step.terminated[k] || step.truncated[k];
            }
        }
    }
    Ok(returns)
}

/// The seed of evaluation episodes that no decision of a run with `seed` saw, for an
/// unbiased final figure.
pub fn held_out_seed(seed: u64) -> u64 {
    counter_rng::bits(seed, 0x4e1d)
}

/// The mean of `values`; None for none.
pub fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}
