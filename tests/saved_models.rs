//! Models that `lepton train <family> --save` wrote, rebuilt for inference by `SavedModel`
//! (what the C ABI's `lepton_model_load` runs): every family that rebuilds gives the outputs
//! of the model that was saved, on every device; a checkpoint the binary wrote classifies
//! the digits; what does not rebuild is a typed error saying why.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::cli::{lepton, scratch};
use common::*;
use lepton::checkpoint::{save_training, NamedTensors};
use lepton::models::cnn::Cnn;
use lepton::models::mlp::Mlp;
use lepton::models::recurrent_digits::RecurrentDigits;
use lepton::models::saved::SavedModel;
use lepton::nn::{Activation, CellKind, Linear, Module};
use lepton::{no_grad, DType, Device, Error};

fn save(path: &Path, model: &dyn Module, family: &str) {
    let metadata = HashMap::from([("family".to_string(), family.to_string())]);
    save_training(path, model, None, metadata).unwrap();
}

on_every_device! {
    fn every_family_rebuilds_with_the_saved_models_outputs(device) {
        let dir = scratch(if device.is_gpu() { "saved-gpu" } else { "saved-cpu" });
        let cpu = Device::cpu();
        let models: Vec<(&str, Box<dyn Module>, usize, usize)> = vec![
            ("Linreg", Box::new(Linear::new(10, 1, true, 1, DType::F32, &cpu).unwrap()), 10, 1),
            ("Mlp", Box::new(Mlp::new(&[64, 128, 64, 10], Activation::Relu, 2, &cpu).unwrap()), 64, 10),
            ("Mlp", Box::new(Mlp::new(&[7, 3], Activation::Relu, 3, &cpu).unwrap()), 7, 3),
            ("Cnn", Box::new(Cnn::classifier(28, 10, 4, &cpu).unwrap()), 784, 10),
            ("Cnn", Box::new(Cnn::classifier(8, 3, 5, &cpu).unwrap()), 64, 3),
            ("Rnn", Box::new(RecurrentDigits::new(CellKind::RnnTanh, 6, &cpu).unwrap()), 64, 10),
            ("Lstm", Box::new(RecurrentDigits::new(CellKind::Lstm, 7, &cpu).unwrap()), 64, 10),
            ("Gru", Box::new(RecurrentDigits::new(CellKind::Gru, 8, &cpu).unwrap()), 64, 10),
        ];
        for (i, (family, model, inputs, outputs)) in models.into_iter().enumerate() {
            let path = dir.join(format!("{family}-{i}.safetensors"));
            save(&path, model.as_ref(), family);
            let saved = SavedModel::load(&path, &device).unwrap();
            assert_eq!((saved.family(), saved.inputs(), saved.outputs()), (family, inputs, outputs));
            let rows = data(5 * inputs, i as u64, 0.0, 1.0);
            let got = saved.forward(&tensor(&rows, &[5, inputs], DType::F32, &device)).unwrap();
            // The saved model itself, on the CPU path in f32 (a few ulp apart on a GPU).
            let want = no_grad(|| model.forward(&tensor(&rows, &[5, inputs], DType::F32, &cpu)))
                .unwrap();
            assert_eq!(got.shape(), &[5, outputs]);
            let (got, want) = (values(&got), values(&want));
            let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
            // f32 sums of at most 1568 terms in another order: 1568·u32 of their scale.
            assert_close(&got, &want, 1568.0 * U32 * scale, 0.0, &format!("{family} {i}"));
        }
    }
}

#[test]
fn a_linreg_checkpoint_the_binary_saved_takes_raw_features() {
    let dir = scratch("saved-linreg");
    let path = dir.join("linreg.safetensors");
    let p = path.to_str().unwrap();
    lepton(&[
        "train", "linreg", "--device", "cpu", "--epochs", "2", "--seed", "3", "--save", p,
    ]);
    let cpu = Device::cpu();
    let saved = SavedModel::load(&path, &cpu).unwrap();
    assert_eq!(
        (saved.family(), saved.inputs(), saved.outputs()),
        ("Linreg", 10, 1)
    );
    let raw = lepton::data::Dataset::diabetes().unwrap();
    let rows = lepton::Tensor::from_vec(raw.features.clone(), &[raw.rows, 10], &cpu).unwrap();
    let got = values(&saved.forward(&rows).unwrap());
    // The same weights on features standardized by hand with the seed's training split.
    let (mean, std) = lepton::models::linreg::diabetes_stats(3).unwrap();
    let linear = Linear::new(10, 1, true, 0, DType::F32, &cpu).unwrap();
    lepton::checkpoint::load_run(&path, &linear, None, &cpu).unwrap();
    let standardized: Vec<f64> = raw
        .features
        .chunks(10)
        .flat_map(|row| {
            row.iter()
                .enumerate()
                .map(|(j, &v)| f64::from((v - mean[j]) / std[j]))
        })
        .collect();
    let (w, b) = (
        values(&linear.weight.get()),
        values(&linear.bias.as_ref().unwrap().get()),
    );
    let want: Vec<f64> = standardized
        .chunks(10)
        .map(|row| b[0] + row.iter().zip(&w).map(|(x, w)| x * w).sum::<f64>())
        .collect();
    let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    // f32 rounding of ten products and the standardization: 32 u32 of the outputs' scale.
    assert_close(
        &got,
        &want,
        32.0 * U32 * scale,
        0.0,
        "linreg on raw features",
    );
}

