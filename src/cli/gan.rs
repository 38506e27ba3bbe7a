//! `lepton train gan`: a GAN on the ring of 8 Gaussians or (`--data digits`) the 8×8
//! digits, the discriminator's and the generator's steps alternating, judged on 2,500
//! samples every --eval-every steps (modes covered, share of high-quality samples, KL of
//! the mode histogram from uniform, and for the digits the Fréchet distance of the judge's
//! features), with checkpoints that --resume continues exactly, loss curves (--plot), an
//! image of samples (--images: the ring's samples over its modes at the end, or a grid of
//! digits from fixed latents rewritten at every evaluation) and a metrics file.

use std::collections::HashMap;
use std::time::Instant;

use anyhow::Context;
use clap::ValueEnum;
use lepton::models::gan::{
    center, Coverage, Digits, Gan, GanConfig, Target, JUDGED, MODES, RADIUS, SIGMA,
};
use lepton::Device;

use crate::cli::train::{check_outputs, progress_bar, stop_point, write_metrics, TrainArgs};
use crate::cli::{images, plot};

/// What `--data` names.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum GanData {
    /// The ring of 8 Gaussians (radius 2, sigma 0.02).
    Ring,
    /// The 8×8 digits.
    Digits,
}

/// Digits drawn per row of the digits grid.
const GRID_SAMPLES: usize = 12;

/// One report: steps so far, the mean losses since the last report, and the metrics.
struct Record {
    steps: usize,
    discriminator_loss: f64,
    generator_loss: f64,
    metrics: Coverage,
}

/// What `--data` (the ring when absent) names.
pub fn target(data: Option<&str>) -> anyhow::Result<Target> {
    Ok(match data {
        None => Target::Ring,
        Some(name) => match GanData::from_str(name, false) {
            Ok(GanData::Ring) => Target::Ring,
            Ok(GanData::Digits) => Target::Digits,
            Err(_) => anyhow::bail!("gan's --data is ring or digits, not {name}"),
        },
    })
}

pub fn run(args: &TrainArgs, device: &Device) -> anyhow::Result<()> {
    if args.epochs.is_some() || args.arch.is_some() || args.toy || args.stop_at_return.is_some() {
        anyhow::bail!(
            "gan takes --data, --iterations (steps), --batch-size, --lr and --eval-every"
        );
    }
    check_outputs(args)?;
    let target = target(args.data.as_deref())?;
    let defaults = target.defaults();
    let config = GanConfig {
        target,
        steps: args.iterations.unwrap_or(defaults.steps),
        batch_size: args.batch_size.unwrap_or(defaults.batch_size),
        lr: args.lr.unwrap_or(defaults.lr),
    };
    let every = args.eval_every.unwrap_or(2000);
    let mut gan = match &args.resume {
        Some(path) => {
            let (gan, _) = Gan::resume(config, args.seed, path, device)?;
            println!("resumed from {} after step {}", path.display(), gan.steps());
            gan
        }
        None => Gan::new(config, args.seed, device)?,
    };
    let what = match gan.digits() {
        Some(d) => format!("the 8x8 digits ({} training images)", d.train.rows),
        None => format!("the ring of {MODES} Gaussians (radius {RADIUS}, sigma {SIGMA})"),
    };
    println!(
        "training gan on {device}: {what}, {} steps of each network, batch {}, lr {}; judged on {JUDGED} samples every {every} steps",
        config.steps, config.batch_size, config.lr
    );
    if let Some(digits) = gan.digits() {
        println!(
            "the training digits themselves: {}",
            describe_coverage(target, &digits.reference()?)
        );
    }
    let end = stop_point(args, gan.steps(), config.steps);
    let bar = progress_bar(config.steps as u64, "steps");
    bar.set_position(gan.steps() as u64);
    let began = Instant::now();
    let mut history = Vec::new();
    let mut grid_rows: Vec<(String, Vec<f32>)> = Vec::new();
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
            bar.suspend(|| println!("{}", describe(target, &record)));
            (d_sum, g_sum, window) = (0.0, 0.0, 0);
            if let Some(path) = &args.save {
                gan.save(path, HashMap::new())?;
            }
            history.push(record);
            if let (Some(path), Some(digits)) = (&args.images, gan.digits()) {
                grid_rows.push((
                    format!("step {}", gan.steps()),
                    gan.samples(GRID_SAMPLES, args.seed)?,
                ));
                draw_digits(path, digits, &grid_rows)?;
            }
        }
    }
    bar.finish_and_clear();
    let seconds = began.elapsed().as_secs_f64();
    let last = gan.judge(args.seed)?;
    println!(
        "done in {seconds:.1} s after {} steps: {}",
        gan.steps(),
        describe_coverage(target, &last)
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
        match gan.digits() {
            Some(digits) => {
                let label = format!("step {}", gan.steps());
                if grid_rows.last().map(|row| &row.0) != Some(&label) {
                    grid_rows.push((label, gan.samples(GRID_SAMPLES, args.seed)?));
                }
                draw_digits(path, digits, &grid_rows)?;
            }
            None => {
                let centers: Vec<(f64, f64)> = (0..MODES).map(center).collect();
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
            }
        }
        println!("images written to {}", path.display());
    }
    if let Some(path) = &args.metrics {
        let json = serde_json::json!({
            "family": "gan",
            "data": format!("{target:?}").to_lowercase(),
            "device": device.to_string(),
            "seed": args.seed,
            "seconds": seconds,
            "steps": gan.steps(),
            "final": {
                "modes": last.modes,
                "of": last.of,
                "high_quality": last.high_quality,
                "kl": last.kl,
                "frechet": last.frechet,
                "samples": JUDGED,
            },
            "history": history.iter().map(|r| serde_json::json!({
                "steps": r.steps,
                "discriminator_loss": r.discriminator_loss,
                "generator_loss": r.generator_loss,
                "modes": r.metrics.modes,
                "high_quality": r.metrics.high_quality,
                "kl": r.metrics.kl,
                "frechet": r.metrics.frechet,
            })).collect::<Vec<_>>(),
        });
        write_metrics(path, &json)?;
    }
    Ok(())
}

fn describe(target: Target, r: &Record) -> String {
    format!(
        "step {:>6}: losses D {:.4} G {:.4}  {}",
        r.steps,
        r.discriminator_loss,
        r.generator_loss,
        describe_coverage(target, &r.metrics)
    )
}

fn describe_coverage(target: Target, c: &Coverage) -> String {
    match target {
        Target::Ring => format!(
            "{} of {} modes, {:.1}% high-quality samples, KL {:.4} from uniform",
            c.modes,
            c.of,
            100.0 * c.high_quality,
            c.kl
        ),
        Target::Digits => format!(
            "{} of {} digits, {:.1}% drawn clearly, KL {:.4} from uniform, Frechet distance {:.2}",
            c.modes,
            c.of,
            100.0 * c.high_quality,
            c.kl,
            c.frechet.unwrap_or(f64::NAN)
        ),
    }
}

/// The digits grid: a row of training digits, then a row of samples from the same latents
/// at each evaluation.
fn draw_digits(
    path: &std::path::Path,
    digits: &Digits,
    rows: &[(String, Vec<f32>)],
) -> anyhow::Result<()> {
    let real = digits.train.features[..GRID_SAMPLES * digits.train.cols].to_vec();
    let mut all = vec![("training digits", real)];
    all.extend(rows.iter().map(|(label, v)| (label.as_str(), v.clone())));
    images::grid(path, 8, &all).with_context(|| format!("drawing {}", path.display()))
}
