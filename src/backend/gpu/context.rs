//! One GPU device: its wgpu handles, limits, buffer pool and caches (pipelines, bind
//! groups, compiled plans).

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, LazyLock, Mutex, Weak};

use crate::backend::gpu::adapters;
use crate::backend::gpu::buffer_pool::{GpuBuffer, Pool};
use crate::backend::gpu::program::{Executed, Program};
use crate::backend::gpu::tune::Tuning;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::lru::Lru;
use crate::ops::dispatch::ShaderVariant;
use crate::plan::{Plan, Split};

/// Features Lepton's kernels use when the adapter has them.
const WANTED: wgpu::Features = wgpu::Features::SHADER_F16
    .union(wgpu::Features::SHADER_INT64)
    .union(wgpu::Features::SUBGROUP)
    .union(wgpu::Features::TIMESTAMP_QUERY)
    .union(wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES);

/// The subgroup size row kernels can combine lanes in: the device has subgroup operations
/// and one fixed size (not a range), a power of two that divides their 64-invocation
/// workgroups.
pub(crate) fn row_subgroup_size(features: wgpu::Features, info: &wgpu::AdapterInfo) -> Option<u32> {
    let size = info.subgroup_min_size;
    let usable = features.contains(wgpu::Features::SUBGROUP)
        && info.subgroup_max_size == size
        && size.is_power_of_two()
        && (2..=crate::ops::row_tasks::WORKGROUP as u32).contains(&size);
    usable.then_some(size)
}

/// Compiled plans kept per device, and the device memory their intermediates may hold; past
/// either the least recently used go (their buffers return to the pool for reuse).
const MAX_PROGRAMS: usize = 256;
const MAX_PROGRAM_BYTES: u64 = 1 << 30;
/// Bind groups kept per device; past this many the least recently used go.
const MAX_BIND_GROUPS: usize = 8192;

pub(crate) type BindKey = (u64, Vec<(u32, u64, u64)>);
/// A plan's id and the kernels pinned when it was compiled.
type ProgramKey = (u64, crate::autotune::Pins);

pub struct GpuContext {
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    info: Option<wgpu::AdapterInfo>,
    pub(crate) pool: Pool,
    pub(super) pipelines: Mutex<HashMap<ShaderVariant, (u64, Arc<wgpu::ComputePipeline>)>>,
    bind_groups: Mutex<Lru<BindKey, wgpu::BindGroup>>,
    /// Compiled plans by plan and pinned kernel (a pin changes what a plan compiles to).
    programs: Mutex<Lru<ProgramKey, Arc<Program>>>,
    /// Plans with steps on the host, split, by plan id.
    splits: Mutex<Lru<u64, Arc<Split>>>,
    constants: Mutex<HashMap<(DType, u64), Arc<GpuBuffer>>>,
    /// Kernel choices by problem class, and the classes being timed.
    pub(super) tuning: Tuning,
    /// This context, for the autotuner's thread.
    pub(super) me: Weak<GpuContext>,
    lost: Arc<Mutex<Option<String>>>,
    /// The first error no scope caught since the last call reported one.
    uncaptured: Arc<Mutex<Option<String>>>,
    /// See `subgroup_size`.
    row_subgroup: Option<u32>,
}

/// Whether `backend` runs all work through one context (GL): see `GpuContext::one_context`.
pub(crate) fn one_context(backend: wgpu::Backend) -> bool {
    backend == wgpu::Backend::Gl
}

static CONTEXTS: LazyLock<Mutex<HashMap<usize, Arc<GpuContext>>>> = LazyLock::new(Default::default);

/// The context of adapter `index`, created on first use (a wgpu adapter opens one device).
pub(crate) fn for_adapter(index: usize) -> Result<Arc<GpuContext>> {
    let mut contexts = CONTEXTS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(ctx) = contexts.get(&index) {
        return Ok(ctx.clone());
    }
    let adapters = adapters::list();
    let adapter = adapters.get(index).ok_or_else(|| Error::NoAdapter {
        detail: format!(" with index {index} ({} adapters present)", adapters.len()),
    })?;
    let descriptor = wgpu::DeviceDescriptor {
        label: Some("lepton"),
        required_features: adapter.features() & WANTED,
        required_limits: adapter.limits(),
        ..Default::default()
    };
    let (device, queue) =
        pollster::block_on(adapter.request_device(&descriptor)).map_err(|e| Error::Gpu {
            context: format!("opening {}", adapter.get_info().name),
            message: e.to_string(),
        })?;
    let ctx = GpuContext::from_wgpu(device, queue, Some(adapter.get_info()));
    contexts.insert(index, ctx.clone());
    Ok(ctx)
}

