//! Elementwise ops on every device against an independent f64 reference, over dense,
//! permuted, sliced, broadcast, scalar and long inputs. Doubles as the check that each
//! table row's CPU function and WGSL expression mean the same thing.

mod common;

use common::*;
use lepton::{BinaryOp, DType, Device, Tensor, UnaryOp};
use std::f64::consts::PI;

/// Inputs as the engine sees them (tensor) and as the reference sees them (Nd), built by
/// the same sequence of views.
fn views(device: &Device, dtype: DType, lo: f64, hi: f64) -> Vec<(&'static str, Tensor, Nd)> {
    let make = |shape: &[usize], seed| {
        let n = shape.iter().product();
        let v = rounded(&data(n, seed, lo, hi), dtype);
        (tensor(&v, shape, dtype, device), Nd::new(shape, v))
    };
    let mut out = Vec::new();
    let (t, r) = make(&[], 1);
    out.push(("scalar", t, r));
    let (t, r) = make(&[1], 2);
    out.push(("[1]", t, r));
    let (t, r) = make(&[7], 3);
    out.push(("[7]", t, r));
    let (t, r) = make(&[13, 257], 4);
    out.push(("[13,257]", t, r));
    let (t, r) = make(&[3, 5, 7], 5);
    out.push((
        "permuted",
        t.permute(&[1, 2, 0]).unwrap(),
        r.permute(&[1, 2, 0]),
    ));
    let (t, r) = make(&[9, 20], 6);
    out.push((
        "sliced",
        t.slice(1, 1, 19, 3).unwrap().slice(0, 0, 9, 2).unwrap(),
        r.slice(1, 1, 19, 3).slice(0, 0, 9, 2),
    ));
    let (t, r) = make(&[7, 1], 7);
    let expanded = Nd::new(&[7, 13], (0..91).map(|i| r.data[i / 13]).collect());
    out.push(("expanded", t.broadcast_to(&[7, 13]).unwrap(), expanded));
    let (t, r) = make(&[100_000], 8);
    out.push(("[100000]", t, r));
    out
}

struct UnaryCase {
    op: UnaryOp,
    reference: fn(f64) -> f64,
    domain: (f64, f64),
    /// (atol, rtol) on the GPU, from WGSL's accuracy rules for the builtins used.
    gpu: (f64, f64),
    /// (atol, rtol) on the CPU path in f32 (Rust's libm: within 1–2 ulp).
    cpu: (f64, f64),
}

