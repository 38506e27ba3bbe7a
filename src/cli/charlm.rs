//! `lepton train charlm`: a character language model of the tiny Shakespeare text, trained
//! for a number of steps on random windows (seeded per step, so a resumed run on the CPU
//! path continues bit for bit), with the validation loss over the whole held-out tail every
//! --eval-every steps, checkpoints that `lepton generate` reads, a plot and a metrics file.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use lepton::checkpoint::{load_training, save_training};
use lepton::data::{random_windows, CharCorpus};
use lepton::models::charlm::{self, Arch, CharLm, CharLmConfig};
use lepton::models::Evaluation;
use lepton::nn::Module;
use lepton::optim::{Adam, Optimizer, Schedule};
use lepton::Device;

use crate::cli::plot;
use crate::cli::train::{
    check_outputs, stop_point, write_metrics, CharArch, EpochRecord, TrainArgs,
};

/// Validation windows per forward pass.
const EVAL_ROWS: usize = 256;

/// How one architecture trains by default.
pub struct Recipe {
    pub config: CharLmConfig,
    pub iterations: usize,
    pub batch_size: usize,
    pub lr: f64,
    eval_every: usize,
}

pub fn recipe(arch: CharArch, vocab: usize) -> Recipe {
    match arch {
        CharArch::Lstm | CharArch::Gru => Recipe {
            config: CharLmConfig::recurrent(
                if matches!(arch, CharArch::Lstm) {
                    Arch::Lstm
                } else {
                    Arch::Gru
                },
                vocab,
            ),
            iterations: 1000,
            batch_size: 32,
            lr: 4e-3,
            eval_every: 500,
        },
        CharArch::Transformer => Recipe {
            config: CharLmConfig::baby_gpt(vocab),
            iterations: 2000,
            batch_size: 12,
            lr: 1e-3,
            eval_every: 1000,
        },
    }
}

/// nanoGPT's optimizer for the transformer (AdamW, betas 0.9 and 0.99, weight decay 0.1)
/// and Adam for the recurrent models; both warm up for 100 steps, then follow a cosine to a
/// tenth of the rate, with gradients clipped to norm 1.
pub fn optimizer(model: &CharLm, lr: f64, iterations: usize) -> Box<dyn Optimizer> {
    let warmup = 100.min(iterations as u64 / 10);
    let schedule = Schedule::Warmup {
        steps: warmup,
        then: Box::new(Schedule::Cosine {
            total: iterations as u64 - warmup,
            min_lr: lr / 10.0,
        }),
    };
    let adam = match model.config.arch {
        Arch::Transformer => Adam::adamw(model.parameters(), lr)
            .betas(0.9, 0.99)
            .weight_decay(0.1),
        Arch::Lstm | Arch::Gru => Adam::new(model.parameters(), lr),
    };
    Box::new(adam.schedule(schedule).clip_grad_norm(1.0))
}

fn save(
    path: &Path,
    model: &CharLm,
    opt: &dyn Optimizer,
    vocab: &[char],
    step: usize,
) -> anyhow::Result<()> {
    let mut meta: HashMap<String, String> = charlm::save_metadata(&model.config, vocab)
        .into_iter()
        .collect();
    meta.insert("family".into(), "Charlm".into());
    meta.insert("step".into(), step.to_string());
    save_training(path, model, Some(opt), meta)
        .with_context(|| format!("saving {}", path.display()))
}

