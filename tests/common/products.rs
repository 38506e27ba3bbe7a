//! Matrix products in f64 for checking the engine's: a naive triple loop, the error bound
//! of an f32 dot product, and seeded operands.

use super::*;
use lepton::{DType, Device, Tensor};

/// Naive batched product of broadcast-compatible [.., m, k] and [.., k, n]; also returns
/// Σ|a||b| per element for the error bound.
pub fn reference(a: &Nd, b: &Nd) -> (Nd, Vec<f64>) {
    let (ra, rb) = (a.shape.len(), b.shape.len());
    let (m, k, n) = (a.shape[ra - 2], a.shape[ra - 1], b.shape[rb - 1]);
    let batch = broadcast_shape(&a.shape[..ra - 2], &b.shape[..rb - 2]);
    let mut shape = batch.clone();
    shape.extend([m, n]);
    let total: usize = shape.iter().product();
    let mut out = vec![0.0; total];
    let mut abs = vec![0.0; total];
    for (i, o) in out.iter_mut().enumerate() {
        let idx = unravel(i, &shape);
        let (row, col) = (idx[idx.len() - 2], idx[idx.len() - 1]);
        for kk in 0..k {
            let mut ia = idx[..idx.len() - 2].to_vec();
            ia.extend([row, kk]);
            let mut ib = idx[..idx.len() - 2].to_vec();
            ib.extend([kk, col]);
            let (x, y) = (a.at_broadcast(&ia), b.at_broadcast(&ib));
            *o += x * y;
            abs[i] += (x * y).abs();
        }
    }
    (Nd::new(&shape, out), abs)
}

/// f32 dot products of length K accumulate at most K+1 roundings: |error| ≤ (K+2)·u·Σ|a||b|
/// (Higham, Accuracy and Stability, §3.1); f16 results add one rounding to f16.
pub fn check(got: &Tensor, want: &Nd, abs: &[f64], k: usize, unit: f64, what: &str) {
    assert_eq!(got.shape(), &want.shape[..], "{what}: shape");
    let g = values(got);
    for i in 0..g.len() {
        let bound = (k as f64 + 2.0) * U32 * abs[i] + unit * want.data[i].abs() + 1e-30;
        assert!(
            (g[i] - want.data[i]).abs() <= bound,
            "{what}: [{i}] got {} want {} bound {bound:e}",
            g[i],
            want.data[i]
        );
    }
}

pub fn operands(
    sa: &[usize],
    sb: &[usize],
    seed: u64,
    dtype: DType,
    device: &Device,
) -> (Tensor, Tensor, Nd, Nd) {
    let va = rounded(&data(sa.iter().product(), seed, -1.0, 1.0), dtype);
    let vb = rounded(&data(sb.iter().product(), seed + 1, -1.0, 1.0), dtype);
    (
        tensor(&va, sa, dtype, device),
        tensor(&vb, sb, dtype, device),
        Nd::new(sa, va),
        Nd::new(sb, vb),
    )
}

/// The m×k by k×n product of seeded matrices, each operand stored row-major and stored
/// transposed (viewed back with t()): all four layouts against f64.
pub fn check_every_layout(
    device: &Device,
    (m, k, n): (usize, usize, usize),
    seed: u64,
    what: &str,
) {
    let a_rows = rounded(&data(m * k, seed, -1.0, 1.0), DType::F32);
    let b_rows = rounded(&data(k * n, seed + 1, -1.0, 1.0), DType::F32);
    let (ra, rb) = (
        Nd::new(&[m, k], a_rows.clone()),
        Nd::new(&[k, n], b_rows.clone()),
    );
    let (want, abs) = reference(&ra, &rb);
    let a_cols = tensor(&ra.permute(&[1, 0]).data, &[k, m], DType::F32, device)
        .t()
        .unwrap();
    let b_cols = tensor(&rb.permute(&[1, 0]).data, &[n, k], DType::F32, device)
        .t()
        .unwrap();
    let a_rows = tensor(&a_rows, &[m, k], DType::F32, device);
    let b_rows = tensor(&b_rows, &[k, n], DType::F32, device);
    for (name, a, b) in [
        ("NN", &a_rows, &b_rows),
        ("NT", &a_rows, &b_cols),
        ("TN", &a_cols, &b_rows),
        ("TT", &a_cols, &b_cols),
    ] {
        let what = format!("{what} {name} {m}x{k}x{n} on {device}");
        check(&a.matmul(b).unwrap(), &want, &abs, k, U32, &what);
    }
}
