//! The CPU fallback inside a GPU plan: steps on a dtype the adapter's shaders cannot run
//! (f64 anywhere; f16 without SHADER_F16, as on the GL adapter) run on the CPU between
//! explicit, counted copies, and give what the CPU path gives.

mod common;

use std::sync::Mutex;

use common::*;
use lepton::nn::{loss, Activation, Linear, Module, Sequential};
use lepton::optim::{Adam, Optimizer};
use lepton::{stats, DType, Device, Tensor};

/// The tests read process-wide counters, and each one's fallback steps count there: one at
/// a time.
static COUNTING: Mutex<()> = Mutex::new(());

/// A chain with a product, a reduction, a softmax and elementwise steps, all in `dtype`.
fn chain(a: &Tensor, b: &Tensor) -> Tensor {
    let p = a.matmul(b).unwrap();
    let s = p.softmax(-1).unwrap();
    s.mul(&p.exp())
        .unwrap()
        .sum(&[1], true)
        .unwrap()
        .sqrt()
        .add(&p)
        .unwrap()
}

/// Both devices run the same CPU kernels on f64; only the planner's fusion may group the
/// elementwise steps differently (the GPU device binds fewer buffers per fused kernel), and
/// each grouping rounds every operation to f64 alike, so the results agree bit for bit.
#[test]
fn f64_on_a_gpu_device_gives_the_cpu_paths_bits() {
    let Some(gpu) = common::gpu() else { return };
    let _one = COUNTING.lock().unwrap_or_else(|e| e.into_inner());
    assert!(gpu.falls_back(DType::F64).is_some());
    assert!(Device::cpu().falls_back(DType::F64).is_none());
    for (m, k, n) in [(1, 1, 1), (7, 13, 5), (33, 64, 17)] {
        let (av, bv) = (data(m * k, 11, -1.0, 1.0), data(k * n, 12, -1.0, 1.0));
        let run = |device: &Device| {
            let a = tensor(&av, &[m, k], DType::F64, device);
            let b = tensor(&bv, &[k, n], DType::F64, device);
            values(&chain(&a, &b))
        };
        let (want, got) = (run(&Device::cpu()), run(&gpu));
        let same = want
            .iter()
            .zip(&got)
            .all(|(w, g)| w.to_bits() == g.to_bits());
        assert!(same, "{m}x{k}x{n}: {got:?} against {want:?}");
    }
}

#[test]
fn a_mixed_plan_copies_exactly_what_crosses_over() {
    let Some(gpu) = common::gpu() else { return };
    let _one = COUNTING.lock().unwrap_or_else(|e| e.into_inner());
    let xv = data(7 * 13, 21, -2.0, 2.0);
    let x = tensor(&xv, &[7, 13], DType::F32, &gpu);
    let w = tensor(&data(13 * 5, 22, -1.0, 1.0), &[13, 5], DType::F32, &gpu);
    lepton::realize(&[&x, &w]).unwrap();
    // The product runs on the device; the f64 steps on the host, reading the product (one
    // copy down); the final f32 step on the device again, reading the f64 steps' cast
    // result (one copy up) and `w`'s column sums, which never leave the device.
    let product = x.matmul(&w).unwrap();
    let wide = product
        .cast(DType::F64)
        .unwrap()
        .exp()
        .sum(&[1], true)
        .unwrap()
        .log();
    let back = wide.cast(DType::F32).unwrap();
    let out = back.matmul(&w.sum(&[0], true).unwrap()).unwrap().relu();
    let before = stats();
    lepton::realize(&[&out]).unwrap();
    let after = stats();
    assert!(after.fallback_steps > before.fallback_steps);
    let copies = after.fallback_copies - before.fallback_copies;
    let bytes = after.fallback_bytes - before.fallback_bytes;
    assert_eq!(copies, 2, "the product down, the log-sum-exp up");
    assert_eq!(bytes, 7 * 5 * 4 + 7 * 4);
    // Against an f64 transcription: the product rounded to f32, a log-sum-exp in f64,
    // rounded to f32, times the sums of w's columns. The f32 products (13 and 1 terms)
    // bound the error: a few f32 roundoffs of the magnitudes involved.
    let wv = rounded(&data(13 * 5, 22, -1.0, 1.0), DType::F32);
    let xv = rounded(&xv, DType::F32);
    let colsum: Vec<f64> = (0..5)
        .map(|j| (0..13).map(|i| wv[i * 5 + j]).sum())
        .collect();
    let mut want = Vec::new();
    for r in 0..7 {
        let row: Vec<f64> = (0..5)
            .map(|j| (0..13).map(|i| xv[r * 13 + i] * wv[i * 5 + j]).sum())
            .collect();
        let lse = row.iter().map(|v| v.exp()).sum::<f64>().ln();
        want.extend(colsum.iter().map(|c| (lse * c).max(0.0)));
    }
    assert_close(&values(&out), &want, 1e-5, 1e-5, "mixed plan");
    let before = stats();
    let plain = x.matmul(&w).unwrap().relu();
    lepton::realize(&[&plain]).unwrap();
    let after = stats();
    assert_eq!(after.fallback_copies, before.fallback_copies, "an f32 plan");
    assert_eq!(after.fallback_steps, before.fallback_steps, "an f32 plan");
}

