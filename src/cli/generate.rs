//! `lepton generate`: text from a character model that `lepton train charlm --save` wrote.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use lepton::data::CharCorpus;
use lepton::models::charlm;
use lepton::models::generate::{generate, Sampling};

#[derive(Args)]
pub struct GenerateArgs {
    /// A checkpoint written by `lepton train charlm --save`.
    #[arg(long)]
    checkpoint: PathBuf,
    /// The text to continue (every character must be in the model's vocabulary).
    #[arg(long, default_value = "\n")]
    prompt: String,
    /// Characters to generate.
    #[arg(long, default_value_t = 500)]
    tokens: usize,
    /// Divides the logits; 0 always picks the most likely character.
    #[arg(long, default_value_t = 0.8)]
    temperature: f64,
    /// Draw only among the k most likely characters.
    #[arg(long)]
    top_k: Option<usize>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// cpu, gpu, gpu:N or auto (default: LEPTON_DEVICE, else auto).
    #[arg(long)]
    device: Option<String>,
}

pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    let device = crate::cli::device(args.device.as_deref())?;
    let (model, vocab) = charlm::load(&args.checkpoint, &device)?;
    let prompt = CharCorpus::encode(&vocab, &args.prompt)?;
    let sampling = Sampling {
        temperature: args.temperature,
        top_k: args.top_k,
        seed: args.seed,
    };
    let ids = generate(&model, &prompt, args.tokens, &sampling, &device)?;
    let mut out = std::io::stdout().lock();
    write!(out, "{}{}", args.prompt, CharCorpus::decode(&vocab, &ids)?)?;
    writeln!(out)?;
    Ok(())
}
