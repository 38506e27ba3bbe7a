//! The GAN on the ring of 8 Gaussians: the defaults reach #15's target on seed 0 (8 of 8
//! modes, at least 50% high-quality samples, KL at most 0.1); a discriminator step leaves
//! the generator's parameters bit-identical (detach keeps its update out); the two kinds of
//! step each replay their plan; a run saved and resumed is the run that did not stop. One
//! test: the counters are global.

mod common;

use lepton::models::gan::{ring_metrics, ring_samples, Gan, GanConfig, DEFAULTS};
use lepton::{stats, Device};

#[test]
fn the_gan_covers_the_ring_and_its_steps_stay_apart() {
    // The metrics themselves: the target distribution scores as it should. A 2-D Gaussian
    // puts 1 − exp(−4.5) = 98.9% within 3σ (standard error 0.2% on 2,500 samples).
    let real = ring_metrics(&ring_samples(2500, 1));
    assert_eq!(real.modes, 8);
    assert!(real.high_quality > 0.98 && real.kl < 0.01, "{real:?}");

    let cpu = Device::cpu();
    let mut gan = Gan::new(DEFAULTS, 0, &cpu).unwrap();
    let generator = common::parameter_values(&gan.networks.generator);
    gan.discriminator_step().unwrap();
    assert_eq!(common::parameter_values(&gan.networks.generator), generator);
    gan.generator_step().unwrap();
    gan.step().unwrap();
    let before = stats();
    for _ in 0..DEFAULTS.steps - 2 {
        gan.step().unwrap();
    }
    common::assert_built_nothing(&before, &stats(), "gan steps");
    let m = gan.judge(0).unwrap();
    assert!(
        m.modes == 8 && m.high_quality >= 0.5 && m.kl <= 0.1,
        "{m:?}"
    );

    // Saved after 30 steps and resumed: the same parameters as 60 steps at once.
    let small = GanConfig {
        steps: 60,
        ..DEFAULTS
    };
    let mut whole = Gan::new(small, 4, &cpu).unwrap();
    for _ in 0..60 {
        whole.step().unwrap();
    }
    let path = std::env::temp_dir().join(format!("lepton-gan-{}.safetensors", std::process::id()));
    let mut first = Gan::new(small, 4, &cpu).unwrap();
    for _ in 0..30 {
        first.step().unwrap();
    }
    first.save(&path, Default::default()).unwrap();
    let (mut resumed, _) = Gan::resume(small, 4, &path, &cpu).unwrap();
    assert_eq!(resumed.steps(), 30);
    for _ in 0..30 {
        resumed.step().unwrap();
    }
    assert_eq!(
        common::parameter_values(&resumed.networks),
        common::parameter_values(&whole.networks)
    );
    assert!(Gan::resume(small, 5, &path, &cpu).is_err());
    std::fs::remove_file(&path).unwrap();

    // On the GPU, a few alternating steps: finite, and nothing built after the first few.
    if let Some(gpu) = common::gpu() {
        let mut gan = Gan::new(DEFAULTS, 0, &gpu).unwrap();
        for _ in 0..4 {
            gan.step().unwrap();
        }
        let before = stats();
        for _ in 0..10 {
            let (d, g) = gan.step().unwrap();
            assert!(d.is_finite() && g.is_finite());
        }
        common::assert_built_nothing(&before, &stats(), "gan steps on the GPU");
    }
}
