//! `lepton bench`: the device's own peaks, then a sweep over the engine's kernels at
//! standard shapes, each against the roofline those peaks draw.

use std::fmt::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use lepton::profile::{Peaks, Profiler};
use lepton::Device;
use serde_json::json;

use crate::cli::bench_cases::{self, Case};
use crate::cli::bench_compare::{self, Timed};
use crate::cli::roofline::{self, Point};
use crate::cli::train::progress_bar;

#[derive(Args)]
pub struct BenchArgs {
    /// cpu, gpu, gpu:N or auto (default: LEPTON_DEVICE, else auto).
    #[arg(long)]
    pub device: Option<String>,
    /// Only the kernels whose name or shape contains this.
    #[arg(long)]
    pub filter: Option<String>,
    /// A short sweep (a few kernels, 5 runs each) that finishes in under a minute.
    #[arg(long)]
    pub quick: bool,
    /// Write the device, its peaks and every run's time as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Draw the roofline with a point per kernel as a PNG.
    #[arg(long)]
    pub roofline: Option<PathBuf>,
    /// Write the same JSON as --json, to compare later runs with.
    #[arg(long)]
    pub save_baseline: Option<PathBuf>,
    /// Compare with a saved run: each kernel's change, and exit non-zero when one is slower
    /// by more than --threshold and more than its own spread.
    #[arg(long)]
    pub compare: Option<PathBuf>,
    /// The slowdown, in percent, that --compare fails at.
    #[arg(long, default_value_t = 5.0)]
    pub threshold: f64,
    /// Compare with a baseline from another device.
    #[arg(long)]
    pub force: bool,
}

/// One kernel's measurement: the time of each run (its kernels' device time), and its cost.
struct Measured {
    timed: Timed,
    flop: u64,
    bytes: u64,
}

/// Run `case` `runs` times under the profiler, after warming up (plans built, pipelines
/// compiled, the autotuner settled).
fn measure(case: &Case, device: &Device, runs: usize) -> anyhow::Result<Measured> {
    let inputs = bench_cases::inputs(case, device)?;
    for _ in 0..2 {
        lepton::realize(&[&(case.op)(&inputs)?])?;
    }
    lepton::autotune::settle();
    lepton::realize(&[&(case.op)(&inputs)?])?;
    let mut samples_us = Vec::with_capacity(runs);
    let (mut flop, mut bytes) = (0, 0);
    for _ in 0..runs {
        let profiler = Profiler::start()?;
        lepton::realize(&[&(case.op)(&inputs)?])?;
        let profile = profiler.finish();
        samples_us.push(profile.kernel_us());
        flop = profile.kernels().map(|e| e.flop).sum();
        bytes = profile.kernels().map(|e| e.bytes).sum();
    }
    Ok(Measured {
        timed: Timed {
            name: case.name.to_string(),
            shape: case.shape.clone(),
            samples_us,
        },
        flop,
        bytes,
    })
}

