//! `lepton train reinforce|a2c|ppo`: policy gradients on CartPole-v1, with a progress bar,
//! a report every --eval-every episodes (REINFORCE) or environment steps (A2C, PPO), a stop
//! once the score (the running return, PyTorch's exponential mean of weight 0.05; for PPO
//! the mean return of the last 100 episodes) reaches --stop-at-return, the policy's most
//! probable actions judged on 100 held-out episodes at the end, checkpoints that --resume
//! continues exactly, a plot of returns and a metrics file.

use std::collections::HashMap;
use std::time::Instant;

use anyhow::Context;
use lepton::models::policy_gradient::{
    train, A2c, A2cConfig, Agent, Ppo, PpoConfig, Reinforce, ReinforceConfig, A2C_DEFAULTS,
    PPO_DEFAULTS, REINFORCE_DEFAULTS, SOLVED,
};
use lepton::rl::{held_out_seed, mean};
use lepton::Device;

use crate::cli::plot;
use crate::cli::train::{
    check_outputs, progress_bar, stop_point, write_metrics, Family, TrainArgs,
};

/// Episodes the final policy is judged on.
const EVAL_EPISODES: usize = 100;

/// One report: the run's progress, its score, and over the updates since the last report
/// the mean episode return and the mean loss.
#[derive(Clone, Debug)]
struct Record {
    progress: usize,
    updates: u64,
    score: f64,
    episode_return: Option<f64>,
    loss: f64,
}

pub fn run(args: &TrainArgs, device: &Device) -> anyhow::Result<()> {
    if args.epochs.is_some() || args.arch.is_some() || args.toy {
        anyhow::bail!("{:?} takes --iterations, --lr, --eval-every and --stop-at-return, not --epochs, --arch or --toy", args.family);
    }
    check_outputs(args)?;
    let stop_at = args.stop_at_return.unwrap_or(SOLVED);
    anyhow::ensure!(
        !stop_at.is_nan(),
        "--stop-at-return is NaN; give a return, or inf to train for every planned update"
    );
    match args.family {
        Family::Reinforce => {
            let config = ReinforceConfig {
                episodes: args.iterations.unwrap_or(REINFORCE_DEFAULTS.episodes),
                batch_episodes: args.batch_size.unwrap_or(REINFORCE_DEFAULTS.batch_episodes),
                lr: args.lr.unwrap_or(REINFORCE_DEFAULTS.lr),
                ..REINFORCE_DEFAULTS
            };
            let agent = match &args.resume {
                Some(path) => Reinforce::resume(config, args.seed, path, device)?.0,
                None => Reinforce::new(config, args.seed, device)?,
            };
            println!(
                "training reinforce on {device}: CartPole-v1, up to {} episodes, {} per update, lr {}",
                config.episodes, config.batch_episodes, config.lr
            );
            drive(agent, "episodes", args, device, stop_at)
        }
        Family::A2c => {
            anyhow::ensure!(
                args.batch_size.is_none(),
                "a2c's batch is its 8 environments × 5 steps; it takes no --batch-size"
            );
            let config = A2cConfig {
                env_steps: args.iterations.unwrap_or(A2C_DEFAULTS.env_steps),
                lr: args.lr.unwrap_or(A2C_DEFAULTS.lr),
                ..A2C_DEFAULTS
            };
            let agent = match &args.resume {
                Some(path) => A2c::resume(config, args.seed, path, device)?.0,
                None => A2c::new(config, args.seed, device)?,
            };
            println!(
                "training a2c on {device}: CartPole-v1, up to {} environment steps, {} environments × {} steps per update, lr {}",
                config.env_steps, config.envs, config.n_steps, config.lr
            );
            drive(agent, "environment steps", args, device, stop_at)
        }
        Family::Ppo => {
            anyhow::ensure!(
                args.batch_size.is_none(),
                "ppo's minibatches are a quarter of its 4 environments × 128 steps; it takes no --batch-size"
            );
            let config = PpoConfig {
                env_steps: args.iterations.unwrap_or(PPO_DEFAULTS.env_steps),
                lr: args.lr.unwrap_or(PPO_DEFAULTS.lr),
                ..PPO_DEFAULTS
            };
            let agent = match &args.resume {
                Some(path) => Ppo::resume(config, args.seed, path, device)?.0,
                None => Ppo::new(config, args.seed, device)?,
            };
            println!(
                "training ppo on {device}: CartPole-v1, up to {} environment steps, {} environments × {} steps per rollout, {} epochs of {} minibatches, lr {} annealed",
                config.env_steps, config.envs, config.n_steps, config.epochs, config.minibatches, config.lr
            );
            drive(agent, "environment steps", args, device, stop_at)
        }
        other => unreachable!("{other:?} is not a policy-gradient family"),
    }
}

