//! The training core: optimizers against an independent f64 transcription of PyTorch's
//! update rules, losses against hand computation, and small models trained end to end.

mod common;

use common::*;
use lepton::nn::{loss, Activation, Linear, Module, Parameter, Sequential};
use lepton::optim::{Adam, Optimizer, Schedule, Sgd};
use lepton::{DType, Device, Tensor};

/// L(p) = Σ c_i p_i² / 2 + Σ p_i: gradient c ⊙ p + 1, different per coordinate.
fn quadratic_loss(p: &Tensor, c: &[f64]) -> Tensor {
    let ct = tensor(c, &[c.len()], DType::F64, &Device::cpu());
    p.square()
        .mul(&ct)
        .unwrap()
        .mul_scalar(0.5)
        .unwrap()
        .add(p)
        .unwrap()
        .sum(&[], false)
        .unwrap()
}

fn run_optimizer(
    make: impl Fn(Vec<(String, Parameter)>) -> Box<dyn Optimizer>,
    p0: &[f64],
    c: &[f64],
    steps: usize,
) -> Vec<f64> {
    let param = Parameter::new(tensor(p0, &[p0.len()], DType::F64, &Device::cpu()));
    let mut opt = make(vec![("p".into(), param.clone())]);
    for _ in 0..steps {
        opt.step(&quadratic_loss(&param.get(), c)).unwrap();
    }
    values(&param.get())
}

#[test]
fn sgd_matches_pytorchs_rules() {
    let (p0, c) = (vec![1.0, -2.0, 0.5], vec![0.5, 1.0, 2.0]);
    for (momentum, nesterov, wd) in [
        (0.0, false, 0.0),
        (0.9, false, 0.0),
        (0.9, true, 0.01),
        (0.5, false, 0.1),
    ] {
        let got = run_optimizer(
            |ps| {
                Box::new(
                    Sgd::new(ps, 0.1)
                        .momentum(momentum, nesterov)
                        .weight_decay(wd),
                )
            },
            &p0,
            &c,
            5,
        );
        let mut p = p0.clone();
        let mut v: Option<Vec<f64>> = None;
        for _ in 0..5 {
            let g: Vec<f64> = (0..3).map(|i| c[i] * p[i] + 1.0 + wd * p[i]).collect();
            let mut d = g.clone();
            if momentum != 0.0 {
                let nv: Vec<f64> = match &v {
                    Some(v) => (0..3).map(|i| momentum * v[i] + g[i]).collect(),
                    None => g.clone(),
                };
                d = if nesterov {
                    (0..3).map(|i| g[i] + momentum * nv[i]).collect()
                } else {
                    nv.clone()
                };
                v = Some(nv);
            }
            (0..3).for_each(|i| p[i] -= 0.1 * d[i]);
        }
        assert_close(
            &got,
            &p,
            1e-12,
            1e-12,
            &format!("sgd momentum {momentum} nesterov {nesterov} wd {wd}"),
        );
    }
}

#[test]
fn adam_and_adamw_match_pytorchs_rules() {
    let (p0, c) = (vec![1.0, -2.0, 0.5], vec![0.5, 1.0, 2.0]);
    for (decoupled, wd) in [(false, 0.0), (false, 0.1), (true, 0.1)] {
        let got = run_optimizer(
            |ps| {
                let opt = if decoupled {
                    Adam::adamw(ps, 0.05)
                } else {
                    Adam::new(ps, 0.05)
                };
                Box::new(opt.weight_decay(wd))
            },
            &p0,
            &c,
            7,
        );
        let (b1, b2, eps, lr) = (0.9f64, 0.999f64, 1e-8, 0.05);
        let (mut p, mut m, mut v) = (p0.clone(), vec![0.0; 3], vec![0.0; 3]);
        for t in 1..=7 {
            for i in 0..3 {
                let mut g = c[i] * p[i] + 1.0;
                if decoupled {
                    p[i] -= lr * wd * p[i];
                } else {
                    g += wd * p[i];
                }
                m[i] = b1 * m[i] + (1.0 - b1) * g;
                v[i] = b2 * v[i] + (1.0 - b2) * g * g;
                let mh = m[i] / (1.0 - b1.powi(t));
                let vh = v[i] / (1.0 - b2.powi(t));
                p[i] -= lr * mh / (vh.sqrt() + eps);
            }
        }
        assert_close(
            &got,
            &p,
            1e-12,
            1e-10,
            &format!("adam decoupled {decoupled} wd {wd}"),
        );
    }
}

