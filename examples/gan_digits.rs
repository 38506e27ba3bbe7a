//! A GAN on the 8×8 digits through the library: the default recipe's steps alternate, and
//! every 2,000 steps the judge scores 2,500 samples. Exits non-zero unless the end draws all
//! ten digits, at least 60% of the samples clearly, with a class histogram within KL 0.1 of
//! uniform and a Fréchet distance from the test digits below 5.

use lepton::models::gan::{Gan, CLASSES, DIGITS_DEFAULTS};
use lepton::Device;

fn main() -> anyhow::Result<()> {
    let mut gan = Gan::new(DIGITS_DEFAULTS, 0, &Device::cpu())?;
    let began = std::time::Instant::now();
    while gan.steps() < DIGITS_DEFAULTS.steps {
        gan.step()?;
        if gan.steps() % 2000 == 0 {
            let m = gan.judge(0)?;
            println!(
                "{:>6} steps ({:.1} s): {} digits, {:.1}% drawn clearly, KL {:.4}, Frechet distance {:.2}",
                gan.steps(),
                began.elapsed().as_secs_f64(),
                m.modes,
                100.0 * m.high_quality,
                m.kl,
                m.frechet.unwrap_or(f64::NAN)
            );
        }
    }
    let m = gan.judge(0)?;
    anyhow::ensure!(
        m.modes == CLASSES
            && m.high_quality >= 0.6
            && m.kl <= 0.1
            && m.frechet.is_some_and(|f| f < 5.0),
        "missed the target: {m:?}"
    );
    Ok(())
}
