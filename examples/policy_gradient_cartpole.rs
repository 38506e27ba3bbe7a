//! Policy gradients on CartPole-v1 through the library: REINFORCE, A2C and PPO, each
//! trained until its score reaches 475 (the running return, PyTorch's exponential mean of
//! episode returns, weight 0.05; for PPO the mean return of the last 100 episodes), then
//! judged by its most probable actions on 100 episodes that no decision of the run saw.
//! Exits non-zero when one misses its budget (2,000 episodes; 500,000 environment steps)
//! or, for REINFORCE and A2C, 475 on the held-out episodes.

use lepton::models::policy_gradient::{
    train, A2c, Agent, Ppo, Reinforce, A2C_DEFAULTS, PPO_DEFAULTS, REINFORCE_DEFAULTS, SOLVED,
};
use lepton::rl::{held_out_seed, mean};
use lepton::Device;

fn solve<A: Agent>(agent: &mut A, name: &str, unit: &str, judged: bool) -> anyhow::Result<()> {
    let began = std::time::Instant::now();
    let planned = agent.planned();
    let mut episodes = 0;
    let reached = train(agent, planned, Some(SOLVED), |_, update| {
        episodes += update.returns.len();
        Ok(())
    })?;
    let held_out = mean(&agent.evaluate(100, held_out_seed(0))?).unwrap_or(0.0);
    println!(
        "{name}: {} {:.1} after {} {unit} ({episodes} episodes) in {:.1} s; held-out mean return {held_out:.1}",
        A::SCORE,
        agent.score(),
        agent.progress(),
        began.elapsed().as_secs_f64()
    );
    anyhow::ensure!(
        reached,
        "{name} did not reach {SOLVED} within {planned} {unit}"
    );
    anyhow::ensure!(
        !judged || held_out >= SOLVED,
        "{name}: held-out mean return {held_out}"
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let device = Device::cpu();
    solve(
        &mut Reinforce::new(REINFORCE_DEFAULTS, 0, &device)?,
        "REINFORCE",
        "episodes",
        true,
    )?;
    solve(
        &mut A2c::new(A2C_DEFAULTS, 0, &device)?,
        "A2C",
        "environment steps",
        true,
    )?;
    solve(
        &mut Ppo::new(PPO_DEFAULTS, 0, &device)?,
        "PPO",
        "environment steps",
        false,
    )
}