impl GpuContext {
    pub(crate) fn from_wgpu(
        device: wgpu::Device,
        queue: wgpu::Queue,
        info: Option<wgpu::AdapterInfo>,
    ) -> Arc<GpuContext> {
        let lost: Arc<Mutex<Option<String>>> = Default::default();
        let flag = lost.clone();
        device.set_device_lost_callback(move |reason, message| {
            *flag.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(format!("{reason:?}: {message}"));
        });
        // wgpu's default for an error no scope catches is to panic: keep it for the next
        // call to report instead.
        let uncaptured: Arc<Mutex<Option<String>>> = Default::default();
        let slot = uncaptured.clone();
        device.on_uncaptured_error(Arc::new(move |e| {
            slot.lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_or_insert(e.to_string());
        }));
        let gl = info
            .as_ref()
            .is_some_and(|i| i.backend == wgpu::Backend::Gl);
        let pool = Pool::new(device.clone(), queue.clone(), gl);
        Arc::new_cyclic(|me| {
            let mut ctx = GpuContext {
                device,
                queue,
                info,
                pool,
                pipelines: Default::default(),
                bind_groups: Mutex::new(Lru::new(MAX_BIND_GROUPS)),
                programs: Mutex::new(Lru::new(MAX_PROGRAMS)),
                splits: Mutex::new(Lru::new(MAX_PROGRAMS)),
                constants: Default::default(),
                tuning: Default::default(),
                me: me.clone(),
                lost,
                uncaptured,
                row_subgroup: None,
            };
            let reported = ctx
                .info
                .as_ref()
                .and_then(|info| row_subgroup_size(ctx.features(), info));
            ctx.row_subgroup =
                reported.filter(|&size| super::subgroups::full_subgroups(&ctx, size));
            ctx
        })
    }

    pub fn name(&self) -> String {
        match &self.info {
            Some(info) => format!("{} on {:?}", info.name, info.backend),
            None => "an embedding program's device".to_string(),
        }
    }

    pub fn adapter_info(&self) -> Option<&wgpu::AdapterInfo> {
        self.info.as_ref()
    }

    /// Whether every call runs on one shared context: wgpu's GL backend, where work from
    /// several threads only queues behind one lock, and a thread that waits for it over 6 s
    /// panics inside wgpu (its deadlock check), as a background timing run compiling
    /// shaders in its submission did to the foreground on llvmpipe.
    pub(crate) fn one_context(&self) -> bool {
        self.info.as_ref().is_some_and(|i| one_context(i.backend))
    }

    pub fn features(&self) -> wgpu::Features {
        self.device.features()
    }

    pub fn limits(&self) -> wgpu::Limits {
        self.device.limits()
    }

    /// The subgroup size whose subgroups row kernels combine lanes in: see
    /// [`row_subgroup_size`], and checked on the device when it opened.
    pub fn subgroup_size(&self) -> Option<u32> {
        self.row_subgroup
    }

