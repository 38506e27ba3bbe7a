//! Convolution against naive f64 loops on every device, over a grid of stride,
//! padding, dilation, groups and kernel shapes, and their gradients against central
//! differences.

mod common;

use common::convolutions::*;
use common::*;
use lepton::nn::Conv2dSpec;
use lepton::{grad, DType, Device, Tensor};

on_every_device! {
    fn conv2d_matches_the_reference_over_a_grid(device) {
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

on_every_device! {
    fn gradient_kernels_match_the_definition_over_a_grid(device) {
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

on_every_device! {
    fn large_tiles_cover_many_channels_and_pixels(device) {
        // Products of 64 to 132 rows and 64 to 1024 columns take register tiles of 2 and 4
        // blocks a side; odd sizes leave partial tiles at both edges.
        let cases = [
            ((2, 8, 16, 16, 128), (3, 3), spec(1, 1, 1, 1)),
            ((1, 64, 13, 11, 66), (3, 3), spec(2, 1, 1, 2)),
            ((2, 132, 8, 9, 130), (1, 1), spec(1, 0, 1, 1)),
        ];
        for (i, (dims, kernel, s)) in cases.iter().enumerate() {
            check_products(&device, *dims, *kernel, s, 7500 + 10 * i as u64);
        }
    }
}

on_every_device! {
    fn weight_gradients_split_their_images(device) {
        // The weight's gradient splits its images among up to 64 workgroups: 65 images make 33
        // parts of 2 and a last part of 1; 7 images in 2 groups, 7 parts of 1.
        let cases = [
            ((65, 3, 5, 4, 4), (3, 3), spec(1, 1, 1, 1)),
            ((7, 4, 6, 5, 6), (2, 3), spec(2, 1, 1, 2)),
        ];
        for (i, (dims, kernel, s)) in cases.iter().enumerate() {
            check_products(&device, *dims, *kernel, s, 7600 + 10 * i as u64);
        }
    }
}

/// Both gradients of a 3×3 convolution with 40 to 64 channels also take F(2×2, 3×3) on
/// the CPU: the image's as a convolution of the output's gradient padded by 2 − padding,
/// the weight's as sums of transformed tiles. Padding 1 and 0 (the image's gradient then
/// pads by 2), odd sizes leaving half tiles, and a batch of 9 cut into 8 runs of images.
#[test]
fn winograd_sized_gradients_match_the_definition() {
    let cpu = Device::cpu();
    let cases = [
        ((2, 64, 15, 18, 64), 1),
        ((1, 48, 13, 16, 40), 0),
        ((9, 40, 9, 8, 48), 1),
    ];
    for (i, &((n, c, h, w, o), padding)) in cases.iter().enumerate() {
        let s = spec(1, padding, 1, 1);
        let seed = 7700 + 10 * i as u64;
        let xv = rounded(&data(n * c * h * w, seed, -1.0, 1.0), DType::F32);
        let wv = rounded(&data(o * c * 9, seed + 1, -1.0, 1.0), DType::F32);
        let x = tensor(&xv, &[n, c, h, w], DType::F32, &cpu);
        let weight = tensor(&wv, &[o, c, 3, 3], DType::F32, &cpu);
        x.set_requires_grad(true);
        weight.set_requires_grad(true);
        let y = x.conv2d(&weight, None, &s).unwrap();
        let gv = rounded(&data(y.numel(), seed + 2, -1.0, 1.0), DType::F32);
        let loss = y
            .mul(&tensor(&gv, y.shape(), DType::F32, &cpu))
            .unwrap()
            .sum(&[], false)
            .unwrap();
        let got = grad(&loss, &[&x, &weight]).unwrap();
        let [(dx, _), (dw, _)] = reference_grads(
            &Nd::new(&[n, c, h, w], xv),
            &Nd::new(&[o, c, 3, 3], wv),
            &Nd::new(y.shape(), gv),
            &s,
        );
        let gamma = |k: usize| k as f64 * U32 / (1.0 - k as f64 * U32);
        // The image's: as for the forward product (above), over O channels of the output's
        // gradient, γ(O + 11)·O·64 with every |g|, |w| ≤ 1.
        // The weight's: depth 2 (Bᵀ d B) + 2 (A g Aᵀ) + 1 (product) + T (the sum over all
        // T tiles of all images) + 4 (Gᵀ ∂U G), on at most 64 per tile: with |x|, |g| ≤ 1,
        // |Bᵀ d B| ≤ 4 and |A g Aᵀ| ≤ 4 elementwise, and |Gᵀ|'s rows and |G|'s columns sum
        // to at most 2.
        let (oh, ow) = (y.shape()[2], y.shape()[3]);
        let tiles = n * oh.div_ceil(2) * ow.div_ceil(2);
        let bounds = [
            gamma(o + 11) * (o * 64) as f64,
            gamma(tiles + 9) * (tiles * 64) as f64,
        ];
        for (which, (got, want)) in [(&got[0], &dx), (&got[1], &dw)].into_iter().enumerate() {
            for (k, (got, want)) in values(got).iter().zip(want).enumerate() {
                assert!(
                    (got - want).abs() <= bounds[which],
                    "{n}x{c}x{h}x{w} -> {o}, pad {padding}, gradient {which}: [{k}] {got} vs {want}"
                );
            }
        }
    }
}

/// 1-D convolution by the definition: out[n, o, t] = b[o] + Σ x[n, c, t·s + k·d − p]·w[o, c, k].
#[allow(clippy::needless_range_loop)]
fn reference_1d(x: &Nd, w: &Nd, b: &[f64], s: &Conv2dSpec) -> (Vec<f64>, Vec<f64>) {
    let (n, l) = (x.shape[0], x.shape[2]);
    let (o, cg, k) = (w.shape[0], w.shape[1], w.shape[2]);
    let (stride, pad, dil) = (s.stride.1, s.padding.1, s.dilation.1);
    let ol = (l + 2 * pad - dil * (k - 1) - 1) / stride + 1;
    let (mut out, mut abs) = (Vec::new(), Vec::new());
    for i in 0..n {
        for oc in 0..o {
            let grp = oc / (o / s.groups);
            for t in 0..ol {
                let (mut v, mut a) = (b[oc], b[oc].abs());
                for c in 0..cg {
                    for j in 0..k {
                        let at = (t * stride + j * dil) as isize - pad as isize;
                        if at >= 0 && (at as usize) < l {
                            let p = x.at(&[i, grp * cg + c, at as usize]) * w.at(&[oc, c, j]);
                            v += p;
                            a += p.abs();
                        }
                    }
                }
                out.push(v);
                abs.push(a);
            }
        }
    }
    (out, abs)
}

on_every_device! {
    fn conv1d_matches_the_definition(device) {
        for (case, (stride, padding, dilation, groups)) in
            [(1, 0, 1, 1), (2, 1, 1, 2), (1, 2, 2, 1), (3, 1, 2, 2)]
                .into_iter()
                .enumerate()
        {
            let s = spec(stride, padding, dilation, groups);
            let (n, c, l, o, k) = (2, 4, 13, 6, 3);
            let seed = 8000 + 10 * case as u64;
            let xv = rounded(&data(n * c * l, seed, -1.0, 1.0), DType::F32);
            let wv = rounded(&data(o * (c / groups) * k, seed + 1, -1.0, 1.0), DType::F32);
            let bv = rounded(&data(o, seed + 2, -1.0, 1.0), DType::F32);
            let got = tensor(&xv, &[n, c, l], DType::F32, &device)
                .conv1d(
                    &tensor(&wv, &[o, c / groups, k], DType::F32, &device),
                    Some(&tensor(&bv, &[o], DType::F32, &device)),
                    &s,
                )
                .unwrap();
            let (want, abs) = reference_1d(
                &Nd::new(&[n, c, l], xv),
                &Nd::new(&[o, c / groups, k], wv),
                &bv,
                &s,
            );
            assert_eq!(got.shape()[..2], [n, o]);
            let g = values(&got);
            let terms = (c / groups * k) as f64;
            for i in 0..g.len() {
                assert!(
                    (g[i] - want[i]).abs() <= (terms + 2.0) * U32 * abs[i] + 1e-7,
                    "{s:?} on {device}: [{i}] {} vs {}",
                    g[i],
                    want[i]
                );
            }
        }
    }
}

on_every_device! {
    fn f16_convolutions_accumulate_in_f32(device) {
        let s = spec(1, 1, 1, 1);
        let (n, c, h, w, o) = (2, 8, 9, 7, 5);
        let xv = rounded(&data(n * c * h * w, 8100, -1.0, 1.0), DType::F16);
        let wv = rounded(&data(o * c * 9, 8101, -1.0, 1.0), DType::F16);
        let got = tensor(&xv, &[n, c, h, w], DType::F16, &device)
            .conv2d(&tensor(&wv, &[o, c, 3, 3], DType::F16, &device), None, &s)
            .unwrap();
        let (want, abs) = reference(
            &Nd::new(&[n, c, h, w], xv),
            &Nd::new(&[o, c, 3, 3], wv),
            &[0.0; 5],
            &s,
        );
        // Products and sums in f32 (72 terms), then one rounding to f16.
        let g = values(&got);
        for i in 0..g.len() {
            let bound = 74.0 * U32 * abs[i] + U16 * want.data[i].abs() + 1e-7;
            assert!(
                (g[i] - want.data[i]).abs() <= bound,
                "f16 on {device}: [{i}] {} vs {}",
                g[i],
                want.data[i]
            );
        }
    }
}

/// 64 channels in and out over 16×18 outputs take the CPU's F(2×2, 3×3) path (its error
/// bound is tested in src/ops/conv/winograd.rs). An image read through a permuted view
/// must give bit for bit what the same image stored densely gives, and both stay near
/// the f64 reference.
#[test]
fn winograd_sized_convolutions_read_strided_images() {
    let cpu = Device::cpu();
    let (n, c, h, w, o) = (2, 64, 16, 18, 64);
    let s = spec(1, 1, 1, 1);
    let xv = rounded(&data(n * c * h * w, 7000, -1.0, 1.0), DType::F32);
    let wv = rounded(&data(o * c * 9, 7001, -1.0, 1.0), DType::F32);
    let image = Nd::new(&[n, c, h, w], xv.clone());
    let stored_transposed = image.permute(&[0, 1, 3, 2]);
    let strided = tensor(&stored_transposed.data, &[n, c, w, h], DType::F32, &cpu)
        .permute(&[0, 1, 3, 2])
        .unwrap();
    let dense = tensor(&xv, &[n, c, h, w], DType::F32, &cpu);
    let weight = tensor(&wv, &[o, c, 3, 3], DType::F32, &cpu);
    let from_strided = values(&strided.conv2d(&weight, None, &s).unwrap());
    let from_dense = values(&dense.conv2d(&weight, None, &s).unwrap());
    assert_eq!(from_strided, from_dense);
    // Each output's error is at most γ(C + 11) times the transform evaluated on absolute
    // values (winograd.rs). With |x|, |w| ≤ 1 that is at most C·8·8: per channel, a tile
    // row r of |Aᵀ|·|G|·|Bᵀ| sums to 8 (|G|'s rows sum to 1, 1.5, 1.5, 1, |Bᵀ|'s to 2).
    let gamma = (c + 11) as f64 * U32 / (1.0 - (c + 11) as f64 * U32);
    let bound = gamma * (c * 64) as f64;
    let (want, _) = reference(&image, &Nd::new(&[o, c, 3, 3], wv), &[0.0; 64], &s);
    for (i, (got, want)) in from_dense.iter().zip(&want.data).enumerate() {
        assert!((got - want).abs() <= bound, "[{i}] {got} vs {want}");
    }
}
