//! The plan cache keeps what a program replays: after more distinct computations than it
//! holds (1,024) have passed through it, a computation run between each of them is still
//! cached, so only the new ones build plans (emptying the full cache would rebuild it).
//! Own process: the counters are global.

use lepton::{stats, DType, Device, Tensor};

#[test]
fn a_replayed_plan_outlives_more_others_than_the_cache_holds() {
    let cpu = Device::cpu();
    let x = Tensor::rand_uniform(&[4, 3], -1.0, 1.0, 1, DType::F32, &cpu).unwrap();
    let hot = || x.exp().sum(&[1], false).unwrap().to_vec::<f32>().unwrap();
    let expected = hot();
    let before = stats();
    let others = 1100;
    for n in 1..=others {
        // Each length is a computation of its own.
        let once = Tensor::zeros(&[n], DType::F32, &cpu).unwrap();
        let sum: f32 = once
            .add_scalar(1.0)
            .unwrap()
            .sum(&[], false)
            .unwrap()
            .item()
            .unwrap();
        assert_eq!(sum, n as f32);
        assert_eq!(hot(), expected);
    }
    assert_eq!(stats().plans_built - before.plans_built, others as u64);
}