#[test]
fn clipping_bounds_the_global_norm() {
    // Gradient at p = 0 is all ones (norm sqrt 3); scaled by 0.5/(norm + 1e-6) as PyTorch
    // does, a step of rate 1 moves each coordinate by that factor.
    let got = run_optimizer(
        |ps| Box::new(Sgd::new(ps, 1.0).clip_grad_norm(0.5)),
        &[0.0; 3],
        &[0.0; 3],
        1,
    );
    let want = -0.5 / (3f64.sqrt() + 1e-6);
    assert_close(&got, &[want; 3], 1e-15, 0.0, "clipped step");
}

#[test]
fn schedules_drive_the_step_size() {
    // Constant gradient 1 (c = 0): after steps at rates 1, 0.5, 0.25 (gamma 0.5 per step),
    // p = −1.75.
    let got = run_optimizer(
        |ps| {
            Box::new(Sgd::new(ps, 1.0).schedule(Schedule::Step {
                every: 1,
                gamma: 0.5,
            }))
        },
        &[0.0],
        &[0.0],
        3,
    );
    assert_close(&got, &[-1.75], 1e-12, 0.0, "step schedule");
}

#[test]
fn losses_match_hand_computation() {
    let cpu = Device::cpu();
    let t = |v: &[f64], s: &[usize]| tensor(v, s, DType::F64, &cpu);
    let (p, y) = (t(&[1.0, -1.0, 3.0], &[3]), t(&[0.0, 1.0, 1.0], &[3]));
    let item = |x: lepton::Result<Tensor>| x.unwrap().item::<f64>().unwrap();
    // differences 1, −2, 2
    assert_eq!(item(loss::mse(&p, &y)), 3.0);
    assert_eq!(item(loss::l1(&p, &y)), 5.0 / 3.0);
    // Huber with δ = 1.5: 0.5·1², 1.5·(2 − 0.75) twice
    assert!((item(loss::huber(&p, &y, 1.5)) - (0.5 + 2.0 * 1.875) / 3.0).abs() < 1e-15);

    let logits = t(&[2.0, 1.0, 0.1, 0.5, 2.5, -1.0], &[2, 3]);
    let targets = Tensor::from_vec(vec![0i32, 1], &[2], &Device::cpu()).unwrap();
    let lse = |r: &[f64]| r.iter().map(|x| x.exp()).sum::<f64>().ln();
    let (r0, r1) = ([2.0, 1.0, 0.1], [0.5, 2.5, -1.0]);
    let ce = ((lse(&r0) - 2.0) + (lse(&r1) - 2.5)) / 2.0;
    assert!((item(loss::cross_entropy(&logits, &targets, 0.0)) - ce).abs() < 1e-14);
    // With smoothing ε the target is (1−ε)·one_hot + ε/C: loss = (1−ε)·CE + ε·mean_c(−log p_c).
    let eps = 0.1;
    let uniform = |r: &[f64]| r.iter().map(|x| lse(r) - x).sum::<f64>() / 3.0;
    let smoothed = (1.0 - eps) * ce + eps * (uniform(&r0) + uniform(&r1)) / 2.0;
    assert!((item(loss::cross_entropy(&logits, &targets, eps)) - smoothed).abs() < 1e-14);

    let z = t(&[-30.0, 0.0, 2.0], &[3]);
    let target = t(&[0.0, 1.0, 1.0], &[3]);
    let bce = [(-30f64).exp().ln_1p(), 2f64.ln(), (-2f64).exp().ln_1p()]
        .iter()
        .sum::<f64>()
        / 3.0;
    assert!((item(loss::bce_with_logits(&z, &target)) - bce).abs() < 1e-15);
    // Far from zero the naive form overflows; the stable one does not.
    let big = t(&[1e4, -1e4], &[2]);
    assert_eq!(
        item(loss::bce_with_logits(&big, &t(&[1.0, 0.0], &[2]))),
        0.0
    );
    assert!(matches!(
        loss::mse(&p, &t(&[1.0], &[1])),
        Err(lepton::Error::ShapeMismatch { .. })
    ));
}