pub fn run(args: &TrainArgs, device: &Device) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.epochs.is_none() && !args.toy && args.stop_at_return.is_none(),
        "charlm trains for --iterations, not --epochs, and has no --toy or --stop-at-return"
    );
    let arch = args
        .arch
        .context("charlm needs --arch lstm, gru or transformer")?;
    let corpus = CharCorpus::tiny_shakespeare()?;
    let (train, validation) = corpus.split(0.1);
    let d = recipe(arch, corpus.vocab.len());
    let iterations = args.iterations.unwrap_or(d.iterations);
    let batch = args.batch_size.unwrap_or(d.batch_size);
    let lr = args.lr.unwrap_or(d.lr);
    let eval_every = args.eval_every.unwrap_or(d.eval_every);
    check_outputs(args)?;
    let model = CharLm::new(d.config, args.seed, device)?;
    let mut opt = optimizer(&model, lr, iterations);
    let mut start = 0;
    if let Some(path) = &args.resume {
        let meta = load_training(path, &model, Some(opt.as_mut()), device)?;
        start = meta
            .get("step")
            .and_then(|s| s.parse().ok())
            .context("the checkpoint has no step")?;
        println!("resumed from {} after step {start}", path.display());
    }
    let context = d.config.context;
    println!(
        "training charlm ({}) on {device}: {} train / {} validation characters, {iterations} steps of {batch}×{context}, lr {lr}",
        d.config.arch.name(),
        train.len(),
        validation.len()
    );
    let end = stop_point(args, start, iterations);
    let bar = ProgressBar::new((end - start) as u64);
    bar.set_style(
        ProgressStyle::with_template("step {pos}/{len} [{bar:30}] {msg}")?.progress_chars("=> "),
    );
    let (mut history, mut window_loss, mut window_steps) = (Vec::new(), 0.0, 0);
    let began = Instant::now();
    let mut t0 = Instant::now();
    for step in start..end {
        let windows = random_windows(train, batch, context, args.seed, step as u64)?;
        let (x, y) = windows.tensors(device)?;
        let loss = opt.step(&model.loss(&x, &y)?)?;
        anyhow::ensure!(
            loss.is_finite(),
            "the loss became {loss} at step {}",
            step + 1
        );
        window_loss += loss;
        window_steps += 1;
        bar.set_message(format!("loss {:.4}", window_loss / window_steps as f64));
        bar.inc(1);
        if (step + 1) % eval_every == 0 || step + 1 == end {
            let seconds = t0.elapsed().as_secs_f64();
            let record = EpochRecord {
                epoch: step + 1,
                train_loss: window_loss / window_steps as f64,
                train: Evaluation {
                    loss: window_loss / window_steps as f64,
                    accuracy: None,
                },
                test: Evaluation {
                    loss: model.validation_loss(validation, EVAL_ROWS, device)?,
                    accuracy: None,
                },
                samples_per_second: (window_steps * batch * context) as f64 / seconds,
            };
            bar.suspend(|| {
                println!(
                    "step {:>5}: train loss {:.4}  validation {:.4} nats/char  {:.0} characters/s",
                    record.epoch, record.train_loss, record.test.loss, record.samples_per_second
                )
            });
            history.push(record);
            (window_loss, window_steps) = (0.0, 0);
            if let Some(path) = &args.save {
                save(path, &model, opt.as_ref(), &corpus.vocab, step + 1)?;
            }
            t0 = Instant::now();
        }
    }
    bar.finish_and_clear();
    let seconds = began.elapsed().as_secs_f64();
    if let Some(last) = history.last() {
        println!(
            "done in {seconds:.1} s: validation {:.4} nats/char after step {}",
            last.test.loss, last.epoch
        );
    }
    if let Some(path) = &args.plot {
        plot::curves(
            path,
            &format!("charlm ({})", d.config.arch.name()),
            ("step", "validation"),
            &history,
        )
        .with_context(|| format!("plotting {}", path.display()))?;
        println!("plot written to {}", path.display());
    }
    if history.is_empty() {
        println!(
            "the checkpoint's validation loss is {:.4} nats/char",
            model.validation_loss(validation, EVAL_ROWS, device)?
        );
    }
    if let Some(path) = &args.metrics {
        let json = serde_json::json!({
            "family": "charlm",
            "arch": d.config.arch.name(),
            "device": device.to_string(),
            "seed": args.seed,
            "seconds": seconds,
            "iterations": iterations,
            "batch_size": batch,
            "context": context,
            "lr": lr,
            "final": { "validation_loss": history.last().map(|r| r.test.loss) },
            "history": history.iter().map(|r| serde_json::json!({
                "step": r.epoch,
                "train_loss": r.train.loss,
                "validation_loss": r.test.loss,
                "characters_per_second": r.samples_per_second,
            })).collect::<Vec<_>>(),
        });
        write_metrics(path, &json)?;
    }
    Ok(())
}
