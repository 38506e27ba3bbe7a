//! gather, index_select and the gather's gradient (a scatter-add) on every device against
//! plain index loops; indices that name no position fail on the CPU path and read NaN on
//! the GPU.

mod common;

use common::*;
use lepton::{grad, DType, Device, Error, Tensor};

/// Indices below `size`, as f64 values and an i32 tensor.
fn indices(
    n: usize,
    size: usize,
    seed: u64,
    shape: &[usize],
    device: &Device,
) -> (Vec<f64>, Tensor) {
    let v: Vec<f64> = data(n, seed, 0.0, size as f64)
        .iter()
        .map(|x| x.floor())
        .collect();
    let t = tensor(&v, shape, DType::I32, device);
    (v, t)
}

fn coordinates(mut e: usize, shape: &[usize]) -> Vec<usize> {
    let mut c = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        c[d] = e % shape[d];
        e /= shape[d];
    }
    c
}

fn flat(c: &[usize], shape: &[usize]) -> usize {
    c.iter().zip(shape).fold(0, |acc, (&v, &s)| acc * s + v)
}

on_every_device! {
    fn gather_reads_along_each_axis_and_scatters_its_gradient_back(device) {
        let shape = [3usize, 5, 4];
        let x_values = rounded(&data(60, 50, -2.0, 2.0), DType::F32);
        for (axis, index_shape) in [(0usize, [7usize, 5, 4]), (1, [3, 9, 2]), (2, [2, 1, 13])] {
            let x = tensor(&x_values, &shape, DType::F32, &device);
            x.set_requires_grad(true);
            let n: usize = index_shape.iter().product();
            let (idx, index) = indices(n, shape[axis], 51 + axis as u64, &index_shape, &device);
            let w_values = rounded(&data(n, 52, 0.5, 1.5), DType::F32);
            let w = tensor(&w_values, &index_shape, DType::F32, &device);
            let y = x.gather(axis as isize, &index).unwrap();
            let g = grad(&y.mul(&w).unwrap().sum(&[], false).unwrap(), &[&x]).unwrap();
            let mut want = vec![0.0; n];
            let mut scattered = vec![0.0; 60];
            for (e, slot) in want.iter_mut().enumerate() {
                let mut c = coordinates(e, &index_shape);
                c[axis] = idx[e] as usize;
                *slot = x_values[flat(&c, &shape)];
                scattered[flat(&c, &shape)] += w_values[e];
            }
            let what = format!("axis {axis} on {device}");
            assert_eq!(y.shape(), &index_shape[..], "{what}");
            assert_close(&values(&y), &want, 0.0, 0.0, &format!("gather {what}"));
            // Each position sums at most 13 positive weights: in f32 (GPU) within 12 roundings
            // of the sum, rounded once from f64 (CPU).
            assert_close(&values(&g[0]), &scattered, 0.0, 13.0 * U32, &format!("gradient {what}"));
        }
    }
}

on_every_device! {
    fn index_select_takes_slices_in_order_with_repeats(device) {
        let (rows, cols) = (65usize, 33usize);
        let table = rounded(&data(rows * cols, 60, -1.0, 1.0), DType::F32);
        let x = tensor(&table, &[rows, cols], DType::F32, &device);
        for n in [1usize, 7, 513] {
            let (idx, list) = indices(n, rows, 61 + n as u64, &[n], &device);
            let y = x.index_select(0, &list).unwrap();
            let want: Vec<f64> = (0..n * cols).map(|e| table[idx[e / cols] as usize * cols + e % cols]).collect();
            assert_close(&values(&y), &want, 0.0, 0.0, &format!("rows {n} on {device}"));
            let (idx, list) = indices(n, cols, 62 + n as u64, &[n], &device);
            let y = x.t().unwrap().index_select(1, &list).unwrap();
            let want: Vec<f64> = (0..cols * n).map(|e| table[idx[e % n] as usize * cols + e / n]).collect();
            assert_close(&values(&y), &want, 0.0, 0.0, &format!("columns of a transpose {n} on {device}"));
        }
    }
}

on_every_device! {
    fn a_gradient_summed_over_more_than_65535_indices_is_whole(device) {
        // The software Vulkan device stops an invocation's loops after 65,535 iterations;
        // the scatter-add must sum all 70,001 terms of each row anyway.
        let n = 70_001usize;
        let ids: Vec<i32> = (0..n).map(|i| ((i * 7 + i / 3) % 5) as i32).collect();
        let table = tensor(&[0.5; 15], &[5, 3], DType::F32, &device);
        table.set_requires_grad(true);
        let list = Tensor::from_vec(ids.clone(), &[n], &device).unwrap();
        let picked = table.index_select(0, &list).unwrap();
        let g = grad(&picked.sum(&[], false).unwrap(), &[&table]).unwrap();
        let mut counts = [0.0f64; 5];
        ids.iter().for_each(|&i| counts[i as usize] += 1.0);
        let want: Vec<f64> = counts.iter().flat_map(|&c| [c; 3]).collect();
        // Sums of ones below 2^24: exact in f32.
        assert_close(&values(&g[0]), &want, 0.0, 0.0, &format!("on {device}"));
    }
}

on_every_device! {
    fn an_index_that_names_no_position_fails_or_reads_nan(device) {
        let x = tensor(&[1.0, 2.0, 3.0], &[3], DType::F32, &device);
        for bad in [3, -1, i32::MAX, i32::MIN] {
            let index = Tensor::from_vec(vec![0, bad], &[2], &device).unwrap();
            let y = x.gather(0, &index).unwrap();
            if device.is_gpu() {
                let got = values(&y);
                assert_eq!(got[0], 1.0);
                assert!(got[1].is_nan(), "index {bad} on {device} read {}", got[1]);
            } else {
                assert!(
                    matches!(y.to_vec::<f32>(), Err(Error::InvalidArgument { op: "gather", .. })),
                    "index {bad} on {device}"
                );
            }
        }
    }
}

#[test]
fn bad_indices_are_refused_before_running() {
    let device = Device::cpu();
    let x = tensor(&[0.0; 6], &[2, 3], DType::F32, &device);
    for float in [DType::F32, DType::F64] {
        let index = tensor(&[0.0; 2], &[1, 2], float, &device);
        let e = x.gather(1, &index).unwrap_err();
        assert!(
            matches!(e, Error::WrongDtype { op: "gather", got, .. } if got == float),
            "{e}"
        );
        assert!(e.to_string().contains(".cast(DType::I32)"), "{e}");
    }
    let flat_index = tensor(&[0.0; 2], &[2], DType::I32, &device);
    assert!(matches!(
        x.gather(1, &flat_index),
        Err(Error::ShapeMismatch { op: "gather", .. })
    ));
    let too_wide = tensor(&[0.0; 8], &[1, 8], DType::I32, &device);
    assert!(
        x.gather(1, &too_wide).is_ok(),
        "the gathered axis may be any length"
    );
    let too_tall = tensor(&[0.0; 3], &[3, 1], DType::I32, &device);
    assert!(matches!(
        x.gather(1, &too_tall),
        Err(Error::ShapeMismatch { .. })
    ));
    let matrix = tensor(&[0.0; 4], &[2, 2], DType::I32, &device);
    assert!(matches!(
        x.index_select(0, &matrix),
        Err(Error::InvalidArgument { .. })
    ));
}
