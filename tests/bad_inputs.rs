//! The bad-input corpus (#18), files and command lines: checkpoints truncated at every byte of a small
//! file, with a header length past the file, a header that is not JSON, a wrong dtype or
//! shape, a tensor missing or duplicated; IDX files with a wrong magic number, type or
//! dimensions, truncated at every byte, with dimensions whose product overflows; data files
//! that are empty or something else; every option of `lepton train` in every family with
//! zero, negative, NaN, infinite, fractional, overflowing and malformed values, output paths
//! into missing folders, missing and corrupt checkpoints to resume. Every case must end in the typed error it names, and
//! nothing else; each runs under `catch_unwind`, so a panic is counted as a failure, not
//! an abort. The test prints how many cases it ran.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::corpus::Corpus;
use lepton::checkpoint::{load, load_training, save_training};
use lepton::data::Dataset;
use lepton::nn::{Linear, Module};
use lepton::optim::Adam;
use lepton::{DType, Device, Error};

impl Corpus {
    /// Run a command line that must be refused: a non-zero exit and an `error: ` line (not
    /// the Vulkan loader's notice about XDG_RUNTIME_DIR), with nothing on stdout, so
    /// nothing ran before the refusal.
    fn check_command(&mut self, name: &str, run: impl FnOnce() -> Option<(bool, String, String)>) {
        self.cases += 1;
        let failure = match run() {
            None => Some("still running after 30 s".to_string()),
            Some((true, ..)) => Some("accepted".to_string()),
            Some((false, out, _)) if !out.is_empty() => Some(format!(
                "printed before refusing: {}",
                out.lines().next().unwrap_or("")
            )),
            Some((false, _, err))
                if !err
                    .lines()
                    .any(|l| l.starts_with("error: ") && !l.contains("XDG_RUNTIME_DIR")) =>
            {
                Some(format!("no error line: {err}"))
            }
            Some(_) => None,
        };
        if let Some(failure) = failure {
            self.failures.push(format!("{name}: {failure}"));
        }
    }
}

fn checkpoint_error(e: &Error) -> bool {
    matches!(e, Error::Checkpoint { .. })
}

fn data_error(e: &Error) -> bool {
    matches!(e, Error::Data { .. })
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lepton-bad-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A safetensors file whose header is `header` (padded to 8 bytes) over `data`.
fn safetensors(header: &str, data: &[u8]) -> Vec<u8> {
    let mut text = header.as_bytes().to_vec();
    text.resize(text.len().div_ceil(8) * 8, b' ');
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&text);
    out.extend_from_slice(data);
    out
}

