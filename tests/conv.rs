//! Convolution and pooling against naive f64 loops on every device, over a grid of stride,
//! padding, dilation, groups and kernel shapes, and their gradients against central
//! differences.

mod common;

use common::*;
use lepton::nn::Conv2dSpec;
use lepton::{grad, DType, Device, Tensor};

/// Naive NCHW cross-correlation; also Σ|x·w| per output for the error bound. Index loops
/// on purpose: they are the definition, written out.
#[allow(clippy::needless_range_loop)]
fn reference(x: &Nd, w: &Nd, bias: &[f64], s: &Conv2dSpec) -> (Nd, Vec<f64>) {
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

fn spec(stride: usize, padding: usize, dilation: usize, groups: usize) -> Conv2dSpec {
    Conv2dSpec {
        stride: (stride, stride),
        padding: (padding, padding),
        dilation: (dilation, dilation),
        groups,
    }
}

#[test]
fn conv2d_matches_the_reference_over_a_grid() {
    for device in devices() {
        let mut case = 0u64;
        for (kh, kw) in [(3, 3), (1, 1), (2, 3)] {
            for stride in [1, 2] {
                for padding in [0, 1] {
                    for dilation in [1, 2] {
                        for groups in [1, 2] {
                            case += 1;
                            let s = spec(stride, padding, dilation, groups);
                            let (n, c, h, w, o) = (2, 4, 7, 6, 6);
                            let xv =
                                rounded(&data(n * c * h * w, 1000 + case, -1.0, 1.0), DType::F32);
                            let wv = rounded(
                                &data(o * (c / groups) * kh * kw, 2000 + case, -1.0, 1.0),
                                DType::F32,
                            );
                            let bv = rounded(&data(o, 3000 + case, -1.0, 1.0), DType::F32);
                            let x = tensor(&xv, &[n, c, h, w], DType::F32, &device);
                            let wt = tensor(&wv, &[o, c / groups, kh, kw], DType::F32, &device);
                            let b = tensor(&bv, &[o], DType::F32, &device);
                            let got = x.conv2d(&wt, Some(&b), &s).unwrap();
                            let (want, abs) = reference(
                                &Nd::new(&[n, c, h, w], xv),
                                &Nd::new(&[o, c / groups, kh, kw], wv),
                                &bv,
                                &s,
                            );
                            assert_eq!(got.shape(), &want.shape[..], "{s:?} {kh}x{kw}");
                            let g = values(&got);
                            // Sums of K = C/groups·KH·KW products and a bias: (K+2)·u·Σ|x·w|.
                            let k = (c / groups * kh * kw) as f64;
                            for i in 0..g.len() {
                                assert!(
                                    (g[i] - want.data[i]).abs() <= (k + 2.0) * U32 * abs[i] + 1e-7,
                                    "{s:?} {kh}x{kw} on {device}: [{i}] {} vs {}",
                                    g[i],
                                    want.data[i]
                                );
                            }
                        }
                    }
                }
            }
        }
        // Depthwise: one group per channel.
        let s = spec(1, 1, 1, 4);
        let xv = rounded(&data(4 * 5 * 5, 4000, -1.0, 1.0), DType::F32);
        let wv = rounded(&data(4 * 9, 4001, -1.0, 1.0), DType::F32);
        let got = tensor(&xv, &[1, 4, 5, 5], DType::F32, &device)
            .conv2d(&tensor(&wv, &[4, 1, 3, 3], DType::F32, &device), None, &s)
            .unwrap();
        let (want, abs) = reference(
            &Nd::new(&[1, 4, 5, 5], xv),
            &Nd::new(&[4, 1, 3, 3], wv),
            &[0.0; 4],
            &s,
        );
        let g = values(&got);
        for i in 0..g.len() {
            assert!(
                (g[i] - want.data[i]).abs() <= 11.0 * U32 * abs[i] + 1e-7,
                "depthwise on {device}"
            );
        }
    }
}

#[test]
fn pooling_matches_the_reference() {
    for device in devices() {
        let v = rounded(&data(2 * 3 * 7 * 7, 5000, -1.0, 1.0), DType::F32);
        let x = tensor(&v, &[2, 3, 7, 7], DType::F32, &device);
        let r = Nd::new(&[2, 3, 7, 7], v);
        let s = spec(2, 1, 1, 1);
        let (mx, av) = (
            values(&x.max_pool2d((3, 3), &s).unwrap()),
            values(&x.avg_pool2d((3, 3), &s).unwrap()),
        );
        let mut k = 0;
        for b in 0..2 {
            for c in 0..3 {
                for y in 0..4 {
                    for z in 0..4 {
                        let (mut m, mut sum) = (f64::NEG_INFINITY, 0.0);
                        for i in 0..3 {
                            for j in 0..3 {
                                let (rr, qq) = ((2 * y + i) as isize - 1, (2 * z + j) as isize - 1);
                                if rr >= 0 && qq >= 0 && rr < 7 && qq < 7 {
                                    let e = r.at(&[b, c, rr as usize, qq as usize]);
                                    m = m.max(e);
                                    sum += e;
                                }
                            }
                        }
                        assert_eq!(mx[k], m, "max pool on {device}");
                        assert!(
                            (av[k] - sum / 9.0).abs() < 10.0 * U32,
                            "avg pool on {device}"
                        );
                        k += 1;
                    }
                }
            }
        }
        assert_eq!(x.adaptive_avg_pool2d_1x1().unwrap().shape(), &[2, 3, 1, 1]);
    }
}

#[test]
fn gradients_match_central_differences() {
    let cpu = Device::cpu();
    let s = spec(2, 1, 2, 2);
    let xv = data(4 * 6 * 5, 6000, -1.0, 1.0);
    let wv = data(4 * 2 * 2 * 3, 6001, -1.0, 1.0);
    let bv = data(4, 6002, -1.0, 1.0);
    // Convolution, then both poolings, squared and summed: every rule on the path to a scalar.
    let loss = |x: &Tensor, w: &Tensor, b: &Tensor| {
        let y = x.conv2d(w, Some(b), &s).unwrap();
        let avg = y
            .avg_pool2d((2, 2), &spec(1, 1, 1, 1))
            .unwrap()
            .sum(&[], false)
            .unwrap();
        let pooled = y
            .max_pool2d((2, 2), &spec(1, 0, 1, 1))
            .unwrap()
            .add(&avg)
            .unwrap();
        pooled.square().sum(&[], false).unwrap()
    };
    let leaves = |x: &[f64], w: &[f64], b: &[f64]| {
        (
            tensor(x, &[1, 4, 6, 5], DType::F64, &cpu),
            tensor(w, &[4, 2, 2, 3], DType::F64, &cpu),
            tensor(b, &[4], DType::F64, &cpu),
        )
    };
    let (x, w, b) = leaves(&xv, &wv, &bv);
    for t in [&x, &w, &b] {
        t.set_requires_grad(true);
    }
    let g = grad(&loss(&x, &w, &b), &[&x, &w, &b]).unwrap();
    let h = 1e-6;
    for (k, base) in [&xv, &wv, &bv].iter().enumerate() {
        let numeric: Vec<f64> = (0..base.len())
            .map(|i| {
                let shift = |d: f64| {
                    let mut v = [xv.clone(), wv.clone(), bv.clone()];
                    v[k][i] += d;
                    let (x, w, b) = leaves(&v[0], &v[1], &v[2]);
                    loss(&x, &w, &b).item::<f64>().unwrap()
                };
                (shift(h) - shift(-h)) / (2.0 * h)
            })
            .collect();
        // Central differences in f64 (see gradcheck.rs): 1e-6 absolute plus 1e-5 relative.
        assert_close(&values(&g[k]), &numeric, 1e-6, 1e-5, &format!("input {k}"));
    }
}

/// Gradients of L = Σ conv(x, w) ⊙ G with respect to x and w, by the definition: each
/// output's G spreads over the products that made it. Also Σ|terms| per element.
#[allow(clippy::needless_range_loop)]
fn reference_grads(x: &Nd, w: &Nd, g: &Nd, s: &Conv2dSpec) -> [(Vec<f64>, Vec<f64>); 2] {
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
fn check_products(
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

#[test]
fn gradient_kernels_match_the_definition_over_a_grid() {
    for device in devices() {
        let mut case = 0u64;
        for kernel in [(3, 3), (1, 1), (2, 3)] {
            for (stride, padding, dilation, groups) in [
                (1, 1, 1, 1),
                (2, 0, 1, 2),
                (2, 1, 2, 1),
                (1, 0, 2, 2),
                (3, 2, 1, 1),
            ] {
                case += 1;
                let s = spec(stride, padding, dilation, groups);
                check_products(&device, (2, 4, 9, 7, 6), kernel, &s, 7000 + 10 * case);
            }
        }
    }
}

#[test]
fn large_tiles_cover_many_channels_and_pixels() {
    // Products of 64 to 132 rows and 64 to 1024 columns take register tiles of 2 and 4
    // blocks a side; odd sizes leave partial tiles at both edges.
    for device in devices() {
        check_products(
            &device,
            (2, 8, 16, 16, 128),
            (3, 3),
            &spec(1, 1, 1, 1),
            7500,
        );
        check_products(
            &device,
            (1, 64, 13, 11, 66),
            (3, 3),
            &spec(2, 1, 1, 2),
            7510,
        );
        check_products(
            &device,
            (2, 132, 8, 9, 130),
            (1, 1),
            &spec(1, 0, 1, 1),
            7520,
        );
    }
}
