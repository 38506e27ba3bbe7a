//! Reductions on every device against naive f64 loops, over axis sets, layouts, long rows,
//! many rows, and a whole-tensor sum too large for one dispatch dimension.

mod common;

use common::*;
use lepton::{DType, ReduceOp, Tensor};

/// Reference: reduce `a` over `axes` (sorted, non-empty) with `op`.
fn reference(a: &Nd, axes: &[usize], op: ReduceOp) -> (Nd, Nd) {
    let kept: Vec<usize> = (0..a.shape.len()).filter(|d| !axes.contains(d)).collect();
    let out_shape: Vec<usize> = kept.iter().map(|&d| a.shape[d]).collect();
    let n_out: usize = out_shape.iter().product();
    let count: usize = axes.iter().map(|&d| a.shape[d]).product();
    let mut out = vec![Vec::new(); n_out];
    for (i, &v) in a.data.iter().enumerate() {
        let idx = unravel(i, &a.shape);
        let o: Vec<usize> = kept.iter().map(|&d| idx[d]).collect();
        let flat = o
            .iter()
            .zip(strides(&out_shape))
            .map(|(i, s)| i * s)
            .sum::<usize>();
        out[flat].push(v);
    }
    let value = |vs: &Vec<f64>| match op {
        ReduceOp::Sum => vs.iter().sum(),
        ReduceOp::Mean => vs.iter().sum::<f64>() / count as f64,
        ReduceOp::Max => vs.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
        ReduceOp::Min => vs.iter().cloned().fold(f64::INFINITY, f64::min),
        ReduceOp::Prod => vs.iter().product(),
        // The first position of the extreme (the reduced axes in row-major order).
        ReduceOp::ArgMax | ReduceOp::ArgMin => {
            let max = op == ReduceOp::ArgMax;
            let mut best = 0;
            for (i, &v) in vs.iter().enumerate() {
                if (max && v > vs[best]) || (!max && v < vs[best]) {
                    best = i;
                }
            }
            best as f64
        }
    };
    let abs_sum = |vs: &Vec<f64>| {
        vs.iter().map(|v| v.abs()).sum::<f64>()
            / if op == ReduceOp::Mean {
                count as f64
            } else {
                1.0
            }
    };
    (
        Nd::new(&out_shape, out.iter().map(value).collect()),
        Nd::new(&out_shape, out.iter().map(abs_sum).collect()),
    )
}

/// How many roundings deep, at most, a sum or product of `count` elements is on the GPU.
/// Reductions of rows, per pass over tasks of ≤ 16384 elements: a lane adds its quads eight
/// at a time as a tree (3 deep; sixteen, 4 deep, where it reads eight elements a load), then
/// into its total: a sum with Kahan's compensation (2u plus n·u², counted as 3), a product
/// plainly (≤ 16384/32 trips, then ≤ 7 single quads or octets); then its 4 components and
/// its tail (4), then the lanes' tree (≤ 6 levels). Reductions over leading axes, per pass
/// over ≤ 64 rows: a lane's ≤ 64 rows, then the lanes' tree (≤ 6). Each pass hands f32
/// partials to the next.
fn depth(count: usize, op: ReduceOp) -> usize {
    let passes = |chunk: usize, per_pass: &dyn Fn(usize) -> usize| {
        let mut total = 0;
        let mut n = count;
        loop {
            total += per_pass(n.min(chunk));
            if n <= chunk {
                return total;
            }
            n = n.div_ceil(chunk);
        }
    };
    let rows = passes(CHUNK, &|task| row_pass_depth(task, op));
    let columns = passes(64, &|_| 64 + 6);
    rows.max(columns)
}

/// Elements one task of a row reduction folds (src/ops/reduce/gpu.rs).
const CHUNK: usize = 16384;

/// Roundings deep of one pass over rows of `task` elements (see `depth`).
fn row_pass_depth(task: usize, op: ReduceOp) -> usize {
    let lane = match op {
        ReduceOp::Prod => task.div_ceil(32) + 7,
        _ => 3,
    };
    4 + lane + 4 + 6
}

