//! Convolutions in f64 for checking the engine's: the definition as index loops, its
//! gradients, and a check of all three products of one convolution.

use super::*;
use lepton::nn::Conv2dSpec;
use lepton::{grad, DType, Device};

/// Naive NCHW cross-correlation; also Σ|x·w| per output for the error bound. Index loops
/// on purpose: they are the definition, written out.
#[allow(clippy::needless_range_loop)]
pub fn reference(x: &Nd, w: &Nd, bias: &[f64], s: &Conv2dSpec) -> (Nd, Vec<f64>) {
    let (n, h, wd) = (x.shape[0], x.shape[2], x.shape[3]);
    let (o, cg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3]);
    let og = o / s.groups;
    let oh = (h + 2 * s.padding.0 - s.dilation.0 * (kh - 1) - 1) / s.stride.0 + 1;
    let ow = (wd + 2 * s.padding.1 - s.dilation.1 * (kw - 1) - 1) / s.stride.1 + 1;
    let mut out = vec![0.0; n * o * oh * ow];
    let mut abs = vec![0.0; out.len()];
    for b in 0..n {
        for oc in 0..o {
            let g = oc / og;
            for y in 0..oh {
                for z in 0..ow {
                    let idx = ((b * o + oc) * oh + y) * ow + z;
                    out[idx] = bias[oc];
                    abs[idx] = bias[oc].abs();
                    for ci in 0..cg {
                        for i in 0..kh {
                            for j in 0..kw {
                                let r = (y * s.stride.0 + i * s.dilation.0) as isize
                                    - s.padding.0 as isize;
                                let q = (z * s.stride.1 + j * s.dilation.1) as isize
                                    - s.padding.1 as isize;
                                if r < 0 || q < 0 || r >= h as isize || q >= wd as isize {
                                    continue;
                                }
                                let xv = x.at(&[b, g * cg + ci, r as usize, q as usize]);
                                let p = xv * w.at(&[oc, ci, i, j]);
                                out[idx] += p;
                                abs[idx] += p.abs();
                            }
                        }
                    }
                }
            }
        }
    }
    (Nd::new(&[n, o, oh, ow], out), abs)
}

pub fn spec(stride: usize, padding: usize, dilation: usize, groups: usize) -> Conv2dSpec {
    Conv2dSpec {
        stride: (stride, stride),
        padding: (padding, padding),
        dilation: (dilation, dilation),
        groups,
    }
}

/// Gradients of L = Σ conv(x, w) ⊙ G with respect to x and w, by the definition: each
/// output's G spreads over the products that made it. Also Σ|terms| per element.
#[allow(clippy::needless_range_loop)]
pub fn reference_grads(x: &Nd, w: &Nd, g: &Nd, s: &Conv2dSpec) -> [(Vec<f64>, Vec<f64>); 2] {
    let (n, h, wd) = (x.shape[0], x.shape[2], x.shape[3]);
    let (o, cg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3]);
    let (oh, ow) = (g.shape[2], g.shape[3]);
    let og = o / s.groups;
    let (mut dx, mut dx_abs) = (vec![0.0; x.data.len()], vec![0.0; x.data.len()]);
    let (mut dw, mut dw_abs) = (vec![0.0; w.data.len()], vec![0.0; w.data.len()]);
    for b in 0..n {
        for oc in 0..o {
            let grp = oc / og;
            for y in 0..oh {
                for z in 0..ow {
                    let gv = g.at(&[b, oc, y, z]);
                    for ci in 0..cg {
                        for i in 0..kh {
                            for j in 0..kw {
                                let r = (y * s.stride.0 + i * s.dilation.0) as isize
                                    - s.padding.0 as isize;
                                let q = (z * s.stride.1 + j * s.dilation.1) as isize
                                    - s.padding.1 as isize;
                                if r < 0 || q < 0 || r >= h as isize || q >= wd as isize {
                                    continue;
                                }
                                let c = grp * cg + ci;
                                let xi = ((b * x.shape[1] + c) * h + r as usize) * wd + q as usize;
                                let wi = ((oc * cg + ci) * kh + i) * kw + j;
                                dx[xi] += gv * w.data[wi];
                                dx_abs[xi] += (gv * w.data[wi]).abs();
                                dw[wi] += gv * x.data[xi];
                                dw_abs[wi] += (gv * x.data[xi]).abs();
                            }
                        }
                    }
                }
            }
        }
    }
    [(dx, dx_abs), (dw, dw_abs)]
}

/// Forward product and both gradients of conv(x, w) for L = Σ conv(x, w) ⊙ G, against the
/// definition. Each result sums at most K terms (K = the longest reduction: C/groups·KH·KW
/// forward, O·KH·KW for the image's gradient, N·OH·OW for the weight's): (K+2)·u·Σ|terms|.
pub fn check_products(
    device: &Device,
    (n, c, h, w, o): (usize, usize, usize, usize, usize),
    (kh, kw): (usize, usize),
    s: &Conv2dSpec,
    seed: u64,
) {
    let groups = s.groups;
    let xv = rounded(&data(n * c * h * w, seed, -1.0, 1.0), DType::F32);
    let wv = rounded(
        &data(o * (c / groups) * kh * kw, seed + 1, -1.0, 1.0),
        DType::F32,
    );
    let x = tensor(&xv, &[n, c, h, w], DType::F32, device);
    let wt = tensor(&wv, &[o, c / groups, kh, kw], DType::F32, device);
    x.set_requires_grad(true);
    wt.set_requires_grad(true);
    let y = x.conv2d(&wt, None, s).unwrap();
    let gv = rounded(&data(y.numel(), seed + 2, -1.0, 1.0), DType::F32);
    let gt = tensor(&gv, y.shape(), DType::F32, device);
    let loss = y.mul(&gt).unwrap().sum(&[], false).unwrap();
    let got = grad(&loss, &[&x, &wt]).unwrap();
    let (xn, wn) = (
        Nd::new(&[n, c, h, w], xv),
        Nd::new(&[o, c / groups, kh, kw], wv),
    );
    let (fwd, fwd_abs) = reference(&xn, &wn, &vec![0.0; o], s);
    let grads = reference_grads(&xn, &wn, &Nd::new(y.shape(), gv), s);
    let k = (o * kh * kw)
        .max(n * y.shape()[2] * y.shape()[3])
        .max(c / groups * kh * kw) as f64;
    let results = [
        (values(&y), (fwd.data, fwd_abs)),
        (values(&got[0]), grads[0].clone()),
        (values(&got[1]), grads[1].clone()),
    ];
    for (which, (g, (want, abs))) in results.iter().enumerate() {
        for i in 0..g.len() {
            assert!(
                (g[i] - want[i]).abs() <= (k + 2.0) * U32 * abs[i] + 1e-7,
                "{s:?} {kh}x{kw} product {which} on {device}: [{i}] {} vs {}",
                g[i],
                want[i]
            );
        }
    }
}
