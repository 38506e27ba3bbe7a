//! An MLP on the digits set, written with the public API: a 64-128-64-10 ReLU network
//! trained with AdamW, a cosine schedule and label smoothing. Exits non-zero below 97%
//! test accuracy.

use lepton::data::Dataset;
use lepton::nn::{loss, Activation, Linear, Module, Sequential};
use lepton::optim::{Adam, Optimizer, Schedule};
use lepton::{no_grad, DType, Device};

fn main() -> anyhow::Result<()> {
    let device = Device::from_env()?;
    let mut digits = Dataset::digits()?;
    digits.scale(1.0 / 16.0);
    let (train, test) = digits.split(0.2, 0);

    let model = Sequential::new()
        .push(Linear::new(64, 128, true, 1, DType::F32, &device)?)
        .push(Activation::Relu)
        .push(Linear::new(128, 64, true, 2, DType::F32, &device)?)
        .push(Activation::Relu)
        .push(Linear::new(64, 10, true, 3, DType::F32, &device)?);
    let (epochs, batch) = (60, 32);
    let steps = (epochs * train.rows.div_ceil(batch)) as u64;
    let mut optimizer = Adam::adamw(model.parameters(), 2e-3).schedule(Schedule::Cosine {
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

    let (x, _) = test.tensors(&device)?;
    let logits = no_grad(|| model.forward(&x))?.to_vec::<f32>()?;
    let correct = logits
        .chunks(10)
        .zip(&test.targets)
        .filter(|(row, &t)| {
            row.iter()
                .enumerate()
                .fold(0, |b, (i, &v)| if v > row[b] { i } else { b })
                == t as usize
        })
        .count();
    let accuracy = correct as f64 / test.rows as f64;
    println!("test accuracy {:.2}% on {device}", 100.0 * accuracy);
    anyhow::ensure!(accuracy >= 0.97, "test accuracy {accuracy} is below 97%");
    Ok(())
}
