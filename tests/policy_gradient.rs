//! REINFORCE, A2C and PPO on CartPole-v1: the defaults solve it within their budgets (the
//! running return reaches 475 for REINFORCE and A2C, whose most probable actions then also
//! return at least 475 on average over 100 held-out episodes; the mean of the last 100
//! episodes reaches 475 for PPO); a seed fixes the run; a run saved and resumed is the run
//! that did not stop; bad settings and other runs' checkpoints are refused.

mod common;

use lepton::models::policy_gradient::{
    train, A2c, A2cConfig, Agent, Ppo, PpoConfig, Reinforce, ReinforceConfig, Update, A2C_DEFAULTS,
    PPO_DEFAULTS, REINFORCE_DEFAULTS, SOLVED,
};
use lepton::nn::Module;
use lepton::rl::{held_out_seed, mean};
use lepton::{Device, Error};

/// Train to the target; the held-out mean return of the most probable actions.
fn solves(agent: &mut impl Agent, what: &str) -> f64 {
    let planned = agent.planned();
    assert!(
        train(agent, planned, Some(SOLVED), |_, _| Ok(())).unwrap(),
        "{what}"
    );
    assert!(agent.score() >= SOLVED);
    mean(&agent.evaluate(100, held_out_seed(0)).unwrap()).unwrap()
}

#[test]
fn the_defaults_solve_cartpole() {
    let cpu = Device::cpu();
    let mut reinforce = Reinforce::new(REINFORCE_DEFAULTS, 0, &cpu).unwrap();
    let held_out = solves(&mut reinforce, "reinforce");
    assert!(
        held_out >= SOLVED,
        "reinforce: held-out mean return {held_out}"
    );
    let mut a2c = A2c::new(A2C_DEFAULTS, 0, &cpu).unwrap();
    let held_out = solves(&mut a2c, "a2c");
    assert!(held_out >= SOLVED, "a2c: held-out mean return {held_out}");
    // PPO's target is the training episodes' mean alone (its greedy policy is not part of
    // it); the budget is counted in environment steps, as A2C's.
    let mut ppo = Ppo::new(PPO_DEFAULTS, 0, &cpu).unwrap();
    solves(&mut ppo, "ppo");
    assert!(a2c.progress() <= 500_000 && ppo.progress() <= 500_000);
}

fn updates(agent: &mut impl Agent, n: usize) -> Vec<Update> {
    (0..n).map(|_| agent.update().unwrap()).collect()
}

