//! The GPU executor over wgpu: adapters, one context per device, a buffer pool, a pipeline
//! cache, and compiled plans replayed with one submission each.

pub mod adapters;
pub mod context;
mod pool;
mod program;
pub(crate) mod subgroups;
mod tune;

pub use context::GpuContext;
pub(crate) use pool::GpuBuffer;