/// |got − want| allowed for one result. The CPU path computes in f64 and rounds once. On the
/// GPU a sum's error is at most depth·u·Σ|x|, a product's depth·u·|Π x| (plus the smallest
/// normal f32, since a GPU may flush subnormals); max, min and positions are exact.
fn bound(on_gpu: bool, count: usize, op: ReduceOp, want: f64, abs_sum: f64) -> f64 {
    let last_rounding = U32 * want.abs();
    match op {
        ReduceOp::Max | ReduceOp::Min | ReduceOp::ArgMax | ReduceOp::ArgMin => 0.0,
        // The result may be subnormal in f32: half its spacing, 2^-150, is absolute.
        _ if !on_gpu => 2.0 * last_rounding + 7.1e-46,
        ReduceOp::Sum | ReduceOp::Mean => depth(count, op) as f64 * U32 * abs_sum + last_rounding,
        ReduceOp::Prod => (depth(count, op) + 1) as f64 * U32 * want.abs() + 1.2e-38,
    }
}

const ALL: [ReduceOp; 7] = [
    ReduceOp::Sum,
    ReduceOp::Mean,
    ReduceOp::Max,
    ReduceOp::Min,
    ReduceOp::Prod,
    ReduceOp::ArgMax,
    ReduceOp::ArgMin,
];

fn check(t: &Tensor, r: &Nd, axes: &[isize], what: &str) {
    let rank = r.shape.len() as isize;
    let mut resolved: Vec<usize> = axes
        .iter()
        .map(|&a| if a < 0 { a + rank } else { a } as usize)
        .collect();
    if resolved.is_empty() {
        resolved = (0..r.shape.len()).collect();
    }
    resolved.sort();
    let count: usize = resolved.iter().map(|&d| r.shape[d]).product();
    for op in ALL {
        if matches!(op, ReduceOp::ArgMax | ReduceOp::ArgMin) && count == 0 {
            continue;
        }
        let (want, abs) = reference(r, &resolved, op);
        let got = t.reduce(op, axes, false).unwrap();
        assert_eq!(got.shape(), &want.shape[..], "{what} {op:?} shape");
        let got_v = values(&got);
        for (i, ((g, w), a)) in got_v.iter().zip(&want.data).zip(&abs.data).enumerate() {
            let bound = bound(t.device().is_gpu(), count, op, *w, *a);
            assert!(
                (g - w).abs() <= bound,
                "{what} {op:?} axes {axes:?} on {}: [{i}] got {g} want {w} (bound {bound:e})",
                t.device(),
            );
        }
        let kept = t.reduce(op, axes, true).unwrap();
        let kept_shape: Vec<usize> = (0..r.shape.len())
            .map(|d| if resolved.contains(&d) { 1 } else { r.shape[d] })
            .collect();
        assert_eq!(kept.shape(), &kept_shape[..], "{what} keepdim shape");
    }
}

on_every_device! {
    fn every_axis_set_on_small_and_odd_shapes(device) {
        let cases: &[(&[usize], &[&[isize]])] = &[
            (&[1], &[&[0], &[]]),
            (&[7], &[&[0], &[-1]]),
            (&[13, 257], &[&[0], &[1], &[]]),
            (
                &[3, 5, 7],
                &[&[0], &[1], &[2], &[0, 2], &[1, 2], &[-1, 0], &[]],
            ),
            (&[2, 1, 3, 1, 5], &[&[1, 3], &[0, 4], &[2]]),
        ];
        for (k, (shape, axis_sets)) in cases.iter().enumerate() {
            let v = rounded(
                &data(shape.iter().product(), 100 + k as u64, -2.0, 2.0),
                DType::F32,
            );
            let t = tensor(&v, shape, DType::F32, &device);
            let r = Nd::new(shape, v);
            for axes in *axis_sets {
                check(&t, &r, axes, &format!("{shape:?}"));
            }
        }
    }
}

on_every_device! {
    fn non_contiguous_inputs(device) {
        let v = rounded(&data(6 * 10 * 9, 110, -2.0, 2.0), DType::F32);
        let base = tensor(&v, &[6, 10, 9], DType::F32, &device);
        let r = Nd::new(&[6, 10, 9], v);
        let permuted = base.permute(&[2, 0, 1]).unwrap();
        check(&permuted, &r.permute(&[2, 0, 1]), &[1, 2], "permuted");
        let sliced = base.slice(1, 1, 10, 3).unwrap();
        check(&sliced, &r.slice(1, 1, 10, 3), &[0, 2], "sliced");
        let row = tensor(&r.data[..9], &[1, 9], DType::F32, &device)
            .broadcast_to(&[5, 9])
            .unwrap();
        let expanded = Nd::new(&[5, 9], (0..45).map(|i| r.data[i % 9]).collect());
        check(&row, &expanded, &[0], "expanded");
    }
}

