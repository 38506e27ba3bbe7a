//! Choosing among kernels on this device: pinned, remembered, or timed (see
//! `crate::autotune`). A class met for the first time runs its default kernel at once and
//! is queued for a thread of the device's own, which times the candidates
//! (`tune_timing.rs`) and records the fastest; plans that ran the default compile again
//! with it at their next run (`Program::current`). Timing on the caller's thread instead
//! made the first step of a training run wait for every class's candidates to compile:
//! 40 s of a small MLP's first epoch on a software Vulkan device.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Mutex};

use crate::autotune;
use crate::autotune::{DiskCache, Queued};
use crate::backend::gpu::context::GpuContext;
use crate::ops::dispatch::{Lowering, Tuner};
use crate::ops::op::StepDesc;
use crate::ops::shader_files::ShaderFile;
use crate::shape::Layout;

/// A device's kernel choices and the classes being timed.
#[derive(Default)]
pub(crate) struct Tuning {
    choices: Mutex<Choices>,
    /// To the timing thread, started with the first class it gets.
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    /// Counts the choices made: a plan compiled while a class was queued is compiled again
    /// once this has moved on.
    generation: AtomicU64,
}

#[derive(Default)]
struct Choices {
    /// By problem class, read from the disk cache on first use.
    known: Option<HashMap<String, String>>,
    /// Classes queued for timing.
    pending: HashSet<String>,
}

/// One problem class to time: its candidates' names and lowerings, and the bytes of the
/// step's inputs and output.
pub(super) struct Job {
    class: String,
    names: Vec<String>,
    pub(super) lowerings: Vec<Lowering>,
    pub(super) operands: Vec<u64>,
    _queued: Queued,
}

impl Tuning {
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Whether some class is queued and still runs its default.
    pub(crate) fn any_pending(&self) -> bool {
        !self
            .choices
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pending
            .is_empty()
    }
}

impl Tuner for GpuContext {
    fn choose(
        &self,
        step: &StepDesc,
        class: &str,
        names: &[String],
        pinned: Option<usize>,
        lower: &dyn Fn(usize) -> Lowering,
    ) -> usize {
        if let Some(i) = pinned {
            return i;
        }
        // One context has no room for a timing thread beside the work (see `one_context`).
        if !autotune::enabled() || names.len() == 1 || self.one_context() {
            return 0;
        }
        let mut choices = self
            .tuning
            .choices
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let known = choices
            .known
            .get_or_insert_with(|| match self.tuning_key() {
                Some(key) => DiskCache::load(&key),
                None => HashMap::new(),
            });
        if let Some(i) = known
            .get(class)
            .and_then(|name| names.iter().position(|n| n == name))
        {
            return i;
        }
        if !choices.pending.insert(class.to_string()) {
            return 0;
        }
        drop(choices);
        let output = Layout::contiguous(step.out_shape);
        let operands = step
            .inputs
            .iter()
            .map(|(dtype, l)| extent(l, dtype.size_in_bytes()))
            .chain([extent(&output, step.out_dtype.size_in_bytes())])
            .collect();
        self.queue_timing(Job {
            class: class.to_string(),
            names: names.to_vec(),
            lowerings: (0..names.len()).map(lower).collect(),
            operands,
            _queued: Queued::new(),
        });
        0
    }

    fn subgroup_size(&self) -> Option<u32> {
        GpuContext::subgroup_size(self)
    }

    fn wide_loads(&self) -> bool {
        self.features().contains(wgpu::Features::SHADER_INT64)
    }
}

/// Bytes a strided view reaches from the start of its buffer.
fn extent(layout: &Layout, element: usize) -> u64 {
    (layout.reach() * element).max(4) as u64
}

impl GpuContext {
    /// Hand `job` to the timing thread, starting it if need be; where no thread can start,
    /// time it here.
    fn queue_timing(&self, job: Job) {
        let mut jobs = self.tuning.jobs.lock().unwrap_or_else(|e| e.into_inner());
        if jobs.is_none() {
            *jobs = self.start_timing_thread();
        }
        let job = match jobs.as_ref() {
            Some(sender) => match sender.send(job) {
                Ok(()) => return,
                Err(mpsc::SendError(job)) => job,
            },
            None => job,
        };
        drop(jobs);
        self.time_class(job);
    }

    /// The thread holds the context only while it times a class, so a device that its
    /// program drops goes (the jobs left are dropped with the channel).
    fn start_timing_thread(&self) -> Option<mpsc::Sender<Job>> {
        let (sender, jobs) = mpsc::channel::<Job>();
        let me = self.me.clone();
        std::thread::Builder::new()
            .name("lepton-autotune".into())
            .spawn(move || {
                for job in jobs {
                    if let Some(ctx) = me.upgrade() {
                        ctx.time_class(job);
                    }
                }
            })
            .ok()?;
        Some(sender)
    }

    /// Time `job`'s candidates and keep the fastest, in memory and on disk.
    fn time_class(&self, job: Job) {
        let chosen = self.fastest(&job).unwrap_or(0);
        let name = &job.names[chosen];
        {
            let mut choices = self
                .tuning
                .choices
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            choices
                .known
                .get_or_insert_with(HashMap::new)
                .insert(job.class.clone(), name.clone());
            choices.pending.remove(&job.class);
            self.tuning.generation.fetch_add(1, Ordering::Release);
        }
        crate::stats::tuned();
        if let Some(key) = self.tuning_key() {
            DiskCache::store(&key, &job.class, name);
        }
    }

    /// What identifies this device and these kernels in the disk cache: the adapter and its
    /// driver, and a hash of the product kernels' sources, so edited kernels are timed
    /// afresh. None for a device an embedding program made (no adapter to name).
    fn tuning_key(&self) -> Option<String> {
        let info = self.adapter_info()?;
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for file in [
            ShaderFile::Matmul,
            ShaderFile::MatmulBlocked,
            ShaderFile::MatmulShared,
            ShaderFile::Conv,
        ] {
            for byte in file.template().bytes() {
                hash = (hash ^ byte as u64).wrapping_mul(0x100_0000_01b3);
            }
        }
        Some(format!(
            "{} ({:?}, {:04x}:{:04x}, {} {}) kernels {hash:016x}",
            info.name, info.backend, info.vendor, info.device, info.driver, info.driver_info
        ))
    }
}
