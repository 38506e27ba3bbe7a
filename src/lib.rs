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
//!
//! # Architecture
//!
//! The crate is built in layers, listed here bottom first, in the order a reader learns the
//! engine in. A file imports only from its own layer and the layers above it in this list;
//! `tests/layers.rs` reads the list and holds every file under `src/` to it. A path ending
//! in `/` is a folder. Each op family is a folder under `ops/` whose `mod.rs` is the
//! family's tensor API and whose other files are its kernels, so `ops/*/mod.rs` stands
//! higher than the rest of `ops/`.
//!
//! 1. leaf types: `dtype.rs` `shape.rs` `error.rs` `stats.rs` `counter_rng.rs` `autotune.rs`
//!    `sum_bounds.rs` `lru.rs` `zip_archive.rs` `profile/` (element types, layouts, errors,
//!    counters, seeded random streams, tuning choices, the unit tests' rounding bounds, the
//!    caches' eviction, zip containers, the profiler's recorder and reports)
//! 2. storage: `storage/` (CPU buffers and their recycling, the kernels' arithmetic,
//!    strided loops)
//! 3. op kernels: `ops/` (the primitives, each family's CPU kernel and GPU dispatch
//!    description, and the routing of a step to them)
//! 4. plan: `plan/` (topological order, fusion, buffer slots, the plan cache's key)
//! 5. backends: `backend/` (the CPU and wgpu executors of plans)
//! 6. device: `device.rs` `info.rs` `shaders.rs` (choosing and describing devices, the
//!    rendered shaders)
//! 7. graph: `graph/` (nodes, the Tensor handle that is the graph's edge, the no-grad flag)
//! 8. realize: `realize.rs` (the driver: a pending graph to a plan, run on its device)
//! 9. tensor API and gradient rules: `tensor_data.rs` `shared_buffer.rs` `realize_async.rs`
//!    `operators.rs` `ops/*/mod.rs` (creating and reading tensors, buffers shared with a wgpu
//!    program, futures of results, arithmetic operators, every op's method, shape rule and
//!    gradient)
//! 10. autodiff: `autodiff/` (reverse mode over the lazy graph)
//! 11. nn: `nn/` (modules, layers, losses, initialization)
//! 12. optim: `optim/` (optimizers and schedules)
//! 13. data: `data/` `rl/` (data sets and batches; reinforcement-learning environments)
//! 14. files: `checkpoint.rs` `state_dict.rs` `npy.rs` `npz.rs` `onnx/` (safetensors files of
//!     modules and optimizers, PyTorch's state dicts, NumPy arrays and archives of them,
//!     ONNX models)
//! 15. models: `models/` (one file per model family)
//! 16. cli: `cli/` `main.rs` (the lepton binary and its commands)

mod autodiff;
pub mod autotune;
mod backend;
pub mod checkpoint;
mod counter_rng;
pub mod data;
mod device;
mod dtype;
mod error;
mod graph;
pub mod info;
mod lru;
pub mod models;
pub mod nn;
pub mod npy;
pub mod npz;
pub mod onnx;
mod operators;
mod ops;
pub mod optim;
mod plan;
pub mod profile;
mod realize;
mod realize_async;
pub mod rl;
pub mod shaders;
mod shape;
mod shared_buffer;
pub mod state_dict;
mod stats;
mod storage;
#[cfg(test)]
mod sum_bounds;
mod tensor_data;
mod zip_archive;

pub use autodiff::grad;
pub use backend::gpu::GpuContext;
pub use device::Device;
pub use dtype::{DType, Element};
pub use error::{Error, Result};
pub use graph::{no_grad, Tensor};
pub use ops::{BinaryOp, ReduceOp, UnaryOp};
pub use realize::realize;
pub use realize_async::realize_async;
pub use shared_buffer::{SharedBuffer, MIN_TENSOR_BUFFER, TENSOR_USAGES};
pub use stats::{stats, Stats};
