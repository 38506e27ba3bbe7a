//! Layer normalization's row kernels against an f64 reference written here, on every
//! device, on odd and degenerate row lengths; its gradient against central differences
//! (through `Tensor::layer_norm` and through `nn::LayerNorm` with its scale and shift), and
//! the GPU's gradient against the reference's.

mod common;

use common::*;
use lepton::nn::{LayerNorm, Module};
use lepton::{grad, DType, Device, Tensor};

const EPS: f64 = 1e-5;

/// A row's mean, r = 1/sqrt(var + EPS) (biased variance) and normalized values.
type Row = (f64, f64, Vec<f64>);

/// Per row of `n`: its `Row`.
fn reference_rows(x: &[f64], n: usize) -> Vec<Row> {
    x.chunks(n)
        .map(|row| {
            let mean = row.iter().sum::<f64>() / n as f64;
            let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
            let r = 1.0 / (var + EPS).sqrt();
            (mean, r, row.iter().map(|v| (v - mean) * r).collect())
        })
        .collect()
}

/// dx = r·(g − mean(g) − x̂·mean(g·x̂)) per row, the derivative of the definition above.
fn reference_grad(x: &[f64], g: &[f64], n: usize) -> Vec<f64> {
    let mut out = Vec::new();
    for ((_, r, xhat), g) in reference_rows(x, n).into_iter().zip(g.chunks(n)) {
        let mean_g = g.iter().sum::<f64>() / n as f64;
        let mean_gx = g.iter().zip(&xhat).map(|(a, b)| a * b).sum::<f64>() / n as f64;
        out.extend(
            g.iter()
                .zip(&xhat)
                .map(|(g, x)| r * (g - mean_g - x * mean_gx)),
        );
    }
    out
}

/// Roundings in a row sum of n terms: the CPU path sums in f64 (8 lanes, then the lanes),
/// so its sums are exact to far below f32's rounding; a shader's lane adds up to n/4
/// quads per component in f32, then at most 3 roundings across components and 7 across
/// a 64-lane tree.
fn sum_roundings(device: &Device, n: usize) -> f64 {
    if device.is_gpu() {
        (n / 4 + 10) as f64
    } else {
        0.0
    }
}

/// The bound on |got − want| for the normalized rows: each output rounds once (U32, or U16
/// for f16 storage) relative to itself; on the GPU the mean's error (the sum's roundings
/// times Σ|x|/n ≤ max|x|) shifts every deviation, the variance's error (its sum's
/// roundings, plus twice the deviations' relative error) scales r by half of it, and
/// sqrt and the division add 2.5 ulp each (WGSL's bounds).
fn forward_bound(device: &Device, dtype: DType, row: &[f64], stats: &Row, j: usize) -> f64 {
    let (mean, r, xhat) = stats;
    let unit = if dtype == DType::F16 { U16 } else { U32 };
    let out = xhat[j].abs();
    let k = sum_roundings(device, row.len());
    if k == 0.0 {
        return unit * out + 1e-12;
    }
    let max_x = row.iter().fold(0f64, |m, v| m.max(v.abs()));
    let max_dev = row.iter().fold(0f64, |m, v| m.max((v - mean).abs()));
    let dev_err = k * U32 * max_x + U32 * max_dev;
    let var_rel = k * U32 + 2.0 * dev_err / max_dev.max(f64::MIN_POSITIVE);
    unit * out + r * dev_err + out * (0.5 * var_rel + 5.0 * U32)
}

/// `forward_bound`'s largest over a row: what every x̂ of the row is within.
fn row_bound(device: &Device, dtype: DType, row: &[f64], stats: &Row) -> f64 {
    (0..row.len())
        .map(|j| forward_bound(device, dtype, row, stats, j))
        .fold(0.0, f64::max)
}

fn check_forward(device: &Device, dtype: DType, shape: &[usize], x: &Tensor, v: &[f64]) {
    let n = *shape.last().unwrap();
    let got = values(&x.layer_norm(EPS).unwrap());
    let rows = reference_rows(v, n);
    for (i, g) in got.iter().enumerate() {
        let (row, stats) = (&v[(i / n) * n..][..n], &rows[i / n]);
        let w = stats.2[i % n];
        let bound = forward_bound(device, dtype, row, stats, i % n);
        assert!(
            (g - w).abs() <= bound,
            "{shape:?} {dtype} on {device}, element {i}: {g} against {w} (bound {bound:e})"
        );
    }
}

