//! NaN and ±inf through every reduction, softmax, loss and elementwise function (#18): not
//! errors, but documented results (the README's "NaN and infinities"), the same on every
//! device, and PyTorch's (torch 2.15 on the CPU gave the expected rows below) except where
//! a case says why not. Each case runs under `catch_unwind` and is counted.

mod common;

use common::corpus::*;
use lepton::nn::loss;
use lepton::{BinaryOp, DType, Device, Tensor, UnaryOp};

const NAN: f64 = f64::NAN;
const INF: f64 = f64::INFINITY;

/// Rows with a NaN, +inf, −inf, both infinities, only −inf, only NaN.
const ROWS: [[f64; 3]; 6] = [
    [1.0, NAN, 3.0],
    [1.0, INF, 3.0],
    [1.0, -INF, 3.0],
    [INF, -INF, 1.0],
    [-INF, -INF, -INF],
    [NAN, NAN, NAN],
];

/// A reduction or row function of one tensor.
type Op = fn(&Tensor) -> lepton::Result<Tensor>;

fn rows(d: &Device) -> Tensor {
    let flat: Vec<f64> = ROWS.concat();
    common::tensor(&flat, &[6, 3], DType::F32, d)
}

/// Equal as documented results are: both NaN, the same infinity, or within f32 rounding
/// (4 ulp of the larger magnitude: softmax's exponentials and divisions round a few times).
fn same(got: &[f64], want: &[f64]) -> bool {
    got.len() == want.len()
        && got.iter().zip(want).all(|(&g, &w)| {
            (g.is_nan() && w.is_nan())
                || g == w
                || (g - w).abs() <= 4.0 * 1.2e-7 * g.abs().max(w.abs()).max(1.0)
        })
}

fn check(
    corpus: &mut Corpus,
    name: &str,
    d: &Device,
    result: impl FnOnce() -> lepton::Result<Tensor>,
    want: &[f64],
) {
    corpus.holds(&format!("{name} on {d}"), || {
        let got = common::values(&result()?);
        if !same(&got, want) {
            println!("{name} on {d}: {got:?}, documented {want:?}");
        }
        Ok(same(&got, want))
    });
}

