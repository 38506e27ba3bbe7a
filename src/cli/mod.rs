//! `lepton` subcommands.

mod adapters_command;
mod charlm;
mod dqn;
mod gan;
mod generate;
mod images;
mod plot;
mod policy_gradient;
mod qlearn;
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
}

pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Info => adapters_command::run(),
        Command::Train(args) => train::run(args),
        Command::Generate(args) => generate::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
