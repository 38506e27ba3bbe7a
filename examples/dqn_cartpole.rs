//! DQN on CartPole-v1 through the library: the built-in agent trains until its greedy
//! policy's mean return over 100 episodes reaches 475 (the task's "solved"), printing each
//! judgement; then the policy is judged on 100 episodes that no decision of the run saw,
//! and one episode is played by hand through the `Env` trait. Exits non-zero when the
//! policy misses 475 on the held-out episodes or the run needs more than 100,000 steps.

use lepton::models::dqn::{Dqn, DEFAULTS, SOLVED};
use lepton::rl::{held_out_seed, mean, CartPole, Env};
use lepton::Device;

fn main() -> anyhow::Result<()> {
    let seed = 0;
    let device = Device::cpu();
    let mut agent = Dqn::new(DEFAULTS, seed, &device)?;
    let began = std::time::Instant::now();
    agent.train(2500, DEFAULTS.env_steps, Some(SOLVED), |_, r| {
        println!(
            "{:>6} steps: greedy mean return {:.1}",
            r.steps, r.greedy_return
        );
        Ok(())
    })?;
    let held_out = agent.evaluate(100, held_out_seed(seed))?;
    let held_out = mean(&held_out).unwrap_or(0.0);
    println!(
        "{} steps in {:.1} s; held-out mean return {held_out:.1}",
        agent.steps(),
        began.elapsed().as_secs_f64()
    );
    // One episode by hand: the policy is a forward pass of the online network.
    let mut env = CartPole::new();
    let mut observation = env.reset(12345);
    let mut length = 0;
    loop {
        let action = agent.greedy(&observation)?[0];
        let step = env.step(action)?;
        length += 1;
        if step.done() {
            break;
        }
        observation = step.observation;
    }
    println!("an episode played by hand lasted {length} steps");
    anyhow::ensure!(agent.steps() <= 100_000, "{} steps", agent.steps());
    anyhow::ensure!(
        held_out >= SOLVED,
        "held-out mean return {held_out} < {SOLVED}"
    );
    Ok(())
}
