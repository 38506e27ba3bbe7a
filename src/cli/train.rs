//! `lepton train FAMILY`: train a model family with a progress bar, per-epoch evaluation,
//! checkpoints, a plot and a metrics file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use lepton::checkpoint::{load_run, save_run};
use lepton::models::{self, Evaluation, Prepared, Settings, Task};
use lepton::Device;

use crate::cli::supervised::Choice;
use crate::cli::{charlm, dqn, gan, plot, policy_gradient, qlearn, vae};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Family {
    /// Linear regression on the diabetes set (or y = 2x with --toy).
    Linreg,
    /// A 64-128-64-10 MLP on the digits set, with Adam.
    Mlp,
    /// A two-convolution CNN on the digits set (8×8 images).
    Cnn,
    /// An Elman RNN (tanh) of 64 units reading the digits as 8 rows of 8 pixels.
    Rnn,
    /// An LSTM of 64 units reading the digits as 8 rows of 8 pixels.
    Lstm,
    /// A GRU of 64 units reading the digits as 8 rows of 8 pixels.
    Gru,
    /// A character language model of the tiny Shakespeare text (--arch lstm, gru or
    /// transformer), trained for --iterations steps; validation in nats per character.
    Charlm,
    /// Tabular Q-learning on the slippery FrozenLake 4×4, on the host (--iterations
    /// episodes, --lr the step size); the greedy policy's success rate over 1,000 episodes.
    Qlearn,
    /// DQN on CartPole-v1 (--iterations environment steps, --batch-size, --lr), stopping
    /// once the greedy policy's mean return over 100 episodes reaches --stop-at-return.
    Dqn,
    /// REINFORCE on CartPole-v1 (--iterations episodes, --batch-size episodes per update,
    /// --lr), stopping once the running return passes --stop-at-return.
    Reinforce,
    /// A2C on CartPole-v1 (--iterations environment steps, --lr), stopping once the
    /// running return passes --stop-at-return.
    A2c,
    /// PPO on CartPole-v1 (--iterations environment steps, --lr), stopping once the mean
    /// return of the last 100 episodes reaches --stop-at-return.
    Ppo,
    /// A variational autoencoder of the digits binarized at 8/16 (8 latent dimensions);
    /// the test set's negative ELBO in nats per image.
    Vae,
    /// A GAN on the ring of 8 Gaussians or, with --data digits, the digits (--iterations
    /// steps of each network); modes covered, high-quality samples and KL from uniform on
    /// 2,500 samples, and for the digits a Frechet distance.
    Gan,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum CharArch {
    /// One LSTM layer of 256 units over a 64-wide embedding.
    Lstm,
    /// The same with a GRU.
    Gru,
    /// nanoGPT's baby GPT: 4 pre-norm blocks of width 128 and 4 heads, tied head.
    Transformer,
}

#[derive(Args)]
pub struct TrainArgs {
    pub family: Family,
    /// cpu, gpu, gpu:N or auto (default: LEPTON_DEVICE, else auto).
    #[arg(long)]
    pub device: Option<String>,
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long)]
    pub batch_size: Option<usize>,
    #[arg(long)]
    pub lr: Option<f64>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Save a checkpoint here after every epoch (charlm: every evaluation).
    #[arg(long)]
    pub save: Option<PathBuf>,
    /// Continue from a checkpoint written by --save.
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Draw loss and accuracy curves into this PNG file.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Write final metrics and the per-epoch history as JSON.
    #[arg(long)]
    pub metrics: Option<PathBuf>,
    /// Stop after this many epochs (charlm: steps; qlearn: episodes; dqn: environment steps)
    /// of this run, keeping the planned length (its schedules): for time-boxed jobs that
    /// --resume later.
    #[arg(long)]
    pub stop_after: Option<usize>,
    /// linreg only: the y = 2x toy problem.
    #[arg(long)]
    pub toy: bool,
    /// charlm only: the network.
    #[arg(long, value_enum)]
    pub arch: Option<CharArch>,
    /// charlm: optimizer steps in the run (the learning-rate schedule spans them); qlearn:
    /// episodes; dqn: environment steps.
    #[arg(long)]
    pub iterations: Option<usize>,
    /// charlm: measure the validation loss every this many steps (and at the end); qlearn:
    /// the greedy policy's success rate every this many episodes; dqn: its mean return
    /// every this many environment steps.
    #[arg(long)]
    pub eval_every: Option<usize>,
    /// dqn: stop once the greedy policy's mean return over 100 episodes reaches this;
    /// reinforce and a2c: once the running return does; ppo: once the mean return of the
    /// last 100 episodes does (default 475, CartPole-v1 solved; inf trains for the whole
    /// planned run).
    #[arg(long)]
    pub stop_at_return: Option<f64>,
    /// vae: a PNG of test digits, their reconstructions and samples from the prior; gan: a
    /// scatter of samples over the ring's modes, or a grid of digits at every evaluation.
    #[arg(long)]
    pub images: Option<PathBuf>,
    /// mlp and cnn: what to classify, the 8×8 digits (the default), fashion-mnist (as
    /// Debian's dataset-fashion-mnist installs it) or a directory of MNIST-style IDX files;
    /// gan: what to learn to draw, the ring of 8 Gaussians (the default) or the digits.
    #[arg(long)]
    pub data: Option<String>,
    /// Train nothing: report the --resume checkpoint's figures (the final evaluation, the
    /// plot of its images, the metrics file).
    #[arg(long)]
    pub eval: bool,
}

