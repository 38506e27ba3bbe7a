//! A variational autoencoder (Kingma and Welling, 2014) of the 8×8 digits binarized at
//! 8/16: an encoder 64 → 128 → (μ, log σ²) of an 8-dimensional latent, a Bernoulli decoder
//! 8 → 128 → 64, and the negative evidence lower bound as the loss (the reconstruction's
//! cross-entropy summed over pixels plus the KL divergence from the standard normal prior,
//! per image). The latent is drawn on the device by reparameterization, z = μ + σ·ε, with ε
//! from Box–Muller over two uniform draws whose seeds enter as small uploaded tensors, so
//! every step is the same plan.

use crate::counter_rng;
use crate::data::Dataset;
use crate::device::Device;
use crate::dtype::DType;
use crate::error::Result;
use crate::graph::{no_grad, Tensor};
use crate::models::Settings;
use crate::nn::{prefixed, Activation, Linear, Module, Parameter, Sequential};

/// Pixels of a digit and units of the hidden layers.
pub const PIXELS: usize = 64;
const HIDDEN: usize = 128;
/// The latent's dimension.
pub const LATENT: usize = 8;

/// The seeds the on-device random draws take are integers below 2^24 (exact in f32).
const SEEDS: u64 = 1 << 24;

pub const DEFAULTS: Settings = Settings {
    epochs: 300,
    batch_size: 64,
    lr: 2e-3,
};

pub struct Vae {
    pub encoder: Sequential,
    pub decoder: Sequential,
}

impl Vae {
    pub fn new(seed: u64, device: &Device) -> Result<Vae> {
        let linear =
            |i, o, s: u64| Linear::new(i, o, true, seed.wrapping_add(s), DType::F32, device);
        Ok(Vae {
            encoder: Sequential::new()
                .push(linear(PIXELS, HIDDEN, 0)?)
                .push(Activation::Relu)
                .push(linear(HIDDEN, 2 * LATENT, 1)?),
            decoder: Sequential::new()
                .push(linear(LATENT, HIDDEN, 2)?)
                .push(Activation::Relu)
                .push(linear(HIDDEN, PIXELS, 3)?),
        })
    }

    /// μ and log σ² of the latent given images [n, 64].
    pub fn encode(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let h = self.encoder.forward(x)?;
        Ok((
            h.slice(1, 0, LATENT as isize, 1)?,
            h.slice(1, LATENT as isize, 2 * LATENT as isize, 1)?,
        ))
    }

    /// The pixels' logits given latents [n, 8].
    pub fn decode(&self, z: &Tensor) -> Result<Tensor> {
        self.decoder.forward(z)
    }

    /// The negative ELBO of each image of `x` [n, 64] (binary pixels), with one latent
    /// drawn per image from draw number `draw` of stream `seed`: [n] nats.
    pub fn negative_elbo(&self, x: &Tensor, seed: u64, draw: u64) -> Result<Tensor> {
        let (mu, log_var) = self.encode(x)?;
        let eps = standard_normal(&[x.shape()[0], LATENT], seed, draw, x.device())?;
        let z = mu.add(&log_var.mul_scalar(0.5)?.exp().mul(&eps)?)?;
        let logits = self.decode(&z)?;
        let reconstruction = bce_per_pixel(&logits, x)?.sum(&[1], false)?;
        let kl = mu
            .square()
            .add(&log_var.exp())?
            .sub(&log_var)?
            .add_scalar(-1.0)?
            .sum(&[1], false)?
            .mul_scalar(0.5)?;
        reconstruction.add(&kl)
    }

    /// The mean negative ELBO per image of `data` in nats, each image's estimate averaged
    /// over `samples` latent draws.
    pub fn evaluate(&self, data: &Dataset, samples: usize, seed: u64) -> Result<f64> {
        let (x, _) = data.tensors(&self.networks_device()?)?;
        let mut total = 0.0;
        for s in 0..samples as u64 {
            let nelbo: f32 =
                no_grad(|| self.negative_elbo(&x, seed, s)?.mean(&[], false))?.item()?;
            total += nelbo as f64;
        }
        Ok(total / samples.max(1) as f64)
    }

    /// `n` digits from the prior: the decoder's pixel probabilities [n × 64].
    pub fn sample(&self, n: usize, seed: u64) -> Result<Vec<f32>> {
        let device = self.networks_device()?;
        let z = standard_normal(&[n, LATENT], seed, 0, &device)?;
        no_grad(|| self.decode(&z)?.sigmoid().to_vec())
    }

