//! The CNN family on Fashion-MNIST, as `lepton train cnn --data fashion-mnist` trains it:
//! the library's `models::cnn` network and data (Debian's `dataset-fashion-mnist`, never
//! downloaded), AdamW with a cosine schedule, 12 epochs of batches of 64. Exits non-zero
//! below 91% test accuracy.

use std::time::Instant;

use lepton::models::image_set::{ImageSet, IDX_DEFAULTS};
use lepton::models::{cnn, Prepared};
use lepton::Device;

fn main() -> anyhow::Result<()> {
    let device = Device::from_env()?;
    let settings = IDX_DEFAULTS;
    let Prepared {
        model,
        mut optimizer,
        train,
        test,
        task,
    } = cnn::prepare(&ImageSet::FashionMnist, &settings, 0, &device)?;
    let began = Instant::now();
    for epoch in 0..settings.epochs {
        let started = Instant::now();
        let mut total = 0.0;
        for batch in train.batches(settings.batch_size, Some((0, epoch as u64))) {
            let (x, y) = batch.tensors(&device)?;
            total += optimizer.step(&task.loss(&model.forward(&x)?, &y)?)? * batch.rows as f64;
        }
        println!(
            "epoch {:>2}: mean loss {:.4} in {:.1} s",
            epoch + 1,
            total / train.rows as f64,
            started.elapsed().as_secs_f64()
        );
    }
    let accuracy = task
        .evaluate(model.as_ref(), &test, &device)?
        .accuracy
        .unwrap_or(0.0);
    println!(
        "test accuracy {:.2}% on {device} after {:.0} s",
        100.0 * accuracy,
        began.elapsed().as_secs_f64()
    );
    anyhow::ensure!(accuracy >= 0.91, "test accuracy {accuracy} is below 91%");
    Ok(())
}
