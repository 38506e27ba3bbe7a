//! Reductions on every device against naive f64 loops, over axis sets, layouts, long rows,
//! many rows, and a whole-tensor sum too large for one dispatch dimension.

mod common;

use common::*;
use lepton::{DType, ReduceOp, Tensor};

/// Reference: reduce `a` over `axes` (sorted, non-empty) with `op`.
fn reference(a: &Nd, axes: &[usize], op: ReduceOp) -> (Nd, Nd) {
    let kept: Vec<usize> = (0..a.shape.len()).filter(|d| !axes.contains(d)).collect();
    let out_shape: Vec<usize> = kept.iter().map(|&d| a.shape[d]).collect();
    let n_out: usize = out_shape.iter().product();
    let count: usize = axes.iter().map(|&d| a.shape[d]).product();
    let mut out = vec![Vec::new(); n_out];
    for (i, &v) in a.data.iter().enumerate() {
        let idx = unravel(i, &a.shape);
        let o: Vec<usize> = kept.iter().map(|&d| idx[d]).collect();
        let flat = o
            .iter()
            .zip(strides(&out_shape))
            .map(|(i, s)| i * s)
            .sum::<usize>();
        out[flat].push(v);
    }
    let value = |vs: &Vec<f64>| match op {
        ReduceOp::Sum => vs.iter().sum(),
        ReduceOp::Mean => vs.iter().sum::<f64>() / count as f64,
        ReduceOp::Max => vs.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
        ReduceOp::Min => vs.iter().cloned().fold(f64::INFINITY, f64::min),
    };
    let abs_sum = |vs: &Vec<f64>| {
        vs.iter().map(|v| v.abs()).sum::<f64>()
            / if op == ReduceOp::Mean {
                count as f64
            } else {
                1.0
            }
    };
    (
        Nd::new(&out_shape, out.iter().map(value).collect()),
        Nd::new(&out_shape, out.iter().map(abs_sum).collect()),
    )
}

/// The GPU folds ≤64 values per invocation, then a 256-wide tree (8 levels), per pass of
/// 16384-element chunks; the CPU path sums in f64. Each level adds at most one rounding, so
/// |error| ≤ levels·u·Σ|x| (plus one rounding of the f32 result).
fn tolerance(on_gpu: bool, count: usize, op: ReduceOp) -> f64 {
    if matches!(op, ReduceOp::Max | ReduceOp::Min) {
        return 0.0;
    }
    if !on_gpu {
        return 2.0 * U32;
    }
    let mut passes = 1;
    let mut n = count;
    while n > 16384 {
        n = n.div_ceil(16384);
        passes += 1;
    }
    (72 * passes + 2) as f64 * U32
}

fn check(t: &Tensor, r: &Nd, axes: &[isize], what: &str) {
    let rank = r.shape.len() as isize;
    let mut resolved: Vec<usize> = axes
        .iter()
        .map(|&a| if a < 0 { a + rank } else { a } as usize)
        .collect();
    if resolved.is_empty() {
        resolved = (0..r.shape.len()).collect();
    }
    resolved.sort();
    let count: usize = resolved.iter().map(|&d| r.shape[d]).product();
    for op in [ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max, ReduceOp::Min] {
        let (want, abs) = reference(r, &resolved, op);
        let got = t.reduce(op, axes, false).unwrap();
        assert_eq!(got.shape(), &want.shape[..], "{what} {op:?} shape");
        let tol = tolerance(t.device().is_gpu(), count, op);
        let got_v = values(&got);
        for (i, ((g, w), a)) in got_v.iter().zip(&want.data).zip(&abs.data).enumerate() {
            let bound = tol * a + U32 * w.abs();
            assert!(
                (g - w).abs() <= bound,
                "{what} {op:?} axes {axes:?} on {}: [{i}] got {g} want {w} (bound {bound:e})",
                t.device(),
            );
        }
        let kept = t.reduce(op, axes, true).unwrap();
        let kept_shape: Vec<usize> = (0..r.shape.len())
            .map(|d| if resolved.contains(&d) { 1 } else { r.shape[d] })
            .collect();
        assert_eq!(kept.shape(), &kept_shape[..], "{what} keepdim shape");
    }
}

#[test]
fn every_axis_set_on_small_and_odd_shapes() {
    let cases: &[(&[usize], &[&[isize]])] = &[
        (&[1], &[&[0], &[]]),
        (&[7], &[&[0], &[-1]]),
        (&[13, 257], &[&[0], &[1], &[]]),
        (
            &[3, 5, 7],
            &[&[0], &[1], &[2], &[0, 2], &[1, 2], &[-1, 0], &[]],
        ),
        (&[2, 1, 3, 1, 5], &[&[1, 3], &[0, 4], &[2]]),
    ];
    for device in devices() {
        for (k, (shape, axis_sets)) in cases.iter().enumerate() {
            let v = rounded(
                &data(shape.iter().product(), 100 + k as u64, -2.0, 2.0),
                DType::F32,
            );
            let t = tensor(&v, shape, DType::F32, &device);
            let r = Nd::new(shape, v);
            for axes in *axis_sets {
                check(&t, &r, axes, &format!("{shape:?}"));
            }
        }
    }
}