    pub(crate) fn check_alive(&self) -> Result<()> {
        match &*self.lost.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(reason) => Err(Error::DeviceLost {
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Run `work` inside validation, internal and out-of-memory error scopes, turning what
    /// they catch into errors (wgpu would otherwise panic on them). A device that is no longer
    /// valid (destroyed, or lost to its driver) fails what it is asked with errors before its
    /// loss is announced, at the next poll: so an error polls once, and is `DeviceLost` if
    /// that is what the poll tells.
    pub(crate) fn scoped<T>(&self, context: &str, work: impl FnOnce() -> Result<T>) -> Result<T> {
        self.check_alive()?;
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let internal = self.device.push_error_scope(wgpu::ErrorFilter::Internal);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let result = work();
        let validation = pollster::block_on(validation.pop());
        let internal = pollster::block_on(internal.pop());
        let oom = pollster::block_on(oom.pop());
        let uncaptured = self
            .uncaptured
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if oom.is_some() || internal.is_some() || validation.is_some() || uncaptured.is_some() {
            let _ = self.device.poll(wgpu::PollType::Poll);
        }
        self.check_alive()?;
        if let Some(e) = oom {
            return Err(Error::OutOfMemory {
                bytes: 0,
                context: format!("GPU, {context}: {e}"),
            });
        }
        let message = validation
            .or(internal)
            .map(|e| e.to_string())
            .or(uncaptured.map(|e| format!("(from an earlier call) {e}")));
        if let Some(message) = message {
            return Err(Error::Gpu {
                context: context.to_string(),
                message,
            });
        }
        result
    }

    pub(crate) fn synchronize(&self) -> Result<()> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Gpu {
                context: "waiting for the device".into(),
                message: e.to_string(),
            })?;
        self.check_alive()
    }

    /// The shared buffer of a constant, uploaded from `bytes()` on first use.
    pub(crate) fn constant(
        &self,
        dtype: DType,
        value: f64,
        bytes: impl FnOnce() -> Vec<u8>,
    ) -> Result<Arc<GpuBuffer>> {
        let key = (dtype, value.to_bits());
        if let Some(b) = self
            .constants
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(b.clone());
        }
        let buffer = self.upload(&bytes())?;
        self.constants
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, buffer.clone());
        Ok(buffer)
    }

    /// A buffer holding `bytes`.
    pub(crate) fn upload(&self, bytes: &[u8]) -> Result<Arc<GpuBuffer>> {
        self.scoped("upload", || {
            let buffer = self.pool.storage("upload", bytes.len() as u64)?;
            crate::stats::uploaded(bytes.len());
            // Queue writes must cover whole 4-byte words.
            let padded = bytes.len().div_ceil(4) * 4;
            if padded == bytes.len() {
                self.queue.write_buffer(buffer.raw(), 0, bytes);
            } else {
                let mut words = bytes.to_vec();
                words.resize(padded, 0);
                self.queue.write_buffer(buffer.raw(), 0, &words);
            }
            Ok(buffer)
        })
    }

    /// The bind group for `key`, created with `make` on a miss.
    pub(crate) fn bind_group(
        &self,
        key: BindKey,
        make: impl FnOnce() -> wgpu::BindGroup,
    ) -> wgpu::BindGroup {
        let mut groups = self.bind_groups.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(g) = groups.get(&key) {
            return g.clone();
        }
        let group = make();
        crate::stats::bind_group_created();
        groups.insert(key, group.clone());
        group
    }

    fn program(&self, plan: &Plan) -> Result<Arc<Program>> {
        let key = (plan.id, crate::autotune::pinned());
        let generation = self.tuning.generation();
        if let Some(p) = self
            .programs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .filter(|p| p.current(generation))
        {
            return Ok(p.clone());
        }
        let program = Arc::new(Program::compile(self, plan, generation)?);
        let mut programs = self.programs.lock().unwrap_or_else(|e| e.into_inner());
        programs.insert_evicting(key, program.clone(), |held, new| {
            held.map(|p| p.held_bytes()).sum::<u64>() + new.held_bytes() > MAX_PROGRAM_BYTES
        });
        Ok(program)
    }

    /// `plan` split between this device and the host, if some step's dtype is one the
    /// device's shaders cannot run.
    fn split(&self, plan: &Plan) -> Option<Arc<Split>> {
        let features = self.features();
        if !plan
            .dtypes
            .iter()
            .any(|&d| super::fallback::host_reason(features, d).is_some())
        {
            return None;
        }
        let mut splits = self.splits.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(split) = splits.get(&plan.id) {
            return Some(split.clone());
        }
        let split = Arc::new(plan.split(|step| super::fallback::place(features, step))?);
        splits.insert(plan.id, split.clone());
        Some(split)
    }

    /// Run `plan` over `leaves`, in one submission unless some of its steps fall back to the
    /// host; optionally read bytes of one output back.
    pub(crate) fn execute(
        &self,
        plan: &Plan,
        leaves: &[Arc<GpuBuffer>],
        read: Option<(usize, Range<u64>)>,
    ) -> Result<Executed> {
        match self.split(plan) {
            Some(split) => super::fallback::execute(self, &split, leaves, read),
            None => self.execute_on_device(plan, leaves, read),
        }
    }

    /// Run `plan`, every step of which the device's shaders run, in one submission.
    pub(crate) fn execute_on_device(
        &self,
        plan: &Plan,
        leaves: &[Arc<GpuBuffer>],
        read: Option<(usize, Range<u64>)>,
    ) -> Result<Executed> {
        let program = self.program(plan)?;
        self.scoped("execute", || program.run(self, leaves, read))
    }
}
