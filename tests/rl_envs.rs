//! The built-in environments against Gymnasium (tests/fixtures/gym_envs.json, made by
//! make_gym_fixtures.py): CartPole-v1 trajectories step by step, FrozenLake's whole
//! transition model; then what the model implies (the optimal success rate, and that
//! sampled episodes follow it), seeding, and the batch of environments.

use lepton::rl::{CartPole, Env, FrozenLake, VecEnv};
use serde_json::Value;

fn fixtures() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/gym_envs.json"
    ))
    .expect("fixture file");
    serde_json::from_str(&text).expect("valid JSON")
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

#[test]
fn cartpole_follows_gymnasium_step_by_step() {
    let all = fixtures();
    for (c, case) in all["cartpole"].as_array().unwrap().iter().enumerate() {
        let initial = floats(&case["initial"]);
        let mut env = CartPole::new();
        env.reset_to([initial[0], initial[1], initial[2], initial[3]]);
        let steps = case["steps"].as_array().unwrap();
        for (t, want) in steps.iter().enumerate() {
            let action = want["action"].as_u64().unwrap() as usize;
            let got = env.step(action).unwrap();
            // The same f64 operations in the same order: equal up to the JSON's parsing.
            for (g, w) in env.state().iter().zip(floats(&want["state"])) {
                assert!(
                    (g - w).abs() <= 1e-9 * w.abs().max(1.0),
                    "case {c} step {t}: {g} vs {w}"
                );
            }
            let observation: Vec<f32> = floats(&want["observation"])
                .iter()
                .map(|&v| v as f32)
                .collect();
            assert_eq!(got.observation, observation, "case {c} step {t}");
            assert_eq!(got.reward, want["reward"].as_f64().unwrap());
            assert_eq!(
                got.terminated,
                want["terminated"].as_bool().unwrap(),
                "case {c} step {t}"
            );
            assert_eq!(
                got.truncated,
                want["truncated"].as_bool().unwrap(),
                "case {c} step {t}"
            );
        }
        assert!(
            env.step(0).is_err(),
            "case {c}: a step after the end is refused"
        );
    }
    // The fixtures cover both ends: terminations by angle and by position, and truncation.
    let last: Vec<&Value> = all["cartpole"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["steps"].as_array().unwrap().last().unwrap())
        .collect();
    assert!(last.iter().any(|s| s["truncated"].as_bool().unwrap()));
    assert!(
        last.iter()
            .filter(|s| s["terminated"].as_bool().unwrap())
            .count()
            >= 3
    );
}

#[test]
fn frozen_lake_has_gymnasiums_model() {
    let all = fixtures();
    for (cell, actions) in all["frozen_lake"].as_array().unwrap().iter().enumerate() {
        for (action, outcomes) in actions.as_array().unwrap().iter().enumerate() {
            let moves = FrozenLake::transitions(cell, action);
            let want = outcomes.as_array().unwrap();
            assert_eq!(moves.len(), want.len(), "cell {cell} action {action}");
            for (m, w) in moves.iter().zip(want) {
                assert!((m.probability - w[0].as_f64().unwrap()).abs() < 1e-15);
                assert_eq!(
                    m.cell as u64,
                    w[1].as_u64().unwrap(),
                    "cell {cell} action {action}"
                );
                assert_eq!(m.reward, w[2].as_f64().unwrap());
                assert_eq!(m.terminal, w[3].as_bool().unwrap());
            }
        }
    }
}

#[test]
fn the_best_frozen_lake_policy_succeeds_about_74_percent_and_sampling_agrees() {
    let (best, policy) = FrozenLake::optimal_success(FrozenLake::MAX_STEPS);
    assert!((best - 0.74).abs() < 0.005, "optimum {best}");
    // 20,000 sampled episodes under that policy: the success share's standard error is
    // 0.0031, and the bound is 4 of them. The draws are fixed by the seeds.
    let episodes = 20_000u64;
    let mut wins = 0;
    let mut env = FrozenLake::new();
    for e in 0..episodes {
        env.reset(e);
        let mut left = FrozenLake::MAX_STEPS;
        loop {
            let step = env.step(policy[left - 1][env.cell()]).unwrap();
            left -= 1;
            if step.reward > 0.0 {
                wins += 1;
            }
            if step.done() {
                break;
            }
        }
    }
    let share = wins as f64 / episodes as f64;
    assert!(
        (share - best).abs() < 0.0124,
        "sampled {share} against {best}"
    );
}

#[test]
fn a_seed_fixes_an_episode_and_bad_actions_are_refused() {
    let run = |seed: u64| -> Vec<Vec<f32>> {
        let mut env = FrozenLake::new();
        let mut seen = vec![env.reset(seed)];
        for t in 0..30 {
            match env.step(t % 4) {
                Ok(step) => {
                    seen.push(step.observation.clone());
                    if step.done() {
                        break;
                    }
                }
                Err(e) => panic!("{e}"),
            }
        }
        seen
    };
    assert_eq!(run(5), run(5));
    assert!((0..20).any(|s| run(s) != run(5)));
    let mut cart = CartPole::new();
    let first = cart.reset(9);
    assert_eq!(first, CartPole::new().reset(9));
    assert!(first.iter().all(|v| v.abs() <= 0.05));
    assert!(cart.step(2).is_err());
    assert!(
        FrozenLake::new().step(0).is_err(),
        "a step before reset is refused"
    );
}

#[test]
fn a_batch_steps_every_environment_and_resets_the_finished() {
    let envs: Vec<CartPole> = (0..6).map(|_| CartPole::new()).collect();
    let mut batch = VecEnv::new(envs, 3).unwrap();
    assert_eq!((batch.len(), batch.width()), (6, 4));
    assert_eq!(batch.observations().len(), 24);
    let (mut finished, mut steps) = (0, 0);
    while finished < 10 {
        // Always right: every episode falls within a few dozen steps.
        let out = batch.step(&[1; 6]).unwrap();
        steps += 1;
        assert_eq!(out.observations.len(), 24);
        for (k, last) in &out.final_observations {
            assert!(out.terminated[*k] || out.truncated[*k]);
            // The next episode starts within ±0.05, unlike where the last one ended.
            assert!(out.observations[k * 4..k * 4 + 4]
                .iter()
                .all(|v| v.abs() <= 0.05));
            assert!(last.iter().any(|v| v.abs() > 0.05));
        }
        finished += out.final_observations.len();
        assert!(steps < 500, "episodes of always pushing right must end");
    }
    assert!(batch.step(&[1; 5]).is_err());
    assert!(VecEnv::<CartPole>::new(Vec::new(), 0).is_err());
}
