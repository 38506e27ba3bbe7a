//! ONNX's backend node tests for the ops the engine lowers (tests/data/onnx/node, copied from
//! the onnx 1.22.0 wheel by tests/data/onnx/copy_node_tests.py): each case's model run on its
//! inputs must give its outputs to ONNX's own tolerance (rtol 1e-3, atol 1e-7, as its test
//! runner holds backends to). The cases in passing.txt pass on every device; on the CPU path
//! exactly those pass, so the list, and the counts per op in the README, stay true. Run with
//! `--nocapture` for the table. Cases written here (tests/data/onnx/recurrent and integer)
//! cover LSTM and GRU forms and integer reductions that the node tests leave out.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;
use lepton::onnx::{self, OnnxModel};
use lepton::{Device, Tensor};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/onnx")
}

fn cases(folder: &str) -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(data().join(folder))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    cases
}

fn tensors(case: &Path, prefix: &str, device: &Device) -> Vec<Tensor> {
    (0..)
        .map(|i| case.join(format!("{prefix}_{i}.pb")))
        .take_while(|p| p.exists())
        .map(|p| {
            onnx::tensor_from_bytes(&std::fs::read(p).unwrap(), device)
                .unwrap()
                .1
        })
        .collect()
}

/// The case's outcome on `device`: Ok, or why it failed.
fn run(case: &Path, device: &Device) -> Result<(), String> {
    let model = OnnxModel::load(&case.join("model.onnx")).map_err(|e| e.to_string())?;
    let names: Vec<String> = model.inputs().into_iter().map(|(n, _)| n).collect();
    let given = tensors(case, "input", device);
    let inputs: Vec<(&str, Tensor)> = names.iter().map(String::as_str).zip(given).collect();
    let outputs = model.run(&inputs, device).map_err(|e| e.to_string())?;
    let expected = tensors(case, "output", device);
    if outputs.len() != expected.len() {
        return Err(format!(
            "{} outputs, {} expected",
            outputs.len(),
            expected.len()
        ));
    }
    for ((name, got), want) in outputs.iter().zip(&expected) {
        if got.shape() != want.shape() {
            return Err(format!(
                "{name}: shape {:?}, expected {:?}",
                got.shape(),
                want.shape()
            ));
        }
        let got = lepton::Tensor::to_vec::<f64>(
            &got.cast(lepton::DType::F64).map_err(|e| e.to_string())?,
        )
        .map_err(|e| e.to_string())?;
        let want = values(want);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            let close =
                (g - w).abs() <= 1e-7 + 1e-3 * w.abs() || (g.is_nan() && w.is_nan()) || g == w;
            if !close {
                return Err(format!("{name}[{i}] is {g}, expected {w}"));
            }
        }
    }
    Ok(())
}

/// The op types a case's model uses: the table counts the case for each of them.
fn ops_of(case: &Path) -> Vec<String> {
    let model = OnnxModel::load(&case.join("model.onnx")).unwrap();
    model.op_counts().into_iter().map(|(op, _)| op).collect()
}

on_every_device! {
    fn onnx_node_tests(device) {
        let listed: Vec<String> = std::fs::read_to_string(data().join("passing.txt"))
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        let mut table: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        let mut failed_listed = Vec::new();
        let mut passed_unlisted = Vec::new();
        for case in cases("node") {
            let name = case.file_name().unwrap().to_str().unwrap().to_string();
            let outcome = run(&case, &device);
            for op in ops_of(&case) {
                let entry = table.entry(op).or_default();
                entry.1 += 1;
                entry.0 += usize::from(outcome.is_ok());
            }
            match (&outcome, listed.contains(&name)) {
                (Ok(()), listed) => {
                    if !listed {
                        passed_unlisted.push(name);
                    }
                }
                (Err(why), true) => failed_listed.push(format!("{name}: {why}")),
                (Err(why), false) => eprintln!("{name} fails on {device}: {why}"),
            }
        }
        for (ops, (passed, total)) in &table {
            eprintln!("| {ops} | {passed} / {total} |");
        }
        assert!(failed_listed.is_empty(), "on {device}:\n{}", failed_listed.join("\n"));
        if !device.is_gpu() {
            assert!(passed_unlisted.is_empty(), "passing, not in passing.txt: {passed_unlisted:?}");
        }
    }
}

on_every_device! {
    fn forms_the_node_tests_leave_out(device) {
        // Cases written here: tests/data/onnx/make_recurrent_cases.py (reverse and
        // bidirectional LSTMs and GRUs, batch first, from given states, both forms of the
        // GRU's reset, against the specification's equations in f64) and
        // make_integer_cases.py (integer reductions, which run on the host, and a flatten
        // by a shape's product, against ONNX's reference evaluator).
        let failed: Vec<String> = ["recurrent", "integer"]
            .iter()
            .flat_map(|folder| cases(folder))
            .filter_map(|case| {
                let name = case.file_name().unwrap().to_string_lossy().to_string();
                run(&case, &device).err().map(|why| format!("{name}: {why}"))
            })
            .collect();
        assert!(failed.is_empty(), "on {device}:\n{}", failed.join("\n"));
    }
}

#[test]
fn the_copied_ops_are_the_engines() {
    let mut listed: Vec<String> = std::fs::read_to_string(data().join("ops.txt"))
        .unwrap()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    listed.sort();
    let mut ours: Vec<String> = onnx::supported_ops()
        .iter()
        .map(|s| s.to_string())
        .collect();
    ours.sort();
    assert_eq!(
        listed, ours,
        "tests/data/onnx/ops.txt against lepton::onnx::supported_ops()"
    );
}
