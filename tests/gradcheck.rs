//! Every gradient rule against central differences on the CPU path in f64, a few against
//! hand-derived values, and the GPU's gradients against the CPU's.

mod common;

use common::*;
use lepton::{grad, no_grad, BinaryOp, DType, Device, Error, Tensor, UnaryOp};

type Fun = dyn Fn(&[Tensor]) -> lepton::Result<Tensor>;

/// L(x) = Σ f(x) ⊙ w for fixed random w, so every output element matters with its own weight.
fn weighted(f: &Fun, xs: &[Tensor], seed: u64) -> lepton::Result<Tensor> {
    let y = f(xs)?;
    let w = Tensor::from_vec(data(y.numel(), seed, 0.5, 1.5), y.shape(), &Device::cpu())?;
    y.mul(&w)?.sum(&[], false)
}

fn leaf(values: &[f64], shape: &[usize]) -> Tensor {
    let t = tensor(values, shape, DType::F64, &Device::cpu());
    t.set_requires_grad(true);
    t
}

/// Compare grad() with central differences (step 1e-6). In f64 the difference quotient's
/// truncation error is ~h²|f'''| ≈ 1e-12 and its rounding error ~ε|L|/h ≈ 1e-10·|L|;
/// 1e-6 absolute plus 1e-5 relative leaves margin for the largest third derivatives here.
fn gradcheck(name: &str, f: &Fun, inputs: &[(Vec<f64>, Vec<usize>)]) {
    let seed = 77;
    let xs: Vec<Tensor> = inputs.iter().map(|(v, s)| leaf(v, s)).collect();
    let loss = weighted(f, &xs, seed).unwrap();
    let refs: Vec<&Tensor> = xs.iter().collect();
    let analytic = grad(&loss, &refs).unwrap();
    let h = 1e-6;
    for (k, (v, s)) in inputs.iter().enumerate() {
        let numeric: Vec<f64> = (0..v.len())
            .map(|i| {
                let eval = |delta: f64| {
                    let args: Vec<Tensor> = inputs
                        .iter()
                        .enumerate()
                        .map(|(j, (w, sh))| {
                            let mut w = w.clone();
                            if j == k {
                                w[i] += delta;
                            }
                            tensor(&w, sh, DType::F64, &Device::cpu())
                        })
                        .collect();
                    weighted(f, &args, seed).unwrap().item::<f64>().unwrap()
                };
                (eval(h) - eval(-h)) / (2.0 * h)
            })
            .collect();
        assert_eq!(
            analytic[k].shape(),
            &s[..],
            "{name}: gradient shape of input {k}"
        );
        assert_close(
            &values(&analytic[k]),
            &numeric,
            1e-6,
            1e-5,
            &format!("{name}: input {k}"),
        );
    }
}

fn input(shape: &[usize], seed: u64, lo: f64, hi: f64) -> (Vec<f64>, Vec<usize>) {
    (data(shape.iter().product(), seed, lo, hi), shape.to_vec())
}

#[test]
fn every_unary_rule() {
    for (i, &op) in UnaryOp::ALL.iter().enumerate() {
        // Domains where the function is smooth: positive for log/sqrt/rsqrt/recip; away from
        // 0 for the kinks of abs, relu and sign (random points miss 0 with probability 1).
        let (lo, hi) = match op {
            UnaryOp::Log | UnaryOp::Sqrt | UnaryOp::Rsqrt | UnaryOp::Recip => (0.2, 3.0),
            _ => (-2.0, 2.0),
        };
        let f = move |xs: &[Tensor]| Ok(xs[0].unary(op));
        gradcheck(op.name(), &f, &[input(&[3, 5], 400 + i as u64, lo, hi)]);
    }
}

/// Domains per operand role: positive bases for pow, divisors away from 0.
fn binary_domain(op: BinaryOp, role: usize) -> (f64, f64) {
    match (op, role) {
        (BinaryOp::Pow, 0) => (0.3, 2.0),
        (BinaryOp::Pow, _) => (-1.5, 1.5),
        (BinaryOp::Div, 1) => (0.5, 2.0),
        _ => (-2.0, 2.0),
    }
}

