//! The profiler: every kernel of a profiled step recorded on its device's track, inside its
//! step, with the step's cost; nothing recorded without a profiler; the Chrome trace and
//! `lepton profile` on both paths.

mod common;

use std::sync::Mutex;

use common::cli::{lepton, refused, scratch};
use common::*;
use lepton::nn::{loss, Activation, Linear, Module, Sequential};
use lepton::optim::{Adam, Optimizer};
use lepton::profile::{Event, GroupBy, Profiler, Track};
use lepton::{DType, Device, Tensor};

/// The devices the command-line tests name: the CPU path, and the GPU where there is one.
fn cli_devices() -> Vec<&'static str> {
    let mut devices = vec!["cpu"];
    if common::gpu().is_some() {
        devices.push("gpu");
    }
    devices
}

/// One profiler per process: the tests take turns.
static ONE: Mutex<()> = Mutex::new(());

/// Three profiled MLP training steps (batch 16, 12-32-5) on `device`, each after one
/// timed whole when `whole`.
fn profiled_steps(device: &Device, whole: bool) -> lepton::profile::Profile {
    let model = Sequential::new()
        .push(Linear::new(12, 32, true, 1, DType::F32, device).unwrap())
        .push(Activation::Relu)
        .push(Linear::new(32, 5, true, 2, DType::F32, device).unwrap());
    let mut opt = Adam::new(model.parameters(), 0.01);
    let x = tensor(&data(16 * 12, 3, -1.0, 1.0), &[16, 12], DType::F32, device);
    let y = Tensor::from_vec((0..16).map(|i| i % 5).collect::<Vec<i32>>(), &[16], device).unwrap();
    let mut step = || {
        let logits = model.forward(&x).unwrap();
        opt.step(&loss::cross_entropy(&logits, &y, 0.0).unwrap())
            .unwrap()
    };
    step();
    let profiler = Profiler::start().unwrap();
    for _ in 0..3 {
        if whole {
            profiler.whole_step(&mut step);
        }
        profiler.step(&mut step);
    }
    profiler.finish()
}

/// Whether `e` lies inside one of `spans`.
fn inside(e: &Event, spans: &[&Event]) -> bool {
    spans.iter().any(|s| {
        e.start_us >= s.start_us && e.start_us + e.duration_us <= s.start_us + s.duration_us
    })
}

on_every_device! {
    fn every_kernel_lies_inside_its_step_with_its_cost(device) {
        let _turn = ONE.lock().unwrap_or_else(|e| e.into_inner());
        let profile = profiled_steps(&device, false);
        let track = if device.is_gpu() { Track::Gpu } else { Track::Cpu };
        let steps: Vec<_> = profile.host("step").collect();
        assert_eq!((steps.len(), profile.steps), (3, 3));
        let kernels: Vec<_> = profile.kernels().collect();
        assert!(kernels.len() >= 3 * 6, "{} kernels", kernels.len());
        for k in &kernels {
            assert_eq!(k.track, track);
            assert!(k.duration_us >= 0.0);
            assert!(
                inside(k, &steps),
                "{} at {}+{} on {device}",
                k.name,
                k.start_us,
                k.duration_us
            );
        }
        // Forward, the gradients of the inputs to the second layer, and of both weights:
        // five products per step, their FLOP the products' own.
        let ops = profile.table(GroupBy::Op);
        let matmul = ops.iter().find(|r| r.name == "matmul").expect("a matmul row");
        let per_step = 2 * (16 * 12 * 32 + 16 * 32 * 5) * 2 + 2 * 16 * 32 * 5;
        assert_eq!(matmul.calls, 3 * 5, "{ops:?}");
        assert_eq!(matmul.flop, 3 * per_step as u64);
        let kernel_time: f64 = kernels.iter().map(|k| k.duration_us).sum();
        let wall: f64 = steps.iter().map(|s| s.duration_us).sum();
        assert!(kernel_time <= wall, "kernels {kernel_time} µs in steps of {wall} µs");
        let by_kernel = profile.table(GroupBy::Kernel);
        let total: f64 = by_kernel.iter().map(|r| r.total_us).sum();
        assert!((total - profile.kernel_us()).abs() < 1e-6 * total.max(1.0));
        assert_eq!(
            by_kernel.iter().map(|r| r.flop).sum::<u64>(),
            ops.iter().map(|r| r.flop).sum::<u64>(),
            "a step's cost counts once whichever the grouping"
        );
    }
}

