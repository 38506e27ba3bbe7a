//! NumPy's `.npy` files: arrays NumPy wrote (tests/data/npy, from its make_fixtures.py) read
//! with their values, shapes and dtypes; written files byte for byte as NumPy writes them;
//! every dtype and shape through a file and back on every device; what cannot be read is an
//! error naming the file, never a panic.

mod common;

use std::path::PathBuf;

use common::cli::scratch;
use common::numpy_fixtures::{expected, fixture};
use common::*;
use lepton::{npy, DType, Device, Error, Tensor};

on_every_device! {
    fn numpys_arrays_read_with_their_values(device) {
        let cases = [
            ("f32_2x3", DType::F32),
            ("f64_fortran_3x2", DType::F64),
            ("f16_5", DType::F16),
            ("i32_7", DType::I32),
            ("i64_5", DType::I32),
            ("big_endian_f32_4", DType::F32),
            ("u8_4", DType::I32),
            ("bool_3", DType::I32),
            ("scalar_f32", DType::F32),
            ("empty_0x3", DType::F32),
            ("v2_f32_3", DType::F32),
        ];
        for (name, dtype) in cases {
            let t = npy::read(&fixture(&format!("{name}.npy")), &device).unwrap();
            let (shape, values) = expected(name);
            assert_eq!((t.dtype(), t.shape()), (dtype, &shape[..]), "{name}");
            assert_eq!(common::values(&t), values, "{name} on {device}");
        }
    }
}

on_every_device! {
    fn every_dtype_and_shape_goes_through_a_file_and_back(device) {
        let dir = scratch(if device.is_gpu() { "npy-gpu" } else { "npy-cpu" });
        for dtype in [DType::F16, DType::F32, DType::F64, DType::I32] {
            for shape in [&[][..], &[0], &[1], &[7], &[3, 5], &[2, 3, 4], &[1, 513]] {
                let n = shape.iter().product::<usize>();
                let t = tensor(&data(n, 3, -100.0, 100.0), shape, dtype, &device);
                let path = dir.join(format!("{dtype:?}-{n}-{}.npy", shape.len()));
                npy::write(&path, &t).unwrap();
                let back = npy::read(&path, &device).unwrap();
                assert_eq!((back.dtype(), back.shape()), (dtype, shape), "{dtype:?} {shape:?}");
                assert_eq!(common::values(&back), common::values(&t), "{dtype:?} {shape:?}");
            }
        }
        // A view is written in its own row-major order.
        let t = tensor(&data(12, 4, -1.0, 1.0), &[3, 4], DType::F32, &device);
        let view = t.transpose(0, 1).unwrap();
        let back = npy::from_bytes(&npy::to_bytes(&view).unwrap(), &device).unwrap();
        assert_eq!(common::values(&back), common::values(&view));
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|name| !name.ends_with(".npy"))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    }
}

/// What the engine writes is what NumPy writes for the same array.
#[test]
fn written_files_are_numpys_bytes() {
    let cpu = Device::cpu();
    for name in ["f32_2x3", "i32_7", "scalar_f32", "empty_0x3", "f16_5"] {
        let numpy = std::fs::read(fixture(&format!("{name}.npy"))).unwrap();
        let t = npy::from_bytes(&numpy, &cpu).unwrap();
        assert_eq!(npy::to_bytes(&t).unwrap(), numpy, "{name}");
    }
}

#[test]
fn what_cannot_be_read_is_an_error_naming_the_file() {
    let cpu = Device::cpu();
    let refused = |path: PathBuf, why: &str| {
        let error = npy::read(&path, &cpu).unwrap_err();
        assert!(
            matches!(&error, Error::ArrayFile { path: p, message }
                if p.contains(path.file_name().unwrap().to_str().unwrap()) && message.contains(why)),
            "{error}"
        );
    };
    refused(fixture("complex_2.npy"), "kind 'c'");
    refused(fixture("i64_too_big.npy"), "does not fit");
    refused(fixture("absent.npy"), "");
    let dir = scratch("npy-corrupt");
    let good = std::fs::read(fixture("f32_2x3.npy")).unwrap();
    // A header naming a shape the engine cannot hold, over the same data.
    let with_shape = |shape: &str| {
        let header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
        let mut bytes = good[..8].to_vec();
        bytes.extend((header.len() as u16).to_le_bytes());
        bytes.extend(header.as_bytes());
        bytes.extend(&good[128..]);
        bytes
    };
    let cases: [(&str, Vec<u8>, &str); 6] = [
        (
            "huge.npy",
            with_shape("(4294967296, 4294967296)"),
            "more elements",
        ),
        (
            "rank.npy",
            with_shape("(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1)"),
            "rank 17",
        ),
        (
            "truncated.npy",
            good[..good.len() - 1].to_vec(),
            "needs 24 bytes",
        ),
        (
            "garbage.npy",
            b"PK\x03\x04 not an array".to_vec(),
            "not a .npy file",
        ),
        ("header.npy", good[..40].to_vec(), "header runs past"),
        (
            "version.npy",
            [&good[..6], &[9u8, 0][..], &good[8..]].concat(),
            "version 9.0",
        ),
    ];
    for (name, bytes, why) in cases {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        refused(path, why);
    }
    let t = Tensor::ones(&[2], DType::F32, &cpu).unwrap();
    let error = npy::write(&dir.join("no-such-dir/x.npy"), &t).unwrap_err();
    assert!(matches!(error, Error::ArrayFile { .. }), "{error}");
}
