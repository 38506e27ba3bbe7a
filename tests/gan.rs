//! GANs on the ring of 8 Gaussians and on the 8×8 digits. The metrics score real data as
//! real: the ring's own samples, and the training digits (whose Fréchet distance from the
//! test split, 1.3–2.0 on seeds 0–2, is the floor), while the digits' judge catches noise
//! and a collapsed generator. The defaults reach their targets on seed 0: on the ring #15's
//! (8 of 8 modes, at least 50% high-quality samples, KL at most 0.1); on the digits 10 of
//! 10 digits, at least 60% drawn clearly, KL at most 0.1 and a distance below 5. A
//! discriminator step leaves the generator's parameters bit-identical (detach keeps its
//! update out); the two kinds of step each replay their plan on both devices; a run saved
//! and resumed is the run that did not stop. One test: the counters are global.

mod common;

use lepton::models::gan::{
    ring_coverage, ring_samples, Digits, Gan, GanConfig, CLASSES, DEFAULTS, DIGITS_DEFAULTS, MODES,
    PIXELS,
};
use lepton::{stats, Device};

#[test]
fn gans_cover_their_targets_and_their_steps_stay_apart() {
    the_metrics_score_real_data_as_real();
    let cpu = Device::cpu();

    let mut ring = Gan::new(DEFAULTS, 0, &cpu).unwrap();
    let generator = common::parameter_values(&ring.networks.generator);
    ring.discriminator_step().unwrap();
    assert_eq!(
        common::parameter_values(&ring.networks.generator),
        generator
    );
    ring.generator_step().unwrap();
    trains_to_the_end_building_nothing(&mut ring, "ring");
    let m = ring.judge(0).unwrap();
    assert!(
        m.modes == MODES && m.high_quality >= 0.5 && m.kl <= 0.1,
        "{m:?}"
    );

    let mut digits = Gan::new(DIGITS_DEFAULTS, 0, &cpu).unwrap();
    trains_to_the_end_building_nothing(&mut digits, "digits");
    let m = digits.judge(0).unwrap();
    assert!(
        m.modes == CLASSES && m.high_quality >= 0.6 && m.kl <= 0.1 && m.frechet.unwrap() < 5.0,
        "{m:?}"
    );

    for (config, other) in [(DEFAULTS, DIGITS_DEFAULTS), (DIGITS_DEFAULTS, DEFAULTS)] {
        resumes_exactly(config, other);
        if let Some(gpu) = common::gpu() {
            replays_on_the_gpu(config, &gpu);
        }
    }
}

fn the_metrics_score_real_data_as_real() {
    // A 2-D Gaussian puts 1 − exp(−4.5) = 98.9% within 3σ (standard error 0.2% on 2,500
    // samples).
    let real = ring_coverage(&ring_samples(2500, 1));
    assert_eq!((real.modes, real.of), (MODES, MODES));
    assert!(real.high_quality > 0.98 && real.kl < 0.01, "{real:?}");

    // The judge was fitted on the training digits: nearly all clear, evenly spread; their
    // distance from the test split is what sampling alone costs.
    let digits = Digits::new(0).unwrap();
    let real = digits.reference().unwrap();
    assert_eq!((real.modes, real.of), (CLASSES, CLASSES));
    assert!(real.high_quality > 0.9 && real.kl < 0.01, "{real:?}");
    let floor = real.frechet.unwrap();
    assert!(floor > 0.0 && floor < 3.0, "{real:?}");
    // The judge is overconfident off its data (about 60% of uniform noise is "clear"),
    // which is why the Fréchet distance is reported beside the share.
    let noise: Vec<f32> = common::data(2500 * PIXELS, 7, 0.0, 1.0)
        .into_iter()
        .map(|v| v as f32)
        .collect();
    let noise = digits.coverage(&noise).unwrap();
    assert!(
        noise.frechet.unwrap() > 50.0 && noise.modes < CLASSES,
        "{noise:?}"
    );
    // One training digit repeated: one class at most, KL ln 10 from uniform.
    let collapsed = digits
        .coverage(&digits.train.features[..PIXELS].repeat(2500))
        .unwrap();
    assert_eq!(collapsed.modes, 1, "{collapsed:?}");
    assert!(
        (collapsed.kl - (CLASSES as f64).ln()).abs() < 1e-9,
        "{collapsed:?}"
    );
    assert!(collapsed.frechet.unwrap() > 20.0, "{collapsed:?}");
}

/// The rest of the run's steps; after the first two, no plan, pipeline or buffer is built.
fn trains_to_the_end_building_nothing(gan: &mut Gan, what: &str) {
    for _ in 0..2 {
        gan.step().unwrap();
    }
    let before = stats();
    while gan.steps() < gan.config.steps {
        gan.step().unwrap();
    }
    common::assert_built_nothing(&before, &stats(), what);
}

/// Saved after 30 steps and resumed: the same parameters as 60 steps at once; another
/// seed's or target's settings do not resume it.
fn resumes_exactly(config: GanConfig, other: GanConfig) {
    let cpu = Device::cpu();
    let small = GanConfig {
        steps: 60,
        ..config
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
    let other = GanConfig { steps: 60, ..other };
    assert!(Gan::resume(other, 4, &path, &cpu).is_err());
    std::fs::remove_file(&path).unwrap();
}

/// A few alternating steps on the GPU: finite, and nothing built after the first few.
fn replays_on_the_gpu(config: GanConfig, gpu: &Device) {
    let mut gan = Gan::new(config, 0, gpu).unwrap();
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