/// One epoch's numbers.
#[derive(Clone, Debug)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train_loss: f64,
    pub train: Evaluation,
    pub test: Evaluation,
    pub samples_per_second: f64,
}

/// Where this run stops, in the family's unit, having done `done` of `planned`: nowhere
/// with --eval, else after --stop-after more, else at the end.
pub fn stop_point(args: &TrainArgs, done: usize, planned: usize) -> usize {
    if args.eval {
        return done;
    }
    args.stop_after
        .map_or(planned, |n| done.saturating_add(n).min(planned))
}

/// A progress bar of `len` steps with the training commands' one style.
pub fn progress_bar(len: u64, prefix: impl Into<std::borrow::Cow<'static, str>>) -> ProgressBar {
    let bar = ProgressBar::new(len).with_prefix(prefix);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar
}

/// Write a run's metrics as pretty JSON, and say where.
pub fn write_metrics(path: &Path, json: &serde_json::Value) -> anyhow::Result<()> {
    std::fs::write(path, serde_json::to_string_pretty(json)?)
        .with_context(|| format!("writing {}", path.display()))?;
    println!("metrics written to {}", path.display());
    Ok(())
}

/// Every path the run will write (--save, --plot, --metrics, --images), checked before it
/// trains.
pub fn check_outputs(args: &TrainArgs) -> anyhow::Result<()> {
    for path in [&args.save, &args.plot, &args.metrics, &args.images]
        .into_iter()
        .flatten()
    {
        crate::cli::check_folder(&path.display().to_string(), Some(path))?;
    }
    Ok(())
}

/// `loss`, the loss of step `step` of epoch `epoch` (both from 1), unless it is NaN or
/// infinite: then the run stops before that epoch's checkpoint, so --save keeps the last
/// good one.
pub fn finite_loss(loss: f64, epoch: usize, step: usize) -> anyhow::Result<f64> {
    anyhow::ensure!(
        loss.is_finite(),
        "the loss became {loss} in epoch {epoch}, step {step}; stopped before saving, so \
         --save still holds the last good epoch (try a smaller --lr)"
    );
    Ok(loss)
}

