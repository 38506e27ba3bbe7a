//! Kept elementwise results of one shape run as one kernel on every device, and an Adam
//! step updates each parameter and its two moments in one kernel; an LSTM step runs two
//! kernels per timestep; attention is one fused kernel forward and two backward. Own
//! process, and one test at a time: the counters are global.

mod common;

use lepton::nn::{
    composed_attention, fused_attention, loss, scaled_dot_product_attention, CellKind, Linear,
    Module, Recurrent, RecurrentConfig,
};
use lepton::optim::{Adam, Optimizer};
use lepton::{stats, DType, Tensor};

/// Held by each test while it counts.
static COUNTING: std::sync::Mutex<()> = std::sync::Mutex::new(());

common::on_every_device! {
    fn fused_results_and_adam_updates_take_one_kernel_each(device) {
        let _counting = COUNTING.lock().unwrap_or_else(|e| e.into_inner());
        let a = Tensor::rand_normal(&[300], 0.0, 1.0, 1, DType::F32, &device).unwrap();
        let b = Tensor::rand_normal(&[300], 0.0, 1.0, 2, DType::F32, &device).unwrap();
        lepton::realize(&[&a, &b]).unwrap();
        let m = a.mul(&b).unwrap().add_scalar(1.0).unwrap();
        let v = b.square().mul_scalar(0.5).unwrap();
        let p = m.div(&v.sqrt().add_scalar(1e-3).unwrap()).unwrap();
        let before = stats();
        lepton::realize(&[&m, &v, &p]).unwrap();
        let kernels = stats().kernels - before.kernels;
        assert_eq!(kernels, 1, "three kept results on {device}");

        // One Linear layer (weight and bias) trained with Adam. Forward: the matmul, the bias
        // add, cross-entropy and its mean. Backward: the mean's scalar gradient, the
        // cross-entropy gradient, the weight's matmul and the bias's column sum. Update: one
        // kernel per parameter writing it and its two moments (three each before).
        let layer = Linear::new(8, 3, true, 1, DType::F32, &device).unwrap();
        let mut opt = Adam::new(layer.parameters(), 1e-2);
        let x = Tensor::rand_normal(&[5, 8], 0.0, 1.0, 3, DType::F32, &device).unwrap();
        let y = Tensor::from_vec(vec![0i32, 1, 2, 1, 0], &[5], &device).unwrap();
        let step = |opt: &mut Adam| {
            opt.step(&loss::cross_entropy(&layer.forward(&x).unwrap(), &y, 0.0).unwrap())
                .unwrap()
        };
        step(&mut opt);
        step(&mut opt);
        let before = stats();
        step(&mut opt);
        let per_step = stats().kernels - before.kernels;
        assert_eq!(per_step, 8 + 2, "kernels per step on {device}");
    }
}

common::on_every_device! {
    fn an_lstm_step_runs_two_kernels_per_timestep_and_a_constant(device) {
        let _counting = COUNTING.lock().unwrap_or_else(|e| e.into_inner());
        // One LSTM layer (batch 3, 5 inputs, 7 units) with a linear head on the last output,
        // cross-entropy and Adam, over T timesteps. Each timestep is one kernel forward and
        // one backward (the recurrent product and every gate together), plus one for the
        // initial state's gradient. The bound is 3·T + a constant.
        let kernels = |steps: usize| {
            let config = RecurrentConfig::new(5, 7);
            let lstm = Recurrent::new(CellKind::Lstm, config, 1, DType::F32, &device).unwrap();
            let head = Linear::new(7, 4, true, 2, DType::F32, &device).unwrap();
            let mut parameters = lstm.parameters();
            parameters.extend(head.parameters());
            let mut opt = Adam::new(parameters, 1e-2);
            let x = Tensor::rand_normal(&[steps, 3, 5], 0.0, 1.0, 3, DType::F32, &device).unwrap();
            let y = Tensor::from_vec(vec![0i32, 3, 1], &[3], &device).unwrap();
            let mut step = || {
                let out = lstm.forward(&x).unwrap();
                let last = out.slice(0, -1, steps as isize, 1).unwrap().squeeze(0).unwrap();
                let logits = head.forward(&last).unwrap();
                opt.step(&loss::cross_entropy(&logits, &y, 0.0).unwrap()).unwrap();
            };
            step();
            let before = stats();
            step();
            stats().kernels - before.kernels
        };
        // The rest is 39 kernels at T = 8 on the software Vulkan device, 41 at T = 24 (the
        // bias gradient's column sum over T·batch rows folds in more passes as T grows).
        for steps in [8, 24] {
            let k = kernels(steps);
            assert!(k <= 2 * steps as u64 + 1 + 45, "{k} kernels for T = {steps} on {device}");
        }
    }
}

/// Kernels run to realize `tensors`.
fn kernels(tensors: &[&Tensor]) -> u64 {
    let before = stats().kernels;
    lepton::realize(tensors).unwrap();
    stats().kernels - before
}

common::on_every_device! {
    fn attention_is_one_kernel_forward_and_two_backward(device) {
        let _counting = COUNTING.lock().unwrap_or_else(|e| e.into_inner());
        let qkv: Vec<Tensor> = (0..3)
            .map(|i| {
                let x = Tensor::rand_normal(&[2, 2, 9, 4], 0.0, 1.0, i, DType::F32, &device).unwrap();
                lepton::realize(&[&x]).unwrap();
                x.set_requires_grad(true);
                x
            })
            .collect();
        let leaves: Vec<&Tensor> = qkv.iter().collect();
        let out = fused_attention(&qkv[0], &qkv[1], &qkv[2], None, true).unwrap();
        let grads = lepton::grad(&out.sum(&[], false).unwrap(), &leaves).unwrap();
        assert_eq!(kernels(&[&out]), 1, "forward on {device}");
        // Backward from the realized output: the loss's gradient, placed beside the output's
        // log Σ exp column, δ = Σ dO·O (a product and a row sum, fused on the CPU path), and
        // the two passes; dk and dv are views of one output.
        let backward = kernels(&grads.iter().collect::<Vec<_>>());
        assert!(backward <= 6, "backward: {backward} kernels on {device}");
        let composed = composed_attention(&qkv[0], &qkv[1], &qkv[2], None, true).unwrap();
        let composed_grads = lepton::grad(&composed.sum(&[], false).unwrap(), &leaves).unwrap();
        let mut everything = vec![&composed];
        everything.extend(&composed_grads);
        let reference = kernels(&everything);
        eprintln!("attention: fused 1 + {backward} kernels, composed {reference} on {device}");
        assert!(1 + backward < reference, "composed {reference} on {device}");
    }
}

common::on_every_device! {
    fn attention_is_fused_on_a_gpu_from_128_keys(device) {
        let _counting = COUNTING.lock().unwrap_or_else(|e| e.into_inner());
        for keys in [64, 128] {
            let qkv: Vec<Tensor> = (0..3)
                .map(|i| Tensor::rand_normal(&[2, keys, 8], 0.0, 1.0, i, DType::F32, &device).unwrap())
                .collect();
            lepton::realize(&qkv.iter().collect::<Vec<_>>()).unwrap();
            let out = scaled_dot_product_attention(&qkv[0], &qkv[1], &qkv[2], None, true).unwrap();
            let fused = kernels(&[&out]) == 1;
            assert_eq!(fused, device.is_gpu() && keys >= 128, "{keys} keys on {device}");
        }
    }
}
