//! Kernel choices per adapter and problem class. The first time a class of matrix product
//! or convolution appears on a GPU, it runs at once with its default kernel while a thread
//! of the device's own times each candidate that can run it; the fastest is kept, in memory
//! and in the user's cache directory (so the next run starts warm), and the plans that ran
//! the default switch to it at their next run. [`settle`] waits for the timing to finish.
//! `LEPTON_AUTOTUNE=0` (or [`set_enabled`]`(false)`) uses fixed defaults instead, so results
//! never depend on timing; the test suite runs that way.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Condvar, Mutex};

/// A matrix-product kernel the tuner chooses among.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatmulKernel {
    /// Register tiles read straight from storage: each invocation computes `tm`×`tn` blocks
    /// of 4×4 from vector loads (matmul_blocked.wgsl). Needs K and the operands' vector axes
    /// aligned to 4.
    Registers { tm: u8, tn: u8 },
    /// Register tiles as above, where each eight lanes of a subgroup (one row of the 8×8
    /// workgroup, so sharing their rows of A) load A's blocks for different k and pass them
    /// round with subgroup shuffles: an eighth of the loads of A. On devices with subgroup
    /// operations in subgroups of a multiple of 8 lanes (matmul_blocked.wgsl's subgroup form).
    Shuffled { tm: u8, tn: u8 },
    /// Tiles staged in workgroup memory (matmul_shared.wgsl): any layout and shape.
    Shared,
    /// 4×4 per invocation with scalar strided loads (matmul.wgsl): any layout and shape.
    Strided,
}

impl MatmulKernel {
    /// Every kernel, in the order candidates are tried.
    pub const ALL: [MatmulKernel; 12] = [
        MatmulKernel::Registers { tm: 1, tn: 1 },
        MatmulKernel::Registers { tm: 2, tn: 2 },
        MatmulKernel::Registers { tm: 2, tn: 4 },
        MatmulKernel::Registers { tm: 4, tn: 2 },
        MatmulKernel::Registers { tm: 4, tn: 4 },
        MatmulKernel::Shuffled { tm: 1, tn: 1 },
        MatmulKernel::Shuffled { tm: 2, tn: 2 },
        MatmulKernel::Shuffled { tm: 2, tn: 4 },
        MatmulKernel::Shuffled { tm: 4, tn: 2 },
        MatmulKernel::Shuffled { tm: 4, tn: 4 },
        MatmulKernel::Shared,
        MatmulKernel::Strided,
    ];

    pub fn name(self) -> String {
        match self {
            MatmulKernel::Registers { tm, tn } => format!("registers-{tm}x{tn}"),
            MatmulKernel::Shuffled { tm, tn } => format!("shuffled-{tm}x{tn}"),
            MatmulKernel::Shared => "shared".into(),
            MatmulKernel::Strided => "strided".into(),
        }
    }

    pub fn parse(name: &str) -> Option<MatmulKernel> {
        MatmulKernel::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// Register tiles of a convolution kernel (conv_gemm.wgsl): blocks of 4×4 per invocation
/// along C's rows and columns, each 1, 2 or 4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConvTiles {
    pub tm: u8,
    pub tn: u8,
}

impl ConvTiles {
    /// Every candidate.
    pub fn all() -> Vec<ConvTiles> {
        let sides = [1, 2, 4];
        sides
            .iter()
            .flat_map(|&tm| sides.iter().map(move |&tn| ConvTiles { tm, tn }))
            .collect()
    }

    pub fn name(self) -> String {
        format!("conv-{}x{}", self.tm, self.tn)
    }
}

/// How the lanes that share a task of a row kernel (reductions, softmax, cross-entropy)
/// combine their partial results. Tasks of fewer lanes than a subgroup combine in workgroup
/// memory either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RowLanes {
    /// Through workgroup memory and barriers, in a tree.
    Workgroup,
    /// In subgroups first, with subgroup operations, then across the task's subgroups in
    /// workgroup memory: on devices with SUBGROUP and one subgroup size, the default there.
    Subgroup,
}

