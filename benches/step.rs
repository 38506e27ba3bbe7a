//! Training-step benchmarks, forward, backward and update per iteration, on synthetic data:
//! an MLP 784-256-256-10 with ReLU, cross-entropy and Adam on a batch of 128 rows; and an
//! LSTM (batch 64, 28 timesteps of 28 inputs, 128 units) with a linear head on its last
//! output, cross-entropy and Adam; and nanoGPT's baby GPT (4 layers, 4 heads, width 128,
//! context 64, vocabulary 65, batch 12) with AdamW and gradient clipping, as
//! `lepton train charlm --arch transformer` trains it; and a small CNN on 28×28 images (two
//! 3×3 convolutions with ReLU and max pooling, a linear head; batch 64, Adam). Each step
//! reads its loss back, so the clock stops only after the device finished.
//! benches/reference/ has PyTorch's steps.

use std::time::{Duration, Instant};

mod common;

use common::devices;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lepton::models::charlm::{CharLm, CharLmConfig};
use lepton::models::cnn::Cnn;
use lepton::models::mlp::Mlp;
use lepton::nn::{loss, Activation, CellKind, Linear, Module, Recurrent, RecurrentConfig};
use lepton::optim::{Adam, Optimizer};
use lepton::{DType, Tensor};

/// Time replays of `run` (after the first steps built the plan and the optimizer state) as
/// `id` in the step group, `rows` rows a step; and print how many kernels and submissions
/// a step runs.
fn time_steps(c: &mut Criterion, id: String, rows: u64, mut run: impl FnMut()) {
    let mut group = c.benchmark_group("step");
    group.throughput(Throughput::Elements(rows));
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    // Only a benchmark that the command line selects calls this closure: the first steps
    // of the others (minutes of a software GPU's kernel compiles) never run.
    let mut planned = false;
    group.bench_function(&id, |b| {
        if !planned {
            for _ in 0..3 {
                run();
            }
            // Time the kernels the autotuner chooses, not the defaults they start with.
            lepton::autotune::settle();
            planned = true;
            let before = lepton::stats();
            run();
            let after = lepton::stats();
            println!(
                "{id}: {} kernels and {} queue submissions a step",
                after.kernels - before.kernels,
                after.submissions - before.submissions
            );
        }
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                run();
            }
            start.elapsed()
        })
    });
    group.finish();
}

fn step(c: &mut Criterion) {
    for (name, device) in devices() {
        let model = Mlp::new(&[784, 256, 256, 10], Activation::Relu, 1, &device).expect("model");
        let mut opt = Adam::new(model.parameters(), 1e-3);
        let x = Tensor::rand_normal(&[128, 784], 0.0, 1.0, 2, DType::F32, &device).expect("inputs");
        let labels: Vec<i32> = (0..128).map(|i| i * 7 % 10).collect();
        let y = Tensor::from_vec(labels, &[128], &device).expect("labels");
        time_steps(c, format!("mlp784/{name}"), 128, || {
            let logits = model.forward(&x).expect("forward");
            opt.step(&loss::cross_entropy(&logits, &y, 0.0).expect("loss"))
                .expect("step");
        });
    }
}

fn lstm_step(c: &mut Criterion) {
    let (batch, steps) = (64, 28);
    for (name, device) in devices() {
        let config = RecurrentConfig {
            batch_first: true,
            ..RecurrentConfig::new(28, 128)
        };
        let lstm = Recurrent::new(CellKind::Lstm, config, 1, DType::F32, &device).expect("lstm");
        let head = Linear::new(128, 10, true, 2, DType::F32, &device).expect("head");
        let mut parameters = lstm.parameters();
        parameters.extend(head.parameters());
        let mut opt = Adam::new(parameters, 1e-3);
        let x = Tensor::rand_normal(&[batch, steps, 28], 0.0, 1.0, 3, DType::F32, &device)
            .expect("inputs");
        let labels: Vec<i32> = (0..batch as i32).map(|i| i * 7 % 10).collect();
        let y = Tensor::from_vec(labels, &[batch], &device).expect("labels");
        let last = steps as isize - 1;
        time_steps(c, format!("lstm/{name}"), batch as u64, || {
            let out = lstm.forward(&x).expect("forward");
            let h = out.slice(1, last, last + 1, 1).and_then(|h| h.squeeze(1));
            let logits = head.forward(&h.expect("last output")).expect("head");
            opt.step(&loss::cross_entropy(&logits, &y, 0.0).expect("loss"))
                .expect("step");
        });
    }
}

fn gpt_step(c: &mut Criterion) {
    let (batch, context, vocab) = (12, 64, 65);
    for (name, device) in devices() {
        let model = CharLm::new(CharLmConfig::baby_gpt(vocab), 1, &device).expect("model");
        let mut opt = Adam::adamw(model.parameters(), 1e-3)
            .betas(0.9, 0.99)
            .weight_decay(0.1)
            .clip_grad_norm(1.0);
        let ids = |seed: usize| -> Vec<i32> {
            (0..batch * context)
                .map(|i| ((i * 31 + seed * 17) % vocab) as i32)
                .collect()
        };
        let x = Tensor::from_vec(ids(0), &[batch, context], &device).expect("inputs");
        let y = Tensor::from_vec(ids(1), &[batch, context], &device).expect("targets");
        time_steps(c, format!("gpt/{name}"), (batch * context) as u64, || {
            opt.step(&model.loss(&x, &y).expect("loss")).expect("step");
        });
    }
}

/// The standard small CNN of #17 on 28×28 images (`models::cnn` at that size): conv(1→16,
/// 3×3, pad 1), ReLU, max-pool 2, conv(16→32, 3×3, pad 1), ReLU, max-pool 2, flatten,
/// linear(1568→10); batch 64, cross-entropy, Adam.
fn cnn_step(c: &mut Criterion) {
    let batch = 64;
    for (name, device) in devices() {
        let model = Cnn::for_images(28, 1, &device).expect("model");
        let mut opt = Adam::new(model.parameters(), 1e-3);
        let x = Tensor::rand_normal(&[batch, 28 * 28], 0.0, 1.0, 4, DType::F32, &device)
            .expect("inputs");
        let labels: Vec<i32> = (0..batch as i32).map(|i| i * 7 % 10).collect();
        let y = Tensor::from_vec(labels, &[batch], &device).expect("labels");
        time_steps(c, format!("cnn28/{name}"), batch as u64, || {
            let logits = model.forward(&x).expect("forward");
            opt.step(&loss::cross_entropy(&logits, &y, 0.0).expect("loss"))
                .expect("step");
        });
    }
}

criterion_group!(benches, step, lstm_step, gpt_step, cnn_step);
criterion_main!(benches);
