//! NumPy's `.npz` archives: archives NumPy wrote (stored, deflated, and with every Zip64
//! record forced) read with their names, order, values and dtypes; archives written here read
//! back in both compressions on every device; what cannot be read is an error naming the
//! file and the member, never a panic.

mod common;

use common::cli::scratch;
use common::numpy_fixtures::{expected, fixture};
use common::*;
use lepton::npz::{self, Compression};
use lepton::{DType, Device, Error, Tensor};

/// The arrays make_fixtures.py puts in each archive, in order, with the dtype each reads as.
const MEMBERS: [(&str, DType); 5] = [
    ("f32_2x3", DType::F32),
    ("f64_fortran_3x2", DType::F64),
    ("i64_5", DType::I32),
    ("scalar_f32", DType::F32),
    ("empty_0x3", DType::F32),
];

on_every_device! {
    fn numpys_archives_read_with_their_names_and_values(device) {
        for archive in ["stored.npz", "deflated.npz", "zip64.npz"] {
            let arrays = npz::read(&fixture(archive), &device).unwrap();
            let names: Vec<&str> = arrays.iter().map(|(n, _)| n.as_str()).collect();
            let want: Vec<&str> = MEMBERS.iter().map(|(n, _)| *n).collect();
            assert_eq!(names, want, "{archive}");
            for ((name, t), (_, dtype)) in arrays.iter().zip(MEMBERS) {
                let (shape, values) = expected(name);
                assert_eq!((t.dtype(), t.shape()), (dtype, &shape[..]), "{archive} {name}");
                assert_eq!(common::values(t), values, "{archive} {name} on {device}");
            }
        }
    }
}

on_every_device! {
    fn arrays_go_through_an_archive_and_back(device) {
        let dir = scratch(if device.is_gpu() { "npz-gpu" } else { "npz-cpu" });
        let shapes: [&[usize]; 5] = [&[], &[0], &[7], &[3, 5], &[1, 513]];
        let dtypes = [DType::F16, DType::F32, DType::F64, DType::I32];
        let mut tensors = Vec::new();
        for (i, (dtype, shape)) in dtypes.iter().flat_map(|d| shapes.map(|s| (*d, s))).enumerate() {
            let n = shape.iter().product::<usize>();
            let t = tensor(&data(n, i as u64, -100.0, 100.0), shape, dtype, &device);
            tensors.push((format!("{dtype:?}_{i}"), t));
        }
        // A view is written in its own row-major order.
        let square = tensor(&data(12, 99, -1.0, 1.0), &[3, 4], DType::F32, &device);
        tensors.push(("transposed".into(), square.transpose(0, 1).unwrap()));
        let arrays: Vec<(&str, &Tensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
        for compression in [Compression::Stored, Compression::Deflated] {
            let path = dir.join(format!("{compression:?}.npz"));
            npz::write(&path, &arrays, compression).unwrap();
            let back = npz::read(&path, &device).unwrap();
            assert_eq!(back.len(), tensors.len());
            for ((name, got), (want_name, want)) in back.iter().zip(&tensors) {
                assert_eq!(name, want_name, "{compression:?}: order");
                assert_eq!((got.dtype(), got.shape()), (want.dtype(), want.shape()), "{name}");
                assert_eq!(common::values(got), common::values(want), "{compression:?} {name}");
            }
            assert_eq!(npz::to_bytes(&arrays, compression).unwrap(), std::fs::read(&path).unwrap());
        }
        let empty = npz::from_bytes(&npz::to_bytes(&[], Compression::Stored).unwrap(), &device);
        assert!(empty.unwrap().is_empty());
    }
}

#[test]
fn what_cannot_be_read_or_written_is_an_error_naming_the_file_and_member() {
    let cpu = Device::cpu();
    let dir = scratch("npz-corrupt");
    let good = std::fs::read(fixture("deflated.npz")).unwrap();
    let refused = |name: &str, bytes: &[u8], why: &str| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let error = npz::read(&path, &cpu).unwrap_err();
        assert!(
            matches!(&error, Error::ArrayFile { path: p, message }
                if p.ends_with(name) && message.contains(why)),
            "{name}: {error}"
        );
    };
    refused("empty.npz", b"", "not a zip archive");
    refused(
        "npy.npz",
        &std::fs::read(fixture("f32_2x3.npy")).unwrap(),
        "no end record",
    );
    refused("truncated.npz", &good[..good.len() / 2], "no end record");
    // The first member's deflated data starts after its 30-byte local header, its name and
    // its extra field (NumPy's Zip64 sizes).
    let field = |at: usize| u16::from_le_bytes([good[at], good[at + 1]]) as usize;
    let mut flipped = good.clone();
    flipped[30 + field(26) + field(28) + 8] ^= 0x10;
    refused("flipped.npz", &flipped, "member f32_2x3.npy");
    let mut renamed = good.clone();
    renamed[30] = b'g';
    refused("renamed.npz", &renamed, "local header names another file");
    // Every truncation fails cleanly.
    for cut in 0..good.len() {
        assert!(npz::from_bytes(&good[..cut], &cpu).is_err(), "cut at {cut}");
    }
    let t = Tensor::ones(&[2], DType::F32, &cpu).unwrap();
    for names in [&["a", "a"][..], &[""]] {
        let arrays: Vec<(&str, &Tensor)> = names.iter().map(|n| (*n, &t)).collect();
        let error = npz::write(&dir.join("bad-names.npz"), &arrays, Compression::Stored);
        assert!(
            matches!(&error, Err(Error::ArrayFile { path, message })
                if path.ends_with("bad-names.npz") && message.contains("distinct")),
            "{error:?}"
        );
    }
    assert!(!dir.join("bad-names.npz").exists());
}