/// Whole runs of `first + rest` updates with seeds 5 (twice) and 6, and a run of seed 5
/// saved after `first` updates and resumed for the rest: the same updates and parameters.
fn check_resume<A: Agent>(
    new: impl Fn(u64) -> A,
    resume: impl Fn(&std::path::Path) -> A,
    model: impl Fn(&A) -> &dyn Module,
    (first, rest): (usize, usize),
    what: &str,
) {
    let whole = |seed| {
        let mut agent = new(seed);
        let seen = updates(&mut agent, first + rest);
        (seen, common::parameter_values(model(&agent)))
    };
    let (seen, params) = whole(5);
    assert_eq!((seen.clone(), params.clone()), whole(5), "{what}");
    assert_ne!(params, whole(6).1, "{what}");
    let path = std::env::temp_dir().join(format!(
        "lepton-{what}-resume-{}.safetensors",
        std::process::id()
    ));
    let mut agent = new(5);
    let mut split = updates(&mut agent, first);
    agent.save(&path, Default::default()).unwrap();
    drop(agent);
    let mut resumed = resume(&path);
    split.extend(updates(&mut resumed, rest));
    assert_eq!(split, seen, "{what}");
    assert_eq!(common::parameter_values(model(&resumed)), params, "{what}");
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_seed_fixes_the_run_and_a_resumed_run_is_the_same_run() {
    let cpu = Device::cpu();
    let small = ReinforceConfig {
        hidden: 16,
        ..REINFORCE_DEFAULTS
    };
    check_resume(
        |seed| Reinforce::new(small, seed, &cpu).unwrap(),
        |path| Reinforce::resume(small, 5, path, &cpu).unwrap().0,
        |a| &a.policy,
        (4, 4),
        "reinforce",
    );
    // Enough steps for episodes to end mid-rollout and to run across the checkpoint.
    let small = A2cConfig {
        hidden: 16,
        ..A2C_DEFAULTS
    };
    check_resume(
        |seed| A2c::new(small, seed, &cpu).unwrap(),
        |path| A2c::resume(small, 5, path, &cpu).unwrap().0,
        |a| &a.networks,
        (7, 9),
        "a2c",
    );
    let small = PpoConfig {
        hidden: 16,
        n_steps: 32,
        epochs: 2,
        ..PPO_DEFAULTS
    };
    check_resume(
        |seed| Ppo::new(small, seed, &cpu).unwrap(),
        |path| Ppo::resume(small, 5, path, &cpu).unwrap().0,
        |a| &a.networks,
        (3, 4),
        "ppo",
    );
}

#[test]
fn bad_settings_and_other_runs_checkpoints_are_refused() {
    let cpu = Device::cpu();
    for config in [
        ReinforceConfig {
            batch_episodes: 0,
            ..REINFORCE_DEFAULTS
        },
        ReinforceConfig {
            lr: f64::NAN,
            ..REINFORCE_DEFAULTS
        },
        ReinforceConfig {
            gamma: -0.1,
            ..REINFORCE_DEFAULTS
        },
    ] {
        assert!(
            matches!(
                Reinforce::new(config, 0, &cpu),
                Err(Error::InvalidArgument {
                    op: "reinforce",
                    ..
                })
            ),
            "{config:?}"
        );
    }
    for config in [
        A2cConfig {
            envs: 0,
            ..A2C_DEFAULTS
        },
        A2cConfig {
            n_steps: 0,
            ..A2C_DEFAULTS
        },
        A2cConfig {
            entropy_coef: -1.0,
            ..A2C_DEFAULTS
        },
    ] {
        assert!(
            matches!(
                A2c::new(config, 0, &cpu),
                Err(Error::InvalidArgument { op: "a2c", .. })
            ),
            "{config:?}"
        );
    }
    for config in [
        PpoConfig {
            minibatches: 3,
            ..PPO_DEFAULTS
        },
        PpoConfig {
            clip: 0.0,
            ..PPO_DEFAULTS
        },
        PpoConfig {
            env_steps: 100,
            ..PPO_DEFAULTS
        },
    ] {
        assert!(
            matches!(
                Ppo::new(config, 0, &cpu),
                Err(Error::InvalidArgument { op: "ppo", .. })
            ),
            "{config:?}"
        );
    }
    let path = std::env::temp_dir().join(format!(
        "lepton-pg-refused-{}.safetensors",
        std::process::id()
    ));
    let mut a2c = A2c::new(A2C_DEFAULTS, 1, &cpu).unwrap();
    a2c.update().unwrap();
    a2c.save(&path, Default::default()).unwrap();
    let refused = |result: lepton::Result<()>, what: &str| match result {
        Err(Error::Checkpoint { message, .. }) => assert!(!message.is_empty(), "{what}"),
        other => panic!("{what}: {other:?}"),
    };
    refused(
        A2c::resume(A2C_DEFAULTS, 2, &path, &cpu).map(|_| ()),
        "another seed",
    );
    let other = A2cConfig {
        lr: 1e-3,
        ..A2C_DEFAULTS
    };
    refused(
        A2c::resume(other, 1, &path, &cpu).map(|_| ()),
        "other settings",
    );
    refused(
        Reinforce::resume(REINFORCE_DEFAULTS, 1, &path, &cpu).map(|_| ()),
        "another family",
    );
    refused(
        Ppo::resume(PPO_DEFAULTS, 1, &path, &cpu).map(|_| ()),
        "another actor-critic family",
    );
    std::fs::remove_file(&path).unwrap();
}
