//! Tabular Q-learning on the slippery FrozenLake, written against the `Env` trait: an
//! ε-greedy agent learns a table of action values by hand, then its greedy policy is judged
//! on fresh episodes and against the model's exact success rate. Exits non-zero below 0.70
//! (the best policy reaches 0.74).

use lepton::rl::{Env, FrozenLake};

fn main() -> anyhow::Result<()> {
    let (episodes, lr, gamma) = (30_000u64, 0.05, 0.99);
    let mut q = [[0.0f64; 4]; 16];
    let greedy = |q: &[[f64; 4]; 16], cell: usize| {
        (0..4).fold(0, |b, a| if q[cell][a] > q[cell][b] { a } else { b })
    };
    // A small generator of the agent's own draws (the lake draws from the reset's seed).
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut env = FrozenLake::new();
    for e in 0..episodes {
        let epsilon = (1.0 - e as f64 / (episodes / 2) as f64).max(0.05);
        let mut cell = env.reset(e)[0] as usize;
        loop {
            let action = if uniform() < epsilon {
                (uniform() * 4.0) as usize % 4
            } else {
                greedy(&q, cell)
            };
            let step = env.step(action)?;
            let next = step.observation[0] as usize;
            // Nothing is bootstrapped past a hole or the goal; past the time limit it is.
            let future = if step.terminated {
                0.0
            } else {
                q[next].iter().copied().fold(f64::MIN, f64::max)
            };
            q[cell][action] += lr * (step.reward + gamma * future - q[cell][action]);
            if step.done() {
                break;
            }
            cell = next;
        }
    }
    let policy: [usize; 16] = std::array::from_fn(|cell| greedy(&q, cell));
    let mut wins = 0;
    for e in 0..1000 {
        let mut cell = env.reset(1_000_000 + e)[0] as usize;
        loop {
            let step = env.step(policy[cell])?;
            wins += (step.reward > 0.0) as usize;
            if step.done() {
                break;
            }
            cell = step.observation[0] as usize;
        }
    }
    let sampled = wins as f64 / 1000.0;
    let exact = FrozenLake::policy_success(&policy, FrozenLake::MAX_STEPS);
    let (best, _) = FrozenLake::optimal_success(FrozenLake::MAX_STEPS);
    println!(
        "greedy success {sampled:.3} over 1000 episodes; exactly {exact:.4}, the best {best:.4}"
    );
    anyhow::ensure!(sampled >= 0.70, "greedy success {sampled} is below 0.70");
    Ok(())
}
