//! i32 tensors on every device: they hold every i32 exactly through creation, views,
//! copies, joins, padding and checkpoints; casts to and from the floats round toward zero
//! and saturate; arithmetic on them is refused with the way out named.

mod common;

use std::collections::HashMap;

use common::*;
use lepton::{checkpoint, grad, DType, Device, Error, Tensor};

/// Values that f32 cannot all hold: the extremes, 2^24 + 1, and small ones of both signs.
const AWKWARD: [i32; 15] = [
    i32::MIN,
    -16_777_217,
    -7,
    -1,
    0,
    1,
    2,
    16_777_217,
    16_777_219,
    1 << 30,
    (1 << 30) + 1,
    i32::MAX - 1,
    i32::MAX,
    123_456_789,
    -987_654_321,
];

/// A comparison method of `Tensor`, its name, and the same comparison on the host.
type Comparison = (
    &'static str,
    fn(&Tensor, &Tensor) -> lepton::Result<Tensor>,
    fn(i32, i32) -> bool,
);

fn ints(values: &[i32], shape: &[usize], device: &Device) -> Tensor {
    Tensor::from_vec(values.to_vec(), shape, device).unwrap()
}

on_every_device! {
    fn i32_moves_exactly_through_views_copies_joins_and_padding(device) {
        let x = ints(&AWKWARD, &[3, 5], &device);
        assert_eq!(x.dtype(), DType::I32);
        assert_eq!(x.to_vec::<i32>().unwrap(), AWKWARD, "round trip on {device}");
        assert_eq!(x.slice(1, 4, 5, 1).unwrap().slice(0, 2, 3, 1).unwrap().item::<i32>().unwrap(), -987_654_321);
        let transposed: Vec<i32> = (0..15).map(|e| AWKWARD[(e % 3) * 5 + e / 3]).collect();
        let t = x.t().unwrap().contiguous();
        assert_eq!(t.to_vec::<i32>().unwrap(), transposed, "transpose on {device}");
        let joined = Tensor::concat(&[&x, &x.slice(1, 0, 2, 1).unwrap()], 1).unwrap();
        let want: Vec<i32> = (0..3)
            .flat_map(|r| AWKWARD[r * 5..r * 5 + 5].iter().chain(&AWKWARD[r * 5..r * 5 + 2]).copied())
            .collect();
        assert_eq!(joined.to_vec::<i32>().unwrap(), want, "concat on {device}");
        let padded = x.slice(0, 0, 1, 1).unwrap().pad(&[(0, 0), (2, 1)], -3.0).unwrap();
        let want: Vec<i32> = [-3, -3].iter().chain(&AWKWARD[..5]).chain(&[-3]).copied().collect();
        assert_eq!(padded.to_vec::<i32>().unwrap(), want, "pad on {device}");
        let stacked = Tensor::stack(&[&x, &x], 0).unwrap();
        assert_eq!(stacked.to_vec::<i32>().unwrap(), [AWKWARD, AWKWARD].concat(), "stack on {device}");
        let row = ints(&AWKWARD[..5], &[1, 5], &device).broadcast_to(&[4, 5]).unwrap();
        assert_eq!(row.contiguous().to_vec::<i32>().unwrap(), AWKWARD[..5].repeat(4));
    }
}

on_every_device! {
    fn full_and_arange_make_i32(device) {
        let big = Tensor::full(&[2, 3], ((1 << 30) + 1) as f64, DType::I32, &device).unwrap();
        assert_eq!(big.to_vec::<i32>().unwrap(), vec![(1 << 30) + 1; 6], "on {device}");
        assert_eq!(Tensor::zeros(&[4], DType::I32, &device).unwrap().to_vec::<i32>().unwrap(), [0; 4]);
        assert!(matches!(
            Tensor::full(&[2], 0.5, DType::I32, &device),
            Err(Error::InvalidArgument { op: "full", .. })
        ));
        assert!(Tensor::full(&[2], 2f64.powi(31), DType::I32, &device).is_err());
        let steps = Tensor::arange(0.0, 10.0, 3.0, DType::I32, &device).unwrap();
        assert_eq!(steps.to_vec::<i32>().unwrap(), [0, 3, 6, 9]);
        assert!(matches!(steps.to_vec::<f32>(), Err(Error::DtypeMismatch { .. })));
    }
}