on_every_device! {
    fn long_rows_and_many_rows(device) {
        let v = rounded(&data(3 * 100_000, 120, -1.0, 1.0), DType::F32);
        check(
            &tensor(&v, &[3, 100_000], DType::F32, &device),
            &Nd::new(&[3, 100_000], v),
            &[1],
            "row of 100k",
        );
        // Leading axes of 100,000 and 20,000 rows: column reductions in two passes, on odd
        // and on four-wide outputs.
        for (rows, cols, seed) in [(100_000, 5, 122), (20_000, 12, 123)] {
            let v = rounded(&data(rows * cols, seed, -1.0, 1.0), DType::F32);
            check(
                &tensor(&v, &[rows, cols], DType::F32, &device),
                &Nd::new(&[rows, cols], v),
                &[0],
                "long columns",
            );
        }
        // Wide enough that a column task folds eight quads of outputs; the last group holds
        // two quads, and 4102 outputs are not whole quads (one at a time).
        for (rows, cols, seed) in [(1025, 8200, 124), (2049, 4102, 125)] {
            let v = rounded(&data(rows * cols, seed, -1.0, 1.0), DType::F32);
            check(
                &tensor(&v, &[rows, cols], DType::F32, &device),
                &Nd::new(&[rows, cols], v),
                &[0],
                "wide columns",
            );
        }
        // Rows of whole octets are read eight elements a load where the device has 64-bit
        // integers: one row in three chunks whose last is one octet and five elements, and
        // rows of three octets with one lane each.
        for (rows, cols, seed) in [(1, 2 * 16384 + 13, 126), (5, 24, 127)] {
            let v = rounded(&data(rows * cols, seed, -1.0, 1.0), DType::F32);
            check(
                &tensor(&v, &[rows, cols], DType::F32, &device),
                &Nd::new(&[rows, cols], v),
                &[1],
                "octets",
            );
        }
        // 70,000 rows need more workgroups than one dispatch dimension allows (65,535).
        let v = rounded(&data(70_000 * 3, 121, -1.0, 1.0), DType::F32);
        check(
            &tensor(&v, &[70_000, 3], DType::F32, &device),
            &Nd::new(&[70_000, 3], v),
            &[1],
            "70k rows",
        );
    }
}

on_every_device! {
    fn sum_of_twenty_million_elements(device) {
        let n = 20_000_000;
        let v: Vec<f32> = data(n, 130, 0.0, 1.0)
            .into_iter()
            .map(|x| x as f32)
            .collect();
        let exact: f64 = v.iter().map(|&x| x as f64).sum();
        let t = Tensor::from_vec(v.clone(), &[n], &device).unwrap();
        // Positive terms: the relative error is at most the summation depth times u. Pass 1
        // folds 1221 chunks of 16384 with 4 lanes each (4 + 3 + 4 + 2 deep), pass 2 the 1221
        // partials with 16 lanes (4 + 3 + 4 + 4): 28·u = 1.7e-6, within the engine's promise
        // of 1e-5 for long sums.
        let got = t.sum(&[], false).unwrap().item::<f32>().unwrap() as f64;
        assert!(
            ((got - exact) / exact).abs() < 1e-5,
            "sum on {device}: {got} vs {exact}"
        );
        // An elementwise op first: 78,125 workgroups, folded into two dimensions.
        let doubled = t
            .add(&t)
            .unwrap()
            .sum(&[0], false)
            .unwrap()
            .item::<f32>()
            .unwrap() as f64;
        assert!(
            ((doubled - 2.0 * exact) / exact).abs() < 2e-5,
            "2x sum on {device}: {doubled}"
        );
        let mean = t.mean(&[], false).unwrap().item::<f32>().unwrap() as f64;
        assert!(
            ((mean - exact / n as f64) / (exact / n as f64)).abs() < 1e-5,
            "mean on {device}: {mean}"
        );
    }
}

