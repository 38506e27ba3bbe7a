//! `lepton train mlp|cnn --data DIR` on an MNIST-style directory of IDX files, gzipped or
//! not, and the errors for a directory that lacks them.

mod common;

use std::io::Write;
use std::path::Path;

use common::cli::{lepton, refused, scratch};

/// An IDX file of unsigned bytes with dimensions `dims`.
fn idx(dims: &[u32], values: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    dims.iter().for_each(|d| out.extend(d.to_be_bytes()));
    out.extend_from_slice(values);
    out
}

fn gzipped(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// `rows` side×side images of 3 classes: class c lights the c-th third of the image's rows,
/// with noise.
fn write_set(dir: &Path, prefix: &str, rows: usize, side: usize, zip: bool) {
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for i in 0..rows {
        let class = i % 3;
        labels.push(class as u8);
        for p in 0..side * side {
            let lit = (p / side) * 3 / side == class;
            let noise = ((i * 131 + p * 29) % 61) as u8;
            pixels.push(if lit { 190 + noise } else { noise });
        }
    }
    let images = idx(&[rows as u32, side as u32, side as u32], &pixels);
    let labels = idx(&[rows as u32], &labels);
    let write = |name: String, bytes: Vec<u8>| {
        let (name, bytes) = if zip {
            (format!("{name}.gz"), gzipped(&bytes))
        } else {
            (name, bytes)
        };
        std::fs::write(dir.join(name), bytes).unwrap();
    };
    write(format!("{prefix}-images-idx3-ubyte"), images);
    write(format!("{prefix}-labels-idx1-ubyte"), labels);
}

#[test]
fn both_families_learn_an_idx_directory_and_refuse_an_incomplete_one() {
    let dir = scratch("idx-set");
    // Training files gzipped as MNIST is distributed, test files plain.
    write_set(&dir, "train", 240, 12, true);
    write_set(&dir, "t10k", 60, 12, false);
    let path = dir.to_str().unwrap();
    for family in ["cnn", "mlp"] {
        let args = ["train", family, "--device", "cpu", "--data", path];
        let text = lepton(&[&args[..], &["--epochs", "6"]].concat());
        assert!(text.contains("240 train / 60 test rows"), "{text}");
        let last = text
            .lines()
            .rev()
            .find(|l| l.contains("test loss"))
            .unwrap();
        // "... test loss L acc A% ...": three classes, so chance is a third; bands that
        // differ by 130 grey levels are told apart by any model that learns.
        let (_, test) = last.split_once("test loss").unwrap();
        let accuracy: f64 = test
            .split_once("acc ")
            .and_then(|(_, a)| a.split_once('%'))
            .and_then(|(a, _)| a.trim().parse().ok())
            .unwrap();
        assert!(accuracy >= 90.0, "{family}: {last}");
    }
    std::fs::remove_file(dir.join("t10k-labels-idx1-ubyte")).unwrap();
    let text = refused(
        &["train", "cnn", "--device", "cpu", "--data", path],
        "epoch",
    );
    assert!(
        text.contains("no t10k-labels-idx1-ubyte (or t10k-labels-idx1-ubyte.gz)"),
        "{text}"
    );
    // Images too small for the CNN's two poolings: refused, as the MLP takes them.
    write_set(&dir, "train", 30, 3, false);
    write_set(&dir, "t10k", 9, 3, false);
    let text = refused(
        &["train", "cnn", "--device", "cpu", "--data", path],
        "epoch",
    );
    assert!(text.contains("3×3 images"), "{text}");
    let args = [
        "train", "mlp", "--device", "cpu", "--data", path, "--epochs", "1",
    ];
    assert!(lepton(&args).contains("30 train / 9 test rows"));
    std::fs::remove_dir_all(&dir).unwrap();
}
