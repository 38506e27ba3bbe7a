//! The profiler: while a [`Profiler`] is running, every kernel the engine runs is timed on
//! its own (on a GPU by timestamps written around it, on the CPU path by the host clock) and
//! recorded with its op, shapes, FLOP and bytes, beside the host's own phases. Runs without
//! a profiler pay one relaxed atomic load per plan for this.
//!
//! ```
//! use lepton::{DType, Device, Tensor};
//! # fn main() -> lepton::Result<()> {
//! let device = Device::cpu();
//! let a = Tensor::ones(&[64, 64], DType::F32, &device)?;
//! let profiler = lepton::profile::Profiler::start()?;
//! profiler.step(|| a.matmul(&a)?.sum(&[], false)?.item::<f32>())?;
//! let profile = profiler.finish();
//! let rows = profile.table(lepton::profile::GroupBy::Op);
//! assert!(rows.iter().any(|r| r.name == "matmul" && r.flop == 2 * 64 * 64 * 64));
//! # Ok(())
//! # }
//! ```

mod peaks;
mod report;
mod trace;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::Instant;

use crate::error::{Error, Result};

pub use peaks::Peaks;
pub use report::{GroupBy, Row};

static ACTIVE: AtomicBool = AtomicBool::new(false);
static EVENTS: Mutex<Vec<Event>> = Mutex::new(Vec::new());
static ORIGIN: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Where an event happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Track {
    /// The host's own work: steps, planning, recording and submitting GPU work.
    Host,
    /// A kernel on a GPU.
    Gpu,
    /// A kernel of the CPU path.
    Cpu,
}

/// One timed span. Times are microseconds since a fixed point of the process.
#[derive(Clone, Debug)]
pub struct Event {
    pub track: Track,
    /// The kernel (a GPU shader's entry point, or the CPU kernel's op), or the host phase.
    pub name: String,
    /// The op of the plan step the kernel belongs to (empty for host phases).
    pub op: &'static str,
    /// The step's input shapes and dtypes, then its output's.
    pub shapes: String,
    pub start_us: f64,
    pub duration_us: f64,
    /// The step's FLOP and bytes moved (`ops::cost`), counted with its first kernel where a
    /// step runs as several dispatches, so sums over kernels are the steps' totals.
    pub flop: u64,
    pub bytes: u64,
    /// Workgroups dispatched (GPU kernels only).
    pub workgroups: u32,
    /// Whether this kernel is the first (or only) one of its plan step.
    pub first_of_step: bool,
}

/// Whether a profiler is running.
pub(crate) fn active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

/// Microseconds since the profiler's fixed point.
pub(crate) fn now_us() -> f64 {
    ORIGIN.elapsed().as_secs_f64() * 1e6
}

pub(crate) fn record(event: Event) {
    if active() {
        EVENTS.lock().unwrap_or_else(|e| e.into_inner()).push(event);
    }
}

/// A host phase from `start_us` until now.
pub(crate) fn record_host(name: &str, start_us: f64) {
    record(Event {
        track: Track::Host,
        name: name.to_string(),
        op: "",
        shapes: String::new(),
        start_us,
        duration_us: now_us() - start_us,
        flop: 0,
        bytes: 0,
        workgroups: 0,
        first_of_step: false,
    });
}

/// A running profiler: one per process at a time. Dropping it stops profiling.
pub struct Profiler {
    started_us: f64,
    steps: std::cell::Cell<usize>,
}

impl Profiler {
    /// Start recording every kernel; an error if a profiler is already running.
    pub fn start() -> Result<Profiler> {
        if ACTIVE.swap(true, Ordering::AcqRel) {
            return Err(Error::invalid(
                "profile",
                "a profiler is already running in this process",
            ));
        }
        EVENTS.lock().unwrap_or_else(|e| e.into_inner()).clear();
        Ok(Profiler {
            started_us: now_us(),
            steps: std::cell::Cell::new(0),
        })
    }

    /// Run `work` as one step: its span is a host event named `step N` that the kernels it
    /// runs lie inside (`work` should read a result, so that it ends when they do).
    pub fn step<T>(&self, work: impl FnOnce() -> T) -> T {
        let start = now_us();
        let out = work();
        let n = self.steps.get();
        self.steps.set(n + 1);
        record_host(&format!("step {n}"), start);
        out
    }

    /// Stop, and hand over what was recorded.
    pub fn finish(self) -> Profile {
        let events = std::mem::take(&mut *EVENTS.lock().unwrap_or_else(|e| e.into_inner()));
        Profile {
            started_us: self.started_us,
            finished_us: now_us(),
            steps: self.steps.get(),
            events,
        }
    }
}

impl Drop for Profiler {
    fn drop(&mut self) {
        ACTIVE.store(false, Ordering::Release);
    }
}

/// What a profiler recorded.
#[derive(Clone, Debug)]
pub struct Profile {
    pub started_us: f64,
    pub finished_us: f64,
    /// Steps run through [`Profiler::step`].
    pub steps: usize,
    pub events: Vec<Event>,
}

impl Profile {
    /// The kernels' events (GPU and CPU path).
    pub fn kernels(&self) -> impl Iterator<Item = &Event> {
        self.events.iter().filter(|e| e.track != Track::Host)
    }

    /// The host events whose name starts with `prefix` (`step`, `plan`, `record`...).
    pub fn host(&self, prefix: &str) -> impl Iterator<Item = &Event> {
        let prefix = prefix.to_string();
        self.events
            .iter()
            .filter(move |e| e.track == Track::Host && e.name.starts_with(&prefix))
    }

    /// Total kernel time, microseconds.
    pub fn kernel_us(&self) -> f64 {
        self.kernels().map(|e| e.duration_us).sum()
    }
}
