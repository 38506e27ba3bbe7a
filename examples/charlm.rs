//! A character language model of the tiny Shakespeare text, written with the library's
//! API: a 128-unit LSTM over a 32-wide embedding trained for 250 steps of 32 windows of 64
//! characters, then a sample of its text. Exits non-zero unless the validation loss (the
//! last 10% of the text) is below 2.5 nats per character, what a bigram model reaches.

use lepton::data::{random_windows, CharCorpus};
use lepton::models::charlm::{Arch, CharLm, CharLmConfig};
use lepton::models::generate::{generate, Sampling};
use lepton::optim::{Adam, Optimizer};
use lepton::Device;

fn main() -> anyhow::Result<()> {
    let device = Device::from_env()?;
    let corpus = CharCorpus::tiny_shakespeare()?;
    let (train, validation) = corpus.split(0.1);
    let config = CharLmConfig {
        embed: 32,
        hidden: 128,
        ..CharLmConfig::recurrent(Arch::Lstm, corpus.vocab.len())
    };
    let model = CharLm::new(config, 0, &device)?;
    let mut opt = Adam::new(lepton::nn::Module::parameters(&model), 5e-3).clip_grad_norm(1.0);
    for step in 0..250 {
        let (x, y) = random_windows(train, 32, config.context, 0, step)?.tensors(&device)?;
        let loss = opt.step(&model.loss(&x, &y)?)?;
        if step % 50 == 0 {
            println!("step {step:>3}: loss {loss:.3}");
        }
    }
    let nats = model.validation_loss(validation, 256, &device)?;
    println!("validation: {nats:.3} nats per character on {device}");
    let sampling = Sampling {
        temperature: 0.8,
        top_k: None,
        seed: 1,
    };
    let prompt = CharCorpus::encode(&corpus.vocab, "ROMEO:")?;
    let text = generate(&model, &prompt, 200, &sampling, &device)?;
    println!("ROMEO:{}", CharCorpus::decode(&corpus.vocab, &text)?);
    anyhow::ensure!(nats < 2.5, "validation loss {nats:.3} is not below 2.5");
    Ok(())
}
