//! A variational autoencoder of the 8×8 digits binarized at 8/16, through the library:
//! trains the default recipe, reports the test set's negative ELBO against a model of
//! independent pixels, and prints a test digit beside its reconstruction and a sample from
//! the prior. Exits non-zero above 19.0 nats per image.

use lepton::models::vae::{binarized_digits, pixel_mean_baseline, Vae, DEFAULTS, PIXELS};
use lepton::nn::Module;
use lepton::optim::{Adam, Optimizer};
use lepton::{Device, Tensor};

fn main() -> anyhow::Result<()> {
    let (seed, device) = (0, Device::cpu());
    let (train, test) = binarized_digits(seed)?;
    let vae = Vae::new(seed, &device)?;
    let mut optimizer = Adam::new(vae.parameters(), DEFAULTS.lr);
    let began = std::time::Instant::now();
    for epoch in 0..DEFAULTS.epochs {
        for batch in train.batches(DEFAULTS.batch_size, Some((seed, epoch as u64))) {
            let (x, _) = batch.tensors(&device)?;
            let loss = vae
                .negative_elbo(&x, seed, optimizer.steps())?
                .mean(&[], false)?;
            optimizer.step(&loss)?;
        }
    }
    let nelbo = vae.evaluate(&test, 10, 1)?;
    println!(
        "{} epochs in {:.1} s: test negative ELBO {nelbo:.3} nats per image; independent pixels {:.3}",
        DEFAULTS.epochs,
        began.elapsed().as_secs_f64(),
        pixel_mean_baseline(&train, &test)
    );
    let digit = &test.features[..PIXELS];
    let reconstruction = vae.reconstruct(&Tensor::from_slice(digit, &[1, PIXELS], &device)?)?;
    let sample = vae.sample(1, seed)?;
    let shade = |v: f32| if v >= 0.5 { '#' } else { '.' };
    println!("digit     reconstruction  sample");
    for row in 0..8 {
        let line = |img: &[f32]| -> String {
            img[row * 8..row * 8 + 8]
                .iter()
                .map(|&v| shade(v))
                .collect()
        };
        println!(
            "{}  {}        {}",
            line(digit),
            line(&reconstruction),
            line(&sample)
        );
    }
    anyhow::ensure!(nelbo <= 19.0, "test negative ELBO {nelbo} is above 19.0");
    Ok(())
}
