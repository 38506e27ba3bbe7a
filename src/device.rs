//! Devices: the CPU path, or a GPU adapter through wgpu; and how one is chosen.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use crate::backend::gpu;
use crate::backend::gpu::GpuContext;
use crate::backend::Buffer;
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::storage::{with_dtype, CpuData};

/// Shared constant buffers of the CPU path, by dtype and value bits.
type ConstantCache = HashMap<(DType, u64), Arc<CpuData>>;

/// Where tensors live and ops run. Cloning is cheap; two clones of one GPU device compare equal.
#[derive(Clone)]
pub enum Device {
    Cpu,
    Gpu(Arc<GpuContext>),
}

impl Device {
    pub fn cpu() -> Device {
        Device::Cpu
    }

    /// The best GPU adapter: a hardware one if present, else a software one (lavapipe).
    pub fn gpu() -> Result<Device> {
        let index = gpu::adapters::preferred(false).ok_or_else(|| Error::NoAdapter {
            detail: String::new(),
        })?;
        Device::gpu_index(index)
    }

    /// The adapter with this index in `lepton info`'s list.
    pub fn gpu_index(index: usize) -> Result<Device> {
        Ok(Device::Gpu(gpu::context::for_adapter(index)?))
    }

    /// A hardware GPU adapter if there is one, else the CPU path. A software adapter is never
    /// picked here: on the CPU it is slower than the CPU path.
    pub fn auto() -> Device {
        gpu::adapters::preferred(true)
            .and_then(|i| Device::gpu_index(i).ok())
            .unwrap_or(Device::Cpu)
    }

    /// `cpu`, `gpu`, `gpu:N` or `auto`.
    pub fn parse(name: &str) -> Result<Device> {
        match name.trim() {
            "cpu" => Ok(Device::Cpu),
            "gpu" => Device::gpu(),
            "auto" | "" => Ok(Device::auto()),
            other => match other.strip_prefix("gpu:").map(str::parse::<usize>) {
                Some(Ok(index)) => Device::gpu_index(index),
                _ => Err(Error::UnknownDevice {
                    name: other.to_string(),
                }),
            },
        }
    }

    /// The device `LEPTON_DEVICE` names (`cpu`, `gpu`, `gpu:N`, `auto`); `auto` when unset.
    pub fn from_env() -> Result<Device> {
        Device::parse(&std::env::var("LEPTON_DEVICE").unwrap_or_default())
    }

    /// Run on a device and queue that the embedding program already owns. The engine sets
    /// the device's lost callback and its handler of uncaptured errors (wgpu holds one of
    /// each), so that a lost device and an error outside the engine's error scopes become
    /// `Error`s of its next call rather than a panic.
    pub fn from_wgpu(device: wgpu::Device, queue: wgpu::Queue) -> Device {
        Device::Gpu(GpuContext::from_wgpu(device, queue, None))
    }

    /// Wait until all work submitted to this device has finished (a no-op on the CPU path,
    /// which runs synchronously). Benchmarks call it before stopping the clock.
    pub fn synchronize(&self) -> Result<()> {
        match self {
            Device::Cpu => Ok(()),
            Device::Gpu(ctx) => ctx.synchronize(),
        }
    }

    pub fn is_gpu(&self) -> bool {
        matches!(self, Device::Gpu(_))
    }

    /// Why this device runs steps on `dtype` on the CPU, inside the same plan and with
    /// the copies counted in [`crate::stats()`], or `None` where its own kernels run them.
    /// Every device holds every dtype.
    pub fn falls_back(&self, dtype: DType) -> Option<&'static str> {
        match self {
            Device::Cpu => None,
            Device::Gpu(ctx) => crate::backend::gpu::fallback::host_reason(ctx.features(), dtype),
        }
    }

    /// This device's measured peaks: streaming copy bandwidth, FMA throughput and the cost
    /// of an empty dispatch (a GPU) or parallel loop (the CPU path), for rooflines. Takes
    /// about a second.
    pub fn peaks(&self) -> Result<crate::profile::Peaks> {
        match self {
            Device::Cpu => Ok(crate::backend::cpu::peaks::measure()),
            Device::Gpu(ctx) => crate::backend::gpu::peaks::measure(ctx),
        }
    }

    /// A one-element buffer holding `value`, created once per (dtype, value) and shared:
    /// constants in expressions then cost no kernel launch.
    pub(crate) fn constant(&self, dtype: DType, value: f64) -> Result<Buffer> {
        static CPU: LazyLock<Mutex<ConstantCache>> = LazyLock::new(Default::default);
        let data = || with_dtype!(dtype, T => CpuData::from_vec(vec![T::from_f64(value)]));
        match self {
            Device::Cpu => {
                let mut cache = CPU.lock().unwrap_or_else(|e| e.into_inner());
                Ok(Buffer::Cpu(
                    cache
                        .entry((dtype, value.to_bits()))
                        .or_insert_with(|| Arc::new(data()))
                        .clone(),
                ))
            }
            Device::Gpu(ctx) => Ok(Buffer::Gpu(
                ctx.constant(dtype, value, || data().as_bytes().to_vec())?,
            )),
        }
    }

    /// The most buffers one fused kernel binds here: what the shaders provide, or fewer
    /// where the device allows fewer storage buffers per shader stage.
    pub(crate) fn fused_bindings(&self) -> usize {
        let shaders = crate::ops::elementwise::fused::MAX_INPUTS
            + crate::ops::elementwise::fused::MAX_OUTPUTS;
        match self {
            Device::Cpu => shaders,
            Device::Gpu(ctx) => {
                shaders.min(ctx.limits().max_storage_buffers_per_shader_stage as usize)
            }
        }
    }

    pub(crate) fn upload(&self, data: CpuData) -> Result<Buffer> {
        match self {
            Device::Cpu => Ok(Buffer::Cpu(Arc::new(data))),
            Device::Gpu(ctx) => Ok(Buffer::Gpu(ctx.upload(data.as_bytes())?)),
        }
    }
}

impl PartialEq for Device {
    fn eq(&self, other: &Device) -> bool {
        match (self, other) {
            (Device::Cpu, Device::Cpu) => true,
            (Device::Gpu(a), Device::Gpu(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            Device::Gpu(ctx) => write!(f, "gpu ({})", ctx.name()),
        }
    }
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}
