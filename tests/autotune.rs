//! The autotuner: every candidate kernel is correct, and a timed choice is kept in memory
//! and on disk, so a second process starts warm. Its own test binary: pinning a kernel and
//! enabling timing are process-wide settings, which would leak into other tests.

mod common;

use std::process::Command;
use std::sync::Mutex;

use common::convolutions::{check_products, spec};
use common::products::*;
use common::*;
use lepton::autotune::{pin_matmul, MatmulKernel};
use lepton::{DType, Tensor};

/// The tests here change process-wide settings; they take turns.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

#[test]
fn every_candidate_kernel_of_the_autotuner() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(gpu) = gpu() else { return };
    // Shapes every kernel can run (K and the vector axes multiples of 4), and odd ones that
    // only the strided and shared kernels take (a pin they cannot take is passed over).
    let aligned = [
        (4, 4, 4),
        (1, 8, 4),
        (13, 20, 12),
        (129, 16, 68),
        (132, 36, 260),
        // K past 32 and not a multiple of it: the subgroup kernels' shuffled chunks and tail.
        (70, 100, 36),
    ];
    let odd = [(1, 1, 1), (7, 13, 5), (65, 1, 67), (130, 257, 3)];
    for kernel in MatmulKernel::ALL {
        pin_matmul(Some(kernel));
        for (i, &(m, k, n)) in aligned.iter().chain(&odd).enumerate() {
            check_every_layout(&gpu, (m, k, n), 400 + 10 * i as u64, &kernel.name());
        }
        // Broadcast batches: [3, 1, m, k] @ [4, k, n].
        let (a, b, ra, rb) = operands(&[3, 1, 12, 8], &[4, 8, 20], 480, DType::F32, &gpu);
        let (want, abs) = reference(&ra, &rb);
        check(&a.matmul(&b).unwrap(), &want, &abs, 8, U32, &kernel.name());
    }
    pin_matmul(None);
}

#[test]
fn every_candidate_tiling_of_convolutions() {
    use lepton::autotune::{pin_conv, ConvTiles};
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(gpu) = gpu() else { return };
    for tiles in ConvTiles::all() {
        pin_conv(Some(tiles));
        // Odd sizes, so every tile has edges: forward, the image's and the weight's gradients.
        check_products(&gpu, (2, 6, 11, 9, 70), (3, 3), &spec(1, 1, 1, 2), 800);
        check_products(&gpu, (1, 9, 20, 17, 5), (2, 3), &spec(2, 0, 2, 1), 810);
    }
    pin_conv(None);
}

/// Run the ignored test `name` of this binary in a new process with its cache in `dir`.
fn passes_in_its_own_process(name: &str, dir: &std::path::Path) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", name])
        .env("LEPTON_CACHE_DIR", dir)
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("1 passed"),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An m×64×n product, checked against f64. 96×64×160 and 120×64×200 are one problem class
/// (each size rounds up to the same power of two).
fn product_checks_out(gpu: &lepton::Device, (m, n): (usize, usize), seed: u64) {
    let (a, b, ra, rb) = operands(&[m, 64], &[64, n], seed, DType::F32, gpu);
    let (want, abs) = reference(&ra, &rb);
    check(
        &a.matmul(&b).unwrap(),
        &want,
        &abs,
        64,
        U32,
        "tuned product",
    );
}

/// Whether the GPU times candidates: not on wgpu's GL backend, where one context serializes
/// every call and the classes run their defaults (the device's name ends with its backend).
fn times_candidates(gpu: &lepton::Device) -> bool {
    !gpu.to_string().contains(" on Gl)")
}

/// On one context, timing enabled still times nothing, and products come out right.
fn one_context_times_nothing(gpu: &lepton::Device) {
    lepton::autotune::set_enabled(true);
    let before = lepton::stats().tunings;
    product_checks_out(gpu, (96, 160), 650);
    lepton::autotune::settle();
    assert_eq!(lepton::stats().tunings, before, "{gpu} timed a class");
    lepton::autotune::set_enabled(false);
}

