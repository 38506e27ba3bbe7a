//! Fuzz target: the body in tests/common/fuzz_targets.rs, which tests/fuzz_corpus.rs replays.
#![no_main]

#[path = "../../tests/common/fuzz_targets.rs"]
#[allow(dead_code)]
mod fuzz_targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::checkpoint(data));
