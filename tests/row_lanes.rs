//! The row kernels (reductions, positions, softmax and cross-entropy) with each way their
//! lanes combine, pinned in turn on the GPU: a tree in workgroup memory, and subgroups
//! first where the device has them. Against f64 references: rows of 1 to 40000 elements
//! (several passes), leading-axis reductions, ties and NaN.

mod common;

use std::sync::Mutex;

use common::*;
use lepton::autotune::{pin_rows, RowLanes};
use lepton::{DType, Device, ReduceOp, Tensor};

/// Pins are per process: the tests here take turns.
static TURN: Mutex<()> = Mutex::new(());

/// Run `check` on the GPU under each way of combining lanes it has.
fn each_combine(check: impl Fn(&Device, RowLanes)) {
    let Some(device) = gpu() else { return };
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let subgroups = match &device {
        Device::Gpu(ctx) => ctx.subgroup_size().is_some(),
        Device::Cpu => false,
    };
    if !subgroups {
        eprintln!("SKIPPED SUBGROUP PART: {device} has no single subgroup size");
    }
    for lanes in [RowLanes::Workgroup, RowLanes::Subgroup] {
        if lanes == RowLanes::Subgroup && !subgroups {
            continue;
        }
        pin_rows(Some(lanes));
        check(&device, lanes);
    }
    pin_rows(None);
}

/// Row lengths: one element, odd and prime ones, ones whose tasks get 8, 16 and 32 lanes
/// (one to four subgroups on an 8-wide device), and past one chunk of 16384 (two and
/// three passes, 64 lanes a task).
const LENGTHS: [usize; 9] = [1, 7, 13, 257, 1000, 2000, 4000, 16385, 40000];

#[test]
fn reductions_over_rows_and_leading_axes() {
    each_combine(|device, lanes| {
        for (case, &n) in LENGTHS.iter().enumerate() {
            let rows = 3;
            // In [0.5, 1.5): products of up to 40000 stay finite only as logs; they are
            // checked on the shorter rows.
            let v = rounded(&data(rows * n, 10 + case as u64, 0.5, 1.5), DType::F32);
            let x = tensor(&v, &[rows, n], DType::F32, device);
            let xt = tensor(&v, &[n, rows], DType::F32, device);
            for op in [
                ReduceOp::Sum,
                ReduceOp::Mean,
                ReduceOp::Max,
                ReduceOp::Min,
                ReduceOp::Prod,
            ] {
                if op == ReduceOp::Prod && n > 100 {
                    continue;
                }
                // Along the rows, and over the leading axis of the [n, rows] matrix.
                for (got, lead) in [
                    (values(&x.reduce(op, &[1], false).unwrap()), false),
                    (values(&xt.reduce(op, &[0], false).unwrap()), true),
                ] {
                    for r in 0..rows {
                        let row: Vec<f64> = (0..n)
                            .map(|i| if lead { v[i * rows + r] } else { v[r * n + i] })
                            .collect();
                        let (want, bound) = match op {
                            ReduceOp::Sum | ReduceOp::Mean => {
                                // Any order of n − 1 additions: (n − 1)·u·Σ|x|, then a scale.
                                let sum: f64 = row.iter().sum();
                                let scale = if op == ReduceOp::Mean {
                                    1.0 / n as f64
                                } else {
                                    1.0
                                };
                                (sum * scale, (n as f64 + 1.0) * U32 * sum.abs() * scale)
                            }
                            ReduceOp::Max => (row.iter().cloned().fold(f64::MIN, f64::max), 0.0),
                            ReduceOp::Min => (row.iter().cloned().fold(f64::MAX, f64::min), 0.0),
                            _ => {
                                // n − 1 roundings of a product, each relative.
                                let p: f64 = row.iter().product();
                                (p, (n as f64 + 1.0) * U32 * p.abs())
                            }
                        };
                        assert!(
                            (got[r] - want).abs() <= bound,
                            "{op:?} n={n} leading={lead} row {r} {lanes:?}: {} vs {want}",
                            got[r]
                        );
                    }
                }
            }
        }
    });
}

