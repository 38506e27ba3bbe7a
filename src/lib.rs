//! Lepton: a GPU compute engine for machine learning.
//!
//! Tensors record a graph lazily; reading a result (`to_vec`, `item`) or calling
//! [`realize`] turns the pending graph into a plan of kernels over reused buffers and runs
//! it on the tensors' [`Device`]: a GPU through wgpu (WGSL kernels, one queue submission per
//! plan), or the CPU path, which executes the same plan with Rust kernels.
//!
//! ```
//! use lepton::{DType, Device, Tensor};
//! # fn main() -> lepton::Result<()> {
//! let device = Device::cpu();
//! let a = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2], &device)?;
//! let b = a.matmul(&a.t()?)?.sum(&[1], false)?;
//! assert_eq!(b.to_vec::<f32>()?, vec![16.0, 36.0]);
//! # Ok(())
//! # }
//! ```

mod autodiff;
pub mod autotune;
mod backend;
pub mod checkpoint;
pub mod data;
mod device;
mod dtype;
mod error;
mod graph;
pub mod info;
pub mod models;
pub mod nn;
mod ops;
pub mod optim;
mod plan;
mod random;
pub mod shaders;
mod shape;
mod stats;
mod tensor;

pub use autodiff::{grad, no_grad};
pub use backend::gpu::GpuContext;
pub use device::Device;
pub use dtype::{DType, Element};
pub use error::{Error, Result};
pub use ops::{BinaryOp, ReduceOp, UnaryOp};
pub use stats::{stats, Stats};
pub use tensor::Tensor;

/// Realize several tensors together: shared work runs once, and each device's part runs as
/// one plan with one submission.
pub fn realize(tensors: &[&Tensor]) -> Result<()> {
    let mut groups: Vec<(Device, Vec<std::sync::Arc<graph::Node>>)> = Vec::new();
    for t in tensors {
        match groups.iter_mut().find(|(d, _)| d == t.device()) {
            Some((_, nodes)) => nodes.push(t.node.clone()),
            None => groups.push((t.device().clone(), vec![t.node.clone()])),
        }
    }
    for (device, nodes) in groups {
        plan::realize::realize_all(&device, &nodes)?;
    }
    Ok(())
}