#[test]
fn every_binary_rule_with_broadcasting() {
    for (i, &op) in BinaryOp::ALL.iter().enumerate() {
        let seed = 500 + 10 * i as u64;
        let (lhs, rhs) = (binary_domain(op, 0), binary_domain(op, 1));
        let a = input(&[3, 4], seed, lhs.0, lhs.1);
        let b = input(&[4], seed + 1, rhs.0, rhs.1);
        let f = move |xs: &[Tensor]| xs[0].binary(op, &xs[1]);
        gradcheck(op.name(), &f, &[a, b]);
        // The other broadcast direction, with a middle axis of size 1.
        let a = input(&[4], seed + 2, lhs.0, lhs.1);
        let b = input(&[3, 4], seed + 3, rhs.0, rhs.1);
        let f = move |xs: &[Tensor]| xs[0].unsqueeze(0)?.binary(op, &xs[1].unsqueeze(1)?);
        gradcheck(&format!("{} reversed", op.name()), &f, &[a, b]);
    }
}

#[test]
fn reductions_matmul_and_where() {
    for (axes, keep) in [
        (&[1isize][..], false),
        (&[0, 2], true),
        (&[], false),
        (&[-1], true),
    ] {
        let ax = axes.to_vec();
        let s = ax.clone();
        gradcheck(
            "sum",
            &move |x: &[Tensor]| x[0].sum(&s, keep),
            &[input(&[3, 4, 5], 700, -1.0, 1.0)],
        );
        // Factors in [0.5, 1.5] keep the product of 60 away from under- and overflow.
        let s = ax.clone();
        gradcheck(
            "prod",
            &move |x: &[Tensor]| x[0].prod(&s, keep),
            &[input(&[3, 4, 5], 703, 0.5, 1.5)],
        );
        let s = ax.clone();
        gradcheck(
            "mean",
            &move |x: &[Tensor]| x[0].mean(&s, keep),
            &[input(&[3, 4, 5], 701, -1.0, 1.0)],
        );
        let s = ax.clone();
        gradcheck(
            "max",
            &move |x: &[Tensor]| x[0].max(&s, keep),
            &[input(&[3, 4, 5], 702, -1.0, 1.0)],
        );
        gradcheck(
            "min",
            &move |x: &[Tensor]| x[0].min(&ax, keep),
            &[input(&[3, 4, 5], 703, -1.0, 1.0)],
        );
    }
    gradcheck(
        "matmul",
        &|x: &[Tensor]| x[0].matmul(&x[1]),
        &[
            input(&[4, 3], 710, -1.0, 1.0),
            input(&[3, 5], 711, -1.0, 1.0),
        ],
    );
    gradcheck(
        "batched broadcast matmul",
        &|x: &[Tensor]| x[0].matmul(&x[1]),
        &[
            input(&[2, 1, 4, 3], 712, -1.0, 1.0),
            input(&[3, 3, 2], 713, -1.0, 1.0),
        ],
    );
    gradcheck(
        "vector matmul",
        &|x: &[Tensor]| x[0].matmul(&x[1]),
        &[input(&[3], 714, -1.0, 1.0), input(&[3, 2], 715, -1.0, 1.0)],
    );
    gradcheck(
        "transposed matmul",
        &|x: &[Tensor]| x[0].t()?.matmul(&x[1].t()?),
        &[
            input(&[3, 4], 716, -1.0, 1.0),
            input(&[5, 3], 717, -1.0, 1.0),
        ],
    );
    gradcheck(
        "where",
        &|x: &[Tensor]| x[0].gt(&x[1])?.where_cond(&x[0], &x[1].mul_scalar(3.0)?),
        &[input(&[4, 3], 720, -1.0, 1.0), input(&[3], 721, -1.0, 1.0)],
    );
}