on_every_device! {
    fn casts_round_toward_zero_and_saturate(device) {
        let floats = [-2.75f32, -0.5, -0.0, 0.9, 3.99, 1e10, -1e10, 16_777_216.0, 65_504.0];
        // Past i32's range a cast saturates at the largest i32 the source holds: for f32,
        // 2^31 − 128 (WGSL's rule, which the CPU path follows).
        let want = [-2, 0, 0, 0, 3, 2_147_483_520, i32::MIN, 16_777_216, 65_504];
        let x = Tensor::from_vec(floats.to_vec(), &[9], &device).unwrap();
        assert_eq!(x.cast(DType::I32).unwrap().to_vec::<i32>().unwrap(), want, "f32 to i32 on {device}");
        // i32 to f32 rounds to the nearest f32 (ties to even), as Rust's `as`.
        let back: Vec<f32> = AWKWARD.iter().map(|&v| v as f32).collect();
        let got = ints(&AWKWARD, &[15], &device).cast(DType::F32).unwrap().to_vec::<f32>().unwrap();
        assert_eq!(got, back, "i32 to f32 on {device}");
        let halves = x.cast(DType::F16).unwrap().slice(0, 0, 5, 1).unwrap();
        assert_eq!(halves.cast(DType::I32).unwrap().to_vec::<i32>().unwrap(), [-2, 0, 0, 0, 3]);
        let small = ints(&[-7, 0, 2048, 65_504], &[4], &device).cast(DType::F16).unwrap();
        let want: Vec<half::f16> = [-7.0, 0.0, 2048.0, 65_504.0].map(half::f16::from_f32).to_vec();
        assert_eq!(small.to_vec::<half::f16>().unwrap(), want, "i32 to f16 on {device}");
        let wide = ints(&AWKWARD, &[15], &device).cast(DType::F64).unwrap();
        let want: Vec<f64> = AWKWARD.iter().map(|&v| v as f64).collect();
        assert_eq!(wide.to_vec::<f64>().unwrap(), want, "i32 to f64, exactly");
        assert_eq!(wide.cast(DType::I32).unwrap().to_vec::<i32>().unwrap(), AWKWARD);
        let past = tensor(&[1e10, -1e10, f64::NAN], &[3], DType::F64, &device);
        assert_eq!(past.cast(DType::I32).unwrap().to_vec::<i32>().unwrap(), [i32::MAX, i32::MIN, 0]);
    }
}

on_every_device! {
    fn arithmetic_on_i32_is_refused_and_names_the_cast(device) {
        let x = ints(&[1, 2, 3], &[3], &device);
        let e = x.add(&x).unwrap_err();
        assert!(matches!(e, Error::WrongDtype { op: "add", got: DType::I32, .. }), "{e}");
        assert!(e.to_string().contains(".cast(DType::F32)"), "{e}");
        // Ops that return no `Result` are refused when the plan runs, before any kernel.
        let e = x.exp().to_vec::<i32>().unwrap_err();
        assert!(matches!(e, Error::WrongDtype { op: "exp", .. }), "{e}");
        let e = x.sum(&[], false).unwrap().item::<i32>().unwrap_err();
        assert!(matches!(e, Error::WrongDtype { op: "sum", .. }), "{e}");
        let table = Tensor::ones(&[3, 2], DType::F32, &device).unwrap();
        assert!(table.index_select(0, &x.cast(DType::F32).unwrap()).is_err());
        // The way out works: cast, compute, and cast back.
        let doubled = x.cast(DType::F32).unwrap().mul_scalar(2.0).unwrap().cast(DType::I32).unwrap();
        assert_eq!(doubled.to_vec::<i32>().unwrap(), [2, 4, 6], "on {device}");
    }
}

