//! `lepton train vae`: a variational autoencoder of the binarized digits, with a progress
//! bar per epoch, the test set's negative ELBO every epoch (one latent draw per image; ten
//! at the end), checkpoints that --resume continues exactly, loss curves (--plot), a PNG
//! of test digits, their reconstructions and samples from the prior (--images), and a
//! metrics file.

use std::collections::HashMap;
use std::time::Instant;

use anyhow::Context;
use lepton::checkpoint::{load_training, save_training};
use lepton::models::vae::{self, Vae, DEFAULTS, PIXELS};
use lepton::nn::Module;
use lepton::optim::{Adam, Optimizer};
use lepton::Device;

use crate::cli::train::{
    check_outputs, finite_loss, progress_bar, stop_point, write_metrics, TrainArgs,
};
use crate::cli::{images, plot};

/// Latent draws per image in the final figure.
const FINAL_SAMPLES: usize = 10;

/// One epoch: the mean training loss and the test set's negative ELBO, in nats per image.
struct Record {
    epoch: usize,
    train: f64,
    test: f64,
}

pub fn run(args: &TrainArgs, device: &Device) -> anyhow::Result<()> {
    if args.arch.is_some()
        || args.toy
        || args.iterations.is_some()
        || args.eval_every.is_some()
        || args.stop_at_return.is_some()
    {
        anyhow::bail!("vae takes --epochs, --batch-size and --lr");
    }
    check_outputs(args)?;
    let epochs = args.epochs.unwrap_or(DEFAULTS.epochs);
    let batch_size = args.batch_size.unwrap_or(DEFAULTS.batch_size);
    let lr = args.lr.unwrap_or(DEFAULTS.lr);
    let (train, test) = vae::binarized_digits(args.seed)?;
    let model = Vae::new(args.seed, device)?;
    let mut optimizer = Adam::new(model.parameters(), lr);
    let mut start = 0;
    if let Some(path) = &args.resume {
        let meta = load_training(path, &model, Some(&mut optimizer), device)?;
        let field = |k: &str| meta.get(k).map(String::as_str);
        anyhow::ensure!(
            field("family") == Some("vae") && field("seed") == Some(&args.seed.to_string()),
            "{} is not a vae checkpoint of seed {}",
            path.display(),
            args.seed
        );
        start = field("epoch")
            .and_then(|e| e.parse::<usize>().ok())
            .map(|e| e + 1)
            .with_context(|| format!("{} names no epoch", path.display()))?;
        println!("resumed from {} after epoch {start}", path.display());
    }
    let baseline = vae::pixel_mean_baseline(&train, &test);
    println!(
        "training vae on {device}: {} train / {} test digits binarized at 8/16, {epochs} epochs, batch {batch_size}, lr {lr}; independent pixels score {baseline:.2} nats per image",
        train.rows, test.rows
    );
    let end = stop_point(args, start, epochs);
    let began = Instant::now();
    let mut history = Vec::new();
    for epoch in start..end {
        let batches = train.batches(batch_size, Some((args.seed, epoch as u64)));
        let bar = progress_bar(
            batches.len() as u64,
            format!("epoch {:>3}/{epochs}", epoch + 1),
        );
        let mut total = 0.0;
        for (i, batch) in batches.iter().enumerate() {
            let (x, _) = batch.tensors(device)?;
            let draw = optimizer.steps();
            let loss = model.negative_elbo(&x, args.seed, draw)?.mean(&[], false)?;
            total += finite_loss(optimizer.step(&loss)?, epoch + 1, i + 1)? * batch.rows as f64;
            bar.inc(1);
        }
        bar.finish_and_clear();
        let record = Record {
            epoch: epoch + 1,
            train: total / train.rows as f64,
            test: model.evaluate(&test, 1, vae_test_seed(args.seed, epoch))?,
        };
        if (epoch + 1) % 25 == 0 || epoch + 1 == end {
            println!(
                "epoch {:>3}: train {:.3}  test {:.3} nats per image",
                record.epoch, record.train, record.test
            );
        }
        if let Some(path) = &args.save {
            let meta = HashMap::from([
                ("family".to_string(), "vae".to_string()),
                ("seed".to_string(), args.seed.to_string()),
                ("epoch".to_string(), epoch.to_string()),
            ]);
            save_training(path, &model, Some(&optimizer), meta)?;
        }
        history.push(record);
    }
    let seconds = began.elapsed().as_secs_f64();
    let final_test = model.evaluate(&test, FINAL_SAMPLES, vae_test_seed(args.seed, epochs))?;
    println!(
        "done in {seconds:.1} s: test negative ELBO {final_test:.3} nats per image ({FINAL_SAMPLES} latent draws each); independent pixels {baseline:.3}"
    );
    if let Some(path) = &args.plot {
        let series = [
            (
                "train (mean over the epoch's batches)",
                history.iter().map(|r| (r.epoch as f64, r.train)).collect(),
            ),
            (
                "test",
                history.iter().map(|r| (r.epoch as f64, r.test)).collect(),
            ),
        ];
        plot::lines(
            path,
            ("vae: negative ELBO (nats per image)", "epoch"),
            &series,
        )
        .with_context(|| format!("plotting {}", path.display()))?;
        println!("plot written to {}", path.display());
    }
    if let Some(path) = &args.images {
        let shown = 12.min(test.rows);
        let originals = test.features[..shown * PIXELS].to_vec();
        let x = lepton::Tensor::from_slice(&originals, &[shown, PIXELS], device)?;
        let rows = [
            ("test digits", originals),
            ("reconstructions", model.reconstruct(&x)?),
            ("samples", model.sample(shown, args.seed)?),
            ("more samples", model.sample(shown, args.seed ^ 1)?),
        ];
        images::grid(path, 8, &rows).with_context(|| format!("drawing {}", path.display()))?;
        println!("images written to {}", path.display());
    }
    if let Some(path) = &args.metrics {
        let json = serde_json::json!({
            "family": "vae",
            "device": device.to_string(),
            "seed": args.seed,
            "seconds": seconds,
            "epochs": end,
            "final": {
                "test_negative_elbo": final_test,
                "latent_draws_per_image": FINAL_SAMPLES,
                "pixel_mean_baseline": baseline,
            },
            "history": history.iter().map(|r| serde_json::json!({
                "epoch": r.epoch,
                "train_negative_elbo": r.train,
                "test_negative_elbo": r.test,
            })).collect::<Vec<_>>(),
        });
        write_metrics(path, &json)?;
    }
    Ok(())
}

/// The latent draws' stream for the test figure after `epoch`.
fn vae_test_seed(seed: u64, epoch: usize) -> u64 {
    seed ^ (0x7e57 + epoch as u64)
}
