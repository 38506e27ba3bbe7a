//! Max and average pooling, forward and backward, against f64 loops by the definition on
//! every device: a grid of kernel, stride, padding and dilation on odd images, inputs with
//! many ties (the max's gradient goes to the first in window order), strided views, f16,
//! NaN, and the errors.

mod common;

use common::convolutions::spec;
use common::*;
use lepton::nn::Conv2dSpec;
use lepton::{grad, DType, Device, Error, Tensor};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Max,
    Average,
}

/// Pooled output, and the gradient of Σ pooled·g with respect to the image, with per
/// element Σ|terms| for the error bounds: by the definition, in f64.
struct Reference {
    out: Vec<f64>,
    out_abs: Vec<f64>,
    dx: Vec<f64>,
    dx_abs: Vec<f64>,
}

fn reference(kind: Kind, x: &Nd, g: &[f64], kernel: (usize, usize), s: &Conv2dSpec) -> Reference {
    let [n, c, h, w] = [x.shape[0], x.shape[1], x.shape[2], x.shape[3]];
    let span = |size: usize, k: usize, a: usize| {
        (size + 2 * [s.padding.0, s.padding.1][a] - [s.dilation.0, s.dilation.1][a] * (k - 1) - 1)
            / [s.stride.0, s.stride.1][a]
            + 1
    };
    let (oh, ow) = (span(h, kernel.0, 0), span(w, kernel.1, 1));
    let taps = (kernel.0 * kernel.1) as f64;
    let mut r = Reference {
        out: Vec::new(),
        out_abs: Vec::new(),
        dx: vec![0.0; x.data.len()],
        dx_abs: vec![0.0; x.data.len()],
    };
    let mut k = 0;
    for b in 0..n {
        for ch in 0..c {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut inside = Vec::new();
                    for i in 0..kernel.0 {
                        for j in 0..kernel.1 {
                            let y = (oy * s.stride.0 + i * s.dilation.0) as isize
                                - s.padding.0 as isize;
                            let z = (ox * s.stride.1 + j * s.dilation.1) as isize
                                - s.padding.1 as isize;
                            if y >= 0 && z >= 0 && (y as usize) < h && (z as usize) < w {
                                let at = ((b * c + ch) * h + y as usize) * w + z as usize;
                                inside.push(at);
                            }
                        }
                    }
                    match kind {
                        Kind::Max => {
                            // The first maximum; NaN before any number.
                            let mut best = inside[0];
                            for &at in &inside[1..] {
                                let (v, m) = (x.data[at], x.data[best]);
                                if v > m || (v.is_nan() && !m.is_nan()) {
                                    best = at;
                                }
                            }
                            r.out.push(x.data[best]);
                            r.out_abs.push(x.data[best].abs());
                            r.dx[best] += g[k];
                            r.dx_abs[best] += g[k].abs();
                        }
                        Kind::Average => {
                            r.out
                                .push(inside.iter().map(|&at| x.data[at]).sum::<f64>() / taps);
                            r.out_abs.push(
                                inside.iter().map(|&at| x.data[at].abs()).sum::<f64>() / taps,
                            );
                            for &at in &inside {
                                r.dx[at] += g[k] / taps;
                                r.dx_abs[at] += g[k].abs() / taps;
                            }
                        }
                    }
                    k += 1;
                }
            }
        }
    }
    r
}