/// Values that no family trains with, refused before anything loads: counts of zero, a
/// rate that is not a positive finite number, a NaN return to stop at, an empty device.
fn check_values(args: &TrainArgs) -> anyhow::Result<()> {
    for (flag, value) in [
        ("--epochs", args.epochs),
        ("--batch-size", args.batch_size),
        ("--iterations", args.iterations),
        ("--eval-every", args.eval_every),
        ("--stop-after", args.stop_after),
    ] {
        anyhow::ensure!(value != Some(0), "{flag} must be at least 1");
    }
    if let Some(lr) = args.lr {
        anyhow::ensure!(
            lr > 0.0 && lr.is_finite(),
            "--lr must be a positive finite number, not {lr}"
        );
    }
    anyhow::ensure!(
        !args.stop_at_return.is_some_and(f64::is_nan),
        "--stop-at-return must be a number (inf: never stop early)"
    );
    anyhow::ensure!(
        !args.device.as_ref().is_some_and(|d| d.trim().is_empty()),
        "--device needs a name: cpu, gpu, gpu:N or auto"
    );
    Ok(())
}

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let device = crate::cli::device(args.device.as_deref())?;
    if args.eval {
        anyhow::ensure!(
            args.resume.is_some(),
            "--eval evaluates a checkpoint: name it with --resume"
        );
        anyhow::ensure!(
            args.save.is_none() && args.stop_after.is_none(),
            "--eval trains nothing, so it takes no --save or --stop-after"
        );
    }
    check_values(&args)?;
    anyhow::ensure!(
        args.images.is_none() || matches!(args.family, Family::Vae | Family::Gan),
        "--images is for vae and gan only"
    );
    anyhow::ensure!(
        args.data.is_none() || matches!(args.family, Family::Gan | Family::Mlp | Family::Cnn),
        "--data is for mlp, cnn and gan only"
    );
    match args.family {
        Family::Charlm => return charlm::run(&args, &device),
        Family::Qlearn => return qlearn::run(&args),
        Family::Dqn => return dqn::run(&args, &device),
        Family::Reinforce | Family::A2c | Family::Ppo => {
            return policy_gradient::run(&args, &device)
        }
        Family::Vae => return vae::run(&args, &device),
        Family::Gan => return gan::run(&args, &device),
        _ => {}
    }
    if args.arch.is_some()
        || args.iterations.is_some()
        || args.eval_every.is_some()
        || args.stop_at_return.is_some()
    {
        anyhow::bail!("--arch, --iterations, --eval-every and --stop-at-return are for charlm and the reinforcement-learning families only");
    }
    check_outputs(&args)?;
    let choice = Choice {
        family: args.family,
        toy: args.toy,
        data: args.data.as_deref(),
        seed: args.seed,
    };
    let d = choice.defaults();
    let settings = Settings {
        epochs: args.epochs.unwrap_or(d.epochs),
        batch_size: args.batch_size.unwrap_or(d.batch_size),
        lr: args.lr.unwrap_or(d.lr),
    };
    let Settings {
        epochs,
        batch_size,
        lr,
    } = settings;
    let Prepared {
        mut model,
        mut optimizer,
        train,
        test,
        task,
    } = choice.prepare(&settings, &device)?;
    // What a saved model needs besides its weights to take raw inputs.
    let kept = match (args.family, args.toy) {
        (Family::Linreg, false) => {
            let (mean, std) = models::linreg::diabetes_stats(args.seed)?;
            let column = |v: Vec<f32>| lepton::Tensor::from_vec(v, &[train.cols], &Device::cpu());
            vec![
                (models::linreg::INPUT_MEAN.to_string(), column(mean)?),
                (models::linreg::INPUT_STD.to_string(), column(std)?),
            ]
        }
        _ => vec![],
    };
    let mut start = 0;
    if let Some(path) = &args.resume {
        // The run state holds only what the data gives again (linreg's input statistics).
        let (meta, _) = load_run(path, model.as_ref(), Some(optimizer.as_mut()), &device)?;
        start = meta
            .get("epoch")
            .and_then(|e| e.parse::<usize>().ok())
            .map_or(0, |e| e + 1);
        println!("resumed from {} after epoch {start}", path.display());
    }
    println!(
        "training {:?} on {device}: {} train / {} test rows, {epochs} epochs, batch {batch_size}, lr {lr}",
        args.family, train.rows, test.rows
    );
    let mut history = Vec::new();
    let began = Instant::now();
    let end = stop_point(&args, start, epochs);
    for epoch in start..end {
        let batches = train.batches(batch_size, Some((args.seed, epoch as u64)));
        let bar = progress_bar(
            batches.len() as u64,
            format!("epoch {:>3}/{epochs}", epoch + 1),
        );
        let t0 = Instant::now();
        let mut total = 0.0;
        for (i, batch) in batches.iter().enumerate() {
            let (x, y) = batch.tensors(&device)?;
            let loss = optimizer.step(&task.loss(&model.forward(&x)?, &y)?)?;
            total += finite_loss(loss, epoch + 1, i + 1)? * batch.rows as f64;
            let rate = (i + 1) as f64 * batch_size as f64 / t0.elapsed().as_secs_f64();
            bar.set_message(format!(
                "loss {:.4}  {rate:.0} samples/s",
                total / ((i + 1) * batch_size).min(train.rows) as f64
            ));
            bar.inc(1);
        }
        bar.finish_and_clear();
        let seconds = t0.elapsed().as_secs_f64();
        // Evaluation without dropout and with running statistics.
        model.set_training(false);
        let record = EpochRecord {
            epoch: epoch + 1,
            train_loss: total / train.rows as f64,
            train: task.evaluate(model.as_ref(), &train, &device)?,
            test: task.evaluate(model.as_ref(), &test, &device)?,
            samples_per_second: train.rows as f64 / seconds,
        };
        model.set_training(true);
        // Long runs print about 20 lines; every epoch is in the metrics and the plot.
        if epochs <= 60 || (epoch + 1) % (epochs / 20) == 0 || epoch + 1 == epochs {
            println!("{}", describe(&record));
        }
        history.push(record);
        if let Some(path) = &args.save {
            let meta = HashMap::from([
                ("epoch".to_string(), epoch.to_string()),
                ("family".to_string(), format!("{:?}", args.family)),
            ]);
            save_run(path, model.as_ref(), Some(optimizer.as_ref()), &kept, meta)
                .with_context(|| format!("saving {}", path.display()))?;
        }
    }
    let seconds = began.elapsed().as_secs_f64();
    if history.is_empty() {
        let test_eval = task.evaluate(model.as_ref(), &test, &device)?;
        let accuracy = test_eval
            .accuracy
            .map_or(String::new(), |a| format!(", accuracy {:.2}%", 100.0 * a));
        println!(
            "the checkpoint's test loss is {:.4}{accuracy}",
            test_eval.loss
        );
    }
    let mut extra = serde_json::Map::new();
    if let (Family::Linreg, false) = (args.family, args.toy) {
        let (w, b) = models::linreg::least_squares(&train)?;
        let (train_ref, reference) = (
            models::linreg::mse(&train, &w, b),
            models::linreg::mse(&test, &w, b),
        );
        println!(
            "closed-form least squares (f64): train MSE {train_ref:.4}, test MSE {reference:.4}"
        );
        extra.insert("least_squares_train_mse".into(), train_ref.into());
        extra.insert("least_squares_test_mse".into(), reference.into());
    }
    if args.toy {
        model.set_training(false);
        let probe = lepton::Tensor::from_vec(vec![4.0f32, 5.0], &[2, 1], &device)?;
        let pred: Vec<f32> = model.forward(&probe)?.to_vec()?;
        println!(
            "toy predictions: f(4) = {:.4}, f(5) = {:.4}",
            pred[0], pred[1]
        );
        extra.insert(
            "predictions".into(),
            serde_json::json!({"4": pred[0], "5": pred[1]}),
        );
    }
    if let Some(last) = history.last() {
        println!("done in {seconds:.1} s: {}", describe(last));
    }
    if let Some(path) = &args.plot {
        let family = format!("{:?}", args.family).to_lowercase();
        plot::curves(path, &family, ("epoch", "test"), &history)
            .with_context(|| format!("plotting {}", path.display()))?;
        println!("plot written to {}", path.display());
    }
    if let Some(path) = &args.metrics {
        let json = metrics(&args, &device, task, seconds, &history, extra);
        write_metrics(path, &json)?;
    }
    Ok(())
}