#[test]
fn a_timed_choice_is_kept_in_memory_and_on_disk() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(gpu) = gpu() else { return };
    if !times_candidates(&gpu) {
        return one_context_times_nothing(&gpu);
    }
    let dir = std::env::temp_dir().join(format!("lepton-autotune-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Set before anything reads it; every other test here only pins kernels.
    std::env::set_var("LEPTON_CACHE_DIR", &dir);
    lepton::autotune::set_enabled(true);
    let before = lepton::stats().tunings;
    product_checks_out(&gpu, (96, 160), 600);
    lepton::autotune::settle();
    assert_eq!(lepton::stats().tunings, before + 1, "a new class is timed");
    product_checks_out(&gpu, (120, 200), 610);
    lepton::autotune::settle();
    assert_eq!(
        lepton::stats().tunings,
        before + 1,
        "and then remembered for its class"
    );
    let file = lepton::autotune::cache_file().unwrap();
    assert_eq!(file, dir.join("autotune.json"));
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let choices: Vec<&str> = stored
        .as_object()
        .unwrap()
        .values()
        .flat_map(|classes| classes.as_object().unwrap().values())
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(choices.len(), 1, "{stored}");
    assert!(MatmulKernel::parse(choices[0]).is_some(), "{stored}");
    // A second process finds the choice on disk and times nothing.
    passes_in_its_own_process("second_run_starts_warm", &dir);
    lepton::autotune::set_enabled(false);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
#[ignore = "run by a_timed_choice_is_kept_in_memory_and_on_disk, in a process of its own"]
fn second_run_starts_warm() {
    let gpu = gpu().expect("run only where the first run had a GPU");
    lepton::autotune::set_enabled(true);
    product_checks_out(&gpu, (96, 160), 620);
    assert_eq!(lepton::stats().tunings, 0, "the class was on disk");
}

#[test]
fn a_corrupt_cache_file_is_timed_over() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(gpu) = gpu() else { return };
    if !times_candidates(&gpu) {
        return one_context_times_nothing(&gpu);
    }
    let dir = std::env::temp_dir().join(format!("lepton-autotune-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("autotune.json"), b"{ not json").unwrap();
    passes_in_its_own_process("a_fresh_process_times_and_rewrites", &dir);
    let text = std::fs::read_to_string(dir.join("autotune.json")).unwrap();
    assert!(
        serde_json::from_str::<serde_json::Value>(&text).is_ok(),
        "{text}"
    );
    drop(gpu);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
#[ignore = "run by a_corrupt_cache_file_is_timed_over, in a process of its own"]
fn a_fresh_process_times_and_rewrites() {
    let gpu = gpu().expect("run only where the first run had a GPU");
    lepton::autotune::set_enabled(true);
    product_checks_out(&gpu, (96, 160), 630);
    lepton::autotune::settle();
    assert_eq!(lepton::stats().tunings, 1);
}

#[test]
fn a_new_class_runs_its_default_at_once_and_then_the_timed_choice() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(gpu) = gpu() else { return };
    if !times_candidates(&gpu) {
        return one_context_times_nothing(&gpu);
    }
    let dir = std::env::temp_dir().join(format!("lepton-autotune-switch-{}", std::process::id()));
    passes_in_its_own_process("the_plan_compiles_again_with_the_choice", &dir);
    std::fs::remove_dir_all(&dir).unwrap();
    drop(gpu);
}

#[test]
#[ignore = "run by a_new_class_runs_its_default_at_once_and_then_the_timed_choice, in a process of its own"]
fn the_plan_compiles_again_with_the_choice() {
    let gpu = gpu().expect("run only where the first run had a GPU");
    lepton::autotune::set_enabled(true);
    let (a, b, ra, rb) = operands(&[72, 40], &[40, 136], 640, DType::F32, &gpu);
    let (want, abs) = reference(&ra, &rb);
    let run = || {
        let before = lepton::stats();
        check(&a.matmul(&b).unwrap(), &want, &abs, 40, U32, "product");
        let after = lepton::stats();
        (
            after.programs_compiled - before.programs_compiled,
            after.tunings - before.tunings,
        )
    };
    let (compiled, _) = run();
    assert_eq!(compiled, 1, "the first run compiles the plan");
    lepton::autotune::settle();
    assert_eq!(lepton::stats().tunings, 1, "the class was timed meanwhile");
    assert_eq!(run(), (1, 0), "the next run compiles it with the choice");
    assert_eq!(run(), (0, 0), "and the one after finds it compiled");
}

#[test]
fn fixed_defaults_time_nothing() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(gpu) = gpu() else { return };
    let before = lepton::stats().tunings;
    let a = Tensor::ones(&[40, 72], DType::F32, &gpu).unwrap();
    let b = Tensor::ones(&[72, 24], DType::F32, &gpu).unwrap();
    assert!(values(&a.matmul(&b).unwrap()).iter().all(|&v| v == 72.0));
    assert_eq!(lepton::stats().tunings, before);
}
