//! An LSTM reading the digits set as sequences, written with the public API: each 8×8 image
//! is 8 timesteps of one 8-pixel row, a 64-unit LSTM reads them, and a linear layer
//! classifies its last output. Exits non-zero below 96% test accuracy.

use lepton::data::Dataset;
use lepton::models::Task;
use lepton::nn::{loss, prefixed, CellKind, Linear, Module, Parameter, Recurrent, RecurrentConfig};
use lepton::optim::{Adam, Optimizer, Schedule};
use lepton::{DType, Device, Tensor};

struct Classifier {
    lstm: Recurrent,
    head: Linear,
}

impl Module for Classifier {
    // x: [N, 64] -> [N, 10] logits
    fn forward(&self, x: &Tensor) -> lepton::Result<Tensor> {
        let rows = self.lstm.forward(&x.reshape(&[-1, 8, 8])?)?;
        self.head.forward(&rows.slice(1, 7, 8, 1)?.squeeze(1)?)
    }

    fn parameters(&self) -> Vec<(String, Parameter)> {
        let mut out = prefixed("lstm", self.lstm.parameters());
        out.extend(prefixed("head", self.head.parameters()));
        out
    }
}

fn main() -> anyhow::Result<()> {
    let device = Device::from_env()?;
    let mut digits = Dataset::digits()?;
    digits.scale(1.0 / 16.0);
    let (train, test) = digits.split(0.2, 0);

    let config = RecurrentConfig {
        batch_first: true,
        ..RecurrentConfig::new(8, 64)
    };
    let model = Classifier {
        lstm: Recurrent::new(CellKind::Lstm, config, 1, DType::F32, &device)?,
        head: Linear::new(64, 10, true, 2, DType::F32, &device)?,
    };
    let (epochs, batch) = (40, 32);
    let steps = (epochs * train.rows.div_ceil(batch)) as u64;
    let mut optimizer = Adam::adamw(model.parameters(), 5e-3).schedule(Schedule::Cosine {
        total: steps,
        min_lr: 0.0,
    });

    for epoch in 0..epochs {
        let mut total = 0.0;
        for b in train.batches(batch, Some((0, epoch as u64))) {
            let (x, y) = b.tensors(&device)?;
            total += optimizer.step(&loss::cross_entropy(&model.forward(&x)?, &y, 0.1)?)?
                * b.rows as f64;
        }
        if epoch % 10 == 9 {
            println!(
                "epoch {:>2}: mean loss {:.4}",
                epoch + 1,
                total / train.rows as f64
            );
        }
    }

    let task = Task::Classification {
        classes: 10,
        label_smoothing: 0.1,
    };
    let accuracy = task
        .evaluate(&model, &test, &device)?
        .accuracy
        .unwrap_or(0.0);
    println!("test accuracy {:.2}% on {device}", 100.0 * accuracy);
    anyhow::ensure!(accuracy >= 0.96, "test accuracy {accuracy} is below 96%");
    Ok(())
}
