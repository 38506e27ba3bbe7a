//! `lepton train qlearn`: tabular Q-learning on the slippery FrozenLake, on the host (the
//! table is 16 × 4 values updated one step at a time), with a progress bar, the greedy
//! policy's success rate every --eval-every episodes, checkpoints that --resume continues
//! exactly, a plot of success rates and a metrics file.

use std::collections::HashMap;
use std::time::Instant;

use anyhow::Context;
use lepton::checkpoint;
use lepton::models::qlearn::{learn, success_rate, QLearnConfig, QTable, DEFAULTS};
use lepton::rl::FrozenLake;
use lepton::{Device, Tensor};

use crate::cli::plot;
use crate::cli::train::{check_outputs, progress_bar, stop_point, write_metrics, TrainArgs};

/// Episodes the greedy policy is judged on.
const EVAL_EPISODES: usize = 1000;

/// The table's name in a checkpoint.
const TABLE: &str = "q";

/// One evaluation: episodes so far, the share of the last training episodes that reached
/// the goal, their mean |TD error|, and the greedy policy's success rate.
struct Record {
    episodes: usize,
    training_success: f64,
    td_error: f64,
    greedy_success: f64,
    /// The greedy policy's success probability from the model, without sampling noise.
    exact_success: f64,
}

pub fn run(args: &TrainArgs) -> anyhow::Result<()> {
    if args.epochs.is_some()
        || args.batch_size.is_some()
        || args.arch.is_some()
        || args.toy
        || args.stop_at_return.is_some()
    {
        anyhow::bail!("qlearn takes --iterations (episodes), --lr and --eval-every, not --epochs, --batch-size, --arch, --toy or --stop-at-return");
    }
    check_outputs(args)?;
    if args.device.is_some() {
        eprintln!("note: qlearn runs on the host; --device is not used");
    }
    let config = QLearnConfig {
        episodes: args.iterations.unwrap_or(DEFAULTS.episodes),
        lr: args.lr.unwrap_or(DEFAULTS.lr),
        ..DEFAULTS
    };
    let every = args.eval_every.unwrap_or(config.episodes / 20).max(1);
    let mut q = QTable::default();
    let mut start = 0;
    if let Some(path) = &args.resume {
        (q, start) = resume(path, args.seed, config.episodes)?;
        println!("resumed from {} after episode {start}", path.display());
    }
    let (optimum, _) = FrozenLake::optimal_success(FrozenLake::MAX_STEPS);
    println!(
        "training qlearn on the host: {} episodes, lr {}, gamma {}, epsilon {} to {} over the first {:.0}%; the best policy succeeds {optimum:.4}",
        config.episodes, config.lr, config.gamma, config.epsilon_start, config.epsilon_end, 100.0 * config.explore_share
    );
    let end = stop_point(args, start, config.episodes);
    let bar = progress_bar((end - start) as u64, "episodes");
    let began = Instant::now();
    let mut history = Vec::new();
    let (mut wins, mut td, mut window) = (0.0, 0.0, 0usize);
    let mut from = start;
    while from < end {
        let to = ((from / every + 1) * every).min(end);
        learn(&config, args.seed, &mut q, (from, to), |_, episode| {
            (wins, td, window) = (wins + episode.reward, td + episode.td_error, window + 1);
        })?;
        bar.inc((to - from) as u64);
        let record = Record {
            episodes: to,
            training_success: wins / window.max(1) as f64,
            td_error: td / window.max(1) as f64,
            greedy_success: success_rate(&q, EVAL_EPISODES, args.seed)?,
            exact_success: FrozenLake::policy_success(&q.policy(), FrozenLake::MAX_STEPS),
        };
        bar.set_message(format!(
            "epsilon {:.2}  greedy success {:.3}",
            config.epsilon(to),
            record.greedy_success
        ));
        bar.suspend(|| println!("{}", describe(&record)));
        (wins, td, window) = (0.0, 0.0, 0);
        history.push(record);
        if let Some(path) = &args.save {
            save(path, &q, (to, config.episodes), args.seed)?;
        }
        from = to;
    }
    bar.finish_and_clear();
    let seconds = began.elapsed().as_secs_f64();
    let last = history.last();
    if let Some(last) = last {
        println!("done in {seconds:.2} s: {}", describe(last));
    } else {
        println!(
            "the checkpoint's greedy policy succeeds {:.3} over {EVAL_EPISODES} episodes (exactly {:.4})",
            success_rate(&q, EVAL_EPISODES, args.seed)?,
            FrozenLake::policy_success(&q.policy(), FrozenLake::MAX_STEPS)
        );
    }
    if let Some(path) = &args.plot {
        let points = |f: &dyn Fn(&Record) -> f64| -> Vec<(f64, f64)> {
            history
                .iter()
                .map(|r| (r.episodes as f64, 100.0 * f(r)))
                .collect()
        };
        let series = [
            (
                "training episodes (epsilon-greedy)",
                points(&|r| r.training_success),
            ),
            ("greedy policy", points(&|r| r.greedy_success)),
        ];
        plot::lines(path, ("qlearn: success rate (%)", "episodes"), &series)
            .with_context(|| format!("plotting {}", path.display()))?;
        println!("plot written to {}", path.display());
    }
    if let Some(path) = &args.metrics {
        let json = serde_json::json!({
            "family": "qlearn",
            "device": "host",
            "seed": args.seed,
            "seconds": seconds,
            "episodes": end,
            "optimal_success": optimum,
            "final": {
                "greedy_success": last.map(|r| r.greedy_success),
                "evaluation_episodes": EVAL_EPISODES,
                "exact_greedy_success": last.map(|r| r.exact_success),
            },
            "history": history.iter().map(|r| serde_json::json!({
                "episodes": r.episodes,
                "training_success": r.training_success,
                "td_error": r.td_error,
                "greedy_success": r.greedy_success,
                "exact_greedy_success": r.exact_success,
            })).collect::<Vec<_>>(),
        });
        write_metrics(path, &json)?;
    }
    Ok(())
}

