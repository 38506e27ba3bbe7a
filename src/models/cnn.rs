//! A small convolutional network on the digits set (8×8 images), or any square images: two
//! 3×3 convolutions with ReLU and 2×2 max pooling, then a linear classifier. Parameter names
//! follow PyTorch's `nn.Sequential` (`layers.0.weight`).

use crate::device::Device;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::Tensor;
use crate::models::image_set::{square_side, ImageSet};
use crate::models::{Prepared, Settings};
use crate::nn::{
    prefixed, Activation, Conv2d, Conv2dSpec, Flatten, Linear, Module, Parameter, Pool2d,
    Sequential,
};

pub const DEFAULTS: Settings = Settings {
    epochs: 30,
    batch_size: 32,
    lr: 2e-3,
};

pub struct Cnn {
    pub layers: Sequential,
    /// The images' side in pixels.
    side: usize,
}

impl Cnn {
    /// The network for the 8×8 digits.
    pub fn new(seed: u64, device: &Device) -> Result<Cnn> {
        Cnn::for_images(8, seed, device)
    }

    /// The network for `side`×`side` images of 10 classes: 16 and 32 channels, and a linear
    /// layer over the 32 maps of (side / 4)² pixels that the two poolings leave (1568 inputs
    /// at 28×28).
    pub fn for_images(side: usize, seed: u64, device: &Device) -> Result<Cnn> {
        Cnn::classifier(side, 10, seed, device)
    }

    /// [`Cnn::for_images`] with `classes` outputs.
    pub fn classifier(side: usize, classes: usize, seed: u64, device: &Device) -> Result<Cnn> {
        if side < 4 {
            return Err(Error::invalid(
                "Cnn",
                format!("{side}×{side} images: its two 2×2 poolings need a side of at least 4"),
            ));
        }
        let same = Conv2dSpec {
            padding: (1, 1),
            ..Default::default()
        };
        let pool = Pool2d::Max {
            kernel: (2, 2),
            spec: Conv2dSpec {
                stride: (2, 2),
                ..Default::default()
            },
        };
        let layers = Sequential::new()
            .push(Conv2d::new(1, 16, (3, 3), same, seed, DType::F32, device)?)
            .push(Activation::Relu)
            .push(pool)
            .push(Conv2d::new(
                16,
                32,
                (3, 3),
                same,
                seed + 1,
                DType::F32,
                device,
            )?)
            .push(Activation::Relu)
            .push(pool)
            .push(Flatten)
            .push(Linear::new(
                32 * (side / 4) * (side / 4),
                classes,
                true,
                seed + 2,
                DType::F32,
                device,
            )?);
        Ok(Cnn { layers, side })
    }
}

impl Module for Cnn {
    // x: [N, side²] pixels (row-major) -> [N, 10] logits
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let side = self.side as isize;
        self.layers.forward(&x.reshape(&[-1, 1, side, side])?)
    }

    fn parameters(&self) -> Vec<(String, Parameter)> {
        prefixed("layers", self.layers.parameters())
    }

    fn set_training(&mut self, training: bool) {
        self.layers.set_training(training);
    }
}

/// The network for `images` (square), and the sets.
pub fn prepare(
    images: &ImageSet,
    settings: &Settings,
    seed: u64,
    device: &Device,
) -> Result<Prepared> {
    images.prepare(settings, seed, |pixels, classes| {
        let side = square_side(pixels)?;
        Ok(Box::new(Cnn::classifier(side, classes, seed, device)?))
    })
}
