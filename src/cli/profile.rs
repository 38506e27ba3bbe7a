//! `lepton profile FAMILY`: run training steps under the profiler and print where their
//! time goes, per kernel or per op, with a Chrome trace on request.

use std::fmt::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use lepton::profile::{Detail, GroupBy, Peaks, Profile, Profiler, Row, Track};
use lepton::Device;

use crate::cli::profile_steps::{workload, Workload};
use crate::cli::train::{CharArch, Family};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum By {
    /// Each GPU shader entry point or CPU kernel.
    Kernel,
    /// Each op of the plans' steps (a step's dispatches summed).
    Op,
}

#[derive(Args)]
pub struct ProfileArgs {
    pub family: Family,
    /// charlm: the architecture, as for `train`.
    #[arg(long, value_enum)]
    pub arch: Option<CharArch>,
    /// cpu, gpu, gpu:N or auto (default: LEPTON_DEVICE, else auto).
    #[arg(long)]
    pub device: Option<String>,
    /// Training steps profiled.
    #[arg(long, default_value_t = 20)]
    pub steps: usize,
    /// Steps run first without the profiler (plans built, pipelines compiled, kernels
    /// chosen); then the autotuner settles and one more unprofiled step runs.
    #[arg(long, default_value_t = 5)]
    pub warmup: usize,
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// mlp, cnn and gan: the data, as for `train`.
    #[arg(long)]
    pub data: Option<String>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write the profiled steps as a Chrome trace (ui.perfetto.dev, chrome://tracing).
    #[arg(long)]
    pub trace: Option<PathBuf>,
    /// Group the table's rows by kernel or by op.
    #[arg(long, value_enum, default_value_t = By::Kernel)]
    pub by: By,
}

pub fn run(args: ProfileArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.steps > 0, "--steps must be at least 1");
    anyhow::ensure!(
        args.batch_size != Some(0),
        "--batch-size must be at least 1"
    );
    crate::cli::check_folder("--trace", args.trace.as_deref())?;
    let device = crate::cli::device(args.device.as_deref())?;
    let Workload { what, mut step } = workload(&args, &device)?;
    // Measured first, while nothing else holds the device.
    let peaks = device.peaks()?;
    for _ in 0..args.warmup {
        step()?;
    }
    lepton::autotune::settle();
    if args.warmup > 0 {
        step()?;
    }
    // The same steps unprofiled first, to say what profiling costs.
    let before = lepton::stats();
    let began = std::time::Instant::now();
    for _ in 0..args.steps {
        step()?;
    }
    let unprofiled_ms = began.elapsed().as_secs_f64() * 1e3 / args.steps as f64;
    let after = lepton::stats();
    // Each profiled step follows one timed whole, so both see the machine alike.
    let profiler = Profiler::start()?;
    for _ in 0..args.steps {
        profiler.whole_step(&mut step)?;
        profiler.step(&mut step)?;
    }
    let profile = profiler.finish();
    let per_step = |n: u64| n as f64 / args.steps as f64;
    let mut out = String::new();
    writeln!(
        out,
        "{:?} on {device}: {} steps after {} warm-up, each one {what}",
        args.family, args.steps, args.warmup,
    )?;
    write!(
        out,
        "timing    kernels by {}",
        timing(&device, Detail::Kernels)
    )?;
    if let Some(pair) = profile.timestamp_pair_us {
        write!(out, ", each net of an empty pair's {pair:.1} µs")?;
    }
    writeln!(out, "; whole runs by {}", timing(&device, Detail::Runs))?;
    writeln!(
        out,
        "peaks     copy {:.2} GB/s, read {:.2} GB/s, FMA {:.2} GFLOP/s (the roof column: \
         `lepton bench`)",
        peaks.copy_bytes_per_s / 1e9,
        peaks.read_bytes_per_s / 1e9,
        peaks.flop_per_s / 1e9
    )?;
    summary(&mut out, &profile, args.steps, unprofiled_ms)?;
    write!(
        out,
        "per step  {:.1} kernels",
        per_step(after.kernels - before.kernels)
    )?;
    if device.is_gpu() {
        write!(
            out,
            ", {:.1} submissions; GPU memory held {:.1} MiB",
            per_step(after.submissions - before.submissions),
            after.bytes_live as f64 / (1 << 20) as f64
        )?;
    }
    writeln!(out)?;
    let by = match args.by {
        By::Kernel => GroupBy::Kernel,
        By::Op => GroupBy::Op,
    };
    table(
        &mut out,
        &profile.table(by),
        profile.kernel_us(),
        args.steps,
        &peaks,
    )?;
    print!("{out}");
    if let Some(path) = &args.trace {
        std::fs::write(path, profile.chrome_trace())
            .with_context(|| format!("writing {}", path.display()))?;
        println!("trace written to {}", path.display());
    }
    Ok(())
}

