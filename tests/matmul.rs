//! Matrix products on every device against a naive f64 triple loop, for odd and degenerate
//! sizes, transposed operands, broadcast batches, 1-D operands, a long K, and f16.

mod common;

use common::products::*;
use common::*;
use lepton::{DType, Tensor};

on_every_device! {
    fn odd_and_degenerate_sizes(device) {
        let sizes = [
            (1, 1, 1),
            (7, 13, 5),
            (33, 1, 31),
            (1, 257, 1),
            (64, 64, 64),
            (65, 33, 97),
            (13, 10_000, 7),
            (257, 7, 100),
        ];
        for (i, &(m, k, n)) in sizes.iter().enumerate() {
            let (a, b, ra, rb) = operands(&[m, k], &[k, n], 200 + i as u64, DType::F32, &device);
            let (want, abs) = reference(&ra, &rb);
            check(
                &a.matmul(&b).unwrap(),
                &want,
                &abs,
                k,
                U32,
                &format!("{m}x{k}x{n} on {device}"),
            );
        }
    }
}

on_every_device! {
    fn transposed_operands_need_no_copy(device) {
        let (a, b, ra, rb) = operands(&[37, 19], &[23, 37], 210, DType::F32, &device);
        let (at, bt) = (a.t().unwrap(), b.t().unwrap());
        let (want, abs) = reference(&ra.permute(&[1, 0]), &rb.permute(&[1, 0]));
        check(
            &at.matmul(&bt).unwrap(),
            &want,
            &abs,
            37,
            U32,
            &format!("aT bT on {device}"),
        );
    }
}

on_every_device! {
    fn batches_broadcast(device) {
        let cases: &[(&[usize], &[usize])] = &[
            (&[2, 1, 7, 5], &[3, 5, 4]),
            (&[4, 9, 6], &[6, 2]),
            (&[5, 3], &[2, 2, 3, 5]),
            (&[1, 1, 1], &[1, 1, 1]),
        ];
        for (i, (sa, sb)) in cases.iter().enumerate() {
            let (a, b, ra, rb) = operands(sa, sb, 220 + i as u64, DType::F32, &device);
            let (want, abs) = reference(&ra, &rb);
            let k = sa[sa.len() - 1];
            check(
                &a.matmul(&b).unwrap(),
                &want,
                &abs,
                k,
                U32,
                &format!("{sa:?}@{sb:?} on {device}"),
            );
        }
    }
}

on_every_device! {
    fn one_dimensional_operands(device) {
        let (v, m, rv, rm) = operands(&[5], &[5, 3], 230, DType::F32, &device);
        let (want, abs) = reference(&Nd::new(&[1, 5], rv.data.clone()), &rm);
        let got = v.matmul(&m).unwrap();
        assert_eq!(got.shape(), &[3]);
        check(
            &got.reshape(&[1, 3]).unwrap(),
            &want,
            &abs,
            5,
            U32,
            &format!("vec@mat on {device}"),
        );
        let mt = m.t().unwrap();
        let got = mt.matmul(&v).unwrap();
        assert_eq!(got.shape(), &[3]);
        let dot = v.matmul(&v).unwrap();
        assert_eq!(dot.shape(), &[] as &[usize]);
        let want: f64 = rv.data.iter().map(|x| x * x).sum();
        assert!(
            (dot.item::<f32>().unwrap() as f64 - want).abs() <= 7.0 * U32 * want,
            "dot on {device}"
        );
    }
}

on_every_device! {
    fn empty_inner_dimension_gives_zeros(device) {
        let a = Tensor::from_vec(Vec::<f32>::new(), &[3, 0], &device).unwrap();
        let b = Tensor::from_vec(Vec::<f32>::new(), &[0, 4], &device).unwrap();
        // Planned in this order, the product reuses the slot that held `w` (e^2 values):
        // it must still come out as zeros.
        let w = Tensor::full(&[3, 4], 2.0, DType::F32, &device)
            .unwrap()
            .exp();
        let y = w.add(&w).unwrap();
        let out = y.add(&a.matmul(&b).unwrap()).unwrap();
        let want = 2.0 * (2.0f32).exp() as f64;
        assert_close(
            &values(&out),
            &[want; 12],
            0.0,
            4.0 * U32,
            &format!("on {device}"),
        );
    }
}

