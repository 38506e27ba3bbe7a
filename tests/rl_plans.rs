//! The reinforcement-learning families alternate several kinds of work, each its own
//! cached plan: DQN the ε-greedy forward pass over the environments, the gradient step
//! (both networks, the loss and Adam) and the evaluation's forward pass; REINFORCE and A2C
//! the policy's forward pass, the update, and A2C and PPO the critic's values of the
//! rollout; PPO its minibatch steps. After warm-up none of them builds a plan, a pipeline
//! or a buffer, on either device. Host↔device traffic is data only: the parameters,
//! gradients and optimizer state stay on the device, so DQN, A2C and PPO move the same
//! bytes with networks of 16 and of 64 units, and REINFORCE no more than its episodes.
//! Own process, one test: the counters are global.

mod common;

use lepton::models::dqn::{Dqn, DqnConfig, DEFAULTS};
use lepton::models::policy_gradient::{
    A2c, A2cConfig, Agent, Ppo, PpoConfig, Reinforce, ReinforceConfig, A2C_DEFAULTS, PPO_DEFAULTS,
    REINFORCE_DEFAULTS,
};
use lepton::{stats, Device};

/// (uploads, bytes uploaded, read-backs, bytes read back).
type Transfers = (u64, u64, u64, u64);

/// The transfers of 1,200 environment steps with 4 gradient steps every 50.
fn dqn(device: &Device, hidden: usize) -> Transfers {
    let config = DqnConfig {
        env_steps: 1200,
        hidden,
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
    let ran = stats();
    agent.evaluate(10, 2).unwrap();
    assert!(progress.loss.is_some_and(f64::is_finite), "on {device}");
    common::assert_built_nothing(&before, &stats(), &format!("dqn on {device}"));
    common::transfers(&before, &ran)
}

/// The transfers of 5 updates.
fn policy_gradient(agent: &mut impl Agent, what: &str) -> Transfers {
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
    let updated = stats();
    agent.evaluate(4, 2).unwrap();
    common::assert_built_nothing(&before, &stats(), what);
    common::transfers(&before, &updated)
}

/// The transfers of each family with `hidden` units: DQN, REINFORCE, A2C, PPO.
fn families(device: &Device, hidden: usize) -> [Transfers; 4] {
    let reinforce = ReinforceConfig {
        hidden,
        ..REINFORCE_DEFAULTS
    };
    let a2c = A2cConfig {
        hidden,
        ..A2C_DEFAULTS
    };
    let ppo = PpoConfig {
        hidden,
        n_steps: 16,
        epochs: 2,
        ..PPO_DEFAULTS
    };
    let what = |family: &str| format!("{family} with {hidden} units on {device}");
    [
        dqn(device, hidden),
        policy_gradient(
            &mut Reinforce::new(reinforce, 3, device).unwrap(),
            &what("reinforce"),
        ),
        policy_gradient(&mut A2c::new(a2c, 3, device).unwrap(), &what("a2c")),
        policy_gradient(&mut Ppo::new(ppo, 3, device).unwrap(), &what("ppo")),
    ]
}

#[test]
fn training_and_evaluation_replay_their_plans_and_move_only_data() {
    for device in common::devices() {
        let [dqn, reinforce, a2c, ppo] = families(&device, 16);
        if !device.is_gpu() {
            assert_eq!(
                [dqn, reinforce, a2c, ppo],
                [(0, 0, 0, 0); 4],
                "the CPU moves nothing"
            );
            continue;
        }
        let [wide_dqn, _, wide_a2c, wide_ppo] = families(&device, 64);
        assert_eq!(
            (dqn, a2c, ppo),
            (wide_dqn, wide_a2c, wide_ppo),
            "16 vs 64 units"
        );
        // A REINFORCE update plays 4 episodes (at most 500 steps), each step uploading the
        // 4 observations and reading back their action probabilities, then uploads the
        // episodes padded to 500 steps (one plan for every length): observations (4 values),
        // actions, returns and the padding mask, 7 words a step; then the optimizer's step
        // scalars (a few words), and reads back the loss.
        let (steps, padded) = (500, 4 * 500 * 7 * 4);
        assert!(
            reinforce.1 <= 5 * (steps * 4 * 4 * 4 + padded + 64),
            "{reinforce:?}"
        );
        assert!(reinforce.3 <= 5 * (steps * 4 * 2 * 4 + 16), "{reinforce:?}");
    }
}
