//! PyTorch weights by name: two models trained by PyTorch (tests/fixtures/
//! make_trained_fixtures.py: a digits CNN with batch norm, and a character model with an
//! embedding, an LSTM, a GRU, causal attention, a layer norm and a linear head), loaded from
//! their safetensors state dicts into the same structures built from this engine's layers,
//! reproduce PyTorch's outputs on held-out inputs (stored in a NumPy .npz). Then what a load
//! converts, skips and refuses, every problem listed at once and nothing changed.

mod common;

use std::collections::HashMap;

use common::trained::{fixture, outputs};
use common::*;
use lepton::nn::{
    prefixed, Activation, BatchNorm, CellKind, Conv2d, Conv2dSpec, Embedding, Flatten, LayerNorm,
    Linear, Module, MultiheadAttention, Parameter, Pool2d, Recurrent, RecurrentConfig, Sequential,
};
use lepton::state_dict::{self, LoadOptions};
use lepton::{DType, Device, Error, Tensor};

/// The fixture's CNN with a head of `classes` outputs and, where `batch_norm`, its BatchNorm
/// (otherwise a ReLU in its place, so the indices stay PyTorch's).
fn digits_cnn(classes: usize, batch_norm: bool, dtype: DType, device: &Device) -> Sequential {
    let same = Conv2dSpec {
        padding: (1, 1),
        ..Conv2dSpec::default()
    };
    let pool = Pool2d::Max {
        kernel: (2, 2),
        spec: Conv2dSpec {
            stride: (2, 2),
            ..Conv2dSpec::default()
        },
    };
    let model = Sequential::new().push(Conv2d::new(1, 8, (3, 3), same, 1, dtype, device).unwrap());
    let model = match batch_norm {
        true => model.push(BatchNorm::new_2d(8, dtype, device).unwrap()),
        false => model.push(Activation::Relu),
    };
    let mut model = model
        .push(Activation::Relu)
        .push(pool)
        .push(Conv2d::new(8, 16, (3, 3), same, 2, dtype, device).unwrap())
        .push(Activation::Relu)
        .push(pool)
        .push(Flatten)
        .push(Linear::new(64, classes, true, 3, dtype, device).unwrap());
    model.set_training(false);
    model
}

/// The fixture's character model, as its PyTorch class builds it.
struct CharModel {
    embed: Embedding,
    lstm: Recurrent,
    gru: Recurrent,
    attn: MultiheadAttention,
    norm: LayerNorm,
    head: Linear,
}

impl CharModel {
    fn new(vocab: usize, dtype: DType, device: &Device) -> CharModel {
        let recurrent = |kind, inputs, seed| {
            let config = RecurrentConfig {
                batch_first: true,
                ..RecurrentConfig::new(inputs, 24)
            };
            Recurrent::new(kind, config, seed, dtype, device).unwrap()
        };
        CharModel {
            embed: Embedding::new(vocab, 16, 1, dtype, device).unwrap(),
            lstm: recurrent(CellKind::Lstm, 16, 2),
            gru: recurrent(CellKind::Gru, 24, 3),
            attn: MultiheadAttention::new(24, 2, 0.0, 4, dtype, device).unwrap(),
            norm: LayerNorm::new(24, dtype, device).unwrap(),
            head: Linear::new(24, vocab, true, 5, dtype, device).unwrap(),
        }
    }
}

impl Module for CharModel {
    fn forward(&self, ids: &Tensor) -> lepton::Result<Tensor> {
        let (h, _) = self
            .lstm
            .forward_with_state(&self.embed.forward(ids)?, None)?;
        let (h, _) = self.gru.forward_with_state(&h, None)?;
        let attended = self.attn.attend(&h, &h, &h, None, None, true)?;
        self.head.forward(&self.norm.forward(&h.add(&attended)?)?)
    }

