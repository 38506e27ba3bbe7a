//! The softmax family and fused cross-entropy against an f64 reference written here with
//! plain loops, on every device, along every axis, on odd and degenerate shapes.

mod common;

use common::*;
use lepton::nn::loss;
use lepton::{grad, DType, Device, Tensor};

/// (max, Σ exp(x − max)) of a row, in f64.
fn stats(row: &[f64]) -> (f64, f64) {
    let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (m, row.iter().map(|v| (v - m).exp()).sum())
}

fn lse(row: &[f64]) -> f64 {
    let (m, s) = stats(row);
    if m == f64::NEG_INFINITY {
        m
    } else {
        m + s.ln()
    }
}

/// The rows of `a` along `axis`, each with the flat indices of its elements.
fn rows_along(a: &Nd, axis: usize) -> Vec<(Vec<usize>, Vec<f64>)> {
    let n = a.shape[axis];
    let st = strides(&a.shape);
    let mut out = Vec::new();
    for i in 0..a.data.len() {
        if unravel(i, &a.shape)[axis] != 0 {
            continue;
        }
        let idx: Vec<usize> = (0..n).map(|k| i + k * st[axis]).collect();
        let row = idx.iter().map(|&j| a.data[j]).collect();
        out.push((idx, row));
    }
    out
}

/// softmax, log_softmax (both in `a`'s shape) and logsumexp (the axis dropped) along `axis`.
fn reference(a: &Nd, axis: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut soft = vec![0.0; a.data.len()];
    let mut logsoft = vec![0.0; a.data.len()];
    let mut sums = Vec::new();
    for (idx, row) in rows_along(a, axis) {
        let (m, s) = stats(&row);
        let shift = lse(&row);
        for (&j, &v) in idx.iter().zip(&row) {
            soft[j] = (v - m).exp() / s;
            logsoft[j] = v - shift;
        }
        sums.push(shift);
    }
    (soft, logsoft, sums)
}

/// Tolerances (rtol for softmax, atol for log-domain values besides 2u|value|) for rows of
/// `n` elements. The CPU path computes in f64 and rounds once. A shader's exp may be off by
/// 3 + 2|x| ulp (WGSL's bound), here |x| ≤ 8, and its sum of n exponentials by up to n + 6
/// roundings (a lane's running sum, then the lanes' tree); log adds at most 2^-21 absolute.
fn tolerance(device: &Device, dtype: DType, n: usize) -> (f64, f64) {
    let storage = if dtype == DType::F16 { 2.0 * U16 } else { 0.0 };
    if !device.is_gpu() {
        let u = if dtype == DType::F64 {
            1e-15
        } else {
            2.0 * U32
        };
        return (u + storage, u + storage);
    }
    let sum = 19.0 * 2.0 * U32 + (n as f64 + 8.0) * U32;
    (sum + 2.0 * U32 + storage, sum + 2f64.powi(-21) + storage)
}

fn check_all(x: &Tensor, a: &Nd, what: &str) {
    let device = x.device().clone();
    for axis in 0..a.shape.len() {
        let (soft, logsoft, sums) = reference(a, axis);
        let (rtol, atol) = tolerance(&device, x.dtype(), a.shape[axis]);
        let ax = axis as isize;
        let name = format!("{what} axis {axis} on {device}");
        assert_close(
            &values(&x.softmax(ax).unwrap()),
            &soft,
            1e-30,
            rtol,
            &format!("softmax {name}"),
        );
        // The result's own rounding: relative to the largest value of the log-domain output.
        let unit = if x.dtype() == DType::F16 { U16 } else { U32 };
        let log_tol = |want: &[f64]| -> f64 {
            atol + 2.0 * unit * want.iter().fold(0.0f64, |m, v| m.max(v.abs()))
        };
        assert_close(
            &values(&x.log_softmax(ax).unwrap()),
            &logsoft,
            log_tol(&logsoft),
            0.0,
            &format!("log_softmax {name}"),
        );
        let kept = x.logsumexp(ax, true).unwrap();
        let mut kept_shape = a.shape.clone();
        kept_shape[axis] = 1;
        assert_eq!(kept.shape(), &kept_shape[..]);
        assert_close(
            &values(&x.logsumexp(ax, false).unwrap()),
            &sums,
            log_tol(&sums),
            0.0,
            &format!("logsumexp {name}"),
        );
    }
}

