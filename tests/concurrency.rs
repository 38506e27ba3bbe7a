//! Tensors and devices shared between threads (#18): `Tensor` and `Device` are `Send` and
//! `Sync`, and threads that realize independent graphs on one device at once get what they
//! would get one after another, bit for bit. The graphs here are training steps (forward,
//! gradients, an Adam update) of different sizes, so the threads build and run different
//! plans through the device's shared caches and queue at the same time.

mod common;

use common::devices;
use lepton::models::mlp::Mlp;
use lepton::nn::{loss, Activation, Module};
use lepton::optim::{Adam, Optimizer};
use lepton::{DType, Device, Tensor};

const THREADS: usize = 4;
const STEPS: usize = 3;

fn shared<T: Send + Sync>() {}

#[test]
fn tensors_and_devices_can_be_shared() {
    shared::<Tensor>();
    shared::<Device>();
}

/// Thread `k`'s work: `STEPS` Adam steps of an MLP whose width and batch depend on k, and
/// the bits of its losses and final first-layer weights.
fn train(k: usize, device: &Device) -> Vec<u32> {
    let (width, batch) = (16 + 7 * k, 8 + 3 * k);
    let model = Mlp::new(&[12, width, 5], Activation::Relu, k as u64, device).expect("model");
    let mut opt = Adam::new(model.parameters(), 1e-2);
    let x = Tensor::rand_normal(&[batch, 12], 0.0, 1.0, 100 + k as u64, DType::F32, device)
        .expect("inputs");
    let labels: Vec<i32> = (0..batch as i32).map(|i| (i * 3 + k as i32) % 5).collect();
    let y = Tensor::from_vec(labels, &[batch], device).expect("labels");
    let mut bits = Vec::new();
    for _ in 0..STEPS {
        let logits = model.forward(&x).expect("forward");
        let step_loss = loss::cross_entropy(&logits, &y, 0.0).expect("loss");
        bits.push((opt.step(&step_loss).expect("step") as f32).to_bits());
    }
    let (_, first) = &model.parameters()[0];
    bits.extend(
        first
            .get()
            .to_vec::<f32>()
            .expect("weights")
            .iter()
            .map(|v| v.to_bits()),
    );
    bits
}

#[test]
fn threads_on_one_device_get_the_sequential_results() {
    for device in devices() {
        let sequential: Vec<Vec<u32>> = (0..THREADS).map(|k| train(k, &device)).collect();
        let concurrent: Vec<Vec<u32>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..THREADS)
                .map(|k| {
                    let device = &device;
                    scope.spawn(move || train(k, device))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a training thread"))
                .collect()
        });
        for (k, (a, b)) in sequential.iter().zip(&concurrent).enumerate() {
            assert_eq!(a, b, "thread {k} on {device}");
        }
    }
}