    fn parameters(&self) -> Vec<(String, Parameter)> {
        let mut out = prefixed("embed", self.embed.parameters());
        out.extend(prefixed("lstm", self.lstm.parameters()));
        out.extend(prefixed("gru", self.gru.parameters()));
        out.extend(prefixed("attn", self.attn.parameters()));
        out.extend(prefixed("norm", self.norm.parameters()));
        out.extend(prefixed("head", self.head.parameters()));
        out
    }
}

fn char_vocab() -> usize {
    let (_, shapes) = lepton::checkpoint::header(&fixture("trained_char.safetensors")).unwrap();
    shapes["embed.weight"][0]
}

fn names(model: &dyn Module) -> Vec<String> {
    let mut names: Vec<String> = model.parameters().into_iter().map(|(n, _)| n).collect();
    names.sort();
    names
}

/// `got` against PyTorch's float64 output for the same float32 weights (`exact`). In f64 only
/// rounding separates the two: 1e-12 of the outputs' scale, for a few hundred operations on
/// values of order 10. In f32 this engine is held to PyTorch's own f32 accuracy (`pytorch`,
/// the trained model's f32 output): within 8 times PyTorch's largest error, since both round
/// the same sums in different orders and the fast exp, tanh and sigmoid here are within 4 ulp
/// of exact.
fn matches_pytorch(got: &Tensor, exact: &Tensor, pytorch: &Tensor, what: &str) {
    assert_eq!(got.shape(), exact.shape(), "{what}: shape");
    let exact = values(exact);
    let atol = match got.dtype() {
        DType::F64 => 1e-12 * exact.iter().fold(0.0f64, |m, v| m.max(v.abs())),
        _ => {
            let pytorch = values(pytorch);
            8.0 * pytorch
                .iter()
                .zip(&exact)
                .fold(0.0f64, |m, (p, e)| m.max((p - e).abs()))
        }
    };
    assert_close(&values(got), &exact, atol, 0.0, what);
}

on_every_device! {
    fn a_trained_cnn_gives_pytorchs_outputs(device) {
        let data = outputs(&device);
        let dtypes: &[DType] = if device.is_gpu() { &[DType::F32] } else { &[DType::F32, DType::F64] };
        for &dtype in dtypes {
            let model = digits_cnn(10, true, dtype, &device);
            let report =
                state_dict::load(&fixture("trained_cnn.safetensors"), &model, &LoadOptions::new())
                    .unwrap();
            assert_eq!(report.loaded, names(&model));
            assert_eq!(report.skipped, ["1.num_batches_tracked"]);
            assert!(report.missing.is_empty() && report.unexpected.is_empty());
            assert_eq!(report.converted.len(), if dtype == DType::F64 { 10 } else { 0 });
            let logits = model.forward(&data["cnn_input"].cast(dtype).unwrap()).unwrap();
            let what = format!("cnn {dtype} on {device}");
            matches_pytorch(&logits, &data["cnn_output_f64"], &data["cnn_output"], &what);
        }
    }
}

on_every_device! {
    fn a_trained_character_model_gives_pytorchs_outputs(device) {
        let data = outputs(&device);
        assert_eq!(data["char_input"].dtype(), DType::I32, "int64 ids read as i32");
        let dtypes: &[DType] = if device.is_gpu() { &[DType::F32] } else { &[DType::F32, DType::F64] };
        for &dtype in dtypes {
            let model = CharModel::new(char_vocab(), dtype, &device);
            let report =
                state_dict::load(&fixture("trained_char.safetensors"), &model, &LoadOptions::new())
                    .unwrap();
            assert_eq!(report.loaded, names(&model));
            assert!(report.skipped.is_empty());
            let logits = model.forward(&data["char_input"]).unwrap();
            let what = format!("char {dtype} on {device}");
            matches_pytorch(&logits, &data["char_output_f64"], &data["char_output"], &what);
        }
    }
}

/// The parameters' values, by name.
fn snapshot(model: &dyn Module) -> Vec<(String, Vec<f64>)> {
    model
        .parameters()
        .into_iter()
        .map(|(n, p)| (n, values(&p.get())))
        .collect()
}