on_every_device! {
    fn f16_products_accumulate_in_f32(device) {
        let (a, b, ra, rb) = operands(&[17, 300], &[300, 9], 240, DType::F16, &device);
        let (want, abs) = reference(&ra, &rb);
        let got = a.matmul(&b).unwrap();
        let g = values(&got);
        let unit = U32;
        for i in 0..g.len() {
            let bound = (300.0 + 2.0) * unit * abs[i] + 2.0 * U16 * want.data[i].abs();
            assert!(
                (g[i] - want.data[i]).abs() <= bound,
                "f16 on {device}: [{i}] {} vs {}",
                g[i],
                want.data[i]
            );
        }
    }
}

on_every_device! {
    fn four_wide_blocks_in_every_layout(device) {
        // K a multiple of 4 lets the blocked kernel read four elements at a time along the
        // contiguous axis of each operand: row- or column-major A, row- or column-major B.
        for (i, &(m, k, n)) in [
            (13, 20, 12),
            (70, 132, 72),
            (4, 4, 4),
            (1, 8, 4),
            (129, 16, 68),
        ]
        .iter()
        .enumerate()
        {
            check_every_layout(&device, (m, k, n), 250 + 10 * i as u64, "");
        }
        let (a, b, ra, rb) = operands(&[2, 1, 8, 12], &[3, 12, 8], 300, DType::F32, &device);
        let (want, abs) = reference(&ra, &rb);
        check(
            &a.matmul(&b).unwrap(),
            &want,
            &abs,
            12,
            U32,
            &format!("blocked batches on {device}"),
        );
    }
}

on_every_device! {
    fn matrix_vector_and_vector_matrix_products(device) {
        // (outputs, K): one output, odd counts, and K past one task of the row kernel (16384)
        // and past one chunk of the column kernel (64).
        let cases = [
            (1, 7),
            (3, 1),
            (4, 2),
            (13, 257),
            (1000, 64),
            (5, 40_000),
            (260, 1000),
        ];
        for (i, &(outputs, k)) in cases.iter().enumerate() {
            let seed = 700 + 10 * i as u64;
            let (mat, vec_, rm, rv) = operands(&[outputs, k], &[k, 1], seed, DType::F32, &device);
            // The matrix stored the other way round too, and the vector with a stride of 2.
            let mat_t = tensor(
                &rm.permute(&[1, 0]).data,
                &[k, outputs],
                DType::F32,
                &device,
            );
            let spaced: Vec<f64> = rv.data.iter().flat_map(|&v| [v, 0.0]).collect();
            let vec_strided = tensor(&spaced, &[2 * k, 1], DType::F32, &device)
                .slice(0, 0, 2 * k as isize, 2)
                .unwrap();
            let (want, abs) = reference(&rm, &rv);
            let what = |name: &str| format!("{name} {outputs}x{k} on {device}");
            for (name, m, v) in [
                ("A x", &mat, &vec_),
                ("Aᵀᵀ x", &mat_t.t().unwrap(), &vec_),
                ("A x strided", &mat, &vec_strided),
            ] {
                check(&m.matmul(v).unwrap(), &want, &abs, k, U32, &what(name));
            }
            // xᵀ B: the same sums as [1, K] @ [K, outputs].
            let row = vec_.t().unwrap();
            let want_t = Nd::new(&[1, outputs], want.data.clone());
            for (name, m) in [("xᵀ Bᵀ", &mat.t().unwrap()), ("xᵀ B", &mat_t)] {
                check(&row.matmul(m).unwrap(), &want_t, &abs, k, U32, &what(name));
            }
        }
    }
}

on_every_device! {
    /// Products over an empty inner dimension are zeros of the full output shape: a batch
    /// against one matrix with k = 0 was viewed as 0 rows, so its [3, 6, 7] result held no
    /// values (found by the graph fuzzer).
    fn products_over_nothing_are_zeros(device) {
        for (a, b, out) in [
            (vec![3, 6, 0], vec![0, 7], vec![3, 6, 7]),
            (vec![6, 0], vec![0, 7], vec![6, 7]),
            (vec![2, 3, 0], vec![2, 0, 4], vec![2, 3, 4]),
        ] {
            let x = Tensor::zeros(&a, DType::F32, &device).unwrap();
            let y = Tensor::ones(&b, DType::F32, &device).unwrap();
            let product = x.matmul(&y).unwrap();
            assert_eq!(product.shape(), &out[..]);
            let n: usize = out.iter().product();
            assert_eq!(values(&product.unary(lepton::UnaryOp::Exp)), vec![1.0; n], "{a:?}·{b:?}");
        }
    }
}
