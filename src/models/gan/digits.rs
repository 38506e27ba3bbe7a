//! The 8×8 digits as a GAN's target (pixels scaled to 0..1, split 80/20 by the run's
//! seed): real batches drawn from the training split, and a judge of generated digits. The
//! judge is a classifier 64 → 128 → 64 → 10 trained on the training split on the CPU (so
//! every device is judged alike); it reports the digits drawn clearly (the judge gives
//! their class at least [`CONFIDENT`]), how evenly they spread over the ten classes, and
//! the Fréchet distance of its 64 hidden features from the test split's, as FID does with
//! Inception's features.

use crate::counter_rng;
use crate::data::Dataset;
use crate::device::Device;
use crate::dtype::DType;
use crate::error::Result;
use crate::graph::{no_grad, Tensor};
use crate::models::gan::frechet::{frechet_distance, moments};
use crate::models::gan::Coverage;
use crate::models::image_set;
use crate::models::mlp::Mlp;
use crate::nn::{loss, Activation, Linear, Module};
use crate::optim::{Adam, Optimizer, Schedule};

pub const PIXELS: usize = 64;
pub const CLASSES: usize = 10;
/// The probability of its class from which the judge counts a digit as clearly drawn.
pub const CONFIDENT: f64 = 0.9;

const FEATURES: usize = 64;
/// The judge's recipe: the MLP family's (AdamW 2e-3, cosine, batch 32) without label
/// smoothing, whose cap on confidence would make [`CONFIDENT`] unreachable.
const JUDGE_EPOCHS: usize = 30;
const JUDGE_BATCH: usize = 32;
const JUDGE_LR: f64 = 2e-3;

pub struct Digits {
    pub train: Dataset,
    pub test: Dataset,
    judge: Judge,
    test_moments: (Vec<f64>, Vec<f64>),
}

impl Digits {
    /// The split of `seed` and its judge (about a second on the CPU).
    pub fn new(seed: u64) -> Result<Digits> {
        let (train, test) = image_set::digits(seed)?;
        let judge = Judge::train(&train, seed)?;
        let (_, features) = judge.outputs(&test.features)?;
        Ok(Digits {
            test_moments: moments(&features, FEATURES),
            judge,
            train,
            test,
        })
    }

    /// `n` training digits [n × 64] drawn uniformly with replacement from stream `stream`.
    pub fn batch(&self, n: usize, stream: u64) -> Vec<f32> {
        let rows: Vec<usize> = (0..n as u64)
            .map(|i| {
                let u = counter_rng::uniform(stream, i);
                ((u * self.train.rows as f64) as usize).min(self.train.rows - 1)
            })
            .collect();
        self.train.select(&rows).features
    }

    /// How images [n × 64] cover the digits: the classes with at least 1% of the images
    /// drawn clearly, the share drawn clearly, the KL divergence of the clear ones' class
    /// histogram from uniform, and the Fréchet distance from the test split.
    pub fn coverage(&self, images: &[f32]) -> Result<Coverage> {
        let (probabilities, features) = self.judge.outputs(images)?;
        let mut counts = vec![0usize; CLASSES];
        for row in probabilities.chunks(CLASSES) {
            let (best, p) =
                row.iter()
                    .enumerate()
                    .fold((0, 0.0f32), |b, (i, &p)| if p > b.1 { (i, p) } else { b });
            if p as f64 >= CONFIDENT {
                counts[best] += 1;
            }
        }
        let distance = frechet_distance(&moments(&features, FEATURES), &self.test_moments);
        Ok(Coverage::from_counts(
            &counts,
            images.len() / PIXELS,
            Some(distance),
        ))
    }

    /// The training digits themselves judged: what a generator that drew exactly the
    /// training split would score (the Fréchet distance between two samples of real
    /// digits is the floor a generator can reach).
    pub fn reference(&self) -> Result<Coverage> {
        self.coverage(&self.train.features)
    }
}

/// A classifier whose hidden features are kept.
struct Judge {
    body: Mlp,
    head: Linear,
}

impl Judge {
    fn train(train: &Dataset, seed: u64) -> Result<Judge> {
        let cpu = Device::cpu();
        let judge = Judge {
            body: Mlp::new(&[PIXELS, 128, FEATURES], Activation::Relu, seed, &cpu)?,
            head: Linear::new(FEATURES, CLASSES, true, seed ^ 0x4ead, DType::F32, &cpu)?,
        };
        let mut parameters = judge.body.parameters();
        parameters.extend(judge.head.parameters());
        let total = (JUDGE_EPOCHS * train.rows.div_ceil(JUDGE_BATCH)) as u64;
        let mut optimizer =
            Adam::adamw(parameters, JUDGE_LR).schedule(Schedule::Cosine { total, min_lr: 0.0 });
        for epoch in 0..JUDGE_EPOCHS as u64 {
            for batch in train.batches(JUDGE_BATCH, Some((seed, epoch))) {
                let (x, labels) = batch.tensors(&cpu)?;
                let (logits, _) = judge.forward(&x)?;
                optimizer.step(&loss::cross_entropy(&logits, &labels, 0.0)?)?;
            }
        }
        Ok(judge)
    }

    /// Logits and hidden features of images [n, 64].
    fn forward(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let features = self.body.forward(x)?.relu();
        Ok((self.head.forward(&features)?, features))
    }

    /// Class probabilities [n × 10] and hidden features [n × 64] of images [n × 64].
    fn outputs(&self, images: &[f32]) -> Result<(Vec<f32>, Vec<f32>)> {
        let x = Tensor::from_slice(images, &[images.len() / PIXELS, PIXELS], &Device::cpu())?;
        no_grad(|| {
            let (logits, features) = self.forward(&x)?;
            Ok((logits.softmax(-1)?.to_vec()?, features.to_vec()?))
        })
    }
}