/// A safetensors file of `tensors` (name, safetensors dtype, shape, little-endian bytes).
fn safetensors_file(tensors: &[(&str, safetensors::Dtype, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .map(|(n, dtype, shape, bytes)| {
            let view = safetensors::tensor::TensorView::new(*dtype, shape.clone(), bytes).unwrap();
            (n.to_string(), view)
        })
        .collect();
    safetensors::serialize(views, None).unwrap()
}

#[test]
fn half_precision_files_load_into_any_float_model_rounded_once() {
    let cpu = Device::cpu();
    let (trained, _) = lepton::checkpoint::load(&fixture("trained_cnn.safetensors"), &cpu).unwrap();
    let floats: Vec<(String, Vec<f32>)> = trained
        .iter()
        .filter(|(_, t)| t.dtype() == DType::F32)
        .map(|(n, t)| (n.clone(), t.to_vec::<f32>().unwrap()))
        .collect();
    let shapes: HashMap<&str, Vec<usize>> = trained
        .iter()
        .map(|(n, t)| (n.as_str(), t.shape().to_vec()))
        .collect();
    // bf16, which this engine does not compute in, into f32; f32 into an f16 model.
    let bf16: Vec<(&str, safetensors::Dtype, Vec<usize>, Vec<u8>)> = floats
        .iter()
        .map(|(n, v)| {
            let rounded: Vec<half::bf16> = v.iter().map(|&x| half::bf16::from_f32(x)).collect();
            let bytes = bytemuck::cast_slice(&rounded).to_vec();
            (
                n.as_str(),
                safetensors::Dtype::BF16,
                shapes[n.as_str()].clone(),
                bytes,
            )
        })
        .collect();
    let model = digits_cnn(10, true, DType::F32, &cpu);
    let report =
        state_dict::load_bytes(&safetensors_file(&bf16), &model, &LoadOptions::new()).unwrap();
    assert!(report
        .converted
        .contains(&"8.weight: bf16 -> f32".to_string()));
    let model16 = digits_cnn(10, true, DType::F16, &cpu);
    state_dict::load(
        &fixture("trained_cnn.safetensors"),
        &model16,
        &LoadOptions::new(),
    )
    .unwrap();
    let by_name: HashMap<String, Parameter> = model.parameters().into_iter().collect();
    let by_name16: HashMap<String, Parameter> = model16.parameters().into_iter().collect();
    for (name, v) in &floats {
        let want: Vec<f64> = v
            .iter()
            .map(|&x| half::bf16::from_f32(x).to_f64())
            .collect();
        assert_eq!(values(&by_name[name].get()), want, "{name} from bf16");
        let want: Vec<f64> = v.iter().map(|&x| half::f16::from_f32(x).to_f64()).collect();
        assert_eq!(values(&by_name16[name].get()), want, "{name} into f16");
    }
}

#[test]
fn every_mismatch_is_listed_at_once_and_nothing_changes() {
    let cpu = Device::cpu();
    let path = fixture("trained_cnn.safetensors");
    // No BatchNorm at 1, a head of 12 classes, and one more layer after it.
    let mut wrong = digits_cnn(12, false, DType::F32, &cpu);
    wrong = wrong.push(Linear::new(12, 3, true, 9, DType::F32, &cpu).unwrap());
    let before = snapshot(&wrong);
    let error = state_dict::load(&path, &wrong, &LoadOptions::new()).unwrap_err();
    match &error {
        Error::WeightsMismatch {
            path: p,
            missing,
            unexpected,
            mismatched,
        } => {
            assert!(p.ends_with("trained_cnn.safetensors"));
            assert_eq!(missing, &["9.bias", "9.weight"]);
            assert_eq!(
                unexpected,
                &[
                    "1.bias",
                    "1.num_batches_tracked",
                    "1.running_mean",
                    "1.running_var",
                    "1.weight"
                ]
            );
            assert_eq!(
                mismatched,
                &[
                    "8.bias is [10] in the file, [12] in the model",
                    "8.weight is [10, 64] in the file, [12, 64] in the model"
                ]
            );
        }
        other => panic!("{other}"),
    }
    let text = error.to_string();
    assert!(text.contains("missing (2): 9.bias, 9.weight"), "{text}");
    assert!(text.contains("mismatched (2)"), "{text}");
    // A lenient load lists what is missing or unexpected, but a wrong shape still fails it.
    let lenient = state_dict::load(&path, &wrong, &LoadOptions::new().lenient());
    assert!(
        matches!(lenient, Err(Error::WeightsMismatch { ref mismatched, .. }) if mismatched.len() == 2)
    );
    assert_eq!(snapshot(&wrong), before, "a failed load changed the model");

    let fits = digits_cnn(10, false, DType::F32, &cpu);
    let report = state_dict::load(&path, &fits, &LoadOptions::new().lenient()).unwrap();
    assert_eq!(
        report.loaded,
        ["0.bias", "0.weight", "4.bias", "4.weight", "8.bias", "8.weight"]
    );
    assert_eq!(report.unexpected.len(), 5);

    // An integer tensor where a float parameter is.
    let ids = safetensors_file(&[("bias", safetensors::Dtype::I64, vec![3], vec![0; 24])]);
    let head = Linear::new(5, 3, true, 0, DType::F32, &cpu).unwrap();
    let error = state_dict::load_bytes(&ids, &head, &LoadOptions::new().lenient()).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("bias: i64 in the file cannot become the model's f32"),
        "{error}"
    );
    for bytes in [
        &b""[..],
        b"\x08\0\0\0\0\0\0\0{}",
        &std::fs::read(&path).unwrap()[..100],
    ] {
        let error = state_dict::load_bytes(bytes, &head, &LoadOptions::new()).unwrap_err();
        assert!(matches!(error, Error::Checkpoint { .. }), "{error}");
    }
}

#[test]
fn a_submodule_loads_from_a_whole_models_file() {
    let cpu = Device::cpu();
    let path = fixture("trained_char.safetensors");
    let (all, _) = lepton::checkpoint::load(&path, &cpu).unwrap();
    let all: HashMap<String, Tensor> = all.into_iter().collect();
    // The LSTM alone, by its prefix.
    let lstm = CharModel::new(char_vocab(), DType::F32, &cpu).lstm;
    let report = state_dict::load(&path, &lstm, &LoadOptions::new().prefix("lstm.")).unwrap();
    assert_eq!(report.loaded, names(&lstm));
    assert_eq!(report.skipped.len(), all.len() - 4);
    assert_eq!(
        values(&lstm.parameters()[0].1.get()),
        values(&all["lstm.weight_ih_l0"])
    );
    // The file's embedding skipped by name: reported missing by a lenient load, refused by
    // a strict one.
    let vocab = char_vocab();
    let embedding = Embedding::new(vocab, 16, 0, DType::F32, &cpu).unwrap();
    let options = LoadOptions::new().prefix("embed.").ignore("weight");
    let report = state_dict::load(&path, &embedding, &options.clone().lenient()).unwrap();
    assert_eq!(
        (report.missing, report.skipped.len()),
        (vec!["weight".to_string()], all.len())
    );
    let error = state_dict::load(&path, &embedding, &options).unwrap_err();
    assert!(matches!(error, Error::WeightsMismatch { ref missing, .. } if missing == &["weight"]));
    // A renamed tensor is checked against the parameter it now names.
    let renamed = LoadOptions::new()
        .prefix("head.")
        .rename("bias", "weight")
        .ignore("weight");
    let bias_as_weight = Embedding::new(1, vocab, 0, DType::F32, &cpu).unwrap();
    let error = state_dict::load(&path, &bias_as_weight, &renamed).unwrap_err();
    assert!(
        error.to_string().contains(&format!(
            "weight is [{vocab}] in the file, [1, {vocab}] in the model"
        )),
        "{error}"
    );
}