on_every_device! {
    fn every_kind_along_every_axis_on_odd_shapes(device) {
        // [300, 44]: one lane per row, eleven quads each (two trips of four, three single).
        let shapes: [&[usize]; 9] = [
            &[1],
            &[7],
            &[1, 1, 1],
            &[3, 7, 13],
            &[2, 513],
            &[4, 1000],
            &[1, 10000],
            &[257, 3],
            &[300, 44],
        ];
        let dtypes: &[DType] = if !device.is_gpu() {
            &[DType::F32, DType::F64]
        } else {
            &[DType::F32]
        };
        for (k, shape) in shapes.iter().enumerate() {
            for &dtype in dtypes {
                let v = rounded(
                    &data(shape.iter().product(), 40 + k as u64, -4.0, 4.0),
                    dtype,
                );
                let x = tensor(&v, shape, dtype, &device);
                check_all(&x, &Nd::new(shape, v), &format!("{shape:?} {dtype}"));
            }
        }
    }
}

on_every_device! {
    fn non_contiguous_and_f16_inputs(device) {
        let v = rounded(&data(9 * 14, 50, -4.0, 4.0), DType::F32);
        let base = Nd::new(&[9, 14], v.clone());
        let x = tensor(&v, &[9, 14], DType::F32, &device);
        let t = x.transpose(0, 1).unwrap();
        check_all(&t, &base.permute(&[1, 0]), "transposed");
        let s = x.slice(1, 1, 14, 3).unwrap();
        check_all(&s, &base.slice(1, 1, 14, 3), "strided slice");
        // Rows of 14 are read one element at a time, rows of 16 four at a time.
        let dtype = DType::F16;
        for shape in [[9, 14], [7, 16]] {
            let h = rounded(&data(shape[0] * shape[1], 51, -4.0, 4.0), dtype);
            check_all(
                &tensor(&h, &shape, dtype, &device),
                &Nd::new(&shape, h),
                "f16",
            );
        }
    }
}

on_every_device! {
    fn huge_and_infinite_inputs_give_no_spurious_inf_or_nan(device) {
        let n = 300;
        let mut v = rounded(&data(4 * n, 60, -1e4, 1e4), DType::F32);
        // Row 2 holds −inf among finite values; row 3 is all −inf.
        v[2 * n + 5] = f64::NEG_INFINITY;
        v[3 * n..].iter_mut().for_each(|x| *x = f64::NEG_INFINITY);
        let a = Nd::new(&[4, n], v.clone());
        let (soft, logsoft, sums) = reference(&a, 1);
        let x = tensor(&v, &[4, n], DType::F32, &device);
        let got = values(&x.softmax(-1).unwrap());
        let lsm = values(&x.log_softmax(-1).unwrap());
        let lse = values(&x.logsumexp(-1, false).unwrap());
        assert!(
            lse[..3].iter().all(|v| v.is_finite()),
            "logsumexp on {device}"
        );
        for r in 0..3 {
            let row = r * n..(r + 1) * n;
            assert!(
                got[row.clone()].iter().all(|v| v.is_finite()),
                "softmax row {r} on {device}"
            );
            assert!((got[row.clone()].iter().sum::<f64>() - 1.0).abs() < 1e-5);
            // exp(x − m) ≥ 2^-149 only within 104 of the maximum, elsewhere 0 on every
            // device; there WGSL allows exp 3 + 2·104 ulp (2.5e-5), and the sum of 300
            // terms adds at most 300 roundings (1.8e-5).
            assert_close(
                &got[row.clone()],
                &soft[row.clone()],
                1e-30,
                5e-5,
                "softmax",
            );
            // ±1e4 in f32 carries an ulp of 1e-3: that is the absolute tolerance in log space.
            assert_close(&lsm[row.clone()], &logsoft[row], 4e-3, 0.0, "log_softmax");
        }
        assert_eq!(got[2 * n + 5], 0.0, "exp(−inf) is 0");
        assert_eq!(lse[3], f64::NEG_INFINITY, "logsumexp of −inf is −inf");
        assert!(
            got[3 * n..].iter().all(|v| v.is_nan()),
            "softmax of −inf is NaN"
        );
        assert_close(&lse[..3], &sums[..3], 4e-3, 0.0, "logsumexp");
    }
}

/// Cross-entropy per row and its gradient for the mean loss, in f64.
fn ce_reference(x: &[f64], n: usize, c: usize, targets: &[f64], eps: f64) -> (Vec<f64>, Vec<f64>) {
    let mut losses = Vec::new();
    let mut grads = Vec::new();
    for r in 0..n {
        let row = &x[r * c..(r + 1) * c];
        let t = targets[r];
        let valid = t >= 0.0 && t < c as f64 && t.fract() == 0.0;
        let w: Vec<f64> = (0..c)
            .map(|i| {
                eps / c as f64
                    + if valid && i == t as usize {
                        1.0 - eps
                    } else {
                        0.0
                    }
            })
            .collect();
        let l = lse(row);
        let loss = l - row.iter().zip(&w).map(|(v, w)| v * w).sum::<f64>();
        losses.push(if valid { loss } else { f64::NAN });
        let (m, s) = stats(row);
        for i in 0..c {
            let g = ((row[i] - m).exp() / s - w[i]) / n as f64;
            grads.push(if valid { g } else { f64::NAN });
        }
    }
    (losses, grads)
}