fn describe(r: &EpochRecord) -> String {
    let acc = |e: &Evaluation| {
        e.accuracy
            .map_or(String::new(), |a| format!(" acc {:.2}%", 100.0 * a))
    };
    format!(
        "epoch {:>3}: train loss {:.4}{}  test loss {:.4}{}  {:.0} samples/s",
        r.epoch,
        r.train.loss,
        acc(&r.train),
        r.test.loss,
        acc(&r.test),
        r.samples_per_second
    )
}

fn metrics(
    args: &TrainArgs,
    device: &Device,
    task: Task,
    seconds: f64,
    history: &[EpochRecord],
    extra: serde_json::Map<String, serde_json::Value>,
) -> serde_json::Value {
    let epochs: Vec<serde_json::Value> = history
        .iter()
        .map(|r| {
            serde_json::json!({
                "epoch": r.epoch,
                "train_loss": r.train.loss,
                "train_accuracy": r.train.accuracy,
                "test_loss": r.test.loss,
                "test_accuracy": r.test.accuracy,
                "mean_batch_loss": r.train_loss,
                "samples_per_second": r.samples_per_second,
            })
        })
        .collect();
    let last = history.last();
    serde_json::json!({
        "family": format!("{:?}", args.family).to_lowercase(),
        "device": device.to_string(),
        "task": format!("{task:?}"),
        "seed": args.seed,
        "seconds": seconds,
        "final": {
            "train_loss": last.map(|r| r.train.loss),
            "test_loss": last.map(|r| r.test.loss),
            "train_accuracy": last.and_then(|r| r.train.accuracy),
            "test_accuracy": last.and_then(|r| r.test.accuracy),
        },
        "extra": extra,
        "history": epochs,
    })
}
