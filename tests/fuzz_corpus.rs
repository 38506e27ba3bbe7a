//! The fuzzers' corpus replayed on the stable toolchain (#18): every input that
//! `cargo +nightly fuzz run <target>` kept in fuzz/corpus/<target>/ (the checkpoint loader,
//! the IDX reader, graphs built from bytes; fuzz/README.md says how they ran) goes through
//! the same target body under `catch_unwind`, and none may panic. Inputs that once crashed
//! a target stay in the corpus after their fix.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

#[path = "common/fuzz_targets.rs"]
mod fuzz_targets;

/// A fuzz target's body.
type Target = fn(&[u8]);

#[test]
fn the_fuzz_corpus_runs_without_a_panic() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let targets: [(&str, Target); 3] = [
        ("checkpoint", fuzz_targets::checkpoint),
        ("idx", fuzz_targets::idx),
        ("graph", fuzz_targets::graph),
    ];
    let mut panics = Vec::new();
    for (name, target) in targets {
        let dir = corpus.join(name);
        let mut inputs: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("a corpus entry").path())
            .collect();
        inputs.sort();
        assert!(!inputs.is_empty(), "{}: no corpus", dir.display());
        for input in &inputs {
            let bytes = std::fs::read(input).expect("a corpus file");
            if catch_unwind(AssertUnwindSafe(|| target(&bytes))).is_err() {
                panics.push(input.display().to_string());
            }
        }
        println!("{name}: {} inputs", inputs.len());
    }
    assert!(panics.is_empty(), "panicked on: {panics:?}");
}
