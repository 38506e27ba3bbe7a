//! `lepton train gan`: a GAN on the ring of 8 Gaussians, the discriminator's and the
//! generator's steps alternating, judged on 2,500 samples every --eval-every steps (modes
//! covered, share of high-quality samples, KL of the mode histogram from uniform), with
//! checkpoints that --resume continues exactly, loss curves (--plot), a scatter of samples
//! over the modes (--images) and a metrics file.

use std::collections::HashMap;
use std::f64::consts::TAU;
use std::time::Instant;

use anyhow::Context;
use lepton::models::gan::{Gan, GanConfig, RingMetrics, DEFAULTS, JUDGED, MODES, RADIUS, SIGMA};
use lepton::Device;

use crate::cli::plot;
use crate::cli::train::{check_outputs, progress_bar, stop_point, write_metrics, TrainArgs};

/// One report: steps so far, the mean losses since the last report, and the metrics.
struct Record {
    steps: usize,
    discriminator_loss: f64,
    generator_loss: f64,
    metrics: RingMetrics,
}

pub fn run(args: &TrainArgs, device: &Device) -> anyhow::Result<()> {
    if args.epochs.is_some() || args.arch.is_some() || args.toy || args.stop_at_return.is_some() {
        anyhow::bail!("gan takes --iterations (steps), --batch-size, --lr and --eval-every");
    }
    check_outputs(args)?;
    let config = GanConfig {
        steps: args.iterations.unwrap_or(DEFAULTS.steps),
        batch_size: args.batch_size.unwrap_or(DEFAULTS.batch_size),
        lr: args.lr.unwrap_or(DEFAULTS.lr),
    };
    let every = args.eval_every.unwrap_or(2000);
    anyhow::ensure!(every > 0, "--eval-every must be at least 1");
    let mut gan = match &args.resume {
        Some(path) => {
            let (gan, _) = Gan::resume(config, args.seed, path, device)?;
            println!("resumed from {} after step {}", path.display(), gan.steps());
            gan
        }
        None => Gan::new(config, args.seed, device)?,
    };
    println!(
        "training gan on {device}: the ring of {MODES} Gaussians (radius {RADIUS}, sigma {SIGMA}), {} steps of each network, batch {}, lr {}; judged on {JUDGED} samples every {every} steps",
        config.steps, config.batch_size, config.lr
    );
    let end = stop_point(args, gan.steps(), config.steps);
    let bar = progress_bar(config.steps as u64, "steps");
    bar.set_position(gan.steps() as u64);
    let began = Instant::now();
    let mut history = Vec::new();
    let (mut d_sum, mut g_sum, mut window) = (0.0, 0.0, 0usize);
    while gan.steps() < end {
        let (d, g) = gan.step()?;
        anyhow::ensure!(
            d.is_finite() && g.is_finite(),
            "the losses became {d} and {g} at step {}",
            gan.steps()
        );
        (d_sum, g_sum, window) = (d_sum + d, g_sum + g, window + 1);
        bar.inc(1);
        if gan.steps() % every == 0 || gan.steps() == end {
            let record = Record {
                steps: gan.steps(),
                discriminator_loss: d_sum / window as f64,
                generator_loss: g_sum / window as f64,
                metrics: gan.judge(args.seed)?,
            };
            bar.suspend(|| println!("{}", describe(&record)));
            (d_sum, g_sum, window) = (0.0, 0.0, 0);
            if let Some(path) = &args.save {
                gan.save(path, HashMap::new())?;
            }
            history.push(record);
        }
    }
    bar.finish_and_clear();
    let seconds = began.elapsed().as_secs_f64();
    let last = gan.judge(args.seed)?;
    println!(
        "done in {seconds:.1} s after {} steps: {} of {MODES} modes, {:.1}% high-quality samples, KL {:.4} from uniform",
        gan.steps(),
        last.modes,
        100.0 * last.high_quality,
        last.kl
    );
    if let Some(path) = &args.plot {
        let series = [
            (
                "discriminator",
                history
                    .iter()
                    .map(|r| (r.steps as f64, r.discriminator_loss))
                    .collect(),
            ),
            (
                "generator",
                history
                    .iter()
                    .map(|r| (r.steps as f64, r.generator_loss))
                    .collect(),
            ),
        ];
        plot::lines(path, ("gan: losses", "steps"), &series)
            .with_context(|| format!("plotting {}", path.display()))?;
        println!("plot written to {}", path.display());
    }
    if let Some(path) = &args.images {
        let centers: Vec<(f64, f64)> = (0..MODES)
            .map(|k| {
                let a = k as f64 * TAU / MODES as f64;
                (RADIUS * a.cos(), RADIUS * a.sin())
            })
            .collect();
        let title = format!(
            "gan: {JUDGED} samples after {} steps (rings: 3 sigma)",
            gan.steps()
        );
        plot::scatter(
            path,
            &title,
            &gan.samples(JUDGED, args.seed)?,
            &centers,
            3.0 * SIGMA,
        )
        .with_context(|| format!("drawing {}", path.display()))?;
        println!("images written to {}", path.display());
    }
    if let Some(path) = &args.metrics {
        let json = serde_json::json!({
            "family": "gan",
            "device": device.to_string(),
            "seed": args.seed,
            "seconds": seconds,
            "steps": gan.steps(),
            "final": {
                "modes": last.modes,
                "high_quality": last.high_quality,
                "kl": last.kl,
                "samples": JUDGED,
            },
            "history": history.iter().map(|r| serde_json::json!({
                "steps": r.steps,
                "discriminator_loss": r.discriminator_loss,
                "generator_loss": r.generator_loss,
                "modes": r.metrics.modes,
                "high_quality": r.metrics.high_quality,
                "kl": r.metrics.kl,
            })).collect::<Vec<_>>(),
        });
        write_metrics(path, &json)?;
    }
    Ok(())
}

fn describe(r: &Record) -> String {
    format!(
        "step {:>6}: losses D {:.4} G {:.4}  modes {}/{MODES}  high quality {:.1}%  KL {:.4}",
        r.steps,
        r.discriminator_loss,
        r.generator_loss,
        r.metrics.modes,
        100.0 * r.metrics.high_quality,
        r.metrics.kl
    )
}
