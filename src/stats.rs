//! Process-wide counters of the work the engine did, for tests and profiling.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

static PLANS_BUILT: AtomicU64 = AtomicU64::new(0);
static PIPELINES_CREATED: AtomicU64 = AtomicU64::new(0);
static PROGRAMS_COMPILED: AtomicU64 = AtomicU64::new(0);
static BUFFERS_ALLOCATED: AtomicU64 = AtomicU64::new(0);
static BIND_GROUPS_CREATED: AtomicU64 = AtomicU64::new(0);
static SUBMISSIONS: AtomicU64 = AtomicU64::new(0);
static BYTES_LIVE: AtomicI64 = AtomicI64::new(0);
static TUNINGS: AtomicU64 = AtomicU64::new(0);
static KERNELS: AtomicU64 = AtomicU64::new(0);
static UPLOADS: AtomicU64 = AtomicU64::new(0);
static BYTES_UPLOADED: AtomicU64 = AtomicU64::new(0);
static READ_BACKS: AtomicU64 = AtomicU64::new(0);
static BYTES_READ_BACK: AtomicU64 = AtomicU64::new(0);
static FALLBACK_STEPS: AtomicU64 = AtomicU64::new(0);
static FALLBACK_COPIES: AtomicU64 = AtomicU64::new(0);
static FALLBACK_BYTES: AtomicU64 = AtomicU64::new(0);

/// A snapshot of the counters. All but `bytes_live` only grow; compare two snapshots.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Plans built (a cache miss in the planner).
    pub plans_built: u64,
    /// GPU compute pipelines compiled.
    pub pipelines_created: u64,
    /// Plans compiled for a GPU: once per plan, and again when the autotuner's choice for a
    /// class arrives that the plan ran with its default.
    pub programs_compiled: u64,
    /// GPU buffers created (pooled buffers that are reused do not count).
    pub buffers_allocated: u64,
    /// GPU bind groups created.
    pub bind_groups_created: u64,
    /// Bytes held in GPU buffers right now, pooled ones included.
    pub bytes_live: i64,
    /// Command buffers submitted to a GPU queue (the autotuner's own runs not included).
    pub submissions: u64,
    /// Problem classes whose kernel the autotuner chose by timing candidates (classes it
    /// found in memory or in its disk cache do not count).
    pub tunings: u64,
    /// Kernels run: one per step of a plan on the CPU path, one per dispatch on a GPU (the
    /// autotuner's own runs not included).
    pub kernels: u64,
    /// Host data written to GPU buffers: tensors made from host values (a constant cached
    /// on the device counts once), not the kernels' own parameter words.
    pub uploads: u64,
    pub bytes_uploaded: u64,
    /// GPU buffers read back to the host, and the bytes the caller asked for.
    pub read_backs: u64,
    pub bytes_read_back: u64,
    /// Steps of GPU plans that ran on the CPU because the device's shaders cannot run their
    /// dtype (f64; f16 without `SHADER_F16`).
    pub fallback_steps: u64,
    /// The copies between a GPU and the host those steps needed, and their bytes (also
    /// counted in uploads and read-backs, except a result read where it was computed).
    pub fallback_copies: u64,
    pub fallback_bytes: u64,
}

pub fn stats() -> Stats {
    Stats {
        plans_built: PLANS_BUILT.load(Ordering::Relaxed),
        pipelines_created: PIPELINES_CREATED.load(Ordering::Relaxed),
        programs_compiled: PROGRAMS_COMPILED.load(Ordering::Relaxed),
        buffers_allocated: BUFFERS_ALLOCATED.load(Ordering::Relaxed),
        bind_groups_created: BIND_GROUPS_CREATED.load(Ordering::Relaxed),
        bytes_live: BYTES_LIVE.load(Ordering::Relaxed),
        submissions: SUBMISSIONS.load(Ordering::Relaxed),
        tunings: TUNINGS.load(Ordering::Relaxed),
        kernels: KERNELS.load(Ordering::Relaxed),
        uploads: UPLOADS.load(Ordering::Relaxed),
        bytes_uploaded: BYTES_UPLOADED.load(Ordering::Relaxed),
        read_backs: READ_BACKS.load(Ordering::Relaxed),
        bytes_read_back: BYTES_READ_BACK.load(Ordering::Relaxed),
        fallback_steps: FALLBACK_STEPS.load(Ordering::Relaxed),
        fallback_copies: FALLBACK_COPIES.load(Ordering::Relaxed),
        fallback_bytes: FALLBACK_BYTES.load(Ordering::Relaxed),
    }
}

pub(crate) fn plan_built() {
    PLANS_BUILT.fetch_add(1, Ordering::Relaxed);
}
pub(crate) fn pipeline_created() {
    PIPELINES_CREATED.fetch_add(1, Ordering::Relaxed);
}
pub(crate) fn program_compiled() {
    PROGRAMS_COMPILED.fetch_add(1, Ordering::Relaxed);
}
pub(crate) fn bind_group_created() {
    BIND_GROUPS_CREATED.fetch_add(1, Ordering::Relaxed);
}
pub(crate) fn tuned() {
    TUNINGS.fetch_add(1, Ordering::Relaxed);
}
pub(crate) fn kernels_run(count: u64) {
    KERNELS.fetch_add(count, Ordering::Relaxed);
}
pub(crate) fn submitted() {
    SUBMISSIONS.fetch_add(1, Ordering::Relaxed);
}
pub(crate) fn uploaded(bytes: usize) {
    UPLOADS.fetch_add(1, Ordering::Relaxed);
    BYTES_UPLOADED.fetch_add(bytes as u64, Ordering::Relaxed);
}
pub(crate) fn read_back(bytes: usize) {
    READ_BACKS.fetch_add(1, Ordering::Relaxed);
    BYTES_READ_BACK.fetch_add(bytes as u64, Ordering::Relaxed);
}
pub(crate) fn fell_back(steps: usize) {
    FALLBACK_STEPS.fetch_add(steps as u64, Ordering::Relaxed);
}
pub(crate) fn fallback_copied(bytes: usize) {
    FALLBACK_COPIES.fetch_add(1, Ordering::Relaxed);
    FALLBACK_BYTES.fetch_add(bytes as u64, Ordering::Relaxed);
}
pub(crate) fn buffer_allocated(bytes: u64) {
    BUFFERS_ALLOCATED.fetch_add(1, Ordering::Relaxed);
    BYTES_LIVE.fetch_add(bytes as i64, Ordering::Relaxed);
}
pub(crate) fn buffer_freed(bytes: u64) {
    BYTES_LIVE.fetch_sub(bytes as i64, Ordering::Relaxed);
}