fn describe(r: &Record) -> String {
    format!(
        "episode {:>6}: training success {:.3}  mean |TD error| {:.4}  greedy success {:.3} ({EVAL_EPISODES} episodes; exactly {:.4})",
        r.episodes, r.training_success, r.td_error, r.greedy_success, r.exact_success
    )
}

/// Save the table after `done` of `planned` episodes.
fn save(
    path: &std::path::Path,
    q: &QTable,
    (done, planned): (usize, usize),
    seed: u64,
) -> anyhow::Result<()> {
    let table = Tensor::from_vec(
        q.flat(),
        &[FrozenLake::CELLS, FrozenLake::ACTIONS],
        &Device::cpu(),
    )?;
    let meta = HashMap::from([
        ("family".to_string(), "qlearn".to_string()),
        ("episodes".to_string(), done.to_string()),
        ("planned".to_string(), planned.to_string()),
        ("seed".to_string(), seed.to_string()),
    ]);
    checkpoint::save(path, &[(TABLE.to_string(), table)], meta)
        .with_context(|| format!("saving {}", path.display()))
}

/// The table and the episodes done, from a checkpoint of a run with the same seed and
/// length (ε's schedule spans the planned episodes).
fn resume(path: &std::path::Path, seed: u64, planned: usize) -> anyhow::Result<(QTable, usize)> {
    let (tensors, meta) = checkpoint::load(path, &Device::cpu())?;
    let field = |key: &str| meta.get(key).map(String::as_str);
    if field("family") != Some("qlearn") {
        anyhow::bail!("{} is not a qlearn checkpoint", path.display());
    }
    if field("seed") != Some(seed.to_string().as_str()) {
        anyhow::bail!(
            "{} was trained with seed {:?}; pass the same --seed",
            path.display(),
            field("seed")
        );
    }
    if field("planned") != Some(planned.to_string().as_str()) {
        anyhow::bail!(
            "{} belongs to a run of {:?} episodes; pass that --iterations",
            path.display(),
            field("planned")
        );
    }
    let episodes = field("episodes")
        .and_then(|e| e.parse::<usize>().ok())
        .with_context(|| format!("{} names no episode count", path.display()))?;
    let table = tensors
        .iter()
        .find(|(name, _)| name == TABLE)
        .with_context(|| format!("{} holds no table", path.display()))?;
    Ok((QTable::from_flat(&table.1.to_vec::<f64>()?)?, episodes))
}