impl RowLanes {
    pub fn name(self) -> &'static str {
        match self {
            RowLanes::Workgroup => "rows-workgroup",
            RowLanes::Subgroup => "rows-subgroup",
        }
    }
}

/// Kernels pinned for this process (see [`pin_matmul`], [`pin_conv`], [`pin_rows`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct Pins {
    pub matmul: Option<MatmulKernel>,
    pub conv: Option<ConvTiles>,
    pub rows: Option<RowLanes>,
}

/// 0: as the environment says; 1: on; 2: off.
static ENABLED: AtomicU8 = AtomicU8::new(0);
static PINNED: Mutex<Pins> = Mutex::new(Pins {
    matmul: None,
    conv: None,
    rows: None,
});

/// Turn timing of candidates on or off for this process, overriding `LEPTON_AUTOTUNE`.
pub fn set_enabled(on: bool) {
    ENABLED.store(if on { 1 } else { 2 }, Ordering::Relaxed);
}

/// Whether new problem classes are timed (else they get the fixed defaults).
pub fn enabled() -> bool {
    match ENABLED.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => std::env::var("LEPTON_AUTOTUNE").map_or(true, |v| v != "0"),
    }
}

/// Problem classes queued for timing on any device and not yet timed.
static QUEUED: Mutex<usize> = Mutex::new(0);
static ALL_TIMED: Condvar = Condvar::new();

/// Wait until every problem class met so far has been timed and its choice is in use from
/// the next run of each plan on: for a benchmark after its first step, or a program that
/// wants the tuned kernels from a point on. Returns at once when nothing is being timed.
pub fn settle() {
    let mut queued = QUEUED.lock().unwrap_or_else(|e| e.into_inner());
    while *queued > 0 {
        queued = ALL_TIMED.wait(queued).unwrap_or_else(|e| e.into_inner());
    }
}

/// One class queued for timing, counted by [`settle`] until it is dropped: timed, or given
/// up with its device or its thread.
pub(crate) struct Queued(());

impl Queued {
    pub(crate) fn new() -> Queued {
        *QUEUED.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        Queued(())
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        let mut queued = QUEUED.lock().unwrap_or_else(|e| e.into_inner());
        *queued -= 1;
        if *queued == 0 {
            ALL_TIMED.notify_all();
        }
    }
}

/// Run every matrix product that it can with `kernel` (the others keep their choice): for
/// testing each candidate, and for benchmarking one against another. None ends the pin.
pub fn pin_matmul(kernel: Option<MatmulKernel>) {
    PINNED.lock().unwrap_or_else(|e| e.into_inner()).matmul = kernel;
}

/// Run every convolution with `tiles`, as [`pin_matmul`] does for products.
pub fn pin_conv(tiles: Option<ConvTiles>) {
    PINNED.lock().unwrap_or_else(|e| e.into_inner()).conv = tiles;
}

/// Run every row kernel with `lanes` where the device allows it (subgroups need SUBGROUP
/// and one subgroup size), as [`pin_matmul`] does for products.
pub fn pin_rows(lanes: Option<RowLanes>) {
    PINNED.lock().unwrap_or_else(|e| e.into_inner()).rows = lanes;
}

pub(crate) fn pinned() -> Pins {
    *PINNED.lock().unwrap_or_else(|e| e.into_inner())
}

/// 0: not yet read from the environment; 1: plain kernels; 2: fast paths.
static PLAIN_CPU: AtomicU8 = AtomicU8::new(0);

/// Run the CPU path's plain kernels, the definitions its fast paths (im2col and Winograd
/// convolutions, blocked `gemm` products, vectorized exponentials) are tested against,
/// instead of those fast paths: slow, and a way to tell whether a result that looks wrong
/// comes from a fast path. Overrides `LEPTON_CPU_KERNELS=plain`.
pub fn pin_plain_cpu(on: bool) {
    PLAIN_CPU.store(if on { 1 } else { 2 }, Ordering::Relaxed);
}

