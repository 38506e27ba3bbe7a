//! Generating with a KV cache replays one plan per step: after the first steps, no new
//! plan, pipeline or buffer. Own process, one test: the counters are global.

mod common;

use lepton::models::charlm::{CharLm, CharLmConfig};
use lepton::{stats, Tensor};

#[test]
fn cached_steps_build_nothing_new() {
    for device in common::devices() {
        let config = CharLmConfig {
            layers: 2,
            heads: 2,
            embed: 16,
            ..CharLmConfig::baby_gpt(11)
        };
        let model = CharLm::new(config, 1, &device).unwrap();
        let mut caches = model.kv_caches();
        let mut step = |id: i32| {
            let ids = Tensor::from_vec(vec![id], &[1, 1], &device).unwrap();
            model.forward_cached(&ids, &mut caches).unwrap()
        };
        for id in 0..3 {
            step(id);
        }
        let before = stats();
        for id in 3..10 {
            step(id);
        }
        let after = stats();
        common::assert_built_nothing(&before, &after, &format!("on {device}"));
    }
}
