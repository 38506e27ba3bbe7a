//! Replaying a computation reuses its plan: no new plan, pipeline, buffer or bind group,
//! exactly one submission, and no transfer but the result's read-back. One test in its own
//! process, since the counters are global.

mod common;

use lepton::{stats, DType, Device, Tensor};

fn step(x: &Tensor, y: &Tensor) -> Tensor {
    // Elementwise, broadcast, reduction, matmul and a view: every kind of kernel.
    let h = x.exp().add(y).unwrap().relu();
    let m = h.matmul(&h.t().unwrap()).unwrap();
    m.sum(&[1], false).unwrap().sqrt()
}

fn run(device: &Device) {
    let x = Tensor::rand_uniform(&[33, 17], -1.0, 1.0, 1, DType::F32, device).unwrap();
    let y = Tensor::rand_uniform(&[17], -1.0, 1.0, 2, DType::F32, device).unwrap();
    let first = step(&x, &y).to_vec::<f32>().unwrap();

    let before = stats();
    let second = step(&x, &y).to_vec::<f32>().unwrap();
    let after = stats();
    assert_eq!(first, second, "same inputs, same result on {device}");
    // The inputs stay on the device; only the 33 results come back.
    let expected = if device.is_gpu() {
        (0, 0, 1, 33 * 4)
    } else {
        (0, 0, 0, 0)
    };
    assert_eq!(
        common::transfers(&before, &after),
        expected,
        "transfers on replay ({device})"
    );
    assert_eq!(
        after.plans_built - before.plans_built,
        0,
        "plans built on replay ({device})"
    );
    assert_eq!(
        after.pipelines_created - before.pipelines_created,
        0,
        "pipelines created on replay ({device})"
    );
    assert_eq!(
        after.buffers_allocated - before.buffers_allocated,
        0,
        "buffers allocated on replay ({device})"
    );
    assert_eq!(
        after.bind_groups_created - before.bind_groups_created,
        0,
        "bind groups created on replay ({device})"
    );
    let submissions = after.submissions - before.submissions;
    assert_eq!(
        submissions,
        if device.is_gpu() { 1 } else { 0 },
        "submissions on replay ({device})"
    );

    // Many replays hold memory steady: intermediates and results come back to the pool.
    let live = stats().bytes_live;
    for _ in 0..20 {
        step(&x, &y).to_vec::<f32>().unwrap();
    }
    assert_eq!(
        stats().bytes_live,
        live,
        "device bytes after 20 replays ({device})"
    );
}

common::on_every_device! {
    fn replays_reuse_everything(device) {
        run(&device);
    }
}
