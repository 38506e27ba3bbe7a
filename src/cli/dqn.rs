//! `lepton train dqn`: DQN on CartPole-v1, with a progress bar over environment steps, the
//! greedy policy judged on 100 episodes every --eval-every steps, a stop once it solves the
//! task (--stop-at-return), a final figure on 100 held-out episodes, checkpoints that
//! --resume continues exactly, a plot of returns and a metrics file.

use std::collections::HashMap;
use std::time::Instant;

use anyhow::Context;
use lepton::models::dqn::{Dqn, DqnConfig, Record, DEFAULTS, EVAL_EPISODES, SOLVED};
use lepton::rl::{held_out_seed, mean};
use lepton::Device;

use crate::cli::plot;
use crate::cli::train::{check_outputs, progress_bar, stop_point, write_metrics, TrainArgs};

/// The last record's greedy return, in a checkpoint's metadata.
const GREEDY_RETURN: &str = "greedy_return";

pub fn run(args: &TrainArgs, device: &Device) -> anyhow::Result<()> {
    if args.epochs.is_some() || args.arch.is_some() || args.toy {
        anyhow::bail!("dqn takes --iterations (environment steps), --batch-size, --lr, --eval-every and --stop-at-return, not --epochs, --arch or --toy");
    }
    check_outputs(args)?;
    let config = DqnConfig {
        env_steps: args.iterations.unwrap_or(DEFAULTS.env_steps),
        batch_size: args.batch_size.unwrap_or(DEFAULTS.batch_size),
        lr: args.lr.unwrap_or(DEFAULTS.lr),
        ..DEFAULTS
    };
    let stop_at = args.stop_at_return.unwrap_or(SOLVED);
    anyhow::ensure!(
        !stop_at.is_nan(),
        "--stop-at-return is NaN; give a return, or inf to take every planned step"
    );
    let every = args.eval_every.unwrap_or(2500);
    let (mut agent, mut reached) = match &args.resume {
        Some(path) => {
            let (agent, meta) = Dqn::resume(config, args.seed, path, device)?;
            println!(
                "resumed from {} after {} environment steps",
                path.display(),
                agent.steps()
            );
            let last = meta.get(GREEDY_RETURN).and_then(|r| r.parse::<f64>().ok());
            (agent, last.is_some_and(|r| r >= stop_at))
        }
        None => (Dqn::new(config, args.seed, device)?, false),
    };
    println!(
        "training dqn on {device}: CartPole-v1, {} environment steps, batch {}, lr {}, {} targets, the greedy policy judged on {EVAL_EPISODES} episodes every {every} steps until its mean return reaches {stop_at}",
        config.env_steps, config.batch_size, config.lr, if config.double { "double-Q" } else { "plain" }
    );
    let until = stop_point(args, agent.steps(), config.env_steps);
    let bar = progress_bar(config.env_steps as u64, "steps");
    bar.set_position(agent.steps() as u64);
    let began = Instant::now();
    let mut history = Vec::new();
    if reached {
        println!("the checkpoint's policy had reached {stop_at}: nothing to train");
    } else {
        let last = agent.train(every, until, Some(stop_at), |agent, record| {
            bar.set_position(record.steps as u64);
            bar.set_message(format!(
                "epsilon {:.2}  greedy return {:.1}",
                agent.config.epsilon(record.steps),
                record.greedy_return
            ));
            bar.suspend(|| println!("{}", describe(record)));
            if let Some(path) = &args.save {
                let meta =
                    HashMap::from([(GREEDY_RETURN.to_string(), record.greedy_return.to_string())]);
                agent.save(path, meta)?;
            }
            history.push(record.clone());
            Ok(())
        })?;
        reached = last.is_some_and(|r| r.greedy_return >= stop_at);
    }
    bar.finish_and_clear();
    let seconds = began.elapsed().as_secs_f64();
    let held_out = agent.evaluate(EVAL_EPISODES, held_out_seed(args.seed))?;
    let held_out_mean = mean(&held_out).unwrap_or(0.0);
    let held_out_min = held_out.iter().copied().fold(f64::INFINITY, f64::min);
    println!(
        "{} after {} environment steps ({} gradient steps) in {seconds:.1} s; on {EVAL_EPISODES} held-out episodes the greedy policy's mean return is {held_out_mean:.1} (lowest {held_out_min})",
        if reached { "reached the target" } else { "stopped" },
        agent.steps(),
        agent.gradient_steps()
    );
    if let Some(path) = &args.plot {
        let points = |f: &dyn Fn(&Record) -> Option<f64>| -> Vec<(f64, f64)> {
            history
                .iter()
                .filter_map(|r| f(r).map(|v| (r.steps as f64, v)))
                .collect()
        };
        let series = [
            (
                "training episodes (epsilon-greedy)",
                points(&|r| r.training_return),
            ),
            ("greedy policy", points(&|r| Some(r.greedy_return))),
        ];
        plot::lines(path, ("dqn: mean return", "environment steps"), &series)
            .with_context(|| format!("plotting {}", path.display()))?;
        println!("plot written to {}", path.display());
    }
    if let Some(path) = &args.metrics {
        let json = serde_json::json!({
            "family": "dqn",
            "device": device.to_string(),
            "seed": args.seed,
            "seconds": seconds,
            "environment_steps": agent.steps(),
            "gradient_steps": agent.gradient_steps(),
            "reached": reached,
            "stop_at_return": stop_at,
            "final": {
                "greedy_return": history.last().map(|r| r.greedy_return),
                "held_out_mean_return": held_out_mean,
                "held_out_min_return": held_out_min,
                "evaluation_episodes": EVAL_EPISODES,
            },
            "history": history.iter().map(|r| serde_json::json!({
                "environment_steps": r.steps,
                "gradient_steps": r.gradient_steps,
                "training_return": r.training_return,
                "loss": r.loss,
                "greedy_return": r.greedy_return,
            })).collect::<Vec<_>>(),
        });
        write_metrics(path, &json)?;
    }
    Ok(())
}

fn describe(r: &Record) -> String {
    let or_dash =
        |v: Option<f64>, digits: usize| v.map_or("-".to_string(), |v| format!("{v:.digits$}"));
    format!(
        "step {:>6}: training return {}  loss {}  greedy return {:.1} ({EVAL_EPISODES} episodes)",
        r.steps,
        or_dash(r.training_return, 1),
        or_dash(r.loss, 4),
        r.greedy_return
    )
}