/// Pool `xv` [N, C, H, W] (as a strided view when `strided`) and differentiate Σ pooled·g;
/// both must match the reference within `terms`+1 roundings of each element's Σ|terms|.
#[allow(clippy::too_many_arguments)]
fn check(
    device: &Device,
    kind: Kind,
    dtype: DType,
    dims: [usize; 4],
    kernel: (usize, usize),
    s: &Conv2dSpec,
    xv: &[f64],
    strided: bool,
    seed: u64,
) {
    let [n, c, h, w] = dims;
    let what = format!("{kind:?} {dims:?} {kernel:?} {s:?} {dtype} on {device}");
    let leaf = if strided {
        // The image stored as [N, H, C, W] and viewed as [N, C, H, W].
        let nhcw = Nd::new(&[n, c, h, w], xv.to_vec()).permute(&[0, 2, 1, 3]);
        tensor(&nhcw.data, &[n, h, c, w], dtype, device)
    } else {
        tensor(xv, &dims, dtype, device)
    };
    leaf.set_requires_grad(true);
    let x = if strided {
        leaf.permute(&[0, 2, 1, 3]).unwrap()
    } else {
        leaf.clone()
    };
    let y = match kind {
        Kind::Max => x.max_pool2d(kernel, s),
        Kind::Average => x.avg_pool2d(kernel, s),
    }
    .unwrap();
    let gv = rounded(&data(y.shape().iter().product(), seed, -1.0, 1.0), dtype);
    let want = reference(kind, &Nd::new(&dims, xv.to_vec()), &gv, kernel, s);
    let g = tensor(&gv, y.shape(), dtype, device);
    let dx = grad(&y.mul(&g).unwrap().sum(&[], false).unwrap(), &[&leaf]).unwrap();
    assert_eq!(values(&y).len(), want.out.len(), "{what}");
    let mut dxv = values(&dx[0]);
    if strided {
        dxv = Nd::new(&[n, h, c, w], dxv).permute(&[0, 2, 1, 3]).data;
    }
    let unit = if dtype == DType::F16 { U16 } else { U32 };
    // The average sums KH·KW terms and divides; its gradient adds at most KH·KW outputs'
    // shares. The max's value is exact and its gradient sums at most KH·KW outputs' g.
    // Each result is rounded once more to the storage type.
    let bound = ((kernel.0 * kernel.1) as f64 + 2.0) * unit;
    for (i, got) in values(&y).iter().enumerate() {
        let ok = match kind {
            Kind::Max => *got == want.out[i] || (got.is_nan() && want.out[i].is_nan()),
            Kind::Average => (got - want.out[i]).abs() <= bound * want.out_abs[i],
        };
        assert!(ok, "{what}: output [{i}] {got} vs {}", want.out[i]);
    }
    for (i, got) in dxv.iter().enumerate() {
        assert!(
            (got - want.dx[i]).abs() <= bound * want.dx_abs[i],
            "{what}: gradient [{i}] {got} vs {}",
            want.dx[i]
        );
    }
}

/// Values on a grid of 1/4 in [−1, 1]: windows of several taps hold ties.
fn ties(len: usize, seed: u64, dtype: DType) -> Vec<f64> {
    rounded(
        &data(len, seed, -1.0, 1.0)
            .iter()
            .map(|v| (v * 4.0).round() / 4.0)
            .collect::<Vec<_>>(),
        dtype,
    )
}

on_every_device! {
    fn pooling_matches_the_definition_over_a_grid(device) {
        let mut case = 0u64;
        for kernel in [(1, 1), (2, 2), (3, 3), (2, 3), (3, 1)] {
            for stride in [1, 2, 3] {
                for padding in [0, 1] {
                    for dilation in [1, 2] {
                        if 2 * padding > kernel.0.min(kernel.1) {
                            continue;
                        }
                        case += 1;
                        let s = spec(stride, padding, dilation, 1);
                        let dims = [2, 3, 7, 6];
                        let xv = ties(dims.iter().product(), 100 + case, DType::F32);
                        for kind in [Kind::Max, Kind::Average] {
                            let strided = case.is_multiple_of(3);
                            check(
                                &device,
                                kind,
                                DType::F32,
                                dims,
                                kernel,
                                &s,
                                &xv,
                                strided,
                                200 + case,
                            );
                        }
                    }
                }
            }
        }
    }
}