fn reductions(corpus: &mut Corpus, d: &Device) {
    let x = rows(d);
    let cases: [(&str, Op, [f64; 6]); 9] = [
        (
            "sum",
            |x| x.sum(&[1], false),
            [NAN, INF, -INF, NAN, -INF, NAN],
        ),
        (
            "mean",
            |x| x.mean(&[1], false),
            [NAN, INF, -INF, NAN, -INF, NAN],
        ),
        (
            "max",
            |x| x.max(&[1], false),
            [NAN, INF, 3.0, INF, -INF, NAN],
        ),
        (
            "min",
            |x| x.min(&[1], false),
            [NAN, 1.0, -INF, -INF, -INF, NAN],
        ),
        (
            "prod",
            |x| x.prod(&[1], false),
            [NAN, INF, -INF, -INF, -INF, NAN],
        ),
        (
            "argmax",
            |x| x.argmax(Some(1), false),
            [1.0, 1.0, 2.0, 0.0, 0.0, 0.0],
        ),
        (
            "argmin",
            |x| x.argmin(Some(1), false),
            [1.0, 0.0, 1.0, 1.0, 0.0, 0.0],
        ),
        (
            "logsumexp",
            |x| x.logsumexp(1, false),
            [NAN, INF, 3.126928, INF, -INF, NAN],
        ),
        (
            "layer_norm's first column",
            |x| x.layer_norm(1e-5)?.slice(1, 0, 1, 1),
            [NAN; 6],
        ),
    ];
    for (name, op, want) in cases {
        check(
            corpus,
            &format!("{name} of rows with NaN and inf"),
            d,
            || op(&x),
            &want,
        );
    }
    let columns: [(&str, Op, [f64; 3]); 5] = [
        ("sum", |x| x.sum(&[0], false), [NAN, NAN, NAN]),
        ("max", |x| x.max(&[0], false), [NAN, NAN, NAN]),
        ("min", |x| x.min(&[0], false), [NAN, NAN, NAN]),
        ("argmax", |x| x.argmax(Some(0), false), [5.0, 0.0, 5.0]),
        ("argmin", |x| x.argmin(Some(0), false), [5.0, 0.0, 5.0]),
    ];
    for (name, op, want) in columns {
        check(
            corpus,
            &format!("{name} down columns with NaN and inf"),
            d,
            || op(&x),
            &want,
        );
    }
    // Rows long enough to take the chunked kernels: the NaN is found in a later chunk.
    for n in [3_000, 70_001] {
        let mut row: Vec<f64> = (0..n).map(|k| k as f64).collect();
        row[n - 1000] = NAN;
        row[n / 3] = INF;
        let long = common::tensor(&row, &[1, n], DType::F32, d);
        let at = (n - 1000) as f64;
        let cases: [(&str, Op, f64); 6] = [
            ("max", |x| x.max(&[1], false), NAN),
            ("min", |x| x.min(&[1], false), NAN),
            ("sum", |x| x.sum(&[1], false), NAN),
            ("argmax", |x| x.argmax(Some(1), false), 0.0),
            ("argmin", |x| x.argmin(None, false), 0.0),
            ("logsumexp", |x| x.logsumexp(1, false), NAN),
        ];
        for (name, op, want) in cases {
            let want = if name.starts_with("arg") { at } else { want };
            check(
                corpus,
                &format!("{name} of a row of {n} with a NaN"),
                d,
                || op(&long),
                &[want],
            );
        }
        let without_nan = common::tensor(&row[..n - 1000], &[1, n - 1000], DType::F32, d);
        check(
            corpus,
            &format!("argmax of a row of {} with an inf", n - 1000),
            d,
            || without_nan.argmax(Some(1), false),
            &[(n / 3) as f64],
        );
        check(
            corpus,
            &format!("logsumexp of a row of {} with an inf", n - 1000),
            d,
            || without_nan.logsumexp(1, false),
            &[INF],
        );
    }
    let empty = Tensor::zeros(&[3, 0], DType::F32, d).unwrap();
    check(
        corpus,
        "sum of empty rows",
        d,
        || empty.sum(&[1], false),
        &[0.0; 3],
    );
    check(
        corpus,
        "mean of empty rows",
        d,
        || empty.mean(&[1], false),
        &[NAN; 3],
    );
    check(
        corpus,
        "prod of empty rows",
        d,
        || empty.prod(&[1], false),
        &[1.0; 3],
    );
    check(
        corpus,
        "logsumexp of empty rows",
        d,
        || empty.logsumexp(1, false),
        &[-INF; 3],
    );
    check(corpus, "softmax of empty rows", d, || empty.softmax(1), &[]);
}

fn softmaxes(corpus: &mut Corpus, d: &Device) {
    let x = rows(d);
    let (p, q) = (0.11920292, 0.88079708);
    let mut softmax = [NAN; 18];
    softmax[6..9].copy_from_slice(&[p, 0.0, q]);
    let mut log_softmax = [NAN; 18];
    log_softmax[6..9].copy_from_slice(&[-2.126928, -INF, -0.12692805]);
    check(
        corpus,
        "softmax of rows with NaN and inf",
        d,
        || x.softmax(1),
        &softmax,
    );
    check(
        corpus,
        "log_softmax of rows with NaN and inf",
        d,
        || x.log_softmax(1),
        &log_softmax,
    );
    let targets = Tensor::from_slice(&[0i32, 1, 1, 2, 0, 1], &[6], d).unwrap();
    check(
        corpus,
        "cross-entropy of rows with NaN and inf",
        d,
        || loss::cross_entropy_per_sample(&x, &targets, 0.0),
        &[NAN, NAN, INF, NAN, NAN, NAN],
    );
    let logits = common::tensor(&[1.0, 2.0, 3.0, 1.0, 2.0, 3.0], &[2, 3], DType::F32, d);
    let outside = Tensor::from_slice(&[3i32, -1], &[2], d).unwrap();
    check(
        corpus,
        "cross-entropy with targets outside the classes",
        d,
        || loss::cross_entropy_per_sample(&logits, &outside, 0.0),
        &[NAN, NAN],
    );
}

