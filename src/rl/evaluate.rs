//! Judging a policy: the returns of the first episode of each of a batch of environments,
//! all stepped together so that one call of the policy acts for every one of them.

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