fn unary_cases() -> Vec<UnaryCase> {
    let exact = (0.0, U32);
    let libm = (1e-7, 4.0 * U32);
    let case = |op, reference, domain, gpu, cpu| UnaryCase {
        op,
        reference,
        domain,
        gpu,
        cpu,
    };
    vec![
        case(UnaryOp::Neg, |x| -x, (-4.0, 4.0), exact, exact),
        case(UnaryOp::Abs, f64::abs, (-4.0, 4.0), exact, exact),
        // exp: 3 + 2|x| ulp for |x| ≤ 10 is 23 ulp = 2.7e-6 relative.
        case(UnaryOp::Exp, f64::exp, (-10.0, 10.0), (0.0, 2.8e-6), libm),
        // log: 2^-21 absolute on [0.5, 2], 3 ulp elsewhere.
        case(UnaryOp::Log, f64::ln, (0.01, 10.0), (4.8e-7, 3.6e-7), libm),
        // sqrt is inherited from 1/inverseSqrt: 2 + 2.5 ulp.
        case(UnaryOp::Sqrt, f64::sqrt, (0.01, 10.0), (0.0, 5.4e-7), libm),
        case(
            UnaryOp::Rsqrt,
            |x| 1.0 / x.sqrt(),
            (0.01, 10.0),
            (0.0, 2.4e-7),
            libm,
        ),
        // division: 2.5 ulp.
        case(UnaryOp::Recip, |x| 1.0 / x, (0.1, 4.0), (0.0, 3e-7), libm),
        // sin and cos: 2^-11 absolute on [-π, π].
        case(UnaryOp::Sin, f64::sin, (-PI, PI), (4.9e-4, 0.0), libm),
        case(UnaryOp::Cos, f64::cos, (-PI, PI), (4.9e-4, 0.0), libm),
        // tanh via exp(-2|x|) (≤ 11 ulp) and a division; near 0, (1 − e) cancels to ~1e-7 absolute.
        case(UnaryOp::Tanh, f64::tanh, (-4.0, 4.0), (1e-6, 2e-6), libm),
        case(
            UnaryOp::Sigmoid,
            |x| 1.0 / (1.0 + (-x).exp()),
            (-10.0, 10.0),
            (1e-7, 3.2e-6),
            libm,
        ),
        case(UnaryOp::Relu, |x| x.max(0.0), (-4.0, 4.0), exact, exact),
        // The GPU's erf approximation is within 1.5e-7; gelu scales it by |x|/2 ≤ 2. The CPU's
        // f32 erf is within 1.01 ulp (6e-8 near ±1), but for x < 0, 1 + erf cancels: that,
        // the sum's rounding (6e-8) and x/√2's (≤ 3e-8 through erf), times |x|/2 ≤ 2, stay
        // under 3.2e-7.
        case(
            UnaryOp::Gelu,
            |x| 0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2)),
            (-4.0, 4.0),
            (2e-6, 3e-6),
            (4e-7, 4.0 * U32),
        ),
        // GELU's derivative: Φ carries half the erf's error (the GPU's 1.5e-7; the CPU's
        // 1.6e-7 of cancellation as in gelu), and x·φ(x) a few ulp of its at most 0.25.
        case(
            UnaryOp::GeluGrad,
            |x| {
                let pdf = (-0.5 * x * x).exp() / (2.0 * PI).sqrt();
                0.5 * (1.0 + erf(x / std::f64::consts::SQRT_2)) + x * pdf
            },
            (-4.0, 4.0),
            (2e-6, 3e-6),
            (2e-7, 4.0 * U32),
        ),
        case(UnaryOp::Square, |x| x * x, (-4.0, 4.0), exact, exact),
        // silu as sigmoid's exp and division, times x (exact in the one division).
        case(
            UnaryOp::Silu,
            |x| x / (1.0 + (-x).exp()),
            (-10.0, 10.0),
            (1e-7, 3.2e-6),
            libm,
        ),
        case(
            UnaryOp::Sign,
            |x| {
                if x > 0.0 {
                    1.0
                } else if x < 0.0 {
                    -1.0
                } else {
                    0.0
                }
            },
            (-4.0, 4.0),
            exact,
            exact,
        ),
        // erf: the approximation's 1.5e-7; on the GPU, 1 − poly·exp(−x²) also cancels in f32
        // near 0: the polynomial's roundings (~3e-7) and exp's 3 ulp (3.6e-7) remain absolute.
        // The CPU's f32 erf is within 1.01 ulp, at most 2.02 U32 of the value.
        case(
            UnaryOp::Erf,
            erf,
            (-3.0, 3.0),
            (1e-6, 3e-6),
            (0.0, 2.1 * U32),
        ),
    ]
}

on_every_device! {
    fn every_unary_op_on_every_layout(device) {
        assert_eq!(
            unary_cases().len(),
            UnaryOp::ALL.len(),
            "every table row has a case"
        );
        for case in unary_cases() {
            let tol = if device.is_gpu() { case.gpu } else { case.cpu };
            for (name, t, r) in views(&device, DType::F32, case.domain.0, case.domain.1) {
                let got = values(&t.unary(case.op));
                let want = r.map(case.reference).data;
                assert_close(
                    &got,
                    &want,
                    tol.0,
                    tol.1,
                    &format!("{} {name} on {device}", case.op.name()),
                );
            }
        }
    }
}

#[test]
fn f64_cpu_path_matches_the_reference_to_rounding() {
    for case in unary_cases() {
        for (name, t, r) in views(&Device::cpu(), DType::F64, case.domain.0, case.domain.1) {
            let got = values(&t.unary(case.op));
            let want = r.map(case.reference).data;
            // f64 libm is within a few ulp (1e-15); erf, GELU and its derivative carry the
            // 1.5e-7 erf approximation (scaled by |x|/2 ≤ 2 in GELU, by 1/2 in its derivative).
            let atol = match case.op {
                UnaryOp::Gelu => 4e-7,
                UnaryOp::GeluGrad => 1e-7,
                UnaryOp::Erf => 2e-7,
                _ => 1e-15,
            };
            assert_close(
                &got,
                &want,
                atol,
                1e-14,
                &format!("{} {name} f64", case.op.name()),
            );
        }
    }
}

