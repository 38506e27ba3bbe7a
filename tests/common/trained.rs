//! The models PyTorch trained for the interop tests (tests/fixtures/
//! make_trained_fixtures.py): their files, and PyTorch's inputs and outputs by name.

use std::collections::HashMap;
use std::path::PathBuf;

use lepton::{Device, Tensor};

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// PyTorch's inputs and outputs (trained_outputs.npz), by name.
pub fn outputs(device: &Device) -> HashMap<String, Tensor> {
    lepton::npz::read(&fixture("trained_outputs.npz"), device)
        .unwrap()
        .into_iter()
        .collect()
}