on_every_device! {
    fn linear_regression_learns_y_equals_2x(device) {
        let model = Linear::new(1, 1, true, 0, DType::F32, &device).unwrap();
        let mut opt = Sgd::new(model.parameters(), 0.05);
        let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], &[3, 1], &device).unwrap();
        let y = Tensor::from_vec(vec![2.0f32, 4.0, 6.0], &[3, 1], &device).unwrap();
        let mut last = f64::INFINITY;
        for _ in 0..2000 {
            last = opt
                .step(&loss::mse(&model.forward(&x).unwrap(), &y).unwrap())
                .unwrap();
        }
        let test = Tensor::from_vec(vec![4.0f32, 5.0], &[2, 1], &device).unwrap();
        let pred = model.forward(&test).unwrap().to_vec::<f32>().unwrap();
        assert!(
            (pred[0] - 8.0).abs() < 0.01 && (pred[1] - 10.0).abs() < 0.01,
            "{pred:?} on {device}, loss {last}"
        );
    }
}

on_every_device! {
    fn an_mlp_fits_xor(device) {
        let model = Sequential::new()
            .push(Linear::new(2, 16, true, 1, DType::F32, &device).unwrap())
            .push(Activation::Tanh)
            .push(Linear::new(16, 2, true, 2, DType::F32, &device).unwrap());
        let names: Vec<String> = model.parameters().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["0.weight", "0.bias", "2.weight", "2.bias"]);
        let mut opt = Adam::new(model.parameters(), 0.05);
        let x = Tensor::from_vec(
            vec![0.0f32, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0],
            &[4, 2],
            &device,
        )
        .unwrap();
        let y = Tensor::from_vec(vec![0i32, 1, 1, 0], &[4], &device).unwrap();
        let mut last = 0.0;
        for _ in 0..300 {
            last = opt
                .step(&loss::cross_entropy(&model.forward(&x).unwrap(), &y, 0.0).unwrap())
                .unwrap();
        }
        assert!(last < 0.01, "xor loss {last} on {device}");
        assert_eq!(opt.steps(), 300);
    }
}

on_every_device! {
    fn layer_norm_normalizes_the_last_axis(device) {
        use lepton::nn::LayerNorm;
        let v = rounded(&data(3 * 7, 950, -2.0, 5.0), DType::F32);
        let ln = LayerNorm::new(7, DType::F32, &device).unwrap();
        let got = values(
            &ln.forward(&tensor(&v, &[3, 7], DType::F32, &device))
                .unwrap(),
        );
        let mut want = Vec::new();
        for row in v.chunks(7) {
            let mean = row.iter().sum::<f64>() / 7.0;
            let var = row.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 7.0;
            want.extend(row.iter().map(|x| (x - mean) / (var + 1e-5).sqrt()));
        }
        // A handful of f32 roundings on values of order 1, plus rsqrt's 2 ulp on the GPU.
        assert_close(&got, &want, 2e-6, 2e-6, &format!("layer norm on {device}"));
        let names: Vec<String> = ln.parameters().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["weight", "bias"]);
    }
}

on_every_device! {
    fn embedding_looks_up_rows_and_accumulates_gradients(device) {
        use lepton::nn::Embedding;
        let emb = Embedding::new(5, 3, 1, DType::F32, &device).unwrap();
        let table = emb.weight.get().to_vec::<f32>().unwrap();
        let ids = Tensor::from_vec(vec![4i32, 0, 4, 2], &[2, 2], &device).unwrap();
        let out = emb.forward(&ids).unwrap();
        assert_eq!(out.shape(), &[2, 2, 3]);
        // d Σ out / d table: each row once per time it was looked up. (Gradients are taken
        // before `out` is read: reading realizes it and ends its history.)
        let g = lepton::grad(&out.sum(&[], false).unwrap(), &[&emb.weight.get()]).unwrap();
        let rows: Vec<f32> = [4, 0, 4, 2]
            .iter()
            .flat_map(|&r| table[r * 3..r * 3 + 3].to_vec())
            .collect();
        assert_eq!(out.to_vec::<f32>().unwrap(), rows, "on {device}");
        let counts = [1.0f32, 0.0, 1.0, 0.0, 2.0];
        let want: Vec<f32> = counts.iter().flat_map(|&c| [c; 3]).collect();
        assert_eq!(g[0].to_vec::<f32>().unwrap(), want, "on {device}");
    }
}

