//! What the benchmarks share: the devices they run on.

use lepton::Device;

/// The CPU path, and the GPU when an adapter exists (said aloud when it does not).
pub fn devices() -> Vec<(&'static str, Device)> {
    let mut out = vec![("cpu", Device::cpu())];
    match Device::gpu() {
        Ok(gpu) => out.push(("gpu", gpu)),
        Err(e) => eprintln!("GPU benchmarks skipped: {e}"),
    }
    out
}
