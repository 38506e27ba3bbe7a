//! Tabular Q-learning on the slippery FrozenLake reaches the target (a greedy success rate
//! of at least 0.70 over 1,000 evaluation episodes; the optimum is 0.74) on three seeds,
//! with a policy as good as the best one that ignores the step count (Q-learning learns
//! one action per cell); the same seed gives the same table, and a run split in two gives
//! the run in one.

use lepton::models::qlearn::{learn, success_rate, QLearnConfig, QTable, DEFAULTS};
use lepton::rl::FrozenLake;

#[test]
fn three_seeds_reach_the_target_with_an_optimal_policy() {
    // The best policy overall changes its mind near the time limit (0.7442); the best that
    // keeps one action per cell is the one with the most steps left (0.7402).
    let limit = FrozenLake::MAX_STEPS;
    let (optimum, policies) = FrozenLake::optimal_success(limit);
    let stationary = FrozenLake::policy_success(&policies[limit - 1], limit);
    assert!(
        stationary <= optimum && optimum - stationary < 0.005,
        "{stationary} {optimum}"
    );
    for seed in 0..3 {
        let mut q = QTable::default();
        learn(&DEFAULTS, seed, &mut q, (0, DEFAULTS.episodes), |_, _| {}).unwrap();
        let rate = success_rate(&q, 1000, seed).unwrap();
        assert!(rate >= 0.70, "seed {seed}: greedy success {rate}");
        // The sampled rate carries noise (standard error 0.014); the model's expectation
        // does not.
        let exact = FrozenLake::policy_success(&q.policy(), limit);
        assert!(
            exact >= stationary - 1e-12,
            "seed {seed}: {exact} against {stationary}"
        );
    }
}

#[test]
fn a_seed_fixes_the_run_and_a_split_run_is_the_same_run() {
    let config = QLearnConfig {
        episodes: 2000,
        ..DEFAULTS
    };
    let whole = |seed| {
        let mut q = QTable::default();
        learn(&config, seed, &mut q, (0, config.episodes), |_, _| {}).unwrap();
        q
    };
    assert_eq!(whole(4), whole(4));
    assert_ne!(whole(4), whole(5));
    let mut split = QTable::default();
    learn(&config, 4, &mut split, (0, 700), |_, _| {}).unwrap();
    let restored = QTable::from_flat(&split.flat()).unwrap();
    let mut split = restored;
    let mut seen = Vec::new();
    learn(&config, 4, &mut split, (700, config.episodes), |e, _| {
        seen.push(e)
    })
    .unwrap();
    assert_eq!(split, whole(4));
    assert_eq!(seen, (700..2000).collect::<Vec<_>>());
}

#[test]
fn bad_settings_and_tables_are_refused() {
    let mut q = QTable::default();
    let bad = QLearnConfig {
        lr: 0.0,
        ..DEFAULTS
    };
    assert!(learn(&bad, 0, &mut q, (0, 1), |_, _| {}).is_err());
    let bad = QLearnConfig {
        gamma: 1.5,
        ..DEFAULTS
    };
    assert!(learn(&bad, 0, &mut q, (0, 1), |_, _| {}).is_err());
    assert!(QTable::from_flat(&[0.0; 63]).is_err());
    assert!(QTable::from_flat(&[f64::NAN; 64]).is_err());
}
