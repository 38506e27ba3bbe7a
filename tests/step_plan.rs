//! A training step is a plan, replayed: after the first steps (whose structure differs while
//! optimizer state appears), a step builds nothing and submits once, even with dropout
//! drawing a new mask and batch norm updating its running statistics each step; it reads
//! back only the loss and uploads only a few scalars. Own process: the counters are global.

mod common;

use lepton::nn::{loss, Activation, BatchNorm, Dropout, Linear, Module, Sequential};
use lepton::optim::{Adam, Optimizer};
use lepton::{stats, DType, Tensor};

common::on_every_device! {
    fn steady_state_steps_build_nothing_and_submit_once(device) {
        let model = Sequential::new()
            .push(Linear::new(20, 32, true, 1, DType::F32, &device).unwrap())
            .push(BatchNorm::new_1d(32, DType::F32, &device).unwrap())
            .push(Activation::Relu)
            .push(Dropout::new(0.1, 7).unwrap())
            .push(Linear::new(32, 5, true, 2, DType::F32, &device).unwrap());
        let mut opt = Adam::new(model.parameters(), 1e-3);
        let x = Tensor::rand_normal(&[16, 20], 0.0, 1.0, 3, DType::F32, &device).unwrap();
        let y =
            Tensor::from_vec((0..16).map(|i| i % 5).collect::<Vec<i32>>(), &[16], &device).unwrap();
        let step = |opt: &mut Adam| {
            opt.step(&loss::cross_entropy(&model.forward(&x).unwrap(), &y, 0.0).unwrap())
                .unwrap()
        };
        let first = step(&mut opt);
        step(&mut opt);
        step(&mut opt);
        let before = stats();
        let mut last = 0.0;
        for _ in 0..5 {
            last = step(&mut opt);
        }
        let after = stats();
        assert!(
            last < first,
            "training lowers the loss on {device}: {first} -> {last}"
        );
        common::assert_built_nothing(&before, &after, &format!("on {device}"));
        // Per step the loss comes back (one f32) and the optimizer's step scalars (its
        // rate and bias corrections) go up; parameters, gradients and moments stay put.
        let (uploads, uploaded, reads, read) = common::transfers(&before, &after);
        if device.is_gpu() {
            assert_eq!((reads, read), (5, 5 * 4), "read-backs on {device}");
            assert!(uploads <= 5 * 2 && uploaded <= 5 * 16, "uploads {uploads}, {uploaded} bytes on {device}");
        } else {
            assert_eq!((uploads, uploaded, reads, read), (0, 0, 0, 0), "the CPU moves nothing");
        }
        let per_step = (after.submissions - before.submissions) / 5;
        assert_eq!(
            per_step,
            if device.is_gpu() { 1 } else { 0 },
            "submissions per step on {device}"
        );
    }
}
