//! Linear regression the way a library user writes it: fit y = 2x from three points with
//! plain gradient descent, then predict. Exits non-zero if the predictions miss.

use lepton::nn::{loss, Linear, Module};
use lepton::optim::{Optimizer, Sgd};
use lepton::{DType, Device, Tensor};

fn main() -> anyhow::Result<()> {
    let device = Device::from_env()?;
    let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], &[3, 1], &device)?;
    let y = Tensor::from_vec(vec![2.0f32, 4.0, 6.0], &[3, 1], &device)?;

    let model = Linear::new(1, 1, true, 0, DType::F32, &device)?;
    let mut optimizer = Sgd::new(model.parameters(), 0.05);
    for step in 0..2000 {
        let loss = loss::mse(&model.forward(&x)?, &y)?;
        let value = optimizer.step(&loss)?;
        if step % 500 == 0 {
            println!("step {step:>4}: loss {value:.6}");
        }
    }

    let new = Tensor::from_vec(vec![4.0f32, 5.0], &[2, 1], &device)?;
    let pred = model.forward(&new)?.to_vec::<f32>()?;
    println!("f(4) = {:.4}, f(5) = {:.4} on {device}", pred[0], pred[1]);
    anyhow::ensure!(
        (pred[0] - 8.0).abs() < 0.01 && (pred[1] - 10.0).abs() < 0.01,
        "predictions {pred:?} miss 8 and 10"
    );
    Ok(())
}