fn losses(corpus: &mut Corpus, d: &Device) {
    let pred = common::tensor(&[INF, -INF, NAN, 1.0], &[4], DType::F32, d);
    let zeros = Tensor::zeros(&[4], DType::F32, d).unwrap();
    let ones = zeros.add_scalar(1.0).unwrap();
    type Loss = fn(&Tensor, &Tensor) -> lepton::Result<Tensor>;
    let cases: [(&str, Loss, [f64; 4], [f64; 4]); 4] = [
        ("mse", loss::mse, [INF, INF, NAN, 1.0], [INF, INF, NAN, 0.0]),
        ("l1", loss::l1, [INF, INF, NAN, 1.0], [INF, INF, NAN, 0.0]),
        (
            "huber",
            |p, t| loss::huber(p, t, 1.0),
            [INF, INF, NAN, 0.5],
            [INF, INF, NAN, 0.0],
        ),
        // Not PyTorch's ([inf, NaN, NaN, ·] and [NaN, NaN, NaN, ·]): the stable form's
        // max(x, 0) − x·t meets inf − inf or inf·0 at an infinite logit, except −inf
        // against 1.
        (
            "bce_with_logits",
            loss::bce_with_logits,
            [NAN, NAN, NAN, 1.3132617],
            [NAN, INF, NAN, 0.31326169],
        ),
    ];
    for (name, f, against_zero, against_one) in cases {
        for k in 0..4 {
            let p = pred.slice(0, k, k + 1, 1).unwrap();
            for (target, want) in [
                (&zeros, against_zero[k as usize]),
                (&ones, against_one[k as usize]),
            ] {
                let t = target.slice(0, k, k + 1, 1).unwrap();
                check(
                    corpus,
                    &format!(
                        "{name} of {} against {}",
                        common::values(&p)[0],
                        common::values(&t)[0]
                    ),
                    d,
                    || f(&p, &t),
                    &[want],
                );
            }
        }
    }
}

fn elementwise(corpus: &mut Corpus, d: &Device) {
    let nan = common::tensor(&[NAN, -NAN], &[2], DType::F32, d);
    for &op in UnaryOp::ALL {
        check(
            corpus,
            &format!("{} of NaN", op.name()),
            d,
            || Ok(nan.unary(op)),
            &[NAN, NAN],
        );
    }
    for &op in BinaryOp::ALL {
        // Comparisons with NaN are false (1 only for ne), as IEEE's; the rest give NaN.
        let want = match op {
            BinaryOp::Ne => 1.0,
            BinaryOp::Eq | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => 0.0,
            _ => NAN,
        };
        check(
            corpus,
            &format!("{} of NaN and 1", op.name()),
            d,
            || nan.binary_scalar(op, 1.0),
            &[want; 2],
        );
        check(
            corpus,
            &format!("{} of 1 and NaN", op.name()),
            d,
            || Tensor::ones(&[2], DType::F32, d)?.binary(op, &nan),
            // C's pow: 1^y = 1, NaN too.
            &[if op == BinaryOp::Pow { 1.0 } else { want }; 2],
        );
    }
    let inf = common::tensor(&[INF, -INF], &[2], DType::F32, d);
    let limits: [(UnaryOp, [f64; 2]); 12] = [
        (UnaryOp::Neg, [-INF, INF]),
        (UnaryOp::Abs, [INF, INF]),
        (UnaryOp::Sign, [1.0, -1.0]),
        (UnaryOp::Exp, [INF, 0.0]),
        (UnaryOp::Tanh, [1.0, -1.0]),
        (UnaryOp::Sigmoid, [1.0, 0.0]),
        (UnaryOp::Relu, [INF, 0.0]),
        (UnaryOp::Square, [INF, INF]),
        (UnaryOp::Recip, [0.0, -0.0]),
        (UnaryOp::Erf, [1.0, -1.0]),
        (UnaryOp::Sqrt, [INF, NAN]),
        (UnaryOp::Log, [INF, NAN]),
    ];
    for (op, want) in limits {
        check(
            corpus,
            &format!("{} of ±inf", op.name()),
            d,
            || Ok(inf.unary(op)),
            &want,
        );
    }
    check(
        corpus,
        "clamp of NaN and ±inf",
        d,
        || common::tensor(&[NAN, INF, -INF], &[3], DType::F32, d).clamp(-1.0, 2.0),
        &[NAN, 2.0, -1.0],
    );
}

#[test]
fn nan_and_inf_give_the_documented_results_on_every_device() {
    let mut corpus = Corpus::default();
    for d in common::devices() {
        reductions(&mut corpus, &d);
        softmaxes(&mut corpus, &d);
        losses(&mut corpus, &d);
        elementwise(&mut corpus, &d);
    }
    corpus.finish("NaN and inf cases");
}
