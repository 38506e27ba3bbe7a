//! Whole ONNX models: the digits CNN that PyTorch trained (tests/fixtures/
//! make_trained_fixtures.py), exported by torch.onnx, gives PyTorch's outputs on every device,
//! the same as its safetensors weights do, and so does the character model (embedding, LSTM,
//! GRU, attention, layer norm); a model with ops the engine lacks is refused with all of
//! them, by node; `lepton onnx check` and `run` say the same from the command line; no
//! truncation of a model panics.

mod common;

use std::process::Command;

use common::cli::{lepton, scratch};
use common::trained::{fixture, outputs};
use common::*;
use lepton::onnx::OnnxModel;
use lepton::{DType, Device, Error, Tensor};

on_every_device! {
    fn a_trained_cnn_exported_by_pytorch_gives_its_outputs(device) {
        let data = outputs(&device);
        let model = OnnxModel::load(&fixture("trained_cnn.onnx")).unwrap();
        assert!(model.unsupported().is_empty());
        assert_eq!(model.inputs()[0].1, Some(vec![None, Some(1), Some(8), Some(8)]));
        let got = model.run(&[("images", data["cnn_input"].clone())], &device).unwrap();
        assert_eq!(got[0].0, "logits");
        // Held to PyTorch's float64 outputs within 8 times PyTorch's own float32 error, as
        // the safetensors route is in tests/state_dict.rs (the export folds the batch norm
        // into the convolution, which rounds differently but no worse).
        let exact = values(&data["cnn_output_f64"]);
        let pytorch = values(&data["cnn_output"]);
        let own = pytorch.iter().zip(&exact).fold(0.0f64, |m, (p, e)| m.max((p - e).abs()));
        assert_eq!(got[0].1.shape(), &[64, 10]);
        assert_close(&values(&got[0].1), &exact, 8.0 * own, 0.0, &format!("onnx cnn on {device}"));
        // A second run on the device reuses the weights: it uploads nothing.
        let before = lepton::stats();
        let again = model.run(&[("images", data["cnn_input"].clone())], &device).unwrap();
        assert_eq!(values(&again[0].1), values(&got[0].1));
        assert_eq!(transfers(&before, &lepton::stats()).1, 0, "bytes uploaded by a second run");
    }
}

on_every_device! {
    fn a_trained_character_model_exported_by_pytorch_gives_its_outputs(device) {
        // Embedding, LSTM, GRU, causal multi-head attention and a layer norm, with the shape
        // arithmetic torch.onnx writes around them (Shape, Gather, Slice, Mod, Concat).
        let data = outputs(&device);
        let model = OnnxModel::load(&fixture("trained_char.onnx")).unwrap();
        assert!(model.unsupported().is_empty(), "{:?}", model.unsupported());
        let got = model.run(&[("ids", data["char_input"].clone())], &device).unwrap();
        assert_eq!(got[0].1.shape(), &[4, 24, 65]);
        // Held as the safetensors route is (tests/state_dict.rs): within 8 times PyTorch's
        // own f32 error of its f64 output.
        let exact = values(&data["char_output_f64"]);
        let pytorch = values(&data["char_output"]);
        let own = pytorch.iter().zip(&exact).fold(0.0f64, |m, (p, e)| m.max((p - e).abs()));
        let what = format!("onnx char model on {device}");
        assert_close(&values(&got[0].1), &exact, 8.0 * own, 0.0, &what);
    }
}

#[test]
fn a_model_with_ops_the_engine_lacks_is_refused_with_all_of_them() {
    // tests/fixtures/make_unsupported_onnx.py: two TopK nodes, a NonZero, an op of another
    // domain, between ops the engine lowers.
    let model = OnnxModel::load(&fixture("unsupported.onnx")).unwrap();
    let unsupported = model.unsupported();
    let listed: Vec<(&str, &str, Vec<String>)> = unsupported
        .iter()
        .map(|u| (u.domain.as_str(), u.op_type.as_str(), u.nodes.clone()))
        .collect();
    assert_eq!(
        listed,
        [
            ("", "NonZero", vec!["where_nonzero".to_string()]),
            ("", "TopK", vec!["top_a".to_string(), "#3".to_string()]),
            ("com.example", "Frobnicate", vec!["custom".to_string()]),
        ]
    );
    let x = Tensor::from_vec(vec![0f32; 12], &[3, 4], &Device::cpu()).unwrap();
    let error = model.run(&[("x", x)], &Device::cpu()).unwrap_err();
    assert!(
        matches!(&error, Error::Onnx { message, .. }
            if message.contains("NonZero (1 of 6 nodes), TopK (2 of 6 nodes), Frobnicate (1 of 6 nodes)")),
        "{error}"
    );
}

#[test]
fn no_truncation_of_a_model_panics() {
    let cpu = Device::cpu();
    let images = Tensor::zeros(&[1, 1, 8, 8], DType::F32, &cpu).unwrap();
    let ids = Tensor::from_vec(vec![3i32; 24], &[1, 24], &cpu).unwrap();
    // The character model's shape arithmetic runs on the host: a flipped byte there must
    // give an error, not a panic or an allocation past the machine. Its weights are most
    // of its bytes, so it is cut and flipped more sparsely.
    for (name, input, step) in [
        ("trained_cnn.onnx", ("images", images), 7),
        ("trained_char.onnx", ("ids", ids), 11),
    ] {
        let bytes = std::fs::read(fixture(name)).unwrap();
        for cut in (0..bytes.len()).step_by(step) {
            // Either it does not parse, or what parses runs or fails with an error.
            if let Ok(model) = OnnxModel::from_bytes(&bytes[..cut]) {
                let _ = model.run(&[(input.0, input.1.clone())], &cpu);
            }
        }
        let mut flipped = bytes.clone();
        for at in (0..bytes.len()).step_by(2 * step - 1) {
            flipped[at] ^= 0x41;
            if let Ok(model) = OnnxModel::from_bytes(&flipped) {
                let _ = model.run(&[(input.0, input.1.clone())], &cpu);
            }
            flipped[at] = bytes[at];
        }
    }
}

#[test]
fn the_command_line_checks_and_runs_a_model() {
    let cnn = fixture("trained_cnn.onnx");
    let text = lepton(&["onnx", "check", cnn.to_str().unwrap()]);
    assert!(
        text.contains("input  images [?, 1, 8, 8]") && text.contains("every op lowers"),
        "{text}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_lepton"))
        .args([
            "onnx",
            "check",
            fixture("unsupported.onnx").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(
        text.contains("unsupported TopK: 2 nodes: top_a, #3"),
        "{text}"
    );

    let dir = scratch("onnx-run");
    let cpu = Device::cpu();
    let data = outputs(&cpu);
    let input = dir.join("images.npy");
    lepton::npy::write(&input, &data["cnn_input"]).unwrap();
    let saved = dir.join("out.npz");
    let text = lepton(&[
        "onnx",
        "run",
        cnn.to_str().unwrap(),
        "--input",
        &format!("images={}", input.display()),
        "--device",
        "cpu",
        "--save",
        saved.to_str().unwrap(),
    ]);
    assert!(text.contains("logits [64, 10] f32"), "{text}");
    let written = lepton::npz::read(&saved, &cpu).unwrap();
    let model = OnnxModel::load(&cnn).unwrap();
    let direct = model
        .run(&[("images", data["cnn_input"].clone())], &cpu)
        .unwrap();
    assert_eq!(written[0].0, "logits");
    assert_eq!(values(&written[0].1), values(&direct[0].1));
}