fn binary_reference(op: BinaryOp) -> fn(f64, f64) -> f64 {
    match op {
        BinaryOp::Add => |a, b| a + b,
        BinaryOp::Sub => |a, b| a - b,
        BinaryOp::Mul => |a, b| a * b,
        BinaryOp::Div => |a, b| a / b,
        BinaryOp::Pow => f64::powf,
        BinaryOp::Maximum => f64::max,
        BinaryOp::Minimum => f64::min,
        BinaryOp::Eq => |a, b| if a == b { 1.0 } else { 0.0 },
        BinaryOp::Ne => |a, b| if a != b { 1.0 } else { 0.0 },
        BinaryOp::Lt => |a, b| if a < b { 1.0 } else { 0.0 },
        BinaryOp::Le => |a, b| if a <= b { 1.0 } else { 0.0 },
        BinaryOp::Gt => |a, b| if a > b { 1.0 } else { 0.0 },
        BinaryOp::Ge => |a, b| if a >= b { 1.0 } else { 0.0 },
    }
}

/// Domains keep the results finite: positive bases for pow, divisors away from 0, and
/// small integers for comparisons so that equal pairs occur often.
fn binary_inputs(op: BinaryOp, n: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
    match op {
        BinaryOp::Pow => (data(n, seed, 0.1, 3.0), data(n, seed + 1, -2.0, 2.0)),
        BinaryOp::Div => (data(n, seed, -3.0, 3.0), data(n, seed + 1, 0.5, 3.0)),
        BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
            (
                data(n, seed, -2.0, 2.0).iter().map(|v| v.round()).collect(),
                data(n, seed + 1, -2.0, 2.0)
                    .iter()
                    .map(|v| v.round())
                    .collect(),
            )
        }
        _ => (data(n, seed, -3.0, 3.0), data(n, seed + 1, -3.0, 3.0)),
    }
}

/// GPU (atol, rtol): +, −, × are correctly rounded; ÷ is 2.5 ulp; pow is inherited from
/// exp2(b·log2 a): for |b·log2 a| ≤ 3.2 that is about 10 ulp of exp2 plus log2's 3 ulp
/// scaled by |b| ≤ 2, under 20 ulp (2.4e-6).
fn binary_gpu_tolerance(op: BinaryOp) -> (f64, f64) {
    match op {
        BinaryOp::Div => (0.0, 3e-7),
        BinaryOp::Pow => (0.0, 2.4e-6),
        _ => (0.0, U32),
    }
}

on_every_device! {
    fn every_binary_op_broadcasts_in_every_position(device) {
        let shapes: &[(&[usize], &[usize])] = &[
            (&[7], &[7]),
            (&[13, 257], &[257]),
            (&[7, 1], &[1, 13]),
            (&[2, 1, 4], &[3, 1]),
            (&[], &[5, 3]),
            (&[1], &[2, 3, 4]),
            (&[2, 3, 4], &[2, 1, 4]),
            (&[1, 1], &[1]),
            (&[3, 1, 5, 1], &[1, 4, 1, 6]),
        ];
        for &op in BinaryOp::ALL {
            let tol = if device.is_gpu() {
                binary_gpu_tolerance(op)
            } else {
                (0.0, 4.0 * U32)
            };
            for (k, (sa, sb)) in shapes.iter().enumerate() {
                let (na, nb) = (sa.iter().product::<usize>(), sb.iter().product::<usize>());
                let (a, _) = binary_inputs(op, na, 10 + k as u64);
                let (_, b) = binary_inputs(op, nb, 20 + k as u64);
                let (a, b) = (rounded(&a, DType::F32), rounded(&b, DType::F32));
                let got = tensor(&a, sa, DType::F32, &device)
                    .binary(op, &tensor(&b, sb, DType::F32, &device))
                    .unwrap();
                let want = zip_nd(&Nd::new(sa, a), &Nd::new(sb, b), binary_reference(op));
                assert_eq!(got.shape(), &want.shape[..]);
                assert_close(
                    &values(&got),
                    &want.data,
                    tol.0,
                    tol.1,
                    &format!("{} {sa:?} {sb:?} on {device}", op.name()),
                );
            }
        }
    }
}