    /// The pixel probabilities of each image of `x` decoded from its latent's mean.
    pub fn reconstruct(&self, x: &Tensor) -> Result<Vec<f32>> {
        no_grad(|| self.forward(x)?.sigmoid().to_vec())
    }

    fn networks_device(&self) -> Result<Device> {
        Ok(self
            .parameters()
            .first()
            .map(|(_, p)| p.get().device().clone())
            .unwrap_or_else(Device::cpu))
    }
}

impl Module for Vae {
    /// The pixels' logits decoded from the latent's mean: the deterministic reconstruction.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.decode(&self.encode(x)?.0)
    }

    fn parameters(&self) -> Vec<(String, Parameter)> {
        let mut all = prefixed("encoder", self.encoder.parameters());
        all.extend(prefixed("decoder", self.decoder.parameters()));
        all
    }
}

/// The binary cross-entropy of each pixel, max(x, 0) − x·t + log(1 + exp(−|x|)).
fn bce_per_pixel(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let softplus_tail = logits.abs().neg().exp().add_scalar(1.0)?.log();
    logits
        .relu()
        .sub(&logits.mul(targets)?)?
        .add(&softplus_tail)
}

/// Standard normal samples of `shape` drawn on the device (Box–Muller over two uniform
/// draws), draw number `draw` of stream `seed`.
fn standard_normal(shape: &[usize], seed: u64, draw: u64, device: &Device) -> Result<Tensor> {
    let uniform = |k: u64| -> Result<Tensor> {
        let value = counter_rng::bits(seed, 2 * draw + k) % SEEDS;
        let s = Tensor::from_vec(vec![value as f32], &[], device)?;
        Tensor::random_like_seed(shape, &s, DType::F32)
    };
    let radius = uniform(0)?
        .neg()
        .add_scalar(1.0)?
        .log()
        .mul_scalar(-2.0)?
        .sqrt();
    let angle = uniform(1)?.mul_scalar(std::f64::consts::TAU)?.cos();
    radius.mul(&angle)
}

/// The digits (pixels 0..16) as binary images, 1 where a pixel is at least 8, split 80/20
/// by `seed`.
pub fn binarized_digits(seed: u64) -> Result<(Dataset, Dataset)> {
    let mut all = Dataset::digits()?;
    for v in all.features.iter_mut() {
        *v = f32::from(u8::from(*v >= 8.0));
    }
    Ok(all.split(0.2, seed))
}

/// The negative log-likelihood per image of `test` under independent pixels with the
/// training set's means (clipped away from 0 and 1 by half an image's count): the score a
/// model that ignores every pixel's neighbours can reach.
pub fn pixel_mean_baseline(train: &Dataset, test: &Dataset) -> f64 {
    let n = train.rows as f64;
    let means: Vec<f64> = (0..PIXELS)
        .map(|p| {
            let ones: f64 = (0..train.rows)
                .map(|r| train.features[r * PIXELS + p] as f64)
                .sum();
            ((ones + 0.5) / (n + 1.0)).clamp(1e-6, 1.0 - 1e-6)
        })
        .collect();
    let mut total = 0.0;
    for r in 0..test.rows {
        for (p, m) in means.iter().enumerate() {
            let x = test.features[r * PIXELS + p] as f64;
            total -= x * m.ln() + (1.0 - x) * (1.0 - m).ln();
        }
    }
    total / test.rows.max(1) as f64
}

#[cfg(test)]
mod tests {
    use crate::device::Device;

    #[test]
    fn device_drawn_noise_is_standard_normal_and_fixed_by_its_draw() {
        let n = 100_000;
        let cpu = Device::cpu();
        let draw = |d| {
            super::standard_normal(&[n], 3, d, &cpu)
                .unwrap()
                .to_vec::<f32>()
                .unwrap()
        };
        let z = draw(0);
        let mean = z.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
        let var = z.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n as f64;
        // Standard errors 3.2e-3 (mean) and 4.5e-3 (variance); bounds about 5 of them.
        assert!(mean.abs() < 0.016, "{mean}");
        assert!((var - 1.0).abs() < 0.023, "{var}");
        assert_eq!(z, draw(0));
        assert_ne!(z, draw(1));
    }
}
