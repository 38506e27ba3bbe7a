//! GANs: a generator and a discriminator (ReLU MLPs), each with its own Adam (β₁ 0.5)
//! decaying linearly to zero, alternating a discriminator step (real against detached
//! fakes) and a generator step (the non-saturating loss); each kind of step replays its own
//! plan. The discriminator judges samples in pairs (PacGAN2): a generator that drops modes
//! makes pairs that are too alike, which one sample cannot show; on the ring, without it
//! one seed in three collapsed to 6 modes. Two targets: the ring of 8 Gaussians
//! ([`ring`]) and the 8×8 digits ([`digits`]).

mod digits;
mod frechet;
mod ring;

pub use digits::{Digits, CLASSES, CONFIDENT, PIXELS};
pub use ring::{center, ring_coverage, ring_samples, MODES, RADIUS, SIGMA};

use std::collections::HashMap;
use std::path::Path;

use crate::checkpoint::save_run;
use crate::counter_rng;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::graph::{no_grad, Tensor};
use crate::models::mlp::Mlp;
use crate::models::{run_metadata, RunState};
use crate::nn::{loss, prefixed, Activation, Module, Parameter};
use crate::optim::{Adam, Optimizer, Schedule};

/// Samples the metrics are computed on.
pub const JUDGED: usize = 2500;

const FAMILY: &str = "gan";
/// Samples the discriminator judges together.
const PACK: usize = 2;

/// What a GAN learns to draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The ring of 8 Gaussians: generator 2 → 128 → 128 → 2, discriminator 4 → 128 → 128
    /// → 1.
    Ring,
    /// The 8×8 digits: generator 16 → 256 → 256 → 64 (sigmoid, pixels in 0..1),
    /// discriminator 128 → 256 → 256 → 1.
    Digits,
}

impl Target {
    /// Values per sample.
    pub fn dim(self) -> usize {
        match self {
            Target::Ring => 2,
            Target::Digits => PIXELS,
        }
    }

    fn latent(self) -> usize {
        match self {
            Target::Ring => 2,
            Target::Digits => 16,
        }
    }

    fn hidden(self) -> usize {
        match self {
            Target::Ring => 128,
            Target::Digits => 256,
        }
    }

