//! Memory flat over time (#18): long runs of training steps hold no more memory at the end
//! than after their warm-up. Two workloads on each device: an MLP step of fixed shapes,
//! and an LSTM step whose sequence length changes every step (16 lengths in turn, so the
//! step's plan, and on the GPU its buffers, change every step). After the warm-up (every
//! length seen twice), the bytes held in GPU buffers (`lepton::stats().bytes_live`) and the
//! process's resident memory may grow by at most 1% (plus one page for the resident
//! count's granularity) by the last step.
//!
//! CI runs 1,000 steps of each; `LEPTON_SOAK_STEPS=10000 cargo test --release --test soak
//! -- --nocapture` is the long run. Both print their figures.

mod common;

use common::devices;
use lepton::models::mlp::Mlp;
use lepton::nn::{loss, Activation, CellKind, Linear, Module, Recurrent, RecurrentConfig};
use lepton::optim::{Adam, Optimizer};
use lepton::{DType, Device, Tensor};

/// Steps after the warm-up in CI.
const STEPS: usize = 1_000;
/// The LSTM's sequence lengths, one per step in turn.
const LENGTHS: std::ops::Range<usize> = 5..21;
/// Steps before the first reading: every length twice.
const WARM_UP: usize = 2 * LENGTHS.end - 2 * LENGTHS.start;

/// The process's resident memory in bytes (Linux), or None where /proc does not say.
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// What a workload holds: GPU buffer bytes and resident bytes.
fn held() -> (i64, Option<u64>) {
    (lepton::stats().bytes_live, resident_bytes())
}

/// `step` run `WARM_UP` times, then `steps` more; the holdings after each phase.
fn soak(name: &str, device: &Device, steps: usize, mut step: impl FnMut(usize)) {
    for i in 0..WARM_UP {
        step(i);
    }
    let (gpu_before, rss_before) = held();
    let start = std::time::Instant::now();
    for i in WARM_UP..WARM_UP + steps {
        step(i);
    }
    let (gpu_after, rss_after) = held();
    println!(
        "{name} on {device}: {steps} steps in {:.1} s; GPU buffers {gpu_before} → {gpu_after} bytes, resident {} → {} bytes",
        start.elapsed().as_secs_f64(),
        rss_before.unwrap_or(0),
        rss_after.unwrap_or(0)
    );
    assert!(
        gpu_after as f64 <= gpu_before as f64 * 1.01,
        "{name} on {device}: GPU buffers grew from {gpu_before} to {gpu_after} bytes"
    );
    if let (Some(before), Some(after)) = (rss_before, rss_after) {
        assert!(
            after as f64 <= before as f64 * 1.01 + 4096.0,
            "{name} on {device}: resident memory grew from {before} to {after} bytes"
        );
    }
}

fn mlp(device: &Device, steps: usize) {
    let model = Mlp::new(&[64, 128, 64, 10], Activation::Relu, 1, device).expect("model");
    let mut opt = Adam::new(model.parameters(), 1e-3);
    let x = Tensor::rand_normal(&[32, 64], 0.0, 1.0, 2, DType::F32, device).expect("inputs");
    let labels: Vec<i32> = (0..32).map(|i| i % 10).collect();
    let y = Tensor::from_vec(labels, &[32], device).expect("labels");
    soak("MLP", device, steps, |_| {
        let logits = model.forward(&x).expect("forward");
        opt.step(&loss::cross_entropy(&logits, &y, 0.0).expect("loss"))
            .expect("step");
    });
}

fn lstm(device: &Device, steps: usize) {
    let lstm = Recurrent::new(
        CellKind::Lstm,
        RecurrentConfig::new(8, 32),
        3,
        DType::F32,
        device,
    )
    .expect("lstm");
    let head = Linear::new(32, 4, true, 4, DType::F32, device).expect("head");
    let mut parameters = lstm.parameters();
    parameters.extend(head.parameters());
    let mut opt = Adam::new(parameters, 1e-3);
    let labels: Vec<i32> = (0..16).map(|i| i % 4).collect();
    let y = Tensor::from_vec(labels, &[16], device).expect("labels");
    let lengths: Vec<usize> = LENGTHS.collect();
    let inputs: Vec<Tensor> = lengths
        .iter()
        .map(|&t| {
            Tensor::rand_normal(&[t, 16, 8], 0.0, 1.0, t as u64, DType::F32, device)
                .expect("inputs")
        })
        .collect();
    soak("LSTM of varying length", device, steps, |i| {
        let k = i % lengths.len();
        let last = lengths[k] as isize - 1;
        let out = lstm.forward(&inputs[k]).expect("forward");
        let h = out.slice(0, last, last + 1, 1).and_then(|h| h.squeeze(0));
        let logits = head.forward(&h.expect("last output")).expect("head");
        opt.step(&loss::cross_entropy(&logits, &y, 0.0).expect("loss"))
            .expect("step");
    });
}

#[test]
fn memory_stays_flat_over_many_steps() {
    let steps = std::env::var("LEPTON_SOAK_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(STEPS);
    for device in devices() {
        mlp(&device, steps);
        lstm(&device, steps);
    }
}