/// A model in f64 trains on a GPU device through the fallback, step for step as on the CPU.
#[test]
fn an_f64_model_trains_on_a_gpu_device_as_on_the_cpu() {
    let Some(gpu) = common::gpu() else { return };
    let _one = COUNTING.lock().unwrap_or_else(|e| e.into_inner());
    let train = |device: &Device| {
        let model = Sequential::new()
            .push(Linear::new(4, 8, true, 1, DType::F64, device).unwrap())
            .push(Activation::Tanh)
            .push(Linear::new(8, 3, true, 2, DType::F64, device).unwrap());
        let mut opt = Adam::new(model.parameters(), 0.05);
        let x = tensor(&data(6 * 4, 31, -1.0, 1.0), &[6, 4], DType::F64, device);
        let y = Tensor::from_vec(vec![0i32, 1, 2, 2, 1, 0], &[6], device).unwrap();
        let losses: Vec<f64> = (0..5)
            .map(|_| {
                let logits = model.forward(&x).unwrap();
                opt.step(&loss::cross_entropy(&logits, &y, 0.0).unwrap())
                    .unwrap()
            })
            .collect();
        (losses, values(&model.parameters()[0].1.get()))
    };
    let (want_losses, want_weights) = train(&Device::cpu());
    let (losses, weights) = train(&gpu);
    assert!(
        want_losses[4] < want_losses[0],
        "it learns: {want_losses:?}"
    );
    assert_eq!(losses, want_losses);
    assert_eq!(weights, want_weights);
}

/// On an adapter without SHADER_F16 (the GL adapter) f16 steps fall back; on one with it
/// they run natively. Either way they give the CPU path's values: f16 storage with f32
/// arithmetic on both, each result rounded once to f16.
#[test]
fn f16_falls_back_exactly_where_the_adapter_lacks_it() {
    let Some(gpu) = common::gpu() else { return };
    let _one = COUNTING.lock().unwrap_or_else(|e| e.into_inner());
    let native = gpu.falls_back(DType::F16).is_none();
    let v = rounded(&data(9 * 11, 41, -1.0, 1.0), DType::F16);
    let run = |device: &Device| {
        let t = tensor(&v, &[9, 11], DType::F16, device);
        values(&t.exp().mul(&t).unwrap().sum(&[1], false).unwrap())
    };
    let want = run(&Device::cpu());
    let before = stats();
    let got = run(&gpu);
    let fell_back = stats().fallback_steps - before.fallback_steps;
    assert_eq!(fell_back == 0, native, "{gpu}: fallback steps {fell_back}");
    // Each row sums 11 products in f32 and rounds once to f16: an f16 roundoff, plus the
    // GPU's exp (a few f32 ulps), where it ran natively.
    assert_close(&got, &want, 1e-6, 2.0 * U16, "f16 row sums");
}