    /// The settings each target trains well with.
    pub fn defaults(self) -> GanConfig {
        match self {
            Target::Ring => DEFAULTS,
            Target::Digits => DIGITS_DEFAULTS,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GanConfig {
    pub target: Target,
    /// Steps of each network in the run.
    pub steps: usize,
    /// Samples of each kind per step, an even number (they are judged in pairs).
    pub batch_size: usize,
    /// Both optimizers' starting rate (Adam with β₁ = 0.5).
    pub lr: f64,
}

/// On the ring, seeds 0 to 5 all cover 8 of 8 modes with 91–96% high-quality samples and a KL of at
/// most 0.005 (20,000 steps: 95–98%; unpacked and at a constant rate, seed 1 kept 6 modes).
pub const DEFAULTS: GanConfig = GanConfig {
    target: Target::Ring,
    steps: 10_000,
    batch_size: 256,
    lr: 1e-3,
};

/// On the digits, seeds 0, 1 and 2 draw all 10 digits, 74–76% of the samples clearly, KL
/// 0.020–0.033 from uniform and a Fréchet distance of 2.9–3.6 (the training digits: 1.3–2.0);
/// at a rate of 5e-4, or in batches of 64, seed 0 ended at 17.1 and 5.5.
pub const DIGITS_DEFAULTS: GanConfig = GanConfig {
    target: Target::Digits,
    steps: 10_000,
    batch_size: 128,
    lr: 1e-3,
};

/// How well samples cover a target's modes (the ring's Gaussians, the ten digits).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Coverage {
    /// Modes with at least 1% of the samples among the high-quality ones.
    pub modes: usize,
    /// The target's modes.
    pub of: usize,
    /// The share of samples that are high quality (near a mode, or drawn clearly; the
    /// digits' judge also calls most noise clear, so read it beside the distance).
    pub high_quality: f64,
    /// The KL divergence of the high-quality samples' mode histogram from uniform.
    pub kl: f64,
    /// The Fréchet distance of the samples' judged features from real data's (digits).
    pub frechet: Option<f64>,
}

impl Coverage {
    /// From the high-quality samples' count at each mode, out of `samples`.
    pub fn from_counts(counts: &[usize], samples: usize, frechet: Option<f64>) -> Coverage {
        let good: usize = counts.iter().sum();
        let of = counts.len();
        let kl = counts
            .iter()
            .filter(|&&c| c > 0)
            .map(|&c| {
                let p = c as f64 / good as f64;
                p * (p * of as f64).ln()
            })
            .sum();
        Coverage {
            modes: counts
                .iter()
                .filter(|&&c| c as f64 >= 0.01 * samples as f64)
                .count(),
            of,
            high_quality: good as f64 / samples.max(1) as f64,
            kl: if good == 0 { f64::INFINITY } else { kl },
            frechet,
        }
    }
}

/// The generator and the discriminator, saved as `generator.*` and `discriminator.*`.
pub struct GanNetworks {
    pub generator: Mlp,
    pub discriminator: Mlp,
    target: Target,
}

impl Module for GanNetworks {
    /// The generator's samples from latents [n, latent].
    fn forward(&self, z: &Tensor) -> Result<Tensor> {
        let out = self.generator.forward(z)?;
        Ok(match self.target {
            Target::Ring => out,
            Target::Digits => out.sigmoid(),
        })
    }

    fn parameters(&self) -> Vec<(String, Parameter)> {
        let mut all = prefixed("generator", self.generator.parameters());
        all.extend(prefixed("discriminator", self.discriminator.parameters()));
        all
    }
}

/// Independent random streams of a run, mixed with its seed.
const REAL: u64 = 0x4ea1;
const NOISE: u64 = 0x7015;
const JUDGING: u64 = 0x1d6e;

pub struct Gan {
    pub config: GanConfig,
    pub networks: GanNetworks,
    generator_optimizer: Adam,
    discriminator_optimizer: Adam,
    seed: u64,
    device: Device,
    /// The digits and their judge, for the digits target.
    digits: Option<Digits>,
}

impl Gan {
    pub fn new(config: GanConfig, seed: u64, device: &Device) -> Result<Gan> {
        if config.steps == 0
            || config.batch_size == 0
            || !config.batch_size.is_multiple_of(PACK)
            || !(config.lr > 0.0 && config.lr.is_finite())
        {
            return Err(Error::invalid(
                "gan",
                format!(
                    "needs positive steps, an even batch size and a positive lr; got {config:?}"
                ),
            ));
        }
        let mlp = |sizes: &[usize], s| Mlp::new(sizes, Activation::Relu, s, device);
        let (target, hidden, dim) = (config.target, config.target.hidden(), config.target.dim());
        let networks = GanNetworks {
            generator: mlp(&[target.latent(), hidden, hidden, dim], seed)?,
            discriminator: mlp(&[dim * PACK, hidden, hidden, 1], seed ^ 0xd15c)?,
            target,
        };
        let total = config.steps as u64;
        let adam = |m: &Mlp| {
            Adam::new(m.parameters(), config.lr)
                .betas(0.5, 0.999)
                .schedule(Schedule::Linear { total, min_lr: 0.0 })
        };
        Ok(Gan {
            generator_optimizer: adam(&networks.generator),
            discriminator_optimizer: adam(&networks.discriminator),
            networks,
            config,
            seed,
            device: device.clone(),
            digits: match target {
                Target::Ring => None,
                Target::Digits => Some(Digits::new(seed)?),
            },
        })
    }

    /// Steps taken by each network.
    pub fn steps(&self) -> usize {
        self.generator_optimizer.steps() as usize
    }

    /// One discriminator step, then one generator step; their losses.
    pub fn step(&mut self) -> Result<(f64, f64)> {
        let d = self.discriminator_step()?;
        let g = self.generator_step()?;
        Ok((d, g))
    }

    /// The discriminator learns real samples against the generator's (detached): the
    /// generator's parameters do not move.
    pub fn discriminator_step(&mut self) -> Result<f64> {
        let n = self.config.batch_size;
        let t = self.discriminator_optimizer.steps();
        let stream = counter_rng::bits(self.seed ^ REAL, t);
        let real = match &self.digits {
            Some(digits) => digits.batch(n, stream),
            None => ring_samples(n, stream),
        };
        let real = Tensor::from_vec(real, &[n, self.config.target.dim()], &self.device)?;
        let fake = self.networks.forward(&self.latents(n, 2 * t)?)?.detach();
        let discriminator = &self.networks.discriminator;
        let ones = Tensor::ones(&[n / PACK, 1], crate::dtype::DType::F32, &self.device)?;
        let zeros = Tensor::zeros(&[n / PACK, 1], crate::dtype::DType::F32, &self.device)?;
        let l = loss::bce_with_logits(&discriminator.forward(&packed(&real)?)?, &ones)?.add(
            &loss::bce_with_logits(&discriminator.forward(&packed(&fake)?)?, &zeros)?,
        )?;
        self.discriminator_optimizer.step(&l)
    }

    /// The generator learns to be taken for real (the non-saturating loss); only its own
    /// optimizer steps.
    pub fn generator_step(&mut self) -> Result<f64> {
        let n = self.config.batch_size;
        let t = self.generator_optimizer.steps();
        let fake = self.networks.forward(&self.latents(n, 2 * t + 1)?)?;
        let ones = Tensor::ones(&[n / PACK, 1], crate::dtype::DType::F32, &self.device)?;
        let l = loss::bce_with_logits(
            &self.networks.discriminator.forward(&packed(&fake)?)?,
            &ones,
        )?;
        self.generator_optimizer.step(&l)
    }

    /// `n` standard normal latents, draw `draw` of the run's noise stream.
    fn latents(&self, n: usize, draw: u64) -> Result<Tensor> {
        self.latents_of(n, counter_rng::bits(self.seed ^ NOISE, draw))
    }

    fn latents_of(&self, n: usize, stream: u64) -> Result<Tensor> {
        let latent = self.config.target.latent();
        let z: Vec<f32> = (0..(n * latent) as u64)
            .map(|i| counter_rng::normal(stream, i) as f32)
            .collect();
        Tensor::from_vec(z, &[n, latent], &self.device)
    }

    /// `n` generated samples [n × dim], from latents of stream `seed`: the first `k` of
    /// them are the same for every `n` ≥ `k`.
    pub fn samples(&self, n: usize, seed: u64) -> Result<Vec<f32>> {
        let z = self.latents_of(n, counter_rng::bits(seed, JUDGING))?;
        no_grad(|| self.networks.forward(&z))?.to_vec()
    }

    /// How [`JUDGED`] samples from latents of stream `seed` cover the target.
    pub fn judge(&self, seed: u64) -> Result<Coverage> {
        let samples = self.samples(JUDGED, seed)?;
        match &self.digits {
            Some(digits) => digits.coverage(&samples),
            None => Ok(ring_coverage(&samples)),
        }
    }

    /// The digits target's data and judge; `None` on the ring.
    pub fn digits(&self) -> Option<&Digits> {
        self.digits.as_ref()
    }

    /// Save both networks and both optimizers, with `metadata`.
    pub fn save(&self, path: &Path, mut metadata: HashMap<String, String>) -> Result<()> {
        let (state, steps) = self.discriminator_optimizer.state();
        let mut run: Vec<(String, Tensor)> = state
            .into_iter()
            .map(|(n, t)| (format!("discriminator_optim.{n}"), t))
            .collect();
        run.push((
            "discriminator_optim.steps".to_string(),
            Tensor::from_vec(vec![steps as f64], &[1], &Device::cpu())?,
        ));
        metadata.extend(run_metadata(
            FAMILY,
            self.seed,
            &format!("{:?}", self.config),
        ));
        save_run(
            path,
            &self.networks,
            Some(&self.generator_optimizer),
            &run,
            metadata,
        )
    }

    /// The run saved at `path` by a run of the same `config` and `seed`, and its metadata.
    pub fn resume(
        config: GanConfig,
        seed: u64,
        path: &Path,
        device: &Device,
    ) -> Result<(Gan, HashMap<String, String>)> {
        let mut gan = Gan::new(config, seed, device)?;
        let (metadata, mut state) = RunState::load(
            path,
            (&gan.networks, &mut gan.generator_optimizer),
            device,
            (FAMILY, seed, &format!("{config:?}")),
        )?;
        let steps: Vec<f64> = state.take("discriminator_optim.steps")?;
        let tensors = state.take_prefixed("discriminator_optim.");
        let steps = steps.first().copied().unwrap_or(0.0) as u64;
        gan.discriminator_optimizer
            .load_state(tensors, steps)
            .map_err(|e| state.error(e))?;
        Ok((gan, metadata))
    }
}

/// Samples [n, dim] as the discriminator takes them: [n / PACK, dim · PACK], consecutive
/// samples side by side.
fn packed(samples: &Tensor) -> Result<Tensor> {
    let dim = samples.shape()[1];
    samples.reshape(&[-1, (dim * PACK) as isize])
}