on_every_device! {
    fn a_whole_step_times_each_submission_or_plan_and_no_kernel(device) {
        let _turn = ONE.lock().unwrap_or_else(|e| e.into_inner());
        let profile = profiled_steps(&device, true);
        let whole: Vec<_> = profile.host("whole step").collect();
        let steps: Vec<_> = profile.host("step").collect();
        assert_eq!((whole.len(), steps.len(), profile.steps), (3, 3, 3));
        let runs: Vec<_> = profile.runs().collect();
        let name = if device.is_gpu() { "gpu submission" } else { "cpu plan" };
        assert!(runs.len() >= 3, "{} runs", runs.len());
        for r in &runs {
            assert_eq!(r.name, name);
            assert!(inside(r, &whole), "a run outside the whole steps on {device}");
        }
        assert!(
            profile.kernels().all(|k| inside(k, &steps)),
            "no kernel is timed in a whole step, and kernel steps follow them on {device}"
        );
        // The same plans ran both ways: the runs carry the kernels' cost.
        let flop = |events: &mut dyn Iterator<Item = &Event>| events.map(|e| e.flop).sum::<u64>();
        assert_eq!(flop(&mut profile.runs()), flop(&mut profile.kernels()));
        assert!(profile.run_us() > 0.0);
        let stamps = match &device {
            Device::Gpu(ctx) => ctx.features().contains(wgpu::Features::TIMESTAMP_QUERY),
            Device::Cpu => false,
        };
        assert_eq!(profile.timestamp_pair_us.is_some(), stamps, "on {device}");
    }
}

/// Every family `train` knows with kernels to run profiles on the CPU path, with its own
/// kind of step; the tabular one is refused with the reason.
#[test]
fn lepton_profile_runs_every_family() {
    let _turn = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let families: [(&[&str], &str, &str); 7] = [
        (
            &["charlm", "--arch", "gru"],
            "gru optimizer step on",
            "matmul",
        ),
        (&["vae"], "negative ELBO of 64 digits", "matmul"),
        (
            &["gan", "--data", "digits"],
            "discriminator step and generator step",
            "matmul",
        ),
        (&["dqn"], "256 environment steps", "matmul"),
        (&["reinforce"], "4 CartPole episodes", "matmul"),
        (&["a2c"], "8 environments × 5 steps", "matmul"),
        (&["ppo"], "4 epochs of 4 minibatches", "matmul"),
    ];
    for (family, step, kernel) in families {
        let mut args = vec!["profile"];
        args.extend_from_slice(family);
        args.extend_from_slice(&["--device", "cpu", "--steps", "1", "--warmup", "0"]);
        let text = lepton(&args);
        assert!(text.contains(step), "{family:?}:\n{text}");
        assert!(
            text.lines().any(|l| l.starts_with(&format!("{kernel} "))),
            "{family:?} has a {kernel} row:\n{text}"
        );
    }
    let error = refused(&["profile", "qlearn", "--device", "cpu"], "kernel ");
    assert!(error.contains("run no kernels"), "{error}");
    let error = refused(&["profile", "mlp", "--arch", "gru"], "kernel ");
    assert!(error.contains("only charlm takes --arch"), "{error}");
    let error = refused(&["profile", "charlm", "--device", "cpu"], "kernel ");
    assert!(error.contains("--arch"), "{error}");
}

#[test]
fn nothing_is_recorded_without_a_profiler_and_one_runs_at_a_time() {
    let _turn = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let cpu = Device::cpu();
    let x = Tensor::ones(&[8, 8], DType::F32, &cpu).unwrap();
    x.matmul(&x)
        .unwrap()
        .sum(&[], false)
        .unwrap()
        .item::<f32>()
        .unwrap();
    let profiler = Profiler::start().unwrap();
    assert!(Profiler::start().is_err(), "a second profiler is refused");
    let profile = profiler.finish();
    assert_eq!(profile.events.len(), 0, "{:?}", profile.events);
    let again = Profiler::start().expect("a finished profiler frees its place");
    drop(again);
}

/// The trace is JSON in the Trace Event Format: named tracks, and a complete event for
/// every recorded span, with the kernel's op and cost.
#[test]
fn the_chrome_trace_holds_every_span() {
    let _turn = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let profile = profiled_steps(&Device::cpu(), false);
    let trace: serde_json::Value = serde_json::from_str(&profile.chrome_trace()).unwrap();
    let events = trace["traceEvents"].as_array().unwrap();
    let complete: Vec<_> = events.iter().filter(|e| e["ph"] == "X").collect();
    assert_eq!(complete.len(), profile.events.len());
    assert!(events
        .iter()
        .any(|e| e["ph"] == "M" && e["args"]["name"] == "cpu kernels"));
    let product = complete
        .iter()
        .find(|e| e["args"]["op"] == "matmul")
        .expect("a product");
    assert!(product["args"]["flop"].as_u64().unwrap() > 0);
    assert!(complete.iter().all(|e| e["ts"].as_f64().unwrap() >= 0.0));
}