fn line(out: &mut String, m: &Measured, peaks: &Peaks) -> std::fmt::Result {
    let median = m.timed.median_us();
    let seconds = median / 1e6;
    let intensity = m.flop as f64 / m.bytes.max(1) as f64;
    let bound = match (m.flop, peaks.compute_bound(intensity)) {
        (0, _) | (_, false) => "memory",
        _ => "compute",
    };
    writeln!(
        out,
        "{:<13} {:<34} {:>10.1} {:>7.1}% {:>9.2} {:>8.2} {:>9.3} {:>8} {:>6.1}%",
        m.timed.name,
        m.timed.shape,
        median,
        100.0 * m.timed.spread(),
        m.flop as f64 / seconds / 1e9,
        m.bytes as f64 / seconds / 1e9,
        intensity,
        bound,
        100.0 * peaks.share(m.flop, m.bytes, seconds)
    )
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    crate::cli::check_folder("--json", args.json.as_deref())?;
    crate::cli::check_folder("--roofline", args.roofline.as_deref())?;
    crate::cli::check_folder("--save-baseline", args.save_baseline.as_deref())?;
    anyhow::ensure!(
        args.threshold >= 0.0 && args.threshold.is_finite(),
        "--threshold must be a percentage of at least 0, not {}",
        args.threshold
    );
    let device = crate::cli::device(args.device.as_deref())?;
    let baseline = match &args.compare {
        Some(path) => {
            let (from, kernels) = bench_compare::load(path)?;
            anyhow::ensure!(
                args.force || from == device.to_string(),
                "{} was measured on {from}, not {device}; --force compares anyway",
                path.display()
            );
            Some(kernels)
        }
        None => None,
    };
    let cases: Vec<Case> = bench_cases::all()
        .into_iter()
        .filter(|c| !args.quick || c.quick)
        .filter(|c| {
            args.filter
                .as_deref()
                .is_none_or(|f| c.name.contains(f) || c.shape.contains(f))
        })
        .collect();
    anyhow::ensure!(
        !cases.is_empty(),
        "no kernel matches --filter {}",
        args.filter.as_deref().unwrap_or("")
    );
    let peaks = device.peaks()?;
    let mut out = String::new();
    writeln!(
        out,
        "{device}; kernels timed by {}",
        crate::cli::profile::timing(&device, lepton::profile::Detail::Kernels)
    )?;
    writeln!(
        out,
        "peaks: copy {:.2} GB/s, read {:.2} GB/s, FMA {:.2} GFLOP/s, empty {} {:.1} µs; \
         ridge {:.2} FLOP/byte",
        peaks.copy_bytes_per_s / 1e9,
        peaks.read_bytes_per_s / 1e9,
        peaks.flop_per_s / 1e9,
        if device.is_gpu() {
            "dispatch"
        } else {
            "parallel loop"
        },
        peaks.empty_s * 1e6,
        peaks.ridge()
    )?;
    print!("{out}");
    let runs = if args.quick { 5 } else { 20 };
    let bar = progress_bar(cases.len() as u64, "bench");
    let mut measured = Vec::with_capacity(cases.len());
    for case in &cases {
        bar.set_message(format!("{} {}", case.name, case.shape));
        measured.push(measure(case, &device, runs)?);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let mut out = String::new();
    writeln!(
        out,
        "{:<13} {:<34} {:>10} {:>8} {:>9} {:>8} {:>9} {:>8} {:>7}",
        "kernel", "shape", "median µs", "spread", "GFLOP/s", "GB/s", "FLOP/B", "bound", "roof"
    )?;
    for m in &measured {
        line(&mut out, m, &peaks)?;
    }
    writeln!(
        out,
        "(spread: (max − min) / median over {runs} runs; roof: the share of min(FMA peak, \
         intensity × the better of copy and read) reached, or of that bandwidth for kernels \
         without FLOP)"
    )?;
    print!("{out}");
    let doc = json!({
        "schema": "lepton-bench/1",
        "device": device.to_string(),
        "timing": crate::cli::profile::timing(&device, lepton::profile::Detail::Kernels),
        "peaks": {
            "copy_bytes_per_s": peaks.copy_bytes_per_s,
            "read_bytes_per_s": peaks.read_bytes_per_s,
            "flop_per_s": peaks.flop_per_s,
            "empty_s": peaks.empty_s,
        },
        "kernels": measured.iter().map(|m| json!({
            "name": m.timed.name,
            "shape": m.timed.shape,
            "flop": m.flop,
            "bytes": m.bytes,
            "median_us": m.timed.median_us(),
            "samples_us": m.timed.samples_us,
        })).collect::<Vec<_>>(),
    });
    for path in [&args.json, &args.save_baseline].into_iter().flatten() {
        std::fs::write(path, serde_json::to_string_pretty(&doc)?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("written to {}", path.display());
    }
    if let Some(path) = &args.roofline {
        let points: Vec<Point> = measured
            .iter()
            .map(|m| {
                let seconds = m.timed.median_us() / 1e6;
                Point {
                    label: format!("{} {}", m.timed.name, m.timed.shape),
                    intensity: m.flop as f64 / m.bytes.max(1) as f64,
                    gflops: m.flop as f64 / seconds / 1e9,
                }
            })
            .collect();
        roofline::draw(path, &format!("roofline of {device}"), &peaks, &points)
            .with_context(|| format!("drawing {}", path.display()))?;
        println!("roofline drawn in {}", path.display());
    }
    if let Some(base) = baseline {
        let now: Vec<Timed> = measured.into_iter().map(|m| m.timed).collect();
        let (text, slower) = bench_compare::compare(&base, &now, args.threshold / 100.0);
        print!("{text}");
        anyhow::ensure!(
            slower.is_empty(),
            "slower than the baseline by more than {}% and their spread: {}",
            args.threshold,
            slower.join(", ")
        );
    }
    Ok(())
}