#[test]
fn a_checkpoint_the_binary_saved_classifies_the_digits() {
    let dir = scratch("saved-binary");
    let path = dir.join("mlp.safetensors");
    let p = path.to_str().unwrap();
    lepton(&[
        "train", "mlp", "--device", "cpu", "--epochs", "3", "--save", p,
    ]);
    let cpu = Device::cpu();
    let saved = SavedModel::load(&path, &cpu).unwrap();
    assert_eq!(
        (saved.family(), saved.inputs(), saved.outputs()),
        ("Mlp", 64, 10)
    );
    let mut digits = lepton::data::Dataset::digits().unwrap();
    digits.scale(1.0 / 16.0);
    let rows = lepton::Tensor::from_vec(digits.features.clone(), &[digits.rows, 64], &cpu).unwrap();
    let classes = saved
        .forward(&rows)
        .unwrap()
        .argmax(Some(1), false)
        .unwrap();
    let right = classes
        .to_vec::<i32>()
        .unwrap()
        .iter()
        .zip(&digits.targets)
        .filter(|(c, t)| **c as f32 == **t)
        .count();
    // Three epochs take the MLP past 90% on the test split; the whole set is most of it.
    assert!(
        right * 10 > digits.rows * 9,
        "{right} of {} digits right",
        digits.rows
    );
}

#[test]
fn what_does_not_rebuild_is_refused_with_the_reason() {
    let dir = scratch("saved-refused");
    let cpu = Device::cpu();
    let zeros = |shape: &[usize]| lepton::Tensor::zeros(shape, DType::F32, &cpu).unwrap();
    let mlp = Mlp::new(&[64, 32, 10], Activation::Relu, 0, &cpu).unwrap();
    let mlp_tensors: NamedTensors = mlp
        .parameters()
        .into_iter()
        .map(|(n, p)| (n, p.get()))
        .collect();
    let cases: Vec<(&str, Option<&str>, NamedTensors, &str)> = vec![
        (
            "none",
            None,
            mlp_tensors.clone(),
            "no family in the metadata",
        ),
        (
            "gan",
            Some("Gan"),
            mlp_tensors.clone(),
            "a Gan checkpoint; the families that rebuild for inference are Linreg, Mlp",
        ),
        (
            "linreg",
            Some("Linreg"),
            mlp_tensors.clone(),
            "weight is None",
        ),
        (
            "cnn",
            Some("Cnn"),
            vec![("layers.7.weight".into(), zeros(&[10, 100]))],
            "a CNN head over 100 features, not 32 square maps",
        ),
        (
            "mlp",
            Some("Mlp"),
            vec![
                ("layers.0.weight".into(), zeros(&[32, 64])),
                ("layers.0.bias".into(), zeros(&[32])),
                ("layers.2.weight".into(), zeros(&[10, 16])),
                ("layers.2.bias".into(), zeros(&[10])),
            ],
            "layers.2.weight is [10, 16] f32 in the file but [10, 32] f32 in the model",
        ),
    ];
    for (name, family, tensors, why) in cases {
        let path = dir.join(format!("{name}.safetensors"));
        let metadata = family
            .map(|f| HashMap::from([("family".to_string(), f.to_string())]))
            .unwrap_or_default();
        lepton::checkpoint::save(&path, &tensors, metadata).unwrap();
        let error = SavedModel::load(&path, &cpu).err().expect(name);
        assert!(matches!(error, Error::Checkpoint { .. }), "{name}: {error}");
        assert!(error.to_string().contains(why), "{name}: {error}");
    }
    let corrupt = dir.join("corrupt.safetensors");
    std::fs::write(&corrupt, b"garbage").unwrap();
    let error = SavedModel::load(&corrupt, &cpu).err().unwrap();
    assert!(matches!(error, Error::Checkpoint { .. }), "{error}");

    let path = dir.join("rows.safetensors");
    save(&path, &mlp, "Mlp");
    let saved = SavedModel::load(&path, &cpu).unwrap();
    let error = saved.forward(&zeros(&[64, 5])).unwrap_err();
    assert!(matches!(error, Error::ShapeMismatch { .. }), "{error}");
    assert!(error.to_string().contains("rows of 64 values"), "{error}");
}
