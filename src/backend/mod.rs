//! The executors of plans: `cpu` (Rust loops and gemm) and `gpu` (wgpu).

pub mod cpu;
pub mod gpu;

use std::sync::Arc;

use crate::storage::CpuData;

/// A node's dense storage on its device.
#[derive(Clone)]
pub(crate) enum Buffer {
    Cpu(Arc<CpuData>),
    Gpu(Arc<gpu::GpuBuffer>),
}

impl Buffer {
    pub fn expect_cpu(&self) -> Arc<CpuData> {
        match self {
            Buffer::Cpu(d) => d.clone(),
            Buffer::Gpu(_) => unreachable!("ops check that all inputs share one device"),
        }
    }

    pub fn expect_gpu(&self) -> Arc<gpu::GpuBuffer> {
        match self {
            Buffer::Gpu(b) => b.clone(),
            Buffer::Cpu(_) => unreachable!("ops check that all inputs share one device"),
        }
    }
}