on_every_device! {
    fn i32_comparisons_are_exact_and_give_i32(device) {
        let reversed: Vec<i32> = AWKWARD.iter().rev().copied().collect();
        let (a, b) = (ints(&AWKWARD, &[3, 5], &device), ints(&reversed, &[3, 5], &device));
        let pivot = ints(&[16_777_216], &[1], &device);
        let ops: [Comparison; 6] = [
            ("eq", Tensor::eq, |x, y| x == y),
            ("ne", Tensor::ne, |x, y| x != y),
            ("lt", Tensor::lt, |x, y| x < y),
            ("le", Tensor::le, |x, y| x <= y),
            ("gt", Tensor::gt, |x, y| x > y),
            ("ge", Tensor::ge, |x, y| x >= y),
        ];
        for (name, op, want) in ops {
            let dense = op(&a, &b).unwrap();
            assert_eq!(dense.dtype(), DType::I32);
            let expect: Vec<i32> = AWKWARD.iter().zip(&reversed).map(|(&x, &y)| want(x, y) as i32).collect();
            assert_eq!(dense.to_vec::<i32>().unwrap(), expect, "{name} on {device}");
            // Strided operands (transposed views), and a broadcast scalar that f32 cannot
            // tell from its neighbours.
            let strided = op(&a.t().unwrap(), &b.t().unwrap()).unwrap();
            let expect_t: Vec<i32> = (0..15).map(|e| expect[(e % 3) * 5 + e / 3]).collect();
            assert_eq!(strided.to_vec::<i32>().unwrap(), expect_t, "{name} of views on {device}");
            let scalar = op(&a, &pivot).unwrap();
            let expect: Vec<i32> = AWKWARD.iter().map(|&x| want(x, 16_777_216) as i32).collect();
            assert_eq!(scalar.to_vec::<i32>().unwrap(), expect, "{name} with a scalar on {device}");
        }
        // Accuracy, as a training loop counts it: positions against targets, then a mean.
        let logits = Tensor::from_vec(vec![0.1f32, 0.9, 0.8, 0.2, 0.3, 0.7], &[3, 2], &device).unwrap();
        let targets = ints(&[1, 1, 1], &[3], &device);
        let hits = logits.argmax(Some(1), false).unwrap().eq(&targets).unwrap();
        let accuracy = hits.cast(DType::F32).unwrap().mean(&[], false).unwrap();
        assert!((accuracy.item::<f32>().unwrap() - 2.0 / 3.0).abs() < 1e-7, "on {device}");
    }
}

on_every_device! {
    fn one_hot_rows_from_i32_classes(device) {
        let classes = ints(&[2, 0, -1, 3, 1], &[5], &device);
        let rows = classes.one_hot(3).unwrap();
        assert_eq!(rows.shape(), &[5, 3]);
        let want = [0., 0., 1., 1., 0., 0., 0., 0., 0., 0., 0., 0., 0., 1., 0.];
        assert_eq!(rows.to_vec::<f32>().unwrap(), want, "on {device}");
        let floats = Tensor::zeros(&[2], DType::F32, &device).unwrap();
        assert!(matches!(floats.one_hot(3), Err(Error::WrongDtype { op: "one_hot", .. })));
    }
}

#[test]
fn nothing_flows_back_through_an_integer() {
    let cpu = Device::cpu();
    let x = tensor(&[1.5, -2.5, 3.25], &[3], DType::F64, &cpu);
    x.set_requires_grad(true);
    // y = trunc(x)·x: the gradient is trunc(x), nothing through the truncation.
    let y = x
        .cast(DType::I32)
        .unwrap()
        .cast(DType::F64)
        .unwrap()
        .mul(&x)
        .unwrap();
    let g = grad(&y.sum(&[], false).unwrap(), &[&x]).unwrap();
    assert_eq!(values(&g[0]), [1.0, -2.0, 3.0]);
}

#[test]
fn checkpoints_keep_i32_and_read_pytorch_i64() {
    let cpu = Device::cpu();
    let dir = std::env::temp_dir().join(format!("lepton-integers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ids.safetensors");
    let ids = ints(&AWKWARD, &[3, 5], &cpu);
    checkpoint::save(&path, &[("ids".into(), ids)], HashMap::new()).unwrap();
    let (loaded, _) = checkpoint::load(&path, &cpu).unwrap();
    assert_eq!(loaded[0].1.dtype(), DType::I32);
    assert_eq!(loaded[0].1.shape(), &[3, 5]);
    assert_eq!(loaded[0].1.to_vec::<i32>().unwrap(), AWKWARD);

    // PyTorch writes integers as i64: read as i32 when they fit, refused when not.
    let write_i64 = |values: &[i64]| {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let view = safetensors::tensor::TensorView::new(
            safetensors::Dtype::I64,
            vec![values.len()],
            &bytes,
        )
        .unwrap();
        let file = safetensors::serialize([("steps", view)], None).unwrap();
        std::fs::write(&path, file).unwrap();
    };
    write_i64(&[3, -4, i32::MAX as i64]);
    let (loaded, _) = checkpoint::load(&path, &cpu).unwrap();
    assert_eq!(loaded[0].1.to_vec::<i32>().unwrap(), [3, -4, i32::MAX]);
    write_i64(&[1 << 40]);
    let e = checkpoint::load(&path, &cpu).unwrap_err();
    assert!(
        matches!(e, Error::Checkpoint { .. }) && e.to_string().contains("does not fit"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