#[test]
fn dropout_drops_the_same_elements_on_every_device() {
    use lepton::nn::Dropout;
    let mut masks = Vec::new();
    for device in devices() {
        let mut drop = Dropout::new(0.3, 42).unwrap();
        let x = Tensor::ones(&[100, 100], DType::F32, &device).unwrap();
        x.set_requires_grad(true);
        let y = drop.forward(&x).unwrap();
        let g = lepton::grad(&y.sum(&[], false).unwrap(), &[&x]).unwrap();
        let v = values(&y);
        // Kept elements are scaled by 1/(1-p); the dropped fraction is p within 5 standard
        // errors (sqrt(p(1-p)/n) = 0.0046 for n = 10^4).
        let dropped = v.iter().filter(|&&e| e == 0.0).count() as f64 / v.len() as f64;
        assert!(
            (dropped - 0.3).abs() < 0.023,
            "dropped {dropped} on {device}"
        );
        assert!(v.iter().all(|&e| e == 0.0 || (e - 1.0 / 0.7).abs() < 1e-6));
        assert_eq!(
            values(&g[0]),
            v,
            "the gradient is the mask, scaled, on {device}"
        );
        let second = values(&drop.forward(&x).unwrap());
        assert_ne!(second, v, "the next call draws a new mask");
        drop.set_training(false);
        assert_eq!(
            values(&drop.forward(&x).unwrap()),
            vec![1.0; 10_000],
            "evaluation is the identity"
        );
        masks.push(v);
    }
    assert!(
        masks.windows(2).all(|w| w[0] == w[1]),
        "same seed, same mask on CPU and GPU"
    );
}

#[test]
fn batch_norm_trains_on_batch_statistics_and_evaluates_on_running_ones() {
    use lepton::nn::BatchNorm;
    let cpu = Device::cpu();
    let v = data(6 * 3, 960, -2.0, 4.0);
    let x = tensor(&v, &[6, 3], DType::F64, &cpu);
    let mut bn = BatchNorm::new_1d(3, DType::F64, &cpu).unwrap();
    let names: Vec<String> = bn.parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["weight", "bias", "running_mean", "running_var"]);
    let y = values(&bn.forward(&x).unwrap());
    let column = |c: usize| -> Vec<f64> { (0..6).map(|r| v[r * 3 + c]).collect() };
    for c in 0..3 {
        let col = column(c);
        let mean = col.iter().sum::<f64>() / 6.0;
        let var = col.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / 6.0;
        for r in 0..6 {
            assert!((y[r * 3 + c] - (col[r] - mean) / (var + 1e-5).sqrt()).abs() < 1e-12);
        }
        // Running statistics: 0.9·initial + 0.1·batch, with the unbiased variance.
        let rm = values(&bn.running_mean.get())[c];
        let rv = values(&bn.running_var.get())[c];
        assert!(
            (rm - 0.1 * mean).abs() < 1e-12 && (rv - (0.9 + 0.1 * var * 6.0 / 5.0)).abs() < 1e-12
        );
    }
    bn.set_training(false);
    let rm = values(&bn.running_mean.get());
    let rv = values(&bn.running_var.get());
    let z = values(&bn.forward(&x).unwrap());
    for (i, e) in z.iter().enumerate() {
        let c = i % 3;
        assert!(
            (e - (v[i] - rm[c]) / (rv[c] + 1e-5).sqrt()).abs() < 1e-12,
            "evaluation uses running statistics"
        );
    }
}

on_every_device! {
    fn optimizers_update_buffers_with_each_step(device) {
        use lepton::nn::BatchNorm;
        let model = Sequential::new()
            .push(Linear::new(4, 6, true, 1, DType::F32, &device).unwrap())
            .push(BatchNorm::new_1d(6, DType::F32, &device).unwrap())
            .push(Activation::Relu)
            .push(Linear::new(6, 2, true, 2, DType::F32, &device).unwrap());
        let mut opt = Adam::new(model.parameters(), 0.01);
        let x = Tensor::rand_normal(&[16, 4], 0.0, 1.0, 3, DType::F32, &device).unwrap();
        let y =
            Tensor::from_vec((0..16).map(|i| i % 2).collect::<Vec<i32>>(), &[16], &device).unwrap();
        for _ in 0..3 {
            opt.step(&loss::cross_entropy(&model.forward(&x).unwrap(), &y, 0.0).unwrap())
                .unwrap();
        }
        let (_, running) = model
            .parameters()
            .into_iter()
            .find(|(n, _)| n == "1.running_mean")
            .unwrap();
        // Updated by every step (tests/step_plan.rs checks, in a process of its own, that
        // steps with batch norm replay one plan, so the statistics are realized each step).
        let values = running.get().to_vec::<f32>().unwrap();
        assert!(values.iter().any(|&v| v != 0.0));
    }
}
