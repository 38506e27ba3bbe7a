//! The VAE of the binarized digits: the default recipe beats the target (a test negative
//! ELBO of at most 19.0 nats per image; independent pixels score about 25.1), and after the
//! first steps a training step builds no plan, pipeline or buffer. One test: the counters
//! are global.

mod common;

use lepton::models::vae::{binarized_digits, pixel_mean_baseline, Vae, DEFAULTS};
use lepton::nn::Module;
use lepton::optim::{Adam, Optimizer};
use lepton::{stats, Device};

#[test]
fn the_default_recipe_reaches_the_target_and_replays_its_plan() {
    let seed = 0;
    let device = Device::cpu();
    let (train, test) = binarized_digits(seed).unwrap();
    assert!(train.features.iter().all(|&v| v == 0.0 || v == 1.0));
    let baseline = pixel_mean_baseline(&train, &test);
    assert!((24.5..25.7).contains(&baseline), "{baseline}");
    let vae = Vae::new(seed, &device).unwrap();
    let mut optimizer = Adam::new(vae.parameters(), DEFAULTS.lr);
    for epoch in 0..DEFAULTS.epochs {
        let before = stats();
        for batch in train.batches(DEFAULTS.batch_size, Some((seed, epoch as u64))) {
            let (x, _) = batch.tensors(&device).unwrap();
            let draw = optimizer.steps();
            let loss = vae
                .negative_elbo(&x, seed, draw)
                .unwrap()
                .mean(&[], false)
                .unwrap();
            optimizer.step(&loss).unwrap();
        }
        if epoch >= 2 {
            common::assert_built_nothing(&before, &stats(), &format!("epoch {epoch}"));
        }
    }
    let nelbo = vae.evaluate(&test, 10, 99).unwrap();
    assert!(nelbo <= 19.0, "test negative ELBO {nelbo}");

    // On the GPU, a few steps of the same recipe: finite, and the same plan each step.
    if let Some(gpu) = common::gpu() {
        let vae = Vae::new(seed, &gpu).unwrap();
        let mut optimizer = Adam::new(vae.parameters(), DEFAULTS.lr);
        let batches = train.batches(DEFAULTS.batch_size, None);
        let (x, _) = batches[0].tensors(&gpu).unwrap();
        let mut step = || {
            let loss = vae
                .negative_elbo(&x, seed, optimizer.steps())
                .unwrap()
                .mean(&[], false)
                .unwrap();
            optimizer.step(&loss).unwrap()
        };
        let first = step();
        step();
        let before = stats();
        let mut last = first;
        for _ in 0..20 {
            last = step();
        }
        common::assert_built_nothing(&before, &stats(), "vae on the GPU");
        assert!(last.is_finite() && last < first, "{first} -> {last}");
    }
}