/// Whether the CPU path runs its plain kernels only.
pub fn plain_cpu() -> bool {
    match PLAIN_CPU.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            let plain = std::env::var("LEPTON_CPU_KERNELS").is_ok_and(|v| v == "plain");
            let _ = PLAIN_CPU.compare_exchange(
                0,
                2 - plain as u8,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
            plain
        }
    }
}

/// The file that keeps choices between runs: `$LEPTON_CACHE_DIR/autotune.json`, else under
/// the platform's cache directory (`$XDG_CACHE_HOME`, `~/.cache`, `%LOCALAPPDATA%`,
/// `~/Library/Caches`), in `lepton/`. None when no such directory is known.
pub fn cache_file() -> Option<PathBuf> {
    let env = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let dir = env("LEPTON_CACHE_DIR").or_else(|| {
        let base = if cfg!(windows) {
            env("LOCALAPPDATA")
        } else if cfg!(target_os = "macos") {
            env("HOME").map(|h| h.join("Library/Caches"))
        } else {
            env("XDG_CACHE_HOME").or_else(|| env("HOME").map(|h| h.join(".cache")))
        };
        base.map(|b| b.join("lepton"))
    })?;
    Some(dir.join("autotune.json"))
}

/// Every choice in the cache file: (adapter and kernel revision, problem class, kernel name).
pub fn stored_choices() -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for (adapter, classes) in DiskCache::read_all() {
        let serde_json::Value::Object(classes) = classes else {
            continue;
        };
        for (class, kernel) in classes {
            if let Some(k) = kernel.as_str() {
                out.push((adapter.clone(), class, k.to_string()));
            }
        }
    }
    out
}

/// Choices on disk: adapter → problem class → kernel name. A missing, unreadable or foreign
/// file reads as empty (the classes are timed again); writes replace the file atomically and
/// are best-effort, since a failed write only costs timing again next run.
pub(crate) struct DiskCache;

impl DiskCache {
    fn read_all() -> serde_json::Map<String, serde_json::Value> {
        cache_file()
            .and_then(|path| std::fs::read(path).ok())
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
            .and_then(|v| match v {
                serde_json::Value::Object(map) => Some(map),
                _ => None,
            })
            .unwrap_or_default()
    }

    /// The choices stored for `adapter`: problem class → kernel name.
    pub(crate) fn load(adapter: &str) -> HashMap<String, String> {
        let all = Self::read_all();
        let Some(serde_json::Value::Object(entries)) = all.get(adapter) else {
            return HashMap::new();
        };
        entries
            .iter()
            .filter_map(|(class, v)| Some((class.clone(), v.as_str()?.to_string())))
            .collect()
    }

    /// Add one choice for `adapter`, keeping every other entry in the file.
    pub(crate) fn store(adapter: &str, class: &str, kernel: &str) {
        static WRITING: Mutex<()> = Mutex::new(());
        let _one_writer = WRITING.lock().unwrap_or_else(|e| e.into_inner());
        let Some(path) = cache_file() else { return };
        let mut all = Self::read_all();
        let entry = all
            .entry(adapter.to_string())
            .or_insert_with(|| serde_json::Value::Object(Default::default()));
        if let serde_json::Value::Object(map) = entry {
            map.insert(class.to_string(), kernel.into());
        }
        let Ok(text) = serde_json::to_vec_pretty(&serde_json::Value::Object(all)) else {
            return;
        };
        let Some(dir) = path.parent() else { return };
        let temp = dir.join(format!("autotune.json.{}.tmp", std::process::id()));
        let written = std::fs::create_dir_all(dir)
            .and_then(|_| std::fs::write(&temp, text))
            .and_then(|_| std::fs::rename(&temp, &path));
        if written.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
    }
}