on_every_device! {
    fn pooling_covers_degenerate_and_larger_images(device) {
        let cases = [
            // One pixel; a row; a prime-sized image; a whole-image window; CNN-sized planes.
            ([1, 1, 1, 1], (1, 1), spec(1, 0, 1, 1)),
            ([3, 2, 1, 13], (1, 3), spec(2, 0, 1, 1)),
            ([1, 5, 13, 17], (3, 3), spec(2, 1, 1, 1)),
            ([2, 2, 5, 5], (5, 5), spec(1, 0, 1, 1)),
            ([4, 16, 28, 28], (2, 2), spec(2, 0, 1, 1)),
        ];
        for (i, (dims, kernel, s)) in cases.iter().enumerate() {
            let xv = ties(dims.iter().product(), 300 + i as u64, DType::F32);
            for kind in [Kind::Max, Kind::Average] {
                check(
                    &device,
                    kind,
                    DType::F32,
                    *dims,
                    *kernel,
                    s,
                    &xv,
                    false,
                    400 + i as u64,
                );
            }
        }
    }
}

on_every_device! {
    fn f16_pooling_accumulates_in_f32(device) {
        let dims = [2, 4, 9, 11];
        let xv = rounded(&data(dims.iter().product(), 500, -1.0, 1.0), DType::F16);
        for kind in [Kind::Max, Kind::Average] {
            check(
                &device,
                kind,
                DType::F16,
                dims,
                (3, 3),
                &spec(2, 1, 1, 1),
                &xv,
                false,
                501,
            );
        }
    }
}

on_every_device! {
    fn max_pooling_propagates_nan_to_its_output_and_gradient(device) {
        let mut xv = ties(2 * 6 * 6, 600, DType::F32);
        xv[7] = f64::NAN;
        xv[8] = f64::NAN;
        xv[40] = f64::NAN;
        check(
            &device,
            Kind::Max,
            DType::F32,
            [1, 2, 6, 6],
            (2, 2),
            &spec(1, 0, 1, 1),
            &xv,
            false,
            601,
        );
        check(
            &device,
            Kind::Max,
            DType::F32,
            [1, 2, 6, 6],
            (3, 3),
            &spec(2, 1, 1, 1),
            &xv,
            true,
            602,
        );
    }
}

#[test]
fn bad_pooling_arguments_are_typed_errors() {
    let x = Tensor::zeros(&[1, 2, 5, 5], DType::F32, &Device::cpu()).unwrap();
    let invalid = |r: lepton::Result<Tensor>| matches!(r, Err(Error::InvalidArgument { .. }));
    assert!(
        invalid(x.max_pool2d((2, 2), &spec(1, 2, 1, 1))),
        "padding past half the kernel"
    );
    assert!(invalid(x.avg_pool2d((2, 2), &spec(2, 0, 1, 2))), "groups");
    assert!(
        invalid(
            x.reshape(&[2, 5, 5])
                .unwrap()
                .max_pool2d((2, 2), &spec(1, 0, 1, 1))
        ),
        "rank"
    );
    assert!(
        invalid(x.reshape(&[2, 5, 5]).unwrap().adaptive_avg_pool2d_1x1()),
        "rank"
    );
    assert!(matches!(
        x.max_pool2d((3, 3), &spec(1, 0, 3, 1)),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        x.avg_pool2d((2, 2), &spec(0, 0, 1, 1)),
        Err(Error::ShapeMismatch { .. })
    ));
}

on_every_device! {
    fn adaptive_average_pooling_is_the_spatial_mean(device) {
        let xv = rounded(&data(2 * 3 * 5 * 7, 700, -1.0, 1.0), DType::F32);
        let got = values(
            &tensor(&xv, &[2, 3, 5, 7], DType::F32, &device)
                .adaptive_avg_pool2d_1x1()
                .unwrap(),
        );
        for (plane, v) in got.iter().enumerate() {
            let want = xv[plane * 35..(plane + 1) * 35].iter().sum::<f64>() / 35.0;
            assert!(
                (v - want).abs() <= 36.0 * U32,
                "plane {plane} on {device}: {v} vs {want}"
            );
        }
    }
}