on_every_device! {
    fn binary_ops_read_non_contiguous_operands(device) {
        let a = rounded(&data(3 * 5 * 7, 30, -3.0, 3.0), DType::F32);
        let b = rounded(&data(10 * 7, 31, -3.0, 3.0), DType::F32);
        let ta = tensor(&a, &[3, 5, 7], DType::F32, &device)
            .permute(&[1, 0, 2])
            .unwrap();
        let tb = tensor(&b, &[10, 7], DType::F32, &device)
            .slice(0, 1, 10, 2)
            .unwrap()
            .unsqueeze(1)
            .unwrap();
        let ra = Nd::new(&[3, 5, 7], a).permute(&[1, 0, 2]);
        let rb = Nd::new(&[10, 7], b).slice(0, 1, 10, 2);
        let rb = Nd::new(&[5, 1, 7], rb.data);
        let got = values(&ta.mul(&tb).unwrap());
        assert_close(
            &got,
            &zip_nd(&ra, &rb, |x, y| x * y).data,
            0.0,
            U32,
            &format!("strided mul on {device}"),
        );
    }
}

on_every_device! {
    fn pow_follows_c_rules_at_the_edges(device) {
        let a = [-2.0, -2.0, -2.0, 0.0, 0.0, 0.0, 3.0, -0.5];
        let b = [3.0, 2.0, 0.5, 0.0, 2.0, -1.0, 0.0, -3.0];
        let want: Vec<f64> = a
            .iter()
            .zip(&b)
            .map(|(x, y): (&f64, &f64)| x.powf(*y))
            .collect();
        let got = tensor(&a, &[8], DType::F32, &device)
            .pow(&tensor(&b, &[8], DType::F32, &device))
            .unwrap();
        assert_close(
            &values(&got),
            &want,
            0.0,
            2.4e-6,
            &format!("pow edges on {device}"),
        );
    }
}

on_every_device! {
    fn where_selects_with_broadcasting(device) {
        let c = [1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0];
        let a = rounded(&data(13, 40, -3.0, 3.0), DType::F32);
        let cond = tensor(&c, &[7, 1], DType::F32, &device);
        let ta = tensor(&a, &[1, 13], DType::F32, &device);
        let tb = Tensor::full(&[], -9.0, DType::F32, &device).unwrap();
        let got = values(&cond.where_cond(&ta, &tb).unwrap());
        let want: Vec<f64> = (0..91)
            .map(|i| if c[i / 13] != 0.0 { a[i % 13] } else { -9.0 })
            .collect();
        assert_close(&got, &want, 0.0, 0.0, &format!("where on {device}"));
    }
}

on_every_device! {
    fn f16_ops_round_once_from_f32_arithmetic(device) {
        let a = rounded(&data(513, 50, -3.0, 3.0), DType::F16);
        let b = rounded(&data(513, 51, -3.0, 3.0), DType::F16);
        let ta = tensor(&a, &[513], DType::F16, &device);
        let tb = tensor(&b, &[513], DType::F16, &device);
        // The result is f32 arithmetic rounded once to f16: within one f16 ulp (2·U16
        // relative), plus f16's subnormal spacing (6e-8) near zero; tanh adds its GPU error.
        let cases: Vec<(Tensor, Vec<f64>)> = vec![
            (
                ta.add(&tb).unwrap(),
                a.iter().zip(&b).map(|(x, y)| x + y).collect(),
            ),
            (
                ta.mul(&tb).unwrap(),
                a.iter().zip(&b).map(|(x, y)| x * y).collect(),
            ),
            (ta.tanh(), a.iter().map(|x| x.tanh()).collect()),
            (ta.relu(), a.iter().map(|x| x.max(0.0)).collect()),
        ];
        for (i, (t, want)) in cases.into_iter().enumerate() {
            assert_close(
                &values(&t),
                &want,
                1e-6,
                2.0 * U16,
                &format!("f16 case {i} on {device}"),
            );
        }
    }
}

on_every_device! {
    fn casts_round_to_nearest(device) {
        let v = rounded(&data(1000, 60, -70000.0, 70000.0), DType::F32);
        let t = tensor(&v, &[10, 100], DType::F32, &device).t().unwrap();
        let there = t.cast(DType::F16).unwrap();
        let back = values(&there.cast(DType::F32).unwrap());
        let want: Vec<f64> = Nd::new(&[10, 100], v)
            .permute(&[1, 0])
            .data
            .iter()
            .map(|&x| half::f16::from_f64(x).to_f64())
            .collect();
        // Beyond f16's range (65504) the result is ±inf on both devices.
        assert_close(
            &back,
            &want,
            0.0,
            if device.is_gpu() { 2.0 * U16 } else { 0.0 },
            &format!("cast on {device}"),
        );
    }
}

