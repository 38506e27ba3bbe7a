//! The README's first program: a small lazy computation on the device LEPTON_DEVICE names
//! (auto when unset), checked against the same computation on the CPU path.

use lepton::{DType, Device, Tensor};

fn mean_relu_logits(device: &Device) -> lepton::Result<Vec<f32>> {
    let x = Tensor::rand_normal(&[128, 64], 0.0, 1.0, 42, DType::F32, device)?;
    let w = Tensor::rand_uniform(&[64, 10], -0.1, 0.1, 7, DType::F32, device)?;
    let logits = x.matmul(&w)?.relu();
    logits.mean(&[1], false)?.to_vec::<f32>()
}

fn main() -> anyhow::Result<()> {
    let device = Device::from_env()?;
    let got = mean_relu_logits(&device)?;
    let want = mean_relu_logits(&Device::cpu())?;
    println!("{device}: first means {:?}", &got[..4]);
    let worst = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    anyhow::ensure!(
        worst < 1e-5,
        "{device} differs from the CPU path by {worst}"
    );
    Ok(())
}