on_every_device! {
    fn rows_match_the_reference_on_odd_lengths(device) {
        // Lengths 1 (every output 0), 7, 13, primes around a quad, 128 (the baby GPT's
        // width, four-wide reads on the GPU), 513 and 1000 (many quads per lane).
        let shapes: [&[usize]; 8] = [
            &[1],
            &[7],
            &[3, 1],
            &[3, 5, 13],
            &[2, 513],
            &[4, 1000],
            &[300, 44],
            &[12, 64, 128],
        ];
        let dtypes: &[DType] = if device.is_gpu() {
            &[DType::F32, DType::F16]
        } else {
            &[DType::F32, DType::F64]
        };
        for (k, shape) in shapes.iter().enumerate() {
            for &dtype in dtypes {
                // An offset from zero: the variance must not come from E[x²] − mean².
                let v = rounded(&data(shape.iter().product(), 70 + k as u64, 96.0, 104.0), dtype);
                let x = tensor(&v, shape, dtype, &device);
                check_forward(&device, dtype, shape, &x, &v);
            }
        }
    }
}

on_every_device! {
    fn a_transposed_input_is_normalized_along_its_own_last_axis(device) {
        let v = rounded(&data(9 * 14, 80, -3.0, 3.0), DType::F32);
        let x = tensor(&v, &[9, 14], DType::F32, &device).transpose(0, 1).unwrap();
        let moved = Nd::new(&[9, 14], v).permute(&[1, 0]);
        check_forward(&device, DType::F32, &[14, 9], &x, &moved.data);
    }
}

type Fun = dyn Fn(&Tensor, &LayerNorm) -> lepton::Result<Tensor>;

/// L = Σ f(x) ⊙ w for fixed random w, so every output element matters with its own weight.
fn weighted_loss(f: &Fun, x: &Tensor, ln: &LayerNorm, seed: u64) -> Tensor {
    let y = f(x, ln).unwrap();
    let w = tensor(
        &data(y.numel(), seed, 0.5, 1.5),
        y.shape(),
        y.dtype(),
        y.device(),
    );
    y.mul(&w).unwrap().sum(&[], false).unwrap()
}

/// The gradients of x, the scale and the shift against central differences (step 1e-6) in
/// f64 on the CPU path: truncation ~h²|L'''| and rounding ~ε|L|/h leave them within 1e-6
/// absolute plus 1e-5 relative.
fn gradcheck(shape: &[usize], seed: u64) {
    let n = *shape.last().unwrap();
    let cpu = Device::cpu();
    let v = data(shape.iter().product(), seed, -2.0, 2.0);
    let ln = LayerNorm::new(n, DType::F64, &cpu).unwrap();
    ln.weight
        .set(tensor(&data(n, seed + 1, 0.5, 1.5), &[n], DType::F64, &cpu));
    ln.bias.set(tensor(
        &data(n, seed + 2, -1.0, 1.0),
        &[n],
        DType::F64,
        &cpu,
    ));
    let plain = |x: &Tensor, _: &LayerNorm| x.layer_norm(EPS);
    let affine = |x: &Tensor, ln: &LayerNorm| ln.forward(x);
    for (name, f) in [("layer_norm", &plain as &Fun), ("nn::LayerNorm", &affine)] {
        let x = tensor(&v, shape, DType::F64, &cpu);
        x.set_requires_grad(true);
        let loss = weighted_loss(f, &x, &ln, seed + 3);
        let params = [ln.weight.get(), ln.bias.get()];
        let analytic = grad(&loss, &[&x, &params[0], &params[1]]).unwrap();
        let at = |x: Vec<f64>| {
            let t = tensor(&x, shape, DType::F64, &cpu);
            weighted_loss(f, &t, &ln, seed + 3).item::<f64>().unwrap()
        };
        let h = 1e-6;
        let numeric: Vec<f64> = (0..v.len())
            .map(|i| {
                let (mut up, mut down) = (v.clone(), v.clone());
                up[i] += h;
                down[i] -= h;
                (at(up) - at(down)) / (2.0 * h)
            })
            .collect();
        let what = format!("{name} d/dx {shape:?}");
        assert_close(&values(&analytic[0]), &numeric, 1e-6, 1e-5, &what);
        if name == "nn::LayerNorm" {
            // y = x̂·w + b: dL/dw = Σ_rows g·x̂ and dL/db = Σ_rows g, with g the weights.
            let xhat: Vec<f64> = reference_rows(&v, n)
                .into_iter()
                .flat_map(|(_, _, r)| r)
                .collect();
            let g = data(v.len(), seed + 3, 0.5, 1.5);
            let (mut dw, mut db) = (vec![0.0; n], vec![0.0; n]);
            for i in 0..v.len() {
                dw[i % n] += g[i] * xhat[i];
                db[i % n] += g[i];
            }
            assert_close(&values(&analytic[1]), &dw, 1e-12, 1e-12, "d/dweight");
            assert_close(&values(&analytic[2]), &db, 1e-12, 1e-12, "d/dbias");
        }
    }
}