#[test]
fn long_row_sums_are_compensated_on_gpu() {
    if let Some(device) = common::gpu() {
        // Equal terms that f32 cannot hold exactly, in 4096 rows, so each row has one lane:
        // a plain running total of its 256 eight-quad partials drifts by 2.3e-6 to 3.0e-6 of
        // the sum on these rows (of 128 sixteen-quad partials, where the device reads eight
        // elements a load: 1.7e-6 to 1.9e-6), beyond the bound of one pass over rows, 17
        // roundings (1.0e-6).
        let (rows, n) = (4096, 8192);
        for v in [0.5021f32, 0.9268, 1.3652, 1.7351] {
            let t = Tensor::full(&[rows, n], v as f64, DType::F32, &device).unwrap();
            let exact = v as f64 * n as f64;
            let bound = row_pass_depth(n, ReduceOp::Sum) as f64 * U32 * exact;
            let got = values(&t.sum(&[1], false).unwrap());
            for (i, g) in got.iter().enumerate() {
                assert!(
                    (g - exact).abs() <= bound,
                    "row {i} of {v} x {n} on {device}: {g} vs {exact} (bound {bound:e})"
                );
            }
        }
    }
}

on_every_device! {
    fn sums_with_infinities_follow_ieee(device) {
        // Compensated sums see inf − inf in their correction: a total must still be +inf,
        // −inf, or NaN when both meet, as a plain sum gives, in rows and long rows alike.
        for n in [7, 5000, 40_000] {
            let mut v = vec![1.0; 4 * n];
            v[n / 2] = f64::INFINITY;
            v[n + n / 3] = f64::NEG_INFINITY;
            v[2 * n + 1] = f64::INFINITY;
            v[2 * n + n - 1] = f64::NEG_INFINITY;
            v[3 * n] = f32::MAX as f64;
            v[3 * n + 1] = f32::MAX as f64;
            let got = values(
                &tensor(&v, &[4, n], DType::F32, &device)
                    .sum(&[1], false)
                    .unwrap(),
            );
            assert_eq!(got[0], f64::INFINITY, "+inf row of {n} on {device}");
            assert_eq!(got[1], f64::NEG_INFINITY, "-inf row of {n} on {device}");
            assert!(
                got[2].is_nan(),
                "inf - inf row of {n} on {device}: {}",
                got[2]
            );
            assert_eq!(got[3], f64::INFINITY, "overflowing row of {n} on {device}");
        }
    }
}

on_every_device! {
    fn f16_sums_accumulate_in_f32(device) {
        // 10,000 halves of 0.5: an f16 accumulator would stall at 1024 (ulp 1 > 0.5·2).
        let t = Tensor::full(&[100, 100], 0.5, DType::F16, &device).unwrap();
        let total = t
            .sum(&[], false)
            .unwrap()
            .cast(DType::F32)
            .unwrap()
            .item::<f32>()
            .unwrap();
        assert_eq!(total, 5000.0, "on {device}");
        let rows = values(&t.sum(&[1], false).unwrap());
        assert!(rows.iter().all(|&r| r == 50.0), "on {device}");
    }
}

on_every_device! {
    fn empty_axes_reduce_to_identities_or_are_refused(device) {
        let t = Tensor::zeros(&[3, 0], DType::F32, &device).unwrap();
        assert_eq!(
            values(&t.sum(&[1], false).unwrap()),
            vec![0.0; 3],
            "on {device}"
        );
        // As PyTorch and NumPy: a maximum of nothing does not exist.
        assert!(matches!(
            t.max(&[1], false),
            Err(lepton::Error::InvalidArgument { op: "max", .. })
        ));
    }
}

on_every_device! {
    fn positions_take_the_first_extreme_or_the_first_nan(device) {
        let nan = f64::NAN;
        let rows = [
            vec![1.0, 3.0, 3.0, -2.0, -2.0],
            vec![nan, 2.0, nan, 2.0, -1.0],
            vec![nan; 5],
            vec![f64::NEG_INFINITY; 5],
        ];
        let flat: Vec<f64> = rows.concat();
        let t = tensor(&flat, &[4, 5], DType::F32, &device);
        let argmax = t.argmax(Some(1), false).unwrap();
        assert_eq!(argmax.dtype(), DType::I32);
        assert_eq!(
            values(&argmax),
            vec![1.0, 0.0, 0.0, 0.0],
            "argmax on {device}"
        );
        assert_eq!(
            values(&t.argmin(Some(-1), false).unwrap()),
            vec![3.0, 0.0, 0.0, 0.0],
            "argmin on {device}"
        );
        assert_eq!(values(&t.argmax(None, false).unwrap()), vec![5.0]);
        let kept = t.argmin(Some(0), true).unwrap();
        assert_eq!(kept.shape(), &[1, 5]);
        assert_eq!(
            values(&kept),
            vec![1.0, 2.0, 1.0, 2.0, 2.0],
            "each column's first NaN, before its −inf, on {device}"
        );
        let half = tensor(&flat, &[4, 5], DType::F16, &device);
        let positions = half.argmax(Some(1), false).unwrap();
        assert_eq!(positions.dtype(), DType::I32);
        assert_eq!(values(&positions), vec![1.0, 0.0, 0.0, 0.0]);
    }
}