/// How the profiler times work at `detail` on `device`.
pub fn timing(device: &Device, detail: Detail) -> &'static str {
    let has = |feature| matches!(device, Device::Gpu(ctx) if ctx.features().contains(feature));
    let stamps = has(wgpu::Features::TIMESTAMP_QUERY);
    let inside = has(wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES);
    match (device, detail, stamps, inside) {
        (Device::Gpu(_), Detail::Kernels, true, true) => {
            "timestamps around each dispatch inside the one pass"
        }
        (Device::Gpu(_), Detail::Kernels, true, false) => {
            "timestamps around each dispatch (a compute pass each)"
        }
        (Device::Gpu(_), Detail::Kernels, false, _) => {
            "the host clock around each dispatch, submitted alone"
        }
        (Device::Gpu(_), Detail::Runs, true, _) => "timestamps around each submission's one pass",
        (Device::Gpu(_), Detail::Runs, false, _) => {
            "the host clock from each submission until it finished"
        }
        (Device::Cpu, Detail::Kernels, ..) => "the host clock around each kernel",
        (Device::Cpu, Detail::Runs, ..) => "the host clock around each plan",
    }
}

/// The steps' wall time, the kernels' share of it, the same steps' time unprofiled, and
/// the host's phases.
fn summary(
    out: &mut String,
    profile: &Profile,
    steps: usize,
    unprofiled_ms: f64,
) -> std::fmt::Result {
    let walls: Vec<f64> = profile.host("step").map(|e| e.duration_us).collect();
    let wall: f64 = walls.iter().sum();
    let min = walls.iter().copied().fold(f64::INFINITY, f64::min);
    let max = walls.iter().copied().fold(0.0, f64::max);
    let kernels = profile.kernel_us();
    let n = steps as f64;
    writeln!(
        out,
        "step      {:.3} ms mean (min {:.3}, max {:.3}); kernels {:.3} ms ({:.0}% of the step)",
        wall / n / 1e3,
        min / 1e3,
        max / 1e3,
        kernels / n / 1e3,
        100.0 * kernels / wall.max(f64::MIN_POSITIVE)
    )?;
    writeln!(
        out,
        "          unprofiled {unprofiled_ms:.3} ms mean over as many steps just before"
    )?;
    let device = profile.run_us();
    writeln!(
        out,
        "device    {:.3} ms per step timed whole in steps alternating with these ({} runs); \
         the kernels' total is {:.1}% of it",
        device / n / 1e3,
        profile.runs().count(),
        100.0 * kernels / device.max(f64::MIN_POSITIVE)
    )?;
    let phases: Vec<String> = [
        ("plan", "planning"),
        ("record and submit", "recording and submitting"),
    ]
    .into_iter()
    .filter(|(name, _)| profile.host_in_steps(name).next().is_some())
    .map(|(name, what)| {
        let ms = profile
            .host_in_steps(name)
            .map(|e| e.duration_us)
            .sum::<f64>()
            / n
            / 1e3;
        format!("{what} {ms:.3} ms")
    })
    .collect();
    writeln!(out, "host      {} per step", phases.join(", "))
}

/// The rows, each with its share of the roof `peaks` draw at its intensity.
fn table(
    out: &mut String,
    rows: &[Row],
    total_us: f64,
    steps: usize,
    peaks: &Peaks,
) -> std::fmt::Result {
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(4).max(6);
    writeln!(
        out,
        "{:<width$} {:>4} {:>6} {:>9} {:>6} {:>9} {:>9} {:>9} {:>8} {:>7} {:>6}",
        "kernel",
        "on",
        "calls",
        "total ms",
        "share",
        "mean µs",
        "min µs",
        "max µs",
        "GFLOP/s",
        "GB/s",
        "roof"
    )?;
    for r in rows {
        let on = match r.track {
            Track::Gpu => "gpu",
            Track::Cpu => "cpu",
            Track::Host => "host",
            Track::Run => "run",
        };
        writeln!(
            out,
            "{:<width$} {on:>4} {:>6} {:>9.3} {:>5.1}% {:>9.1} {:>9.1} {:>9.1} {:>8.2} {:>7.2} \
             {:>5.1}%",
            r.name,
            r.calls,
            r.total_us / 1e3,
            100.0 * r.total_us / total_us.max(f64::MIN_POSITIVE),
            r.mean_us(),
            r.min_us,
            r.max_us,
            r.gflops(),
            r.gbps(),
            100.0 * peaks.share(r.flop, r.bytes, r.total_us / 1e6)
        )?;
    }
    writeln!(
        out,
        "{:<width$} {:>4} {:>6} {:>9.3} (over {steps} steps)",
        "total",
        "",
        rows.iter().map(|r| r.calls).sum::<usize>(),
        total_us / 1e3
    )
}
