//! A small decoder-only transformer on the tiny Shakespeare text, written with the library's
//! API: 2 pre-norm blocks of width 64 and 2 heads, context 32, trained with AdamW for 800
//! steps of 16 windows, then text generated through its key-value cache. Exits non-zero
//! unless the validation loss (the last 10% of the text) is below 2.5 nats per character,
//! what a bigram model reaches.

use lepton::data::{random_windows, CharCorpus};
use lepton::models::charlm::{CharLm, CharLmConfig};
use lepton::models::generate::{generate, Sampling};
use lepton::nn::Module;
use lepton::optim::{Adam, Optimizer, Schedule};
use lepton::Device;

fn main() -> anyhow::Result<()> {
    let device = Device::from_env()?;
    let corpus = CharCorpus::tiny_shakespeare()?;
    let (train, validation) = corpus.split(0.1);
    let config = CharLmConfig {
        layers: 2,
        heads: 2,
        embed: 64,
        context: 32,
        ..CharLmConfig::baby_gpt(corpus.vocab.len())
    };
    let model = CharLm::new(config, 0, &device)?;
    let steps = 800;
    let schedule = Schedule::Cosine {
        total: steps,
        min_lr: 3e-4,
    };
    let mut opt = Adam::adamw(model.parameters(), 3e-3)
        .betas(0.9, 0.99)
        .weight_decay(0.1)
        .schedule(schedule)
        .clip_grad_norm(1.0);
    for step in 0..steps {
        let (x, y) = random_windows(train, 16, config.context, 0, step)?.tensors(&device)?;
        let loss = opt.step(&model.loss(&x, &y)?)?;
        if step % 100 == 0 {
            println!("step {step:>3}: loss {loss:.3}");
        }
    }
    let nats = model.validation_loss(validation, 512, &device)?;
    println!("validation: {nats:.3} nats per character on {device}");
    let sampling = Sampling {
        temperature: 0.8,
        top_k: Some(20),
        seed: 1,
    };
    let prompt = CharCorpus::encode(&corpus.vocab, "JULIET:")?;
    let text = generate(&model, &prompt, 200, &sampling, &device)?;
    println!("JULIET:{}", CharCorpus::decode(&corpus.vocab, &text)?);
    anyhow::ensure!(nats < 2.5, "validation loss {nats:.3} is not below 2.5");
    Ok(())
}
