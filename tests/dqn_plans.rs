//! DQN alternates three kinds of work, each its own cached plan: the ε-greedy forward pass
//! over the environments, the gradient step (both networks, the loss and Adam), and the
//! evaluation's forward pass. After warm-up none of them builds a plan, a pipeline or a
//! buffer, on either device. Own process, one test: the counters are global.

mod common;

use lepton::models::dqn::{Dqn, DqnConfig, DEFAULTS};
use lepton::stats;

#[test]
fn training_and_evaluation_replay_their_plans() {
    let config = DqnConfig {
        env_steps: 1200,
        hidden: 32,
        batch_size: 32,
        learning_starts: 200,
        train_every: 50,
        gradient_steps: 4,
        target_every: 100,
        ..DEFAULTS
    };
    for device in common::devices() {
        let mut agent = Dqn::new(config, 2, &device).unwrap();
        // Warm-up: past learning_starts, ε below 1 (greedy passes), target syncs, an
        // evaluation.
        agent.run(600).unwrap();
        agent.evaluate(10, 1).unwrap();
        let before = stats();
        let progress = agent.run(config.env_steps).unwrap();
        agent.evaluate(10, 2).unwrap();
        let after = stats();
        assert!(progress.loss.is_some_and(f64::is_finite), "on {device}");
        common::assert_built_nothing(&before, &after, &format!("dqn on {device}"));
    }
}
