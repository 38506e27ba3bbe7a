//! examples/classify.c, compiled against include/lepton.h and linked to this crate's shared
//! library, runs on the CPU path and on the GPU: its ops match its own C loops, bad calls get
//! typed statuses, and a saved MLP's forward pass matches an f64 reference computed here
//! from the saved weights with plain loops.

use std::path::{Path, PathBuf};
use std::process::Command;

use lepton::models::mlp::Mlp;
use lepton::nn::{Activation, Module};
use lepton::{Device, Tensor};

/// The directory of this test's binary, where cargo leaves this crate's shared library when
/// it builds the library for the tests (the `rlib` crate type makes it do so); the copy in
/// target/<profile> exists only after a `cargo build` of this crate.
fn build_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().to_path_buf()
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lepton-c-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write_floats(path: &Path, values: &[f32]) {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

/// The MLP's outputs in f64, from its weights, with plain loops.
fn reference(model: &Mlp, rows: &[f32], inputs: usize) -> Vec<f32> {
    let params: Vec<(Vec<usize>, Vec<f64>)> = model
        .parameters()
        .into_iter()
        .map(|(_, p)| {
            let t: Tensor = p.get();
            let values = t
                .to_vec::<f32>()
                .unwrap()
                .into_iter()
                .map(f64::from)
                .collect();
            (t.shape().to_vec(), values)
        })
        .collect();
    let mut out = Vec::new();
    for row in rows.chunks(inputs) {
        let mut h: Vec<f64> = row.iter().map(|&v| f64::from(v)).collect();
        for (layer, pair) in params.chunks(2).enumerate() {
            let ((shape, w), (_, b)) = (&pair[0], &pair[1]);
            let (n_out, n_in) = (shape[0], shape[1]);
            let mut next: Vec<f64> = (0..n_out)
                .map(|o| b[o] + (0..n_in).map(|i| w[o * n_in + i] * h[i]).sum::<f64>())
                .collect();
            if layer + 1 < params.len() / 2 {
                next.iter_mut().for_each(|v| *v = v.max(0.0));
            }
            h = next;
        }
        out.extend(h.iter().map(|&v| v as f32));
    }
    out
}

#[test]
fn the_c_example_runs_on_every_device() {
    let dir = scratch();
    let cpu = Device::cpu();
    let (inputs, rows) = (64, 7);
    let model = Mlp::new(&[inputs, 32, 10], Activation::Relu, 5, &cpu).unwrap();
    let metadata = [("family".to_string(), "Mlp".to_string())].into();
    let model_path = dir.join("mlp.safetensors");
    lepton::checkpoint::save_training(&model_path, &model, None, metadata).unwrap();
    // Pixels in 0..1, as the digits are scaled.
    let values: Vec<f32> = (0..rows * inputs)
        .map(|i| ((i * 37 + 11) % 101) as f32 / 100.0)
        .collect();
    write_floats(&dir.join("rows.f32"), &values);
    write_floats(
        &dir.join("expected.f32"),
        &reference(&model, &values, inputs),
    );

    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let build = build_dir();
    let program = dir.join("classify");
    let compiled = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-I"])
        .arg(crate_dir.join("include"))
        .arg(crate_dir.join("examples/classify.c"))
        .arg("-L")
        .arg(&build)
        .arg("-llepton_c")
        .arg(format!("-Wl,-rpath,{}", build.display()))
        .args(["-lm", "-o"])
        .arg(&program)
        .status()
        .unwrap();
    assert!(compiled.success(), "compiling examples/classify.c");

    let mut devices = vec!["cpu"];
    if Device::parse("gpu").is_ok() {
        devices.push("gpu");
    } else if std::env::var_os("LEPTON_REQUIRE_GPU").is_some() {
        panic!("LEPTON_REQUIRE_GPU is set and there is no GPU adapter");
    } else {
        eprintln!("SKIPPED: the C example on a GPU (no adapter)");
    }
    for device in devices {
        let run = Command::new(&program)
            .arg(device)
            .arg(&model_path)
            .arg(dir.join("rows.f32"))
            .arg(dir.join("expected.f32"))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&run.stdout);
        assert!(
            run.status.success() && stdout.ends_with("ok\n"),
            "classify on {device}:\n{stdout}\n{}",
            String::from_utf8_lossy(&run.stderr)
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}
