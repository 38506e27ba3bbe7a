//! Checkpoints: exact round trips, atomic writes, loud refusal of damaged or mismatched
//! files with nothing half-loaded, and bit-identical resumption of training.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;

use lepton::checkpoint::{load, load_training, save, save_training};
use lepton::data::Dataset;
use lepton::nn::{loss, Activation, Dropout, Linear, Module, Sequential};
use lepton::optim::{Adam, Optimizer};
use lepton::{DType, Device, Error, Tensor};

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lepton-ckpt-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn model(seed: u64) -> Sequential {
    let cpu = Device::cpu();
    Sequential::new()
        .push(Linear::new(4, 8, true, seed, DType::F32, &cpu).unwrap())
        .push(Activation::Relu)
        .push(Linear::new(8, 3, true, seed + 1, DType::F32, &cpu).unwrap())
}

#[test]
fn tensors_round_trip_exactly_in_every_dtype() {
    let d = dir("roundtrip");
    let path = d.join("t.safetensors");
    let cpu = Device::cpu();
    let a = Tensor::rand_normal(&[3, 5], 0.0, 1.0, 1, DType::F32, &cpu).unwrap();
    let b = Tensor::rand_normal(&[7], 0.0, 1.0, 2, DType::F64, &cpu).unwrap();
    let c = Tensor::rand_normal(&[2, 2], 0.0, 1.0, 3, DType::F16, &cpu).unwrap();
    // A view is saved as its values.
    let view = a.t().unwrap();
    let meta = HashMap::from([("epoch".to_string(), "4".to_string())]);
    let named = vec![
        ("a".into(), a.clone()),
        ("b".into(), b.clone()),
        ("c".into(), c.clone()),
        ("view".into(), view.clone()),
    ];
    save(&path, &named, meta).unwrap();
    let (back, meta) = load(&path, &cpu).unwrap();
    assert_eq!(meta["epoch"], "4");
    let get = |n: &str| back.iter().find(|(k, _)| k == n).unwrap().1.clone();
    assert_eq!(
        get("a").to_vec::<f32>().unwrap(),
        a.to_vec::<f32>().unwrap()
    );
    assert_eq!(
        get("b").to_vec::<f64>().unwrap(),
        b.to_vec::<f64>().unwrap()
    );
    assert_eq!(
        get("c").to_vec::<half::f16>().unwrap(),
        c.to_vec::<half::f16>().unwrap()
    );
    assert_eq!(get("view").shape(), &[5, 3]);
    assert_eq!(
        get("view").to_vec::<f32>().unwrap(),
        view.to_vec::<f32>().unwrap()
    );
    let leftovers: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        1,
        "no temporary file is left: {leftovers:?}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn damaged_or_mismatched_files_are_refused_whole() {
    let d = dir("refuse");
    let path = d.join("m.safetensors");
    let trained = model(1);
    let opt = Adam::new(trained.parameters(), 0.01);
    save_training(&path, &trained, Some(&opt), HashMap::new()).unwrap();

    let target = model(9);
    let before = common::parameter_values(&target);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 10]).unwrap();
    let err = load_training(&path, &target, None, &Device::cpu()).unwrap_err();
    assert!(
        matches!(err, Error::Checkpoint { .. }) && err.to_string().contains("truncated or corrupt"),
        "{err}"
    );
    std::fs::write(&path, b"not a checkpoint at all").unwrap();
    assert!(matches!(
        load_training(&path, &target, None, &Device::cpu()),
        Err(Error::Checkpoint { .. })
    ));

    // A different architecture: one tensor missing, one unexpected, one mis-shaped.
    let other = Sequential::new()
        .push(Linear::new(4, 8, true, 1, DType::F32, &Device::cpu()).unwrap())
        .push(Activation::Relu)
        .push(Linear::new(8, 5, false, 2, DType::F32, &Device::cpu()).unwrap())
        .push(Linear::new(5, 3, true, 3, DType::F32, &Device::cpu()).unwrap());
    save_training(&path, &other, None, HashMap::new()).unwrap();
    let message = load_training(&path, &target, None, &Device::cpu())
        .unwrap_err()
        .to_string();
    for needle in [
        "missing tensor 2.bias",
        "unexpected tensor 3.weight",
        "2.weight is [5, 8]",
    ] {
        assert!(message.contains(needle), "{needle} in {message}");
    }
    assert_eq!(
        common::parameter_values(&target),
        before,
        "nothing was half-loaded"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

/// Train `steps` Adam steps over shuffled digit batches from `start` on; return the losses.
fn train(m: &Sequential, opt: &mut Adam, data: &Dataset, start: u64, steps: u64) -> Vec<f64> {
    let cpu = Device::cpu();
    (start..start + steps)
        .map(|s| {
            let batch = &data.batches(32, Some((7, s)))[0];
            let (x, y) = batch.tensors(&cpu).unwrap();
            opt.step(&loss::cross_entropy(&m.forward(&x).unwrap(), &y, 0.0).unwrap())
                .unwrap()
        })
        .collect()
}

#[test]
fn resuming_continues_bit_identically() {
    let d = dir("resume");
    let path = d.join("r.safetensors");
    let mut data = Dataset::digits().unwrap();
    data.scale(1.0 / 16.0);
    let data = data.select(&(0..256).collect::<Vec<_>>());
    // Dropout's seed advances every step: the checkpoint must carry it.
    let wide = |seed| {
        let cpu = Device::cpu();
        Sequential::new()
            .push(Linear::new(64, 16, true, seed, DType::F32, &cpu).unwrap())
            .push(Activation::Relu)
            .push(Dropout::new(0.25, seed + 2).unwrap())
            .push(Linear::new(16, 10, true, seed + 1, DType::F32, &cpu).unwrap())
    };

    let straight = wide(3);
    let mut opt = Adam::new(straight.parameters(), 0.01);
    let all = train(&straight, &mut opt, &data, 0, 8);

    let first = wide(3);
    let mut opt = Adam::new(first.parameters(), 0.01);
    let head = train(&first, &mut opt, &data, 0, 4);
    save_training(&path, &first, Some(&opt), HashMap::new()).unwrap();

    let resumed = wide(99);
    let mut opt = Adam::new(resumed.parameters(), 0.01);
    load_training(&path, &resumed, Some(&mut opt), &Device::cpu()).unwrap();
    assert_eq!(opt.steps(), 4);
    let tail = train(&resumed, &mut opt, &data, 4, 4);
    let joined: Vec<f64> = head.into_iter().chain(tail).collect();
    assert_eq!(joined, all, "losses after resume are bit-identical");
    assert_eq!(
        common::parameter_values(&resumed),
        common::parameter_values(&straight)
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn same_seed_same_run() {
    let mut data = Dataset::digits().unwrap();
    data.scale(1.0 / 16.0);
    let run = || {
        let m = Sequential::new()
            .push(Linear::new(64, 16, true, 5, DType::F32, &Device::cpu()).unwrap())
            .push(Activation::Relu)
            .push(Linear::new(16, 10, true, 6, DType::F32, &Device::cpu()).unwrap());
        let mut opt = Adam::new(m.parameters(), 0.01);
        train(&m, &mut opt, &data, 0, 5)
    };
    assert_eq!(run(), run());
}

#[test]
fn the_same_tensors_and_metadata_give_the_same_bytes() {
    let cpu = Device::cpu();
    let d = dir("bytes");
    let a = Tensor::rand_normal(&[3, 5], 0.0, 1.0, 1, DType::F32, &cpu).unwrap();
    let b = Tensor::rand_normal(&[7], 0.0, 1.0, 2, DType::F64, &cpu).unwrap();
    let named = vec![("b".to_string(), b), ("a".to_string(), a)];
    // Each map hashes with its own random keys, so two maps of the same twelve entries
    // iterate in different orders: the file must not follow that order.
    let metadata = || -> HashMap<String, String> {
        (0..12)
            .map(|i| (format!("key{i}"), i.to_string()))
            .collect()
    };
    let (first, second) = (d.join("first.safetensors"), d.join("second.safetensors"));
    save(&first, &named, metadata()).unwrap();
    save(&second, &named, metadata()).unwrap();
    let bytes = std::fs::read(&first).unwrap();
    assert_eq!(bytes, std::fs::read(&second).unwrap());
    // The header stays 8-byte aligned, and the file loads with every entry.
    let header = u64::from_le_bytes(bytes[..8].try_into().unwrap());
    assert_eq!(header % 8, 0);
    let (tensors, meta) = load(&first, &cpu).unwrap();
    assert_eq!((tensors.len(), meta), (2, metadata()));
    std::fs::remove_dir_all(&d).unwrap();
}