on_every_device! {
    fn positions_in_rows_longer_than_a_chunk(device) {
        // 3 rows of 100,003: the GPU folds chunks of 16384 and then merges their winners. Each
        // row's extreme sits in a different chunk, with a tie in a later chunk that must lose.
        let n = 100_003;
        let mut v = rounded(&data(3 * n, 140, -1.0, 1.0), DType::F32);
        for (r, at) in [(0, 5), (1, 40_000), (2, 100_002)] {
            v[r * n + at] = 7.0;
            v[r * n + (at + 20_000) % n] = if at + 20_000 >= n { 6.0 } else { 7.0 };
            v[r * n + (at + 50_000) % n] = -7.0;
        }
        let want_max = [5.0, 40_000.0, 100_002.0];
        let want_min: Vec<f64> = [5usize, 40_000, 100_002]
            .iter()
            .map(|at| ((at + 50_000) % n) as f64)
            .collect();
        let t = tensor(&v, &[3, n], DType::F32, &device);
        assert_eq!(
            values(&t.argmax(Some(1), false).unwrap()),
            want_max,
            "on {device}"
        );
        assert_eq!(
            values(&t.argmin(Some(1), false).unwrap()),
            want_min,
            "on {device}"
        );
        // Along the leading axis of the transposed view: a strided row per output.
        let cols = t.transpose(0, 1).unwrap().argmax(Some(1), false).unwrap();
        let got = values(&cols);
        for j in [0, 5, 40_000, 77_777] {
            let column: Vec<f64> = (0..3).map(|r| v[r * n + j]).collect();
            let mut best = 0;
            for (r, &x) in column.iter().enumerate() {
                if x > column[best] {
                    best = r;
                }
            }
            assert_eq!(got[j], best as f64, "column {j} on {device}");
        }
    }
}

#[test]
fn positions_need_a_nonempty_axis_of_at_most_2_pow_28() {
    let cpu = lepton::Device::cpu();
    let empty = Tensor::zeros(&[3, 0], DType::F32, &cpu).unwrap();
    let e = empty.argmax(Some(1), false).unwrap_err();
    assert!(e.to_string().contains("positions exist for 1 to"), "{e}");
    let huge = Tensor::zeros(&[1], DType::F32, &cpu)
        .unwrap()
        .broadcast_to(&[(1 << 28) + 1])
        .unwrap();
    assert!(huge.argmin(None, false).is_err());
}

#[test]
fn positions_past_2_pow_24_are_exact() {
    // 2^24 + 1 is the first whole number f32 cannot hold.
    let cpu = lepton::Device::cpu();
    let at = (1usize << 24) + 1;
    let zeros = Tensor::zeros(&[at], DType::F32, &cpu).unwrap();
    let one = Tensor::ones(&[1], DType::F32, &cpu).unwrap();
    let v = Tensor::concat(&[&zeros, &one], 0).unwrap();
    assert_eq!(
        v.argmax(None, false).unwrap().item::<i32>().unwrap(),
        at as i32
    );
}

on_every_device! {
    fn products_with_zeros_and_their_gradients(device) {
        let t = tensor(
            &[2.0, 0.0, 3.0, 4.0, 0.0, 0.0, 1.5, -2.0, 0.5],
            &[3, 3],
            DType::F32,
            &device,
        );
        assert_eq!(values(&t.prod(&[1], false).unwrap()), vec![0.0, 0.0, -1.5]);
        t.set_requires_grad(true);
        let g = lepton::grad(
            &t.prod(&[1], false).unwrap().sum(&[], false).unwrap(),
            &[&t],
        )
        .unwrap()
        .remove(0);
        // One zero: its gradient is the product of the others; two zeros: all gradients 0;
        // none: the product over each element.
        assert_eq!(
            values(&g),
            vec![0.0, 6.0, 0.0, 0.0, 0.0, 0.0, -1.0, 0.75, -3.0],
            "on {device}"
        );
    }
}