/// Train, report, save, and write the plot and metrics: the same for every agent.
fn drive<A: Agent>(
    mut agent: A,
    unit: &str,
    args: &TrainArgs,
    device: &Device,
    stop_at: f64,
) -> anyhow::Result<()> {
    let family = format!("{:?}", args.family).to_lowercase();
    if let Some(path) = &args.resume {
        println!(
            "resumed from {} after {} {unit}",
            path.display(),
            agent.progress()
        );
    }
    let every = args
        .eval_every
        .unwrap_or(agent.planned().div_ceil(50))
        .max(1);
    let until = stop_point(args, agent.progress(), agent.planned());
    let bar = progress_bar(agent.planned() as u64, unit.to_string());
    bar.set_position(agent.progress() as u64);
    let began = Instant::now();
    let mut history: Vec<Record> = Vec::new();
    let (mut returns, mut losses) = (Vec::new(), Vec::new());
    let mut reached = agent.score() >= stop_at;
    if reached {
        println!(
            "the checkpoint's {} had reached {stop_at}: nothing to train",
            A::SCORE
        );
    } else {
        reached = train(&mut agent, until, Some(stop_at), |agent, update| {
            returns.extend_from_slice(&update.returns);
            losses.push(update.loss);
            bar.set_position(agent.progress() as u64);
            bar.set_message(format!("{} {:.1}", A::SCORE, update.score));
            let done = update.score >= stop_at || agent.progress() >= until;
            let last = history.last().map_or(0, |r| r.progress);
            if agent.progress() / every > last / every || done {
                let record = Record {
                    progress: agent.progress(),
                    updates: agent.updates(),
                    score: update.score,
                    episode_return: mean(&returns),
                    loss: mean(&losses).unwrap_or(f64::NAN),
                };
                bar.suspend(|| println!("{}", describe(&record, unit, A::SCORE)));
                (returns, losses) = (Vec::new(), Vec::new());
                if let Some(path) = &args.save {
                    agent.save(path, HashMap::new())?;
                }
                history.push(record);
            }
            Ok(())
        })?;
    }
    bar.finish_and_clear();
    let seconds = began.elapsed().as_secs_f64();
    let held_out = agent.evaluate(EVAL_EPISODES, held_out_seed(args.seed))?;
    let held_out_mean = mean(&held_out).unwrap_or(0.0);
    println!(
        "{} after {} {unit} ({} updates) in {seconds:.1} s: {} {:.1}; on {EVAL_EPISODES} held-out episodes the most probable actions return {held_out_mean:.1} on average",
        if reached { "reached the target" } else { "stopped" },
        agent.progress(),
        agent.updates(),
        A::SCORE,
        agent.score()
    );
    if let Some(path) = &args.plot {
        let series = [
            (
                "mean episode return since the last report",
                history
                    .iter()
                    .filter_map(|r| r.episode_return.map(|v| (r.progress as f64, v)))
                    .collect(),
            ),
            (
                A::SCORE,
                history
                    .iter()
                    .map(|r| (r.progress as f64, r.score))
                    .collect(),
            ),
        ];
        plot::lines(path, (&format!("{family}: return"), unit), &series)
            .with_context(|| format!("plotting {}", path.display()))?;
        println!("plot written to {}", path.display());
    }
    if let Some(path) = &args.metrics {
        let json = serde_json::json!({
            "family": family,
            "device": device.to_string(),
            "seed": args.seed,
            "seconds": seconds,
            "unit": unit,
            "progress": agent.progress(),
            "updates": agent.updates(),
            "reached": reached,
            "stop_at_return": stop_at,
            "score": A::SCORE,
            "final": {
                "score": agent.score(),
                "held_out_mean_return": held_out_mean,
                "evaluation_episodes": EVAL_EPISODES,
            },
            "history": history.iter().map(|r| serde_json::json!({
                "progress": r.progress,
                "updates": r.updates,
                "score": r.score,
                "episode_return": r.episode_return,
                "loss": r.loss,
            })).collect::<Vec<_>>(),
        });
        write_metrics(path, &json)?;
    }
    Ok(())
}

fn describe(r: &Record, unit: &str, score: &str) -> String {
    format!(
        "{unit} {:>7}: {score} {:.1}  episode return {}  loss {:.4}",
        r.progress,
        r.score,
        r.episode_return
            .map_or("-".to_string(), |v| format!("{v:.1}")),
        r.loss
    )
}
