//! Training-step benchmarks: an MLP 784-256-256-10 with ReLU, cross-entropy and Adam on a
//! batch of 128 synthetic rows; forward, backward and update per iteration. Each step reads
//! its loss back, so the clock stops only after the device finished.

use std::time::{Duration, Instant};

mod common;

use common::devices;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lepton::models::mlp::Mlp;
use lepton::nn::{loss, Activation, Module};
use lepton::optim::{Adam, Optimizer};
use lepton::{DType, Tensor};

fn step(c: &mut Criterion) {
    for (name, device) in devices() {
        let model = Mlp::new(&[784, 256, 256, 10], Activation::Relu, 1, &device).expect("model");
        let mut opt = Adam::new(model.parameters(), 1e-3);
        let x = Tensor::rand_normal(&[128, 784], 0.0, 1.0, 2, DType::F32, &device).expect("inputs");
        let labels: Vec<f32> = (0..128).map(|i| (i * 7 % 10) as f32).collect();
        let y = Tensor::from_vec(labels, &[128], &device).expect("labels");
        let run = |opt: &mut Adam| {
            let logits = model.forward(&x).expect("forward");
            opt.step(&loss::cross_entropy(&logits, &y, 0.0).expect("loss"))
                .expect("step")
        };
        // The first steps build the plan (and the optimizer state appears); time the replays.
        for _ in 0..3 {
            run(&mut opt);
        }
        let mut group = c.benchmark_group("step");
        group.throughput(Throughput::Elements(128));
        group.sample_size(10);
        group.warm_up_time(Duration::from_millis(500));
        group.measurement_time(Duration::from_secs(3));
        group.bench_function(format!("mlp784/{name}"), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    run(&mut opt);
                }
                start.elapsed()
            })
        });
        group.finish();
    }
}

criterion_group!(benches, step);
criterion_main!(benches);
