//! Movement ops: views (reshape, permute, expand, slice, squeeze) and copies (concat, pad),
//! on every device against the reference.

mod common;

use common::*;
use lepton::{DType, Tensor};

on_every_device! {
    fn views_share_storage_and_read_right(device) {
        let v: Vec<f64> = (0..60).map(f64::from).collect();
        let t = tensor(&v, &[3, 4, 5], DType::F32, &device);
        let r = Nd::new(&[3, 4, 5], v.clone());

        let p = t.permute(&[2, 0, 1]).unwrap();
        assert_eq!(p.strides(), &[1, 20, 5], "permute is a view");
        assert_eq!(
            values(&p),
            r.permute(&[2, 0, 1]).data,
            "permute on {device}"
        );

        let s = t.slice(2, 1, 5, 2).unwrap();
        assert_eq!(
            (s.shape(), s.strides()),
            (&[3, 4, 2][..], &[20, 5, 2][..]),
            "slice is a view"
        );
        assert_eq!(values(&s), r.slice(2, 1, 5, 2).data, "slice on {device}");

        let neg = t.slice(1, -3, -1, 1).unwrap();
        assert_eq!(
            values(&neg),
            r.slice(1, 1, 3, 1).data,
            "negative bounds on {device}"
        );
        let clamped = t.slice(0, -100, 100, 2).unwrap();
        assert_eq!(
            values(&clamped),
            r.slice(0, 0, 3, 2).data,
            "clamped bounds on {device}"
        );
        assert_eq!(
            t.slice(0, 2, 1, 1).unwrap().shape(),
            &[0, 4, 5],
            "empty slice"
        );

        let reshaped = t.reshape(&[12, -1]).unwrap();
        assert_eq!(reshaped.shape(), &[12, 5]);
        assert_eq!(values(&reshaped), v, "reshape on {device}");

        // A transposed tensor cannot be flattened by strides: reshape copies.
        let flat = t.transpose(0, 2).unwrap().reshape(&[-1]).unwrap();
        assert_eq!(
            values(&flat),
            r.permute(&[2, 1, 0]).data,
            "reshape after transpose on {device}"
        );

        let e = tensor(&[1.0, 2.0, 3.0], &[3, 1], DType::F32, &device)
            .broadcast_to(&[2, 3, 4])
            .unwrap();
        assert_eq!(e.strides(), &[0, 1, 0], "expand is a view");
        let want: Vec<f64> = (0..24).map(|i| ((i / 4) % 3 + 1) as f64).collect();
        assert_eq!(values(&e), want, "expand on {device}");

        let u = t.unsqueeze(1).unwrap().unsqueeze(-1).unwrap();
        assert_eq!(u.shape(), &[3, 1, 4, 5, 1]);
        assert_eq!(
            u.squeeze(1).unwrap().squeeze(-1).unwrap().shape(),
            &[3, 4, 5]
        );
    }
}

on_every_device! {
    fn concat_along_each_axis_with_strided_inputs(device) {
        let a = rounded(&data(2 * 3 * 4, 300, -1.0, 1.0), DType::F32);
        let b = rounded(&data(4 * 3 * 2, 301, -1.0, 1.0), DType::F32);
        let ta = tensor(&a, &[2, 3, 4], DType::F32, &device);
        let tb = tensor(&b, &[4, 3, 2], DType::F32, &device)
            .permute(&[2, 1, 0])
            .unwrap();
        let rb = Nd::new(&[4, 3, 2], b).permute(&[2, 1, 0]);
        let ra = Nd::new(&[2, 3, 4], a);
        for axis in 0..3 {
            let got = Tensor::concat(&[&ta, &tb, &ta], axis as isize).unwrap();
            let mut shape = vec![2, 3, 4];
            shape[axis] *= 3;
            assert_eq!(got.shape(), &shape[..]);
            let want: Vec<f64> = (0..shape.iter().product())
                .map(|i| {
                    let mut idx = unravel(i, &shape);
                    let part = idx[axis] / ra.shape[axis];
                    idx[axis] %= ra.shape[axis];
                    if part == 1 {
                        rb.at(&idx)
                    } else {
                        ra.at(&idx)
                    }
                })
                .collect();
            assert_eq!(values(&got), want, "concat axis {axis} on {device}");
        }
    }
}

on_every_device! {
    fn pad_surrounds_with_the_value(device) {
        let v: Vec<f64> = (1..=6).map(f64::from).collect();
        let t = tensor(&v, &[2, 3], DType::F32, &device).t().unwrap();
        let got = t.pad(&[(1, 0), (2, 1)], -1.0).unwrap();
        assert_eq!(got.shape(), &[4, 5]);
        #[rustfmt::skip]
        let want = vec![
            -1.0, -1.0, -1.0, -1.0, -1.0,
            -1.0, -1.0, 1.0, 4.0, -1.0,
            -1.0, -1.0, 2.0, 5.0, -1.0,
            -1.0, -1.0, 3.0, 6.0, -1.0,
        ];
        assert_eq!(values(&got), want, "pad on {device}");
    }
}

on_every_device! {
    fn creation_is_reproducible_across_devices(device) {
        let cpu = lepton::Device::cpu();
        let a = Tensor::rand_normal(&[257], 1.0, 2.0, 42, DType::F32, &device).unwrap();
        let b = Tensor::rand_normal(&[257], 1.0, 2.0, 42, DType::F32, &cpu).unwrap();
        assert_eq!(values(&a), values(&b), "same seed, same values on {device}");
        let u = values(&Tensor::rand_uniform(&[1000], -1.0, 3.0, 7, DType::F32, &device).unwrap());
        assert!(u.iter().all(|&x| (-1.0..3.0).contains(&x)));
        let r = values(&Tensor::arange(0.0, 1.0, 0.25, DType::F32, &device).unwrap());
        assert_eq!(r, vec![0.0, 0.25, 0.5, 0.75], "arange on {device}");
        assert_eq!(
            Tensor::full(&[2, 2], 3.5, DType::F32, &device)
                .unwrap()
                .to_vec::<f32>()
                .unwrap(),
            vec![3.5; 4]
        );
        assert_eq!(
            Tensor::scalar(2.5f32, &device)
                .unwrap()
                .item::<f32>()
                .unwrap(),
            2.5
        );
    }
}
