//! The GPU executor over wgpu: adapters, one context per device, a buffer pool, a pipeline
//! cache, and compiled plans replayed with one submission each.

pub mod adapters;
mod buffer_pool;
pub mod context;
mod dispatch_timer;
pub(crate) mod fallback;
pub(crate) mod peaks;
mod pipelines;
mod program;
mod readback;
pub(crate) mod subgroups;
mod tune;
mod tune_timing;

pub(crate) use buffer_pool::GpuBuffer;
pub use context::GpuContext;