#[test]
fn positions_keep_the_first_tie_or_the_first_nan() {
    each_combine(|device, lanes| {
        for (case, &n) in LENGTHS.iter().enumerate() {
            let rows = 4;
            // A few levels, so rows hold many ties; NaN in row 1.
            let mut v: Vec<f64> = data(rows * n, 40 + case as u64, -1.0, 1.0)
                .iter()
                .map(|e| (e * 3.0).round())
                .collect();
            v[n + n / 2] = f64::NAN;
            let x = tensor(&v, &[rows, n], DType::F32, device);
            for max in [true, false] {
                let got = values(
                    &if max {
                        x.argmax(Some(1), false)
                    } else {
                        x.argmin(Some(1), false)
                    }
                    .unwrap(),
                );
                for r in 0..rows {
                    let row = &v[r * n..(r + 1) * n];
                    let mut best = None::<usize>;
                    for (i, &e) in row.iter().enumerate() {
                        let better =
                            |b: f64| !b.is_nan() && (e.is_nan() || if max { e > b } else { e < b });
                        if best.is_none_or(|b| better(row[b])) {
                            best = Some(i);
                        }
                    }
                    assert_eq!(
                        got[r],
                        best.unwrap_or(0) as f64,
                        "max={max} n={n} row {r} {lanes:?}"
                    );
                }
            }
        }
    });
}

#[test]
fn softmax_family_and_cross_entropy() {
    each_combine(|device, lanes| {
        for (case, &n) in LENGTHS[..7].iter().enumerate() {
            let rows = 6;
            let v = rounded(&data(rows * n, 70 + case as u64, -8.0, 8.0), DType::F32);
            let x = tensor(&v, &[rows, n], DType::F32, device);
            let soft = values(&x.softmax(-1).unwrap());
            let logs = values(&x.log_softmax(-1).unwrap());
            let lse = values(&x.logsumexp(-1, false).unwrap());
            let targets: Vec<f64> = (0..rows).map(|r| ((r * 7) % n) as f64).collect();
            let t = tensor(&targets, &[rows], DType::I32, device);
            x.set_requires_grad(true);
            let loss = lepton::nn::loss::cross_entropy_per_sample(&x, &t, 0.0).unwrap();
            let grad = lepton::grad(&loss.sum(&[], false).unwrap(), &[&x]).unwrap();
            let (ce, dx) = (values(&loss), values(&grad[0]));
            // exp and log are a few ulps each; the row's sum of n exponentials adds n roundings.
            let bound = (n as f64 + 16.0) * U32;
            for r in 0..rows {
                let row = &v[r * n..(r + 1) * n];
                let m = row.iter().cloned().fold(f64::MIN, f64::max);
                let s: f64 = row.iter().map(|e| (e - m).exp()).sum();
                let want_lse = m + s.ln();
                assert!(
                    (lse[r] - want_lse).abs() <= bound * want_lse.abs().max(1.0),
                    "logsumexp n={n} {lanes:?}"
                );
                let c = targets[r] as usize;
                assert!(
                    (ce[r] - (want_lse - row[c])).abs() <= 2.0 * bound * want_lse.abs().max(1.0),
                    "cross_entropy n={n} {lanes:?}"
                );
                for (i, &e) in row.iter().enumerate() {
                    let p = (e - m).exp() / s;
                    let k = r * n + i;
                    assert!(
                        (soft[k] - p).abs() <= bound * p + 1e-30,
                        "softmax n={n} [{r}, {i}] {lanes:?}"
                    );
                    assert!(
                        (logs[k] - (e - want_lse)).abs() <= bound * want_lse.abs().max(1.0) * 2.0,
                        "log_softmax n={n} {lanes:?}"
                    );
                    let want_dx = p - if i == c { 1.0 } else { 0.0 };
                    assert!(
                        (dx[k] - want_dx).abs() <= bound,
                        "cross_entropy gradient n={n} [{r}, {i}] {lanes:?}"
                    );
                }
            }
        }
    });
}

#[test]
fn a_whole_tensor_sum_of_many_elements() {
    each_combine(|device, lanes| {
        let n = 3_000_017;
        let v = rounded(&data(n, 99, -1.0, 1.0), DType::F32);
        let got = Tensor::from_vec(v.iter().map(|&e| e as f32).collect(), &[n], device)
            .unwrap()
            .sum(&[], false)
            .unwrap()
            .item::<f32>()
            .unwrap() as f64;
        let want: f64 = v.iter().sum();
        let abs: f64 = v.iter().map(|e| e.abs()).sum();
        // Three passes of chunks, lanes and blocks: far fewer than n additions deep; n·u·Σ|x|
        // bounds any order.
        assert!(
            (got - want).abs() <= n as f64 * U32 * abs,
            "{got} vs {want} {lanes:?}"
        );
    });
}
