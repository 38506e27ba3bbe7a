//! `lepton` subcommands.

mod adapters_command;
mod bench;
mod bench_cases;
mod bench_compare;
mod charlm;
mod dqn;
mod gan;
mod generate;
mod images;
mod onnx_command;
mod plot;
mod policy_gradient;
mod profile;
mod profile_steps;
mod qlearn;
mod roofline;
mod supervised;
mod train;
mod vae;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "lepton",
    version,
    about = "A GPU compute engine for machine learning"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List GPU adapters with their features and limits, and the device `auto` picks.
    Info,
    /// Train a model family, with per-epoch evaluation, checkpoints, plots and metrics.
    Train(train::TrainArgs),
    /// Print text from a character model trained by `train charlm --save`.
    Generate(generate::GenerateArgs),
    /// Measure the device's peaks, then time the engine's kernels at standard shapes
    /// against the roofline they draw.
    Bench(bench::BenchArgs),
    /// Time every kernel of a family's training steps: a table by kernel or op, and a
    /// Chrome trace.
    Profile(profile::ProfileArgs),
    /// Check which ops of an ONNX model the engine lowers, or run it on .npy inputs.
    Onnx(onnx_command::OnnxArgs),
}

pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Info => adapters_command::run(),
        Command::Train(args) => train::run(args),
        Command::Generate(args) => generate::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Profile(args) => profile::run(args),
        Command::Onnx(args) => onnx_command::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            if let Some(hint) = advice(&e) {
                eprintln!("hint: {hint}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}

/// The device `--device` names, else LEPTON_DEVICE's, else `auto`'s.
fn device(name: Option<&str>) -> lepton::Result<lepton::Device> {
    match name {
        Some(name) => lepton::Device::parse(name),
        None => lepton::Device::from_env(),
    }
}

/// An error unless the folder that `flag`'s file would be written in exists.
fn check_folder(flag: &str, path: Option<&std::path::Path>) -> anyhow::Result<()> {
    if let Some(dir) = path.and_then(|p| p.parent()) {
        anyhow::ensure!(
            dir.as_os_str().is_empty() || dir.is_dir(),
            "{flag}: the folder {} does not exist",
            dir.display()
        );
    }
    Ok(())
}

/// How to go on after a device fault: the error line says what happened, this what to do.
fn advice(e: &anyhow::Error) -> Option<&'static str> {
    match e.chain().find_map(|c| c.downcast_ref::<lepton::Error>())? {
        lepton::Error::OutOfMemory { .. } => Some(
            "the device's memory is full: a smaller --batch-size needs less, --device cpu uses \
             the machine's memory, and a run saved with --save goes on from its last checkpoint \
             with --resume",
        ),
        lepton::Error::DeviceLost { .. } => Some(
            "the GPU was lost (a driver reset, a removed device or a hung kernel), and with it \
             the work since the last checkpoint: run the same command with --resume and the \
             file --save wrote to go on from there, or with --device cpu",
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::advice;

    #[test]
    fn device_faults_say_how_to_go_on() {
        let lost = anyhow::Error::new(lepton::Error::DeviceLost {
            reason: "Destroyed".into(),
        })
        .context("epoch 3");
        assert!(advice(&lost).is_some_and(|a| a.contains("--resume") && a.contains("--device cpu")));
        let full = anyhow::Error::new(lepton::Error::OutOfMemory {
            bytes: 1 << 30,
            context: "a GPU buffer".into(),
        });
        assert!(advice(&full).is_some_and(|a| a.contains("--batch-size")));
        assert!(advice(&anyhow::anyhow!("no such file")).is_none());
    }
}
