//! Policy gradients on CartPole-v1 through the library: REINFORCE and A2C, each trained
//! until its running return (PyTorch's exponential mean of episode returns, weight 0.05)
//! passes 475, then judged by its most probable actions on 100 episodes that no decision of
//! the run saw. Exits non-zero when either misses 475 there or misses its budget (2,000
//! episodes; 500,000 environment steps).

use lepton::models::policy_gradient::{
    train, A2c, Agent, Reinforce, A2C_DEFAULTS, REINFORCE_DEFAULTS, SOLVED,
};
use lepton::rl::{held_out_seed, mean};
use lepton::Device;

fn solve(agent: &mut impl Agent, name: &str, unit: &str) -> anyhow::Result<()> {
    let began = std::time::Instant::now();
    let planned = agent.planned();
    let mut episodes = 0;
    let reached = train(agent, planned, Some(SOLVED), |_, update| {
        episodes += update.returns.len();
        Ok(())
    })?;
    let held_out = mean(&agent.evaluate(100, held_out_seed(0))?).unwrap_or(0.0);
    println!(
        "{name}: running return {:.1} after {} {unit} ({episodes} episodes) in {:.1} s; held-out mean return {held_out:.1}",
        agent.running_return(),
        agent.progress(),
        began.elapsed().as_secs_f64()
    );
    anyhow::ensure!(
        reached,
        "{name} did not pass {SOLVED} within {planned} {unit}"
    );
    anyhow::ensure!(
        held_out >= SOLVED,
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
    )?;
    solve(
        &mut A2c::new(A2C_DEFAULTS, 0, &device)?,
        "A2C",
        "environment steps",
    )
}