fn checkpoints(corpus: &mut Corpus, dir: &Path) {
    let cpu = Device::cpu();
    let model = Linear::new(3, 2, true, 1, DType::F32, &cpu).unwrap();
    let good = dir.join("good.safetensors");
    let optimizer = Adam::new(model.parameters(), 1e-3);
    save_training(&good, &model, Some(&optimizer), HashMap::new()).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let bad = dir.join("bad.safetensors");
    let load_bytes = |content: &[u8]| -> Option<Error> {
        std::fs::write(&bad, content).unwrap();
        load(&bad, &cpu).err()
    };
    let load_into_model = |content: &[u8]| -> Option<Error> {
        std::fs::write(&bad, content).unwrap();
        let target = Linear::new(3, 2, true, 2, DType::F32, &cpu).unwrap();
        load_training(&bad, &target, None, &cpu).err()
    };

    // Every prefix shorter than the file: a truncated download or a full disk.
    for cut in 0..bytes.len() {
        corpus.check(
            &format!("checkpoint truncated to {cut} of {} bytes", bytes.len()),
            || load_bytes(&bytes[..cut]),
            checkpoint_error,
        );
    }
    let header = u64::from_le_bytes(bytes[..8].try_into().unwrap());
    for claimed in [header + 1, bytes.len() as u64, 1 << 40, u64::MAX] {
        let mut content = bytes.clone();
        content[..8].copy_from_slice(&claimed.to_le_bytes());
        corpus.check(
            &format!("checkpoint header length {claimed}"),
            || load_bytes(&content),
            checkpoint_error,
        );
    }
    let data = [0u8; 24];
    let tensor = |dtype: &str, shape: &str, offsets: &str| {
        format!(r#"{{"weight":{{"dtype":"{dtype}","shape":{shape},"data_offsets":{offsets}}}}}"#)
    };
    let headers = [
        (
            "a header that is not JSON",
            "weight: F32 [2, 3]".to_string(),
        ),
        ("a JSON array as the header", "[1, 2, 3]".to_string()),
        ("an unknown dtype", tensor("F33", "[2,3]", "[0,24]")),
        ("offsets past the data", tensor("F32", "[2,3]", "[0,48]")),
        ("offsets backwards", tensor("F32", "[2,3]", "[24,0]")),
        (
            "a shape that the offsets do not hold",
            tensor("F32", "[4,3]", "[0,24]"),
        ),
        ("a negative dimension", tensor("F32", "[-2,3]", "[0,24]")),
        (
            "an overflowing shape",
            tensor("F32", "[4294967296,4294967296,4294967296]", "[0,24]"),
        ),
        ("offsets that leave a gap", tensor("F32", "[2,2]", "[8,24]")),
    ];
    for (name, header) in headers {
        corpus.check(
            name,
            || load_bytes(&safetensors(&header, &data)),
            checkpoint_error,
        );
    }
    // Files that hold tensors, but not the model's.
    let linear = |weight: &str, bias: &str| {
        format!(
            r#"{{"weight":{{"dtype":{weight},"data_offsets":[0,24]}},"bias":{{"dtype":{bias},"data_offsets":[24,32]}}}}"#
        )
    };
    let models = [
        (
            "the weight as f64",
            linear(r#""F64","shape":[3]"#, r#""F32","shape":[2]"#),
            32,
        ),
        (
            "the weight as i32",
            linear(r#""I32","shape":[2,3]"#, r#""F32","shape":[2]"#),
            32,
        ),
        (
            "the weight transposed",
            linear(r#""F32","shape":[3,2]"#, r#""F32","shape":[2]"#),
            32,
        ),
        ("the bias missing", tensor("F32", "[2,3]", "[0,24]"), 24),
        (
            "a tensor named twice",
            r#"{"weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"weight":{"dtype":"F32","shape":[2,3],"data_offsets":[24,48]},"bias":{"dtype":"F32","shape":[2],"data_offsets":[48,56]}}"#
                .to_string(),
            56,
        ),
        (
            "an extra tensor",
            r#"{"weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"bias":{"dtype":"F32","shape":[2],"data_offsets":[24,32]},"scale":{"dtype":"F32","shape":[1],"data_offsets":[32,36]}}"#
                .to_string(),
            36,
        ),
    ];
    for (name, header, length) in models {
        let content = safetensors(&header, &vec![0u8; length]);
        corpus.check(name, || load_into_model(&content), checkpoint_error);
    }
    for (name, content) in [
        ("an empty file", Vec::new()),
        ("a text file", b"epoch,loss\n1,0.5\n".to_vec()),
        ("a PNG", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec()),
    ] {
        corpus.check(
            &format!("checkpoint: {name}"),
            || load_bytes(&content),
            checkpoint_error,
        );
    }
    corpus.check(
        "a checkpoint that does not exist",
        || load(&dir.join("no-such.safetensors"), &cpu).err(),
        checkpoint_error,
    );
}

/// An IDX file of unsigned bytes with dimensions `dims` and values `data`.
fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

fn idx_files(corpus: &mut Corpus, dir: &Path) {
    let (images, labels) = (dir.join("images.idx"), dir.join("labels.idx"));
    let good_images = idx(&[3, 2, 2], &[0, 255, 7, 9, 1, 2, 3, 4, 5, 6, 7, 8]);
    let good_labels = idx(&[3], &[1, 0, 2]);
    let load_pair = |image_bytes: &[u8], label_bytes: &[u8]| -> Option<Error> {
        std::fs::write(&images, image_bytes).unwrap();
        std::fs::write(&labels, label_bytes).unwrap();
        Dataset::from_idx(&images, &labels).err()
    };
    assert!(
        load_pair(&good_images, &good_labels).is_none(),
        "the good pair loads"
    );
    for cut in 0..good_images.len() {
        corpus.check(
            &format!("IDX images truncated to {cut} bytes"),
            || load_pair(&good_images[..cut], &good_labels),
            data_error,
        );
    }
    for cut in 0..good_labels.len() {
        corpus.check(
            &format!("IDX labels truncated to {cut} bytes"),
            || load_pair(&good_images, &good_labels[..cut]),
            data_error,
        );
    }
    let mut cases: Vec<(&str, Vec<u8>, Vec<u8>)> = vec![
        (
            "one byte too many",
            [&good_images[..], &[0]].concat(),
            good_labels.clone(),
        ),
        (
            "labels for other rows",
            good_images.clone(),
            idx(&[4], &[1, 0, 2, 3]),
        ),
        (
            "labels in two dimensions",
            good_images.clone(),
            idx(&[3, 1], &[1, 0, 2]),
        ),
        (
            "images without dimensions",
            idx(&[], &[]),
            good_labels.clone(),
        ),
        (
            "an overflowing image size",
            idx(&[u32::MAX, u32::MAX, u32::MAX], &[]),
            good_labels.clone(),
        ),
        (
            "an overflowing label count",
            good_images.clone(),
            idx(&[u32::MAX, u32::MAX], &[]),
        ),
        ("no data at all", idx(&[3, 2, 2], &[]), good_labels.clone()),
        ("no images", idx(&[0, 2, 2], &[]), idx(&[0], &[])),
        (
            "images of no pixels",
            idx(&[3, 0], &[]),
            good_labels.clone(),
        ),
    ];
    for magic in [[1u8, 0], [0, 1], [0x1f, 0x8b]] {
        let mut wrong = good_images.clone();
        wrong[..2].copy_from_slice(&magic);
        cases.push(("a wrong magic number", wrong, good_labels.clone()));
    }
    for code in [0x09u8, 0x0b, 0x0c, 0x0d, 0x0e, 0x00, 0xff] {
        let mut wrong = good_images.clone();
        wrong[2] = code;
        cases.push((
            "a type other than unsigned bytes",
            wrong,
            good_labels.clone(),
        ));
    }
    for ndims in [0u8, 1, 4, 255] {
        let mut wrong = good_images.clone();
        wrong[3] = ndims;
        cases.push(("a wrong number of dimensions", wrong, good_labels.clone()));
    }
    for (name, image_bytes, label_bytes) in cases {
        corpus.check(name, || load_pair(&image_bytes, &label_bytes), data_error);
    }
    corpus.check(
        "IDX files that do not exist",
        || Dataset::from_idx(&dir.join("none.idx"), &dir.join("none-labels.idx")).err(),
        data_error,
    );
}

#[test]
fn bad_files_end_in_typed_errors_without_a_panic() {
    let dir = scratch("files");
    let mut corpus = Corpus::default();
    checkpoints(&mut corpus, &dir);
    idx_files(&mut corpus, &dir);
    std::fs::remove_dir_all(&dir).unwrap();
    corpus.finish("bad-input cases");
}

/// Run `lepton` with `args`: its exit status, stdout and stderr, or `None` when it was
/// still running after 30 s (it took the arguments and trained).
fn lepton(args: &[&str]) -> Option<(bool, String, String)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lepton"))
        .args(args)
        .env("LEPTON_AUTOTUNE", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let began = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if began.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let out = child.wait_with_output().unwrap();
    Some((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// Every option of `lepton train` with values no run can take, in every family: each is
/// refused with a non-zero exit and an `error: ` line before the command prints anything,
/// so no option and no output path is found wrong after training.
#[test]
fn bad_command_lines_are_refused_before_anything_runs() {
    let dir = scratch("command-lines");
    let garbage = dir.join("garbage.safetensors");
    std::fs::write(&garbage, b"not a checkpoint").unwrap();
    let (missing_dir, missing_file) = (
        dir.join("no-such-folder").join("out.png"),
        dir.join("no-such.safetensors"),
    );
    let (missing_dir, missing_file, garbage) = (
        missing_dir.to_str().unwrap(),
        missing_file.to_str().unwrap(),
        garbage.to_str().unwrap(),
    );
    let mut bad: Vec<Vec<&str>> = Vec::new();
    for flag in [
        "--epochs",
        "--batch-size",
        "--iterations",
        "--eval-every",
        "--stop-after",
    ] {
        for value in ["0", "-1", "x", "1.5", "99999999999999999999999"] {
            bad.push(vec![flag, value]);
        }
    }
    for value in ["0", "-1", "nan", "inf", "-inf", "x", ""] {
        bad.push(vec!["--lr", value]);
    }
    for value in ["-1", "x", "1e3"] {
        bad.push(vec!["--seed", value]);
    }
    for value in ["nan", "x"] {
        bad.push(vec!["--stop-at-return", value]);
    }
    for flag in ["--save", "--plot", "--metrics", "--images"] {
        bad.push(vec![flag, missing_dir]);
    }
    for value in [missing_file, garbage] {
        bad.push(vec!["--resume", value]);
    }
    bad.push(vec!["--eval"]);
    bad.push(vec!["--no-such-option"]);
    let families = [
        "linreg",
        "mlp",
        "cnn",
        "rnn",
        "lstm",
        "gru",
        "charlm",
        "qlearn",
        "dqn",
        "reinforce",
        "a2c",
        "ppo",
        "vae",
        "gan",
    ];
    let mut corpus = Corpus::default();
    for family in families {
        // charlm needs its architecture, or every case would fail for that alone.
        let base: Vec<&str> = match family {
            "charlm" => vec!["train", family, "--device", "cpu", "--arch", "lstm"],
            _ => vec!["train", family, "--device", "cpu"],
        };
        let mut cases = bad.clone();
        for device in ["", "tpu", "GPU", "gpu:99", "gpu:-1"] {
            cases.push(vec!["--device", device]);
        }
        for (name, args) in cases.iter().map(|a| (a.join(" "), a)) {
            corpus.check_command(&format!("train {family} {name}"), || {
                // A later --device replaces the base's.
                lepton(&[&base[..], &args[..]].concat())
            });
        }
    }
    corpus.check_command("an unknown family", || lepton(&["train", "transformer"]));
    corpus.check_command("no family", || lepton(&["train"]));
    corpus.check_command("an unknown command", || lepton(&["fly"]));
    std::fs::remove_dir_all(&dir).unwrap();
    corpus.finish("bad command lines");
}
