//! A GAN on the ring of 8 Gaussians through the library: the default recipe's
//! discriminator and generator steps alternate, and every 2,000 steps 2,500 samples are
//! judged. Exits non-zero unless the end covers all 8 modes with at least 50% high-quality
//! samples and a mode histogram within KL 0.1 of uniform.

use lepton::models::gan::{Gan, DEFAULTS};
use lepton::Device;

fn main() -> anyhow::Result<()> {
    let mut gan = Gan::new(DEFAULTS, 0, &Device::cpu())?;
    let began = std::time::Instant::now();
    while gan.steps() < DEFAULTS.steps {
        gan.step()?;
        if gan.steps() % 2000 == 0 {
            let m = gan.judge(0)?;
            println!(
                "{:>6} steps ({:.1} s): {} modes, {:.1}% high quality, KL {:.4}",
                gan.steps(),
                began.elapsed().as_secs_f64(),
                m.modes,
                100.0 * m.high_quality,
                m.kl
            );
        }
    }
    let m = gan.judge(0)?;
    anyhow::ensure!(
        m.modes == 8 && m.high_quality >= 0.5 && m.kl <= 0.1,
        "missed the target: {m:?}"
    );
    Ok(())
}
