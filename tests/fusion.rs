//! Fused elementwise chains against an independent f64 reference on every device: dense and
//! scalar inputs, inputs that start off a multiple of 4 (the one-at-a-time kernel) and on one
//! (the four-wide kernel), `where` inside a chain, chains wider than one kernel's inputs,
//! and f16 (intermediates stay in f32, so one rounding at the end).

mod common;

use common::*;
use lepton::{DType, Tensor};

/// ((a·b + 0.5)·0.25).exp() − b, relu'd, where a > b, else −a; 2.4e-6 relative covers exp's
/// 23 ulp on the GPU (|x| ≤ 10) plus a few correctly rounded ops.
fn chain(a: &Tensor, b: &Tensor) -> Tensor {
    let t = a
        .mul(b)
        .unwrap()
        .add_scalar(0.5)
        .unwrap()
        .mul_scalar(0.25)
        .unwrap()
        .exp()
        .sub(b)
        .unwrap()
        .relu();
    a.gt(b).unwrap().where_cond(&t, &a.neg()).unwrap()
}

fn reference(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| {
            if x > y {
                (((x * y + 0.5) * 0.25).exp() - y).max(0.0)
            } else {
                -x
            }
        })
        .collect()
}

on_every_device! {
    fn chains_match_the_reference_aligned_or_not(device) {
        let all = rounded(&data(1003, 900, -3.0, 3.0), DType::F32);
        let b = rounded(&data(1000, 901, -3.0, 3.0), DType::F32);
        let whole = tensor(&all, &[1003], DType::F32, &device);
        let tb = tensor(&b, &[1000], DType::F32, &device);
        for start in [0usize, 1, 3] {
            // A dense slice from `start`: offsets 1 and 3 need the one-at-a-time kernel.
            let a = whole
                .slice(0, start as isize, start as isize + 1000, 1)
                .unwrap();
            let got = values(&chain(&a, &tb));
            let want = reference(&all[start..start + 1000], &b);
            assert_close(
                &got,
                &want,
                1e-6,
                2.4e-6,
                &format!("offset {start} on {device}"),
            );
        }
    }
}

on_every_device! {
    fn wide_chains_split_across_kernels(device) {
        // Eight distinct inputs summed: more than one fused kernel reads.
        let inputs: Vec<Vec<f64>> = (0..8)
            .map(|k| rounded(&data(257, 910 + k, -1.0, 1.0), DType::F32))
            .collect();
        let tensors: Vec<Tensor> = inputs
            .iter()
            .map(|v| tensor(v, &[257], DType::F32, &device))
            .collect();
        let mut sum = tensors[0].clone();
        for t in &tensors[1..] {
            sum = sum.add(t).unwrap().mul_scalar(1.5).unwrap();
        }
        let mut want = inputs[0].clone();
        for v in &inputs[1..] {
            want = want.iter().zip(v).map(|(s, x)| (s + x) * 1.5).collect();
        }
        // Each of 14 ops rounds once; values stay below 60, so 16 u relative of the largest.
        assert_close(
            &values(&sum),
            &want,
            60.0 * 16.0 * U32,
            16.0 * U32,
            &format!("wide chain on {device}"),
        );
    }
}

on_every_device! {
    fn f16_chains_round_once(device) {
        let a = rounded(&data(515, 920, -3.0, 3.0), DType::F16);
        let b = rounded(&data(515, 921, -3.0, 3.0), DType::F16);
        let (ta, tb) = (
            tensor(&a, &[515], DType::F16, &device),
            tensor(&b, &[515], DType::F16, &device),
        );
        let got = values(&chain(&ta, &tb));
        // f32 arithmetic rounded once to f16: one f16 ulp (2·U16) plus the f32 chain's error.
        assert_close(
            &got,
            &reference(&a, &b),
            1e-3,
            2.0 * U16 + 2.4e-6,
            &format!("f16 chain on {device}"),
        );
    }
}

/// The four kept results of `kept_results`, from ten dense inputs and three constants.
fn kept_results(x: &[Tensor]) -> [Tensor; 4] {
    let y0 = x[0].mul(&x[1]).unwrap().add(&x[2]).unwrap();
    let y1 = y0
        .mul(&x[3])
        .unwrap()
        .sub(&x[4].mul_scalar(0.5).unwrap())
        .unwrap();
    let y2 = y1
        .abs()
        .sqrt()
        .mul(&x[5])
        .unwrap()
        .add(&x[6].div(&x[7].add_scalar(2.5).unwrap()).unwrap())
        .unwrap();
    let y3 = y2
        .mul(&x[8])
        .unwrap()
        .sub(&x[9].mul_scalar(1.5).unwrap())
        .unwrap();
    [y0, y1, y2, y3]
}

fn kept_reference(x: &[Vec<f64>], i: usize) -> [f64; 4] {
    let y0 = x[0][i] * x[1][i] + x[2][i];
    let y1 = y0 * x[3][i] - x[4][i] * 0.5;
    let y2 = y1.abs().sqrt() * x[5][i] + x[6][i] / (x[7][i] + 2.5);
    let y3 = y2 * x[8][i] - x[9][i] * 1.5;
    [y0, y1, y2, y3]
}

on_every_device! {
    fn kept_results_of_one_shape_share_a_kernel(device) {
        // Realized together, the four results are one kernel with four outputs, each later one
        // reading the earlier ones' values (13 inputs, 4 outputs: every binding the shaders
        // declare). Offsets 0 and 1 take the four-wide and the one-at-a-time kernels.
        let all: Vec<Vec<f64>> = (0..10)
            .map(|k| rounded(&data(1001, 930 + k, 0.5, 2.0), DType::F32))
            .collect();
        for start in [0usize, 1] {
            let x: Vec<Tensor> = all
                .iter()
                .map(|v| {
                    tensor(v, &[1001], DType::F32, &device)
                        .slice(0, start as isize, start as isize + 1000, 1)
                        .unwrap()
                })
                .collect();
            let ys = kept_results(&x);
            lepton::realize(&ys.iter().collect::<Vec<_>>()).unwrap();
            for (j, y) in ys.iter().enumerate() {
                let want: Vec<f64> = (0..1000)
                    .map(|i| kept_reference(&all, start + i)[j])
                    .collect();
                // At most 12 correctly rounded ops on values below 20 (sqrt of |y1| ≤ 4).
                assert_close(
                    &values(y),
                    &want,
                    20.0 * 12.0 * U32,
                    12.0 * U32,
                    &format!("result {j}, offset {start} on {device}"),
                );
            }
        }
    }
}