#[test]
fn movement_rules() {
    let x = || input(&[4, 6], 800, -1.0, 1.0);
    gradcheck("permute", &|x: &[Tensor]| Ok(x[0].t()?.exp()), &[x()]);
    gradcheck(
        "slice with step",
        &|x: &[Tensor]| Ok(x[0].slice(1, 1, 6, 2)?.slice(0, -3, 4, 1)?.exp()),
        &[x()],
    );
    gradcheck(
        "expand",
        &|x: &[Tensor]| Ok(x[0].unsqueeze(0)?.broadcast_to(&[3, 4, 6])?.sin()),
        &[x()],
    );
    gradcheck(
        "reshape view",
        &|x: &[Tensor]| Ok(x[0].reshape(&[2, 12])?.tanh()),
        &[x()],
    );
    gradcheck(
        "reshape copy",
        &|x: &[Tensor]| Ok(x[0].t()?.reshape(&[-1])?.tanh()),
        &[x()],
    );
    gradcheck(
        "pad",
        &|x: &[Tensor]| Ok(x[0].pad(&[(1, 2), (0, 1)], 0.5)?.exp()),
        &[x()],
    );
    gradcheck(
        "concat",
        &|x: &[Tensor]| Ok(Tensor::concat(&[&x[0], &x[1].t()?, &x[0]], 0)?.sin()),
        &[x(), input(&[6, 3], 801, -1.0, 1.0)],
    );
    gradcheck(
        "contiguous",
        &|x: &[Tensor]| Ok(x[0].slice(0, 0, 4, 3)?.contiguous().cos()),
        &[x()],
    );
    gradcheck(
        "squeeze",
        &|x: &[Tensor]| x[0].unsqueeze(1)?.squeeze(1)?.square().sum(&[0], false),
        &[x()],
    );
    // Slices along one axis: their gradients are joined by a concat (with zeros where no
    // slice reads, and slices read twice summed first); overlapping ones are placed and
    // added instead.
    gradcheck(
        "disjoint, gapped and repeated row slices",
        &|x: &[Tensor]| {
            let rows = |a: isize, b: isize| x[0].slice(0, a, b, 1);
            Tensor::concat(
                &[
                    &rows(3, 4)?,
                    &rows(0, 2)?.exp(),
                    &rows(0, 2)?,
                    &rows(2, 3)?.sin(),
                ],
                0,
            )
        },
        &[x()],
    );
    gradcheck(
        "column slices",
        &|x: &[Tensor]| {
            let cols = |a: isize, b: isize| x[0].slice(1, a, b, 1);
            cols(0, 2)?.mul(&cols(4, 6)?)?.add(&cols(2, 4)?.tanh())
        },
        &[x()],
    );
    gradcheck(
        "overlapping slices",
        &|x: &[Tensor]| x[0].slice(0, 0, 3, 1)?.add(&x[0].slice(0, 1, 4, 1)?.exp()),
        &[x()],
    );
    // Repeated indices: the scatter-add sums their gradients.
    let index = tensor(
        &[2.0, 0.0, 2.0, 5.0, 1.0, 3.0, 3.0, 0.0],
        &[2, 4],
        DType::I32,
        &Device::cpu(),
    );
    gradcheck(
        "gather",
        &move |x: &[Tensor]| Ok(x[0].gather(1, &index)?.exp()),
        &[x()],
    );
    let list = tensor(&[3.0, 0.0, 3.0], &[3], DType::I32, &Device::cpu());
    gradcheck(
        "index_select",
        &move |x: &[Tensor]| Ok(x[0].index_select(0, &list)?.sin()),
        &[x()],
    );
    for axis in [0isize, 1, 2] {
        gradcheck(
            &format!("stack along {axis}"),
            &move |x: &[Tensor]| Ok(Tensor::stack(&[&x[0], &x[1], &x[0]], axis)?.sin()),
            &[x(), input(&[4, 6], 802, -1.0, 1.0)],
        );
    }
}

#[test]
fn clamps_and_masks() {
    // Random points miss clamp's two kinks with probability 1.
    gradcheck(
        "clamp",
        &|x: &[Tensor]| Ok(x[0].clamp(-0.5, 0.7)?.exp()),
        &[input(&[5, 7], 950, -1.5, 1.5)],
    );
    for k in [-2i64, 0, 3] {
        gradcheck(
            &format!("tril {k}"),
            &move |x: &[Tensor]| Ok(x[0].tril(k)?.exp()),
            &[input(&[2, 5, 7], 951, -1.0, 1.0)],
        );
        gradcheck(
            &format!("triu {k}"),
            &move |x: &[Tensor]| Ok(x[0].triu(k)?.exp()),
            &[input(&[5, 7], 952, -1.0, 1.0)],
        );
    }
    let mask = tensor(
        &[1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0],
        &[7],
        DType::F64,
        &Device::cpu(),
    );
    gradcheck(
        "masked_fill",
        &move |x: &[Tensor]| Ok(x[0].masked_fill(&mask, -3.0)?.exp()),
        &[input(&[5, 7], 953, -1.0, 1.0)],
    );
}

