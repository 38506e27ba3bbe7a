//! Clamping, stacking and masks (tril, triu, masked_fill, the causal mask) on every device
//! against plain index loops, with the gradients they pass; their finite-difference checks
//! are in gradcheck.rs.

mod common;

use common::*;
use lepton::{grad, DType, Error, Tensor};

/// x[.., i, j] kept where `keep(j − i)`, else 0, over the last two axes of `shape`.
fn triangle_reference(x: &[f64], shape: &[usize], keep: impl Fn(i64) -> bool) -> Vec<f64> {
    let (n, m) = (shape[shape.len() - 2], shape[shape.len() - 1]);
    x.iter()
        .enumerate()
        .map(|(e, &v)| {
            let (i, j) = ((e / m) % n, e % m);
            if keep(j as i64 - i as i64) {
                v
            } else {
                0.0
            }
        })
        .collect()
}

on_every_device! {
    fn tril_and_triu_keep_their_diagonals(device) {
        for shape in [vec![1, 1], vec![5, 7], vec![7, 5], vec![2, 3, 4], vec![3, 1, 13]] {
            let v = data(shape.iter().product(), 31, -2.0, 2.0);
            let x = tensor(&v, &shape, DType::F32, &device);
            let v = rounded(&v, DType::F32);
            for k in [-3i64, -1, 0, 1, 2, 20] {
                let what = format!("{shape:?} k={k} on {device}");
                let lower = triangle_reference(&v, &shape, |d| d <= k);
                assert_close(&values(&x.tril(k).unwrap()), &lower, 0.0, 0.0, &format!("tril {what}"));
                let upper = triangle_reference(&v, &shape, |d| d >= k);
                assert_close(&values(&x.triu(k).unwrap()), &upper, 0.0, 0.0, &format!("triu {what}"));
            }
        }
    }
}

on_every_device! {
    fn masked_fill_broadcasts_its_mask_and_passes_no_gradient_through_it(device) {
        let v = data(15, 32, -1.0, 1.0);
        let x = tensor(&v, &[3, 5], DType::F32, &device);
        x.set_requires_grad(true);
        let bits = [1.0, 0.0, 0.0, 1.0, 1.0];
        let mask = tensor(&bits, &[5], DType::F32, &device);
        let y = x.masked_fill(&mask, -7.5).unwrap();
        // The gradient first: reading y realizes it, which cuts the graph behind it.
        let g = grad(&y.sum(&[], false).unwrap(), &[&x]).unwrap();
        let v = rounded(&v, DType::F32);
        let want: Vec<f64> = (0..15).map(|e| if bits[e % 5] != 0.0 { -7.5 } else { v[e] }).collect();
        assert_close(&values(&y), &want, 0.0, 0.0, &format!("masked_fill on {device}"));
        let want: Vec<f64> = (0..15).map(|e| 1.0 - bits[e % 5]).collect();
        assert_close(&values(&g[0]), &want, 0.0, 0.0, &format!("masked_fill gradient on {device}"));
        let wide = tensor(&[1.0; 6], &[2, 3], DType::F32, &device);
        assert!(matches!(
            x.masked_fill(&wide, 0.0),
            Err(Error::ShapeMismatch { .. })
        ));
    }
}

on_every_device! {
    fn the_causal_mask_hides_every_later_key(device) {
        for t in [1usize, 2, 7] {
            let mask = values(&Tensor::causal_mask(t, DType::F32, &device).unwrap());
            let want: Vec<f64> = (0..t * t)
                .map(|e| if e % t > e / t { f64::NEG_INFINITY } else { 0.0 })
                .collect();
            assert_close(&mask, &want, 0.0, 0.0, &format!("causal mask {t} on {device}"));
        }
        // Added to scores, softmax puts no weight on the future.
        let scores = tensor(&data(16, 33, -3.0, 3.0), &[4, 4], DType::F32, &device);
        let p = values(
            &scores
                .add(&Tensor::causal_mask(4, DType::F32, &device).unwrap())
                .unwrap()
                .softmax(-1)
                .unwrap(),
        );
        for i in 0..4 {
            for j in i + 1..4 {
                assert_eq!(p[i * 4 + j], 0.0, "query {i}, key {j} on {device}");
            }
        }
    }
}

on_every_device! {
    fn clamp_limits_passes_nan_and_grades_both_ends_inclusive(device) {
        let v = [-2.0, -0.5, 0.0, 0.25, 0.75, 1.0, f64::NAN];
        let x = tensor(&v, &[7], DType::F32, &device);
        x.set_requires_grad(true);
        let y = x.clamp(-0.5, 0.75).unwrap();
        let g = grad(&y.mul_scalar(3.0).unwrap().sum(&[0], false).unwrap(), &[&x]).unwrap();
        let want = [-0.5, -0.5, 0.0, 0.25, 0.75, 0.75, f64::NAN];
        assert_close(&values(&y), &want, 0.0, 0.0, &format!("clamp on {device}"));
        // As PyTorch's: the gradient passes where min ≤ x ≤ max. A NaN element passes it too
        // (PyTorch stops it there).
        let want = [0.0, 3.0, 3.0, 3.0, 3.0, 0.0, 3.0];
        assert_close(&values(&g[0]), &want, 0.0, 0.0, &format!("clamp gradient on {device}"));
        assert!(matches!(x.clamp(1.0, 0.0), Err(Error::InvalidArgument { .. })));
    }
}

on_every_device! {
    fn stack_joins_along_a_new_axis(device) {
        let parts: Vec<Vec<f64>> = (0..3).map(|k| data(6, 40 + k, -1.0, 1.0)).collect();
        let ts: Vec<Tensor> = parts.iter().map(|p| tensor(p, &[2, 3], DType::F32, &device)).collect();
        let refs: Vec<&Tensor> = ts.iter().collect();
        let parts: Vec<Vec<f64>> = parts.iter().map(|p| rounded(p, DType::F32)).collect();
        for axis in [0isize, 1, 2, -1, -3] {
            let d = axis.rem_euclid(3) as usize;
            let y = Tensor::stack(&refs, axis).unwrap();
            let mut shape = vec![2, 3];
            shape.insert(d, 3);
            assert_eq!(y.shape(), &shape[..], "axis {axis}");
            let want: Vec<f64> = (0..18)
                .map(|e| {
                    let index = [e / (shape[1] * shape[2]), (e / shape[2]) % shape[1], e % shape[2]];
                    let mut rest: Vec<usize> = index.to_vec();
                    let k = rest.remove(d);
                    parts[k][rest[0] * 3 + rest[1]]
                })
                .collect();
            assert_close(&values(&y), &want, 0.0, 0.0, &format!("stack along {axis} on {device}"));
        }
        let other = tensor(&[0.0; 6], &[3, 2], DType::F32, &device);
        assert!(matches!(
            Tensor::stack(&[&ts[0], &other], 0),
            Err(Error::ShapeMismatch { op: "stack", .. })
        ));
        assert!(matches!(Tensor::stack(&[], 0), Err(Error::InvalidArgument { .. })));
    }
}
