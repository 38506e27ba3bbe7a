//! Kept elementwise results of one shape run as one kernel on every device, and an Adam
//! step updates each parameter and its two moments in one kernel. Own process: the
//! counters are global.

mod common;

use lepton::nn::{loss, Linear, Module};
use lepton::optim::{Adam, Optimizer};
use lepton::{stats, DType, Tensor};

common::on_every_device! {
    fn fused_results_and_adam_updates_take_one_kernel_each(device) {
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
        let y = Tensor::from_vec(vec![0.0f32, 1.0, 2.0, 1.0, 0.0], &[5], &device).unwrap();
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