#[test]
fn gradients_match_central_differences() {
    for (k, shape) in [&[1][..], &[2, 1], &[3, 5], &[2, 3, 7], &[4, 13]]
        .iter()
        .enumerate()
    {
        gradcheck(shape, 900 + 10 * k as u64);
    }
}

/// The GPU's gradient against the reference's: r·(g − mean(g) − x̂·mean(g·x̂)) with each
/// mean a sum of the shader's roundings (`sum_roundings`) relative to Σ|terms|/n, x̂ within
/// the forward bound, and the output's own rounding.
#[test]
fn gpu_gradients_match_the_reference() {
    let Some(device) = gpu() else { return };
    for (k, shape) in [&[1][..], &[3, 7], &[5, 128], &[2, 1000], &[300, 44]]
        .iter()
        .enumerate()
    {
        let n = *shape.last().unwrap();
        let len: usize = shape.iter().product();
        let v = rounded(&data(len, 1000 + k as u64, -3.0, 3.0), DType::F32);
        let gv = rounded(&data(len, 1100 + k as u64, -1.0, 1.0), DType::F32);
        let x = tensor(&v, shape, DType::F32, &device);
        x.set_requires_grad(true);
        let g = tensor(&gv, shape, DType::F32, &device);
        let y = x.layer_norm(EPS).unwrap();
        let loss = y.mul(&g).unwrap().sum(&[], false).unwrap();
        let got = values(&grad(&loss, &[&x]).unwrap()[0]);
        let want = reference_grad(&v, &gv, n);
        let rows = reference_rows(&v, n);
        let bounds: Vec<f64> = rows
            .iter()
            .zip(v.chunks(n))
            .map(|(stats, row)| row_bound(&device, DType::F32, row, stats))
            .collect();
        for (i, (a, b)) in got.iter().zip(&want).enumerate() {
            let (_, r, xhat) = &rows[i / n];
            let grow = &gv[(i / n) * n..][..n];
            let max_g = grow.iter().fold(0f64, |m, v| m.max(v.abs()));
            let max_xhat = xhat.iter().fold(0f64, |m, v| m.max(v.abs()));
            let xhat_err = bounds[i / n];
            let k = sum_roundings(&device, n);
            let means = k * U32 * max_g * (1.0 + max_xhat) + max_g * xhat_err;
            let terms = max_g * (2.0 + max_xhat * max_xhat) + max_xhat * max_g;
            let bound = r * (means * (1.0 + max_xhat) + xhat_err * max_g + 4.0 * U32 * terms)
                + U32 * b.abs();
            assert!(
                (a - b).abs() <= bound,
                "{shape:?} element {i}: {a} against {b} (bound {bound:e})"
            );
        }
    }
}

on_every_device! {
    fn empty_rows_and_no_rows_give_empty_results(device) {
        for shape in [[0usize, 5], [3, 0]] {
            let x = tensor(&[], &shape, DType::F32, &device);
            x.set_requires_grad(true);
            let y = x.layer_norm(EPS).unwrap();
            assert_eq!(y.shape(), &shape[..]);
            // The gradient first: reading y realizes it and ends its history.
            let dx = grad(&y.sum(&[], false).unwrap(), &[&x]).unwrap();
            assert!(values(&y).is_empty(), "{shape:?} on {device}");
            assert!(values(&dx[0]).is_empty(), "{shape:?} gradient on {device}");
        }
    }
}

on_every_device! {
    fn refuses_integers_a_scalar_and_a_negative_eps(device) {
        let ids = Tensor::from_vec(vec![1i32, 2, 3], &[3], &device).unwrap();
        assert!(ids.layer_norm(EPS).is_err());
        let x = tensor(&[1.0, 2.0], &[2], DType::F32, &device);
        assert!(x.layer_norm(-1.0).is_err());
        assert!(x.layer_norm(f64::NAN).is_err());
        let scalar = tensor(&[1.0], &[], DType::F32, &device);
        assert!(scalar.layer_norm(EPS).is_err());
    }
}