#[test]
fn non_contiguous_inputs() {
    for device in devices() {
        let v = rounded(&data(6 * 10 * 9, 110, -2.0, 2.0), DType::F32);
        let base = tensor(&v, &[6, 10, 9], DType::F32, &device);
        let r = Nd::new(&[6, 10, 9], v);
        let permuted = base.permute(&[2, 0, 1]).unwrap();
        check(&permuted, &r.permute(&[2, 0, 1]), &[1, 2], "permuted");
        let sliced = base.slice(1, 1, 10, 3).unwrap();
        check(&sliced, &r.slice(1, 1, 10, 3), &[0, 2], "sliced");
        let row = tensor(&r.data[..9], &[1, 9], DType::F32, &device)
            .broadcast_to(&[5, 9])
            .unwrap();
        let expanded = Nd::new(&[5, 9], (0..45).map(|i| r.data[i % 9]).collect());
        check(&row, &expanded, &[0], "expanded");
    }
}

#[test]
fn long_rows_and_many_rows() {
    for device in devices() {
        let v = rounded(&data(3 * 100_000, 120, -1.0, 1.0), DType::F32);
        check(
            &tensor(&v, &[3, 100_000], DType::F32, &device),
            &Nd::new(&[3, 100_000], v),
            &[1],
            "row of 100k",
        );
        // 70,000 rows need more workgroups than one dispatch dimension allows (65,535).
        let v = rounded(&data(70_000 * 3, 121, -1.0, 1.0), DType::F32);
        check(
            &tensor(&v, &[70_000, 3], DType::F32, &device),
            &Nd::new(&[70_000, 3], v),
            &[1],
            "70k rows",
        );
    }
}

#[test]
fn sum_of_twenty_million_elements() {
    let n = 20_000_000;
    let v: Vec<f32> = data(n, 130, 0.0, 1.0)
        .into_iter()
        .map(|x| x as f32)
        .collect();
    let exact: f64 = v.iter().map(|&x| x as f64).sum();
    for device in devices() {
        let t = Tensor::from_vec(v.clone(), &[n], &device).unwrap();
        // Positive terms: the relative error is at most the summation depth times u (64 + 8
        // levels in each of 2 passes: 8.6e-6); 1e-5 is the engine's promise for long sums.
        let got = t.sum(&[], false).unwrap().item::<f32>().unwrap() as f64;
        assert!(
            ((got - exact) / exact).abs() < 1e-5,
            "sum on {device}: {got} vs {exact}"
        );
        // An elementwise op first: 78,125 workgroups, folded into two dimensions.
        let doubled = t
            .add(&t)
            .unwrap()
            .sum(&[0], false)
            .unwrap()
            .item::<f32>()
            .unwrap() as f64;
        assert!(
            ((doubled - 2.0 * exact) / exact).abs() < 2e-5,
            "2x sum on {device}: {doubled}"
        );
        let mean = t.mean(&[], false).unwrap().item::<f32>().unwrap() as f64;
        assert!(
            ((mean - exact / n as f64) / (exact / n as f64)).abs() < 1e-5,
            "mean on {device}: {mean}"
        );
    }
}

#[test]
fn f16_sums_accumulate_in_f32() {
    for device in devices() {
        if !device.supports(DType::F16) {
            continue;
        }
        // 10,000 halves of 0.5: an f16 accumulator would stall at 1024 (ulp 1 > 0.5·2).
        let t = Tensor::full(&[100, 100], 0.5, DType::F16, &device).unwrap();
        let total = t
            .sum(&[], false)
            .unwrap()
            .cast(DType::F32)
            .unwrap()
            .item::<f32>()
            .unwrap();
        assert_eq!(total, 5000.0, "on {device}");
        let rows = values(&t.sum(&[1], false).unwrap());
        assert!(rows.iter().all(|&r| r == 50.0), "on {device}");
    }
}

#[test]
fn empty_axes_reduce_to_identities() {
    for device in devices() {
        let t = Tensor::zeros(&[3, 0], DType::F32, &device).unwrap();
        assert_eq!(
            values(&t.sum(&[1], false).unwrap()),
            vec![0.0; 3],
            "on {device}"
        );
        assert_eq!(
            values(&t.max(&[1], false).unwrap()),
            vec![f64::NEG_INFINITY; 3],
            "on {device}"
        );
    }
}