on_every_device! {
    fn where_with_dense_operands_takes_the_larger(device) {
        // 1001 elements: the four-wide kernel's last vector is partial.
        let a = rounded(&data(1001, 70, -3.0, 3.0), DType::F32);
        let b = rounded(&data(1001, 71, -3.0, 3.0), DType::F32);
        let (ta, tb) = (
            tensor(&a, &[1001], DType::F32, &device),
            tensor(&b, &[1001], DType::F32, &device),
        );
        let got = values(&ta.gt(&tb).unwrap().where_cond(&ta, &tb).unwrap());
        let want: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x.max(*y)).collect();
        assert_close(&got, &want, 0.0, 0.0, &format!("dense where on {device}"));
    }
}

on_every_device! {
    fn operators_record_the_named_ops(device) {
        let a = rounded(&data(7 * 13, 80, -3.0, 3.0), DType::F32);
        let b = rounded(&data(13, 81, 0.5, 2.0), DType::F32);
        let ta = tensor(&a, &[7, 13], DType::F32, &device);
        let tb = tensor(&b, &[13], DType::F32, &device);
        // Each step of the reference rounds to f32 as the kernels do.
        let f = |x: f64| x as f32 as f64;
        let pairs = |g: &dyn Fn(f64, f64) -> f64| -> Vec<f64> {
            a.iter().enumerate().map(|(i, &x)| g(x, b[i % 13])).collect()
        };
        let cases: Vec<(&str, lepton::Result<Tensor>, Vec<f64>)> = vec![
            ("&a + &b", &ta + &tb, pairs(&|x, y| f(x + y))),
            ("a - &b", ta.clone() - &tb, pairs(&|x, y| f(x - y))),
            ("&a * b", &ta * tb.clone(), pairs(&|x, y| f(x * y))),
            ("&a / &b", &ta / &tb, pairs(&|x, y| f(x / y))),
            ("&a * 2.5", &ta * 2.5, pairs(&|x, _| f(x * 2.5))),
            ("3.0 - &a", 3.0 - &ta, pairs(&|x, _| f(3.0 - x))),
            ("1.0 / &b", 1.0 / &tb, b.iter().map(|&y| f(1.0 / y)).collect()),
            ("(&a + &b) * &a", (&ta + &tb) * &ta, pairs(&|x, y| f(f(x + y) * x))),
            ("&a - (&a * &b)", &ta - (&ta * &tb), pairs(&|x, y| f(x - f(x * y)))),
            ("-&a", Ok(-&ta), a.iter().map(|&x| -x).collect()),
        ];
        for (what, got, want) in cases {
            let got = values(&got.unwrap_or_else(|e| panic!("{what} on {device}: {e}")));
            // Exact but for WGSL's division, which may be off by 2.5 ulp (f32's ulp is at
            // most 2^-23 of the value).
            assert_close(&got, &want, 0.0, 3.0 * 2f64.powi(-23), &format!("{what} on {device}"));
        }
        let wrong = tensor(&[1.0; 5], &[5], DType::F32, &device);
        let err = ((&ta + &tb) * &wrong).expect_err("[7, 13] and [5] do not broadcast");
        // The error names the op and the line of the expression.
        let text = err.to_string();
        assert!(text.contains("mul") && text.contains("tests/elementwise.rs"), "{text}");
    }
}

on_every_device! {
    /// One element at an offset that is not a multiple of 4 (a one-element slice): the
    /// GPU's four-wide kernel read it as the vector holding it, so the element 4-aligned
    /// below it (found by tests/random_graphs.rs).
    fn one_element_views_at_unaligned_offsets(device) {
        let host: Vec<f64> = (0..64).map(|i| i as f64 / 64.0).collect();
        let x = tensor(&host, &[64], DType::F32, &device);
        let negated = x.unary(UnaryOp::Neg);
        for at in [1, 2, 3, 45, 46, 47] {
            let one = negated.slice(0, at, at + 1, 1).unwrap();
            let other = x.slice(0, at - 1, at, 1).unwrap();
            let exp = one.unary(UnaryOp::Exp);
            let sum = one.binary(BinaryOp::Add, &other).unwrap();
            let v = host[at as usize];
            assert_close(&values(&exp), &[(-v).exp()], 0.0, 2.8e-6, &format!("exp at {at}"));
            let want = host[at as usize - 1] - v;
            assert_close(&values(&sum), &[want], 0.0, 0.0, &format!("sum at {at}"));
        }
    }
}