#[test]
fn composite_functions() {
    // The softmax family's kernels, along the last axis and along a leading one.
    for axis in [-1isize, 0] {
        gradcheck(
            &format!("softmax along {axis}"),
            &move |x: &[Tensor]| x[0].softmax(axis),
            &[input(&[3, 7], 900, -3.0, 3.0)],
        );
        gradcheck(
            &format!("log_softmax along {axis}"),
            &move |x: &[Tensor]| x[0].log_softmax(axis),
            &[input(&[3, 7], 908, -3.0, 3.0)],
        );
        gradcheck(
            &format!("logsumexp along {axis}"),
            &move |x: &[Tensor]| x[0].logsumexp(axis, false),
            &[input(&[3, 7], 909, -3.0, 3.0)],
        );
    }
    // Fused cross-entropy, with and without label smoothing.
    let targets = tensor(&[2.0, 0.0, 6.0, 3.0], &[4], DType::I32, &Device::cpu());
    for eps in [0.0, 0.1] {
        let t = targets.clone();
        gradcheck(
            &format!("cross_entropy (smoothing {eps})"),
            &move |x: &[Tensor]| lepton::nn::loss::cross_entropy_per_sample(&x[0], &t, eps),
            &[input(&[4, 7], 910, -3.0, 3.0)],
        );
    }
    // Layer normalization with its scale and shift, over rows of 6.
    gradcheck(
        "layer_norm",
        &|p: &[Tensor]| {
            let centered = p[0].sub(&p[0].mean(&[-1], true)?)?;
            let var = centered.square().mean(&[-1], true)?;
            centered
                .mul(&var.add_scalar(1e-5)?.rsqrt())?
                .mul(&p[1])?
                .add(&p[2])
        },
        &[
            input(&[4, 6], 905, -2.0, 2.0),
            input(&[6], 906, 0.5, 1.5),
            input(&[6], 907, -1.0, 1.0),
        ],
    );
    // A two-layer MLP: every parameter receives its gradient.
    gradcheck(
        "mlp",
        &|p: &[Tensor]| p[0].matmul(&p[1])?.add(&p[2])?.gelu().matmul(&p[3]),
        &[
            input(&[5, 4], 901, -1.0, 1.0),
            input(&[4, 6], 902, -1.0, 1.0),
            input(&[6], 903, -1.0, 1.0),
            input(&[6, 2], 904, -1.0, 1.0),
        ],
    );
}

#[test]
fn hand_derived_cases() {
    let x = leaf(&[1.0, -2.0, 3.0], &[3]);
    // L = Σ (x² + x): dL/dx = 2x + 1, and x is used twice, so both uses accumulate.
    let loss = x.square().add(&x).unwrap().sum(&[], false).unwrap();
    assert_eq!(
        values(&grad(&loss, &[&x]).unwrap()[0]),
        vec![3.0, -3.0, 7.0]
    );

    // L = Σ (a + b) with a: [3,1], b: [1,4]: each a_i appears in 4 sums, each b_j in 3.
    let a = leaf(&[1.0, 2.0, 3.0], &[3, 1]);
    let b = leaf(&[1.0; 4], &[1, 4]);
    let loss = a.add(&b).unwrap().sum(&[], false).unwrap();
    let g = grad(&loss, &[&a, &b]).unwrap();
    assert_eq!((values(&g[0]), values(&g[1])), (vec![4.0; 3], vec![3.0; 4]));

    // L = mean((w·x − y)²) for x = [1, 2, 3], y = [2, 4, 6], w = 1:
    // dL/dw = (2/3) Σ (w x_i − y_i) x_i = (2/3)(−1 −4 −9) = −28/3.
    let w = leaf(&[1.0], &[1]);
    let xs = tensor(&[1.0, 2.0, 3.0], &[3], DType::F64, &Device::cpu());
    let ys = tensor(&[2.0, 4.0, 6.0], &[3], DType::F64, &Device::cpu());
    let loss = w
        .mul(&xs)
        .unwrap()
        .sub(&ys)
        .unwrap()
        .square()
        .mean(&[], false)
        .unwrap();
    let g = grad(&loss, &[&w]).unwrap();
    assert!((values(&g[0])[0] + 28.0 / 3.0).abs() < 1e-12);

    // max of [1, 3, 3]: the two tied maxima share the gradient.
    let m = leaf(&[1.0, 3.0, 3.0], &[3]);
    let g = grad(&m.max(&[], false).unwrap(), &[&m]).unwrap();
    assert_eq!(values(&g[0]), vec![0.0, 0.5, 0.5]);
}