#[test]
fn lepton_profile_prints_a_table_and_writes_a_trace() {
    let _turn = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("profile");
    for device in cli_devices() {
        let path = dir.join(format!("{device}.json"));
        let text = lepton(&[
            "profile",
            "mlp",
            "--device",
            device,
            "--steps",
            "2",
            "--warmup",
            "1",
            "--by",
            "op",
            "--trace",
            path.to_str().unwrap(),
        ]);
        assert!(
            text.contains("2 steps after 1 warm-up, each one optimizer step on a batch of 32"),
            "{text}"
        );
        assert!(
            text.contains("device    ") && text.contains("the kernels' total is"),
            "{text}"
        );
        let row = text
            .lines()
            .find(|l| l.starts_with("matmul "))
            .unwrap_or_else(|| panic!("a matmul row:\n{text}"));
        assert!(row.contains(&format!(" {} ", &device[..3])), "{row}");
        let trace: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert!(trace["traceEvents"].as_array().unwrap().len() > 10);
    }
}

#[test]
fn lepton_bench_measures_peaks_and_times_the_kernels_it_is_asked_for() {
    let _turn = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("bench");
    for device in cli_devices() {
        let path = dir.join(format!("{device}.json"));
        let text = lepton(&[
            "bench",
            "--quick",
            "--device",
            device,
            "--filter",
            "256x256",
            "--json",
            path.to_str().unwrap(),
        ]);
        assert!(text.contains("peaks: copy"), "{text}");
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(doc["schema"], "lepton-bench/1");
        for peak in [
            "copy_bytes_per_s",
            "read_bytes_per_s",
            "flop_per_s",
            "empty_s",
        ] {
            assert!(
                doc["peaks"][peak].as_f64().unwrap() > 0.0,
                "{peak} on {device}"
            );
        }
        let kernels = doc["kernels"].as_array().unwrap();
        assert_eq!(kernels.len(), 1, "only the filtered product: {kernels:?}");
        assert_eq!(kernels[0]["flop"], 2 * 256 * 256 * 256);
        let samples = kernels[0]["samples_us"].as_array().unwrap();
        assert_eq!(samples.len(), 5);
        assert!(samples.iter().all(|s| s.as_f64().unwrap() > 0.0));
    }
    let refused = common::cli::refused(
        &["bench", "--device", "cpu", "--filter", "nothing"],
        "peaks",
    );
    assert!(refused.contains("no kernel matches"), "{refused}");
}

/// A baseline saved, compared with (a doctored copy ten thousand times faster fails, one
/// from another device is refused), and the roofline drawn.
#[test]
fn lepton_bench_compares_with_a_baseline_and_draws_the_roofline() {
    let _turn = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("baseline");
    let (base, png) = (dir.join("base.json"), dir.join("roofline.png"));
    let quick = ["bench", "--quick", "--device", "cpu", "--filter", "256x256"];
    let mut args = quick.to_vec();
    args.extend(["--save-baseline", base.to_str().unwrap()]);
    args.extend(["--roofline", png.to_str().unwrap()]);
    lepton(&args);
    assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
    let mut args = quick.to_vec();
    args.extend(["--compare", base.to_str().unwrap(), "--threshold", "1000"]);
    let text = lepton(&args);
    assert!(
        text.contains("before µs") && !text.contains("SLOWER"),
        "{text}"
    );
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&base).unwrap()).unwrap();
    for k in doc["kernels"].as_array_mut().unwrap() {
        k["samples_us"] = serde_json::json!([0.001, 0.001, 0.001]);
    }
    let fast = dir.join("fast.json");
    std::fs::write(&fast, doc.to_string()).unwrap();
    let mut args = quick.to_vec();
    args.extend(["--compare", fast.to_str().unwrap()]);
    let err = common::cli::refused(&args, "no such line");
    assert!(
        err.contains("slower than the baseline") && err.contains("matmul"),
        "{err}"
    );
    doc["device"] = serde_json::json!("gpu (another card)");
    std::fs::write(&fast, doc.to_string()).unwrap();
    let err = common::cli::refused(&args, "peaks");
    assert!(err.contains("--force"), "{err}");
}
