//! The kernels `lepton bench` sweeps, at the shapes of `benches/kernels.rs` and of the
//! training steps' layers: each case builds its inputs once and then its op from them.

use lepton::nn::{loss, scaled_dot_product_attention, Conv2dSpec};
use lepton::{DType, Device, Result, Tensor};

type Op = Box<dyn Fn(&[Tensor]) -> Result<Tensor>>;

pub struct Case {
    pub name: &'static str,
    pub shape: String,
    /// In `--quick` sweeps.
    pub quick: bool,
    pub inputs: Vec<Vec<usize>>,
    pub op: Op,
}

fn case(
    name: &'static str,
    shape: String,
    quick: bool,
    inputs: &[&[usize]],
    op: impl Fn(&[Tensor]) -> Result<Tensor> + 'static,
) -> Case {
    Case {
        name,
        shape,
        quick,
        inputs: inputs.iter().map(|s| s.to_vec()).collect(),
        op: Box::new(op),
    }
}

pub fn all() -> Vec<Case> {
    let mut cases = Vec::new();
    for (m, k, n, quick) in [
        (128, 784, 256, true),
        (256, 256, 256, true),
        (1024, 1024, 1024, false),
        (513, 257, 129, false),
    ] {
        cases.push(case(
            "matmul",
            format!("{m}x{k} · {k}x{n}"),
            quick,
            &[&[m, k], &[k, n]],
            |t| t[0].matmul(&t[1]),
        ));
    }
    let pad = Conv2dSpec {
        padding: (1, 1),
        ..Conv2dSpec::default()
    };
    for (n, c, hw, o, quick) in [(64, 1, 28, 16, false), (64, 16, 14, 32, true)] {
        cases.push(case(
            "conv2d",
            format!("{n}x{c}x{hw}x{hw} * {o}x{c}x3x3, pad 1"),
            quick,
            &[&[n, c, hw, hw], &[o, c, 3, 3]],
            move |t| t[0].conv2d(&t[1], None, &pad),
        ));
    }
    let unpadded = Conv2dSpec::default();
    cases.push(case(
        "max_pool2d",
        "64x16x28x28, 2x2".into(),
        false,
        &[&[64, 16, 28, 28]],
        move |t| {
            t[0].max_pool2d(
                (2, 2),
                &Conv2dSpec {
                    stride: (2, 2),
                    ..unpadded
                },
            )
        },
    ));
    cases.push(case(
        "add",
        "1048576 + 1048576".into(),
        true,
        &[&[1 << 20], &[1 << 20]],
        |t| t[0].add(&t[1]),
    ));
    cases.push(case("gelu", "1048576".into(), false, &[&[1 << 20]], |t| {
        Ok(t[0].gelu())
    }));
    cases.push(case(
        "sum",
        "4096x1024, rows".into(),
        true,
        &[&[4096, 1024]],
        |t| t[0].sum(&[1], false),
    ));
    cases.push(case(
        "softmax",
        "1024x1024, rows".into(),
        true,
        &[&[1024, 1024]],
        |t| t[0].softmax(-1),
    ));
    cases.push(case(
        "layer_norm",
        "512x768".into(),
        false,
        &[&[512, 768]],
        |t| t[0].layer_norm(1e-5),
    ));
    cases.push(case(
        "cross_entropy",
        "1024x1000".into(),
        false,
        &[&[1024, 1000]],
        |t| {
            let targets: Vec<i32> = (0..1024).map(|i| i * 7 % 1000).collect();
            let targets = Tensor::from_vec(targets, &[1024], t[0].device())?;
            loss::cross_entropy(&t[0], &targets, 0.0)
        },
    ));
    cases.push(case(
        "attention",
        "4x4x256x32, causal".into(),
        false,
        &[&[4, 4, 256, 32], &[4, 4, 256, 32], &[4, 4, 256, 32]],
        |t| scaled_dot_product_attention(&t[0], &t[1], &t[2], None, true),
    ));
    cases
}

/// The case's inputs on `device`, uniform in [-1, 1), realized.
pub fn inputs(case: &Case, device: &Device) -> Result<Vec<Tensor>> {
    let tensors: Vec<Tensor> = case
        .inputs
        .iter()
        .enumerate()
        .map(|(i, shape)| Tensor::rand_uniform(shape, -1.0, 1.0, i as u64, DType::F32, device))
        .collect::<Result<_>>()?;
    lepton::realize(&tensors.iter().collect::<Vec<_>>())?;
    Ok(tensors)
}