#[test]
fn detach_no_grad_and_unused_inputs() {
    let x = leaf(&[1.0, 2.0], &[2]);
    // Through detach only one factor carries a gradient: d(c·x)/dx = c = x.
    let loss = x.detach().mul(&x).unwrap().sum(&[], false).unwrap();
    assert_eq!(values(&grad(&loss, &[&x]).unwrap()[0]), vec![1.0, 2.0]);
    let y = no_grad(|| x.exp());
    assert!(!y.requires_grad());
    assert!(matches!(
        grad(&y.sum(&[], false).unwrap(), &[&x]),
        Err(Error::NoGradient { .. })
    ));
    let unused = leaf(&[5.0], &[1]);
    let g = grad(&x.sum(&[], false).unwrap(), &[&x, &unused]).unwrap();
    assert_eq!(values(&g[1]), vec![0.0], "an unused input gets zeros");
    let plain = tensor(&[1.0], &[1], DType::F64, &Device::cpu());
    assert!(matches!(
        grad(&x.sum(&[], false).unwrap(), &[&plain]),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(
        matches!(grad(&x.exp(), &[&x]), Err(Error::InvalidArgument { .. })),
        "a loss of two elements"
    );
}

#[test]
fn a_realized_intermediate_cuts_the_graph_loudly() {
    let x = leaf(&[1.0, 2.0], &[2]);
    let h = x.exp();
    h.realize().unwrap();
    let err = grad(&h.sum(&[], false).unwrap(), &[&x]).unwrap_err();
    assert!(matches!(err, Error::GraphCut { .. }), "{err}");
}

#[test]
fn gpu_gradients_match_the_cpu_path() {
    let Some(gpu) = gpu() else { return };
    let run = |device: &Device| {
        let w1 = Tensor::rand_normal(&[13, 7], 0.0, 0.5, 1, DType::F32, device).unwrap();
        let b1 = Tensor::zeros(&[7], DType::F32, device)
            .unwrap()
            .add_scalar(0.1)
            .unwrap();
        let w2 = Tensor::rand_normal(&[7, 3], 0.0, 0.5, 2, DType::F32, device).unwrap();
        for p in [&w1, &b1, &w2] {
            p.set_requires_grad(true);
        }
        let x = Tensor::rand_uniform(&[9, 13], -1.0, 1.0, 3, DType::F32, device).unwrap();
        let h = x.matmul(&w1).unwrap().add(&b1).unwrap().tanh();
        let out = h.matmul(&w2).unwrap();
        let loss = out.square().mean(&[], false).unwrap();
        let grads = grad(&loss, &[&w1, &b1, &w2]).unwrap();
        let before = lepton::stats().submissions;
        let mut all = vec![&loss];
        all.extend(grads.iter());
        lepton::realize(&all).unwrap();
        let submissions = lepton::stats().submissions - before;
        (
            values(&loss),
            grads.iter().map(values).collect::<Vec<_>>(),
            submissions,
        )
    };
    let (cpu_loss, cpu_grads, _) = run(&Device::cpu());
    let (gpu_loss, gpu_grads, submissions) = run(&gpu);
    assert_eq!(submissions, 1, "loss and every gradient in one submission");
    // Sums of ≤ 13 f32 products per element, a few ops deep: 1e-5 relative with 1e-6
    // absolute covers the f32 rounding differences between the two devices.
    assert_close(&gpu_loss, &cpu_loss, 1e-6, 1e-5, "loss");
    for (g, c) in gpu_grads.iter().zip(&cpu_grads) {
        assert_close(g, c, 1e-6, 1e-5, "gradient");
    }
}
