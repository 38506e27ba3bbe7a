//! The profiler: while a [`Profiler`] is running, every kernel the engine runs is timed on
//! its own (on a GPU by timestamps written around it, on the CPU path by the host clock) and
//! recorded with its op, shapes, FLOP and bytes, beside the host's own phases; or, at
//! [`Detail::Runs`], each GPU submission and each plan of the CPU path is timed whole while
//! it runs as it does unprofiled, which gives the device time that the kernels' total is
//! held to. Runs without a profiler pay one relaxed atomic load per plan for this.
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

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::Instant;

use crate::error::{Error, Result};

pub use peaks::Peaks;
pub use report::{GroupBy, Row};

/// 0 when no profiler runs, else the running one's `Detail` as `level`.
static LEVEL: AtomicU8 = AtomicU8::new(0);
static EVENTS: Mutex<Vec<Event>> = Mutex::new(Vec::new());
/// The spans of the empty timestamp pairs, microseconds: their sum and count.
static PAIRS: Mutex<(f64, usize)> = Mutex::new((0.0, 0));
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
    /// A whole GPU submission's pass or a whole plan on the CPU path ([`Detail::Runs`]).
    Run,
}

/// How finely a profiler times the device's work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detail {
    /// Every kernel on its own: on a GPU each dispatch in a compute pass of its own with
    /// timestamps around it (or, without TIMESTAMP_QUERY, submitted alone and timed by the
    /// host clock until it finished), on the CPU path the host clock around each kernel.
    Kernels,
    /// Each GPU submission timed whole by timestamps around its single pass (without
    /// TIMESTAMP_QUERY, by the host clock until it finished), and each plan the CPU path
    /// runs by the host clock around it. The kernels run as they do unprofiled, so this is
    /// the device time to hold [`Detail::Kernels`]' total against.
    Runs,
}

impl Detail {
    fn level(self) -> u8 {
        match self {
            Detail::Kernels => 1,
            Detail::Runs => 2,
        }
    }
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

/// The running profiler's detail, if one runs.
pub(crate) fn detail() -> Option<Detail> {
    match LEVEL.load(Ordering::Relaxed) {
        0 => None,
        1 => Some(Detail::Kernels),
        _ => Some(Detail::Runs),
    }
}

/// Whether a profiler is running.
pub(crate) fn active() -> bool {
    detail().is_some()
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

/// One submission's span of a timestamp pair around nothing, which it took from each of
/// its kernels' spans.
pub(crate) fn timestamp_pair(us: f64) {
    if active() {
        let mut pairs = PAIRS.lock().unwrap_or_else(|e| e.into_inner());
        *pairs = (pairs.0 + us, pairs.1 + 1);
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
    whole_steps: std::cell::Cell<usize>,
}

impl Profiler {
    /// Start recording every kernel; an error if a profiler is already running.
    pub fn start() -> Result<Profiler> {
        Profiler::start_at(Detail::Kernels)
    }

    /// Start recording at `detail`; an error if a profiler is already running.
    pub fn start_at(detail: Detail) -> Result<Profiler> {
        if LEVEL
            .compare_exchange(0, detail.level(), Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(Error::invalid(
                "profile",
                "a profiler is already running in this process",
            ));
        }
        EVENTS.lock().unwrap_or_else(|e| e.into_inner()).clear();
        *PAIRS.lock().unwrap_or_else(|e| e.into_inner()) = (0.0, 0);
        Ok(Profiler {
            started_us: now_us(),
            steps: std::cell::Cell::new(0),
            whole_steps: std::cell::Cell::new(0),
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

    /// Run `work` as one step at [`Detail::Runs`] whatever this profiler's detail: a host
    /// event named `whole step N` with each GPU submission and CPU plan inside it timed
    /// whole while they run as they do unprofiled. Alternated with [`Profiler::step`], it
    /// gives the device time that the kernels' total is held to under the same conditions.
    pub fn whole_step<T>(&self, work: impl FnOnce() -> T) -> T {
        let level = LEVEL.swap(Detail::Runs.level(), Ordering::AcqRel);
        let start = now_us();
        let out = work();
        let n = self.whole_steps.get();
        self.whole_steps.set(n + 1);
        record_host(&format!("whole step {n}"), start);
        LEVEL.store(level, Ordering::Release);
        out
    }

    /// Stop, and hand over what was recorded.
    pub fn finish(self) -> Profile {
        let events = std::mem::take(&mut *EVENTS.lock().unwrap_or_else(|e| e.into_inner()));
        let (sum, count) = *PAIRS.lock().unwrap_or_else(|e| e.into_inner());
        Profile {
            started_us: self.started_us,
            finished_us: now_us(),
            steps: self.steps.get(),
            events,
            timestamp_pair_us: (count > 0).then(|| sum / count as f64),
        }
    }
}

impl Drop for Profiler {
    fn drop(&mut self) {
        LEVEL.store(0, Ordering::Release);
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
    /// Where GPU kernels were timed by timestamps: the mean span of a pair written around
    /// nothing in the same submissions, microseconds, which each kernel's span is net of.
    pub timestamp_pair_us: Option<f64>,
}

impl Profile {
    /// The kernels' events (GPU and CPU path).
    pub fn kernels(&self) -> impl Iterator<Item = &Event> {
        self.events
            .iter()
            .filter(|e| matches!(e.track, Track::Gpu | Track::Cpu))
    }

    /// The whole submissions and plans timed at [`Detail::Runs`].
    pub fn runs(&self) -> impl Iterator<Item = &Event> {
        self.events.iter().filter(|e| e.track == Track::Run)
    }

    /// Total time of the submissions and plans timed at [`Detail::Runs`], microseconds.
    pub fn run_us(&self) -> f64 {
        self.runs().map(|e| e.duration_us).sum()
    }

    /// The host events whose name starts with `prefix` (`step`, `plan`, `record`...).
    pub fn host(&self, prefix: &str) -> impl Iterator<Item = &Event> {
        let prefix = prefix.to_string();
        self.events
            .iter()
            .filter(move |e| e.track == Track::Host && e.name.starts_with(&prefix))
    }

    /// The host events named like `prefix` that lie inside the steps of
    /// [`Profiler::step`] (not the whole steps).
    pub fn host_in_steps(&self, prefix: &str) -> impl Iterator<Item = &Event> {
        let steps: Vec<(f64, f64)> = self
            .host("step")
            .map(|s| (s.start_us, s.start_us + s.duration_us))
            .collect();
        self.host(prefix).filter(move |e| {
            steps
                .iter()
                .any(|&(from, to)| e.start_us >= from && e.start_us + e.duration_us <= to)
        })
    }

    /// Total kernel time, microseconds.
    pub fn kernel_us(&self) -> f64 {
        self.kernels().map(|e| e.duration_us).sum()
    }
}