on_every_device! {
    fn cross_entropy_and_its_gradient(device) {
        for (n, c) in [(1, 1), (7, 3), (128, 10), (13, 1000), (3, 4097)] {
            for eps in [0.0, 0.1] {
                let x = rounded(&data(n * c, (n * c) as u64, -4.0, 4.0), DType::F32);
                let targets: Vec<f64> = (0..n).map(|r| ((r * 7 + 3) % c) as f64).collect();
                let (want_loss, want_grad) = ce_reference(&x, n, c, &targets, eps);
                let logits = tensor(&x, &[n, c], DType::F32, &device);
                logits.set_requires_grad(true);
                let t = tensor(&targets, &[n], DType::I32, &device);
                let per = loss::cross_entropy_per_sample(&logits, &t, eps).unwrap();
                let mean = loss::cross_entropy(&logits, &t, eps).unwrap();
                let g = grad(&mean, &[&logits]).unwrap().remove(0);
                let what = format!("[{n}, {c}] ε={eps} on {device}");
                let (rtol, atol) = tolerance(&device, DType::F32, c);
                let scale = x.iter().fold(1.0f64, |m, v| m.max(v.abs()));
                assert_close(
                    &values(&per),
                    &want_loss,
                    atol + 4.0 * U32 * scale,
                    0.0,
                    &format!("loss {what}"),
                );
                // g = (softmax − w)/N: softmax's relative error, on values of magnitude ≤ 1/N.
                assert_close(
                    &values(&g),
                    &want_grad,
                    rtol / n as f64,
                    2.0 * U32,
                    &format!("grad {what}"),
                );
            }
        }
    }
}

on_every_device! {
    fn cross_entropy_of_a_transposed_view_and_of_bad_targets(device) {
        let (n, c) = (6, 5);
        let x = rounded(&data(n * c, 70, -2.0, 2.0), DType::F32);
        // Targets −1, i32's smallest and 5 name no class: their rows are NaN, the rest
        // unaffected.
        let targets = [0.0, -1.0, i32::MIN as f64, 4.0, 5.0, 1.0];
        let (want_loss, want_grad) = ce_reference(&x, n, c, &targets, 0.0);
        let stored = tensor(
            &Nd::new(&[n, c], x.clone()).permute(&[1, 0]).data,
            &[c, n],
            DType::F32,
            &device,
        );
        let logits = stored.transpose(0, 1).unwrap();
        logits.set_requires_grad(true);
        let t = tensor(&targets, &[n], DType::I32, &device);
        let per = values(&loss::cross_entropy_per_sample(&logits, &t, 0.0).unwrap());
        assert_close(&per, &want_loss, 1e-5, 0.0, &format!("loss on {device}"));
        let mean = loss::cross_entropy(&logits, &t, 0.0).unwrap();
        // The mean is NaN, and so is every gradient: NaN rows poison the batch's mean.
        assert!(values(&mean)[0].is_nan());
        let sum_valid = per.iter().filter(|v| !v.is_nan()).count();
        assert_eq!(sum_valid, 3);
        let g = grad(
            &loss::cross_entropy_per_sample(&logits, &t, 0.0)
                .unwrap()
                .sum(&[], false)
                .unwrap(),
            &[&logits],
        )
        .unwrap()
        .remove(0);
        let got = values(&g);
        let want: Vec<f64> = want_grad.iter().map(|v| v * n as f64).collect();
        assert_close(&got, &want, 1e-6, 0.0, &format!("grad on {device}"));
    }
}

#[test]
fn cross_entropy_refuses_bad_arguments() {
    let cpu = Device::cpu();
    let logits = Tensor::zeros(&[4, 3], DType::F32, &cpu).unwrap();
    let wrong_rows = Tensor::zeros(&[5], DType::I32, &cpu).unwrap();
    let wrong_dtype = Tensor::zeros(&[4], DType::F32, &cpu).unwrap();
    let fine = Tensor::zeros(&[4], DType::I32, &cpu).unwrap();
    let e = loss::cross_entropy(&logits, &wrong_rows, 0.0).unwrap_err();
    assert!(e.to_string().contains("[N, C]"), "{e}");
    let e = loss::cross_entropy(&logits, &wrong_dtype, 0.0).unwrap_err();
    assert!(e.to_string().contains("i32 indices"), "{e}");
    let e = loss::cross_entropy(&logits, &fine, 1.5).unwrap_err();
    assert!(e.to_string().contains("label smoothing"), "{e}");
}
