//! The reinforcement-learning families alternate several kinds of work, each its own
//! cached plan: DQN the ε-greedy forward pass over the environments, the gradient step
//! (both networks, the loss and Adam) and the evaluation's forward pass; REINFORCE and A2C
//! the policy's forward pass, the update, and A2C and PPO the critic's values of the
//! rollout; PPO its minibatch steps. After warm-up none of them builds a plan, a pipeline or a buffer, on
//! either device. Own process, one test: the counters are global.

mod common;

use lepton::models::dqn::{Dqn, DqnConfig, DEFAULTS};
use lepton::models::policy_gradient::{
    A2c, A2cConfig, Agent, Ppo, PpoConfig, Reinforce, ReinforceConfig, A2C_DEFAULTS, PPO_DEFAULTS,
    REINFORCE_DEFAULTS,
};
use lepton::stats;

fn dqn(device: &lepton::Device) {
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
    let mut agent = Dqn::new(config, 2, device).unwrap();
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

fn policy_gradient(agent: &mut impl Agent, what: &str) {
    // Two rounds of updates and an evaluation: on a GPU the first update after the first
    // evaluation still takes two buffers that the pool then keeps.
    for _ in 0..2 {
        for _ in 0..3 {
            agent.update().unwrap();
        }
        agent.evaluate(4, 1).unwrap();
    }
    let before = stats();
    for _ in 0..5 {
        assert!(agent.update().unwrap().loss.is_finite(), "{what}");
    }
    agent.evaluate(4, 2).unwrap();
    common::assert_built_nothing(&before, &stats(), what);
}

#[test]
fn training_and_evaluation_replay_their_plans() {
    for device in common::devices() {
        dqn(&device);
        let config = ReinforceConfig {
            hidden: 16,
            ..REINFORCE_DEFAULTS
        };
        let mut reinforce = Reinforce::new(config, 3, &device).unwrap();
        policy_gradient(&mut reinforce, &format!("reinforce on {device}"));
        let config = A2cConfig {
            hidden: 16,
            ..A2C_DEFAULTS
        };
        let mut a2c = A2c::new(config, 3, &device).unwrap();
        policy_gradient(&mut a2c, &format!("a2c on {device}"));
        let config = PpoConfig {
            hidden: 16,
            n_steps: 16,
            epochs: 2,
            ..PPO_DEFAULTS
        };
        let mut ppo = Ppo::new(config, 3, &device).unwrap();
        policy_gradient(&mut ppo, &format!("ppo on {device}"));
    }
}
