//! The bad-input corpus (#18), the rest of the library's API: indices past their axis or
//! past i32, losses with targets that do not fit, sizes that are zero, huge or overflow,
//! gradients that do not exist, tensors of two devices, and layers and optimizers given
//! sizes or hyperparameters no model can have. Each case must end in the typed error it
//! names, on every device, and nothing else; each runs under `catch_unwind`, so a panic is
//! counted as a failure. The test prints how many cases it ran.

mod common;

use common::corpus::*;
use lepton::nn::{
    loss, BatchNorm, CellKind, Conv2d, Conv2dSpec, Dropout, LayerNorm, Linear, Module,
    MultiheadAttention, Recurrent, RecurrentConfig, RecurrentState,
};
use lepton::optim::{Adam, Optimizer, Schedule, Sgd};
use lepton::{BinaryOp, DType, Device, Error, Tensor};

fn indexing(corpus: &mut Corpus, d: &Device) {
    let x = zeros(&[4, 5], d);
    let f32_indices = Tensor::from_slice(&[0.0f32, 1.0], &[2], d).unwrap();
    corpus.refuse(
        &format!("index_select with f32 indices on {d}"),
        || x.index_select(0, &f32_indices),
        dtype_error,
    );
    corpus.refuse(
        &format!("gather with f32 indices on {d}"),
        || x.gather(0, &zeros(&[1, 5], d)),
        dtype_error,
    );
    corpus.refuse(
        &format!("index_select with a matrix of indices on {d}"),
        || x.index_select(0, &indices(&[0; 4], &[2, 2], d)),
        shape_or_invalid,
    );
    corpus.refuse(
        &format!("gather with indices of another rank on {d}"),
        || x.gather(1, &indices(&[0; 4], &[4], d)),
        shape_error,
    );
    corpus.refuse(
        &format!("gather with indices wider than the input on {d}"),
        || x.gather(1, &indices(&[0; 10], &[5, 2], d)),
        shape_error,
    );
    for axis in [2, -3] {
        corpus.refuse(
            &format!("index_select along {axis} on {d}"),
            || x.index_select(axis, &indices(&[0], &[1], d)),
            axis_error,
        );
        corpus.refuse(
            &format!("gather along {axis} on {d}"),
            || x.gather(axis, &indices(&[0; 5], &[1, 5], d)),
            axis_error,
        );
    }
    let one_hot_indices = Tensor::from_slice(&[0.0f32, 1.0], &[2], d).unwrap();
    corpus.refuse(
        &format!("one_hot of f32 on {d}"),
        || one_hot_indices.one_hot(3),
        dtype_error,
    );
    corpus.refuse(
        &format!("one_hot with classes past i32 on {d}"),
        || indices(&[0], &[1], d).one_hot(1 << 40),
        invalid,
    );
    let embedding = lepton::nn::Embedding::new(10, 4, 1, DType::F32, d).unwrap();
    corpus.refuse(
        &format!("an embedding of f32 indices on {d}"),
        || embedding.forward(&f32_indices),
        dtype_error,
    );
    let weights = zeros(&[2, 3], d).add_scalar(1.0).unwrap();
    corpus.refuse(
        &format!("multinomial with a seed of two elements on {d}"),
        || weights.multinomial(&zeros(&[2], d)),
        shape_or_invalid,
    );
    corpus.refuse(
        &format!("multinomial of a scalar on {d}"),
        || zeros(&[], d).multinomial(&zeros(&[], d)),
        shape_or_invalid,
    );
    if !d.is_gpu() {
        // The GPU's documented answer to an index past its axis is NaN (README), not an error.
        for bad in [5, -1, i32::MAX, i32::MIN] {
            corpus.refuse(
                &format!("index_select of row {bad} of 4"),
                || run(x.index_select(0, &indices(&[0, bad], &[2], d))),
                invalid,
            );
            corpus.refuse(
                &format!("gather of column {bad} of 5"),
                || run(x.gather(1, &indices(&[bad; 4], &[4, 1], d))),
                invalid,
            );
            let row = if bad == 5 { 10 } else { bad };
            corpus.refuse(
                &format!("an embedding of row {row} of 10"),
                || run(embedding.forward(&indices(&[row], &[1], d))),
                invalid,
            );
        }
    }
}

fn losses(corpus: &mut Corpus, d: &Device) {
    let (pred, target) = (zeros(&[4, 3], d), zeros(&[4, 2], d));
    corpus.refuse(
        &format!("mse of [4, 3] and [4, 2] on {d}"),
        || loss::mse(&pred, &target),
        shape_error,
    );
    corpus.refuse(
        &format!("l1 of [4, 3] and [4, 2] on {d}"),
        || loss::l1(&pred, &target),
        shape_error,
    );
    corpus.refuse(
        &format!("huber of [4, 3] and [4, 2] on {d}"),
        || loss::huber(&pred, &target, 1.0),
        shape_error,
    );
    corpus.refuse(
        &format!("bce of [4, 3] and [4, 2] on {d}"),
        || loss::bce_with_logits(&pred, &target),
        shape_error,
    );
    for delta in [0.0, -1.0, f64::NAN] {
        corpus.refuse(
            &format!("huber with delta {delta} on {d}"),
            || loss::huber(&pred, &pred, delta),
            invalid,
        );
    }
    corpus.refuse(
        &format!("cross_entropy with f32 targets on {d}"),
        || loss::cross_entropy(&pred, &zeros(&[4], d), 0.0),
        dtype_error,
    );
    corpus.refuse(
        &format!("cross_entropy with 3 targets for 4 rows on {d}"),
        || loss::cross_entropy(&pred, &indices(&[0; 3], &[3], d), 0.0),
        shape_error,
    );
    corpus.refuse(
        &format!("cross_entropy of a vector on {d}"),
        || loss::cross_entropy(&zeros(&[3], d), &indices(&[0], &[1], d), 0.0),
        shape_error,
    );
    for smoothing in [-0.1, 1.5, f64::NAN] {
        corpus.refuse(
            &format!("cross_entropy with smoothing {smoothing} on {d}"),
            || loss::cross_entropy(&pred, &indices(&[0; 4], &[4], d), smoothing),
            invalid,
        );
    }
}

fn creation(corpus: &mut Corpus, d: &Device) {
    corpus.refuse(
        &format!("from_vec of 5 values as [2, 3] on {d}"),
        || Tensor::from_vec(vec![0f32; 5], &[2, 3], d),
        |e| matches!(e, Error::DataLength { .. }),
    );
    corpus.refuse(
        &format!("zeros of rank 9 on {d}"),
        || Tensor::zeros(&[1; 9], DType::F32, d),
        invalid,
    );
    corpus.refuse(
        &format!("zeros of 2^66 elements on {d}"),
        || Tensor::zeros(&[1 << 33, 1 << 33], DType::F32, d),
        invalid,
    );
    for (start, end, step) in [
        (0.0, 1.0, 0.0),
        (0.0, f64::INFINITY, 1.0),
        (f64::NAN, 1.0, 1.0),
        (0.0, 1.0, f64::NAN),
        (0.0, 1e30, 1.0),
        (0.0, -1e300, -1e-300),
    ] {
        corpus.refuse(
            &format!("arange({start}, {end}, {step}) on {d}"),
            || Tensor::arange(start, end, step, DType::F32, d),
            invalid,
        );
    }
    for (low, high) in [(1.0, 0.0), (f64::NAN, 1.0), (0.0, f64::INFINITY)] {
        corpus.refuse(
            &format!("rand_uniform in [{low}, {high}) on {d}"),
            || Tensor::rand_uniform(&[3], low, high, 1, DType::F32, d),
            invalid,
        );
    }
    for std in [-1.0, f64::NAN, f64::INFINITY] {
        corpus.refuse(
            &format!("rand_normal with std {std} on {d}"),
            || Tensor::rand_normal(&[3], 0.0, std, 1, DType::F32, d),
            invalid,
        );
    }
    corpus.refuse(
        &format!("causal_mask of 2^40 on {d}"),
        || Tensor::causal_mask(1 << 40, DType::F32, d),
        invalid,
    );
    let x = zeros(&[2], d);
    corpus.refuse(
        &format!("to_vec::<i32> of f32 on {d}"),
        || x.to_vec::<i32>(),
        dtype_error,
    );
    corpus.refuse(
        &format!("item of two elements on {d}"),
        || x.item::<f32>(),
        invalid,
    );
    corpus.refuse(
        &format!("full of NaN as i32 on {d}"),
        || Tensor::full(&[2], f64::NAN, DType::I32, d),
        invalid,
    );
}

fn gradients(corpus: &mut Corpus, d: &Device) {
    let w = zeros(&[3], d);
    w.set_requires_grad(true);
    let loss = w.mul_scalar(2.0).unwrap().sum(&[], false).unwrap();
    corpus.refuse(
        &format!("grad of a vector on {d}"),
        || lepton::grad(&w.mul_scalar(2.0)?, &[&w]),
        invalid,
    );
    corpus.refuse(
        &format!("grad with respect to an unrelated tensor on {d}"),
        || lepton::grad(&loss, &[&zeros(&[3], d)]),
        |e| invalid(e) || matches!(e, Error::NoGradient { .. }),
    );
    corpus.refuse(
        &format!("grad through detach on {d}"),
        || lepton::grad(&w.detach().sum(&[], false)?, &[&w]),
        |e| matches!(e, Error::NoGradient { .. } | Error::GraphCut { .. }),
    );
    let cpu_side = if d.is_gpu() {
        Some(Device::cpu())
    } else {
        common::gpu()
    };
    if let Some(other) = cpu_side {
        for &op in BinaryOp::ALL {
            corpus.refuse(
                &format!("{} of {d} and {other}", op.name()),
                || w.binary(op, &zeros(&[3], &other)),
                |e| matches!(e, Error::DeviceMismatch { .. }),
            );
        }
        corpus.refuse(
            &format!("matmul of {d} and {other}"),
            || w.matmul(&zeros(&[3], &other)),
            |e| matches!(e, Error::DeviceMismatch { .. }),
        );
        corpus.refuse(
            &format!("gather of {d} with indices on {other}"),
            || w.index_select(0, &indices(&[0], &[1], &other)),
            |e| matches!(e, Error::DeviceMismatch { .. }),
        );
        corpus.refuse(
            &format!("conv2d of {d} with a weight on {other}"),
            || {
                zeros(&[1, 1, 3, 3], d).conv2d(
                    &zeros(&[1, 1, 1, 1], &other),
                    None,
                    &Conv2dSpec::default(),
                )
            },
            |e| matches!(e, Error::DeviceMismatch { .. }),
        );
    }
}

#[test]
fn bad_api_calls_end_in_typed_errors_without_a_panic() {
    let mut corpus = Corpus::default();
    for d in common::devices() {
        indexing(&mut corpus, &d);
        losses(&mut corpus, &d);
        creation(&mut corpus, &d);
        gradients(&mut corpus, &d);
        layers(&mut corpus, &d);
        optimizers(&mut corpus, &d);
    }
    corpus.finish("bad API calls");
}

fn layers(corpus: &mut Corpus, d: &Device) {
    let linear = Linear::new(3, 2, true, 1, DType::F32, d).unwrap();
    for shape in [&[4, 5][..], &[5], &[]] {
        corpus.refuse(
            &format!("Linear(3, 2) of {shape:?} on {d}"),
            || linear.forward(&zeros(shape, d)),
            shape_or_invalid,
        );
    }
    corpus.refuse(
        &format!("Linear of i32 on {d}"),
        || linear.forward(&indices(&[1, 2, 3], &[1, 3], d)),
        dtype_error,
    );
    let conv = Conv2d::new(3, 4, (3, 3), Conv2dSpec::default(), 1, DType::F32, d).unwrap();
    for shape in [&[1, 2, 8, 8][..], &[3, 8, 8], &[1, 3, 2, 2]] {
        corpus.refuse(
            &format!("Conv2d(3, 4, 3×3) of {shape:?} on {d}"),
            || conv.forward(&zeros(shape, d)),
            shape_or_invalid,
        );
    }
    let norm = LayerNorm::new(4, DType::F32, d).unwrap();
    corpus.refuse(
        &format!("LayerNorm(4) of [2, 5] on {d}"),
        || norm.forward(&zeros(&[2, 5], d)),
        shape_or_invalid,
    );
    let batch_norm = BatchNorm::new_2d(3, DType::F32, d).unwrap();
    for shape in [&[2, 4, 5, 5][..], &[2, 3], &[2, 3, 5]] {
        corpus.refuse(
            &format!("BatchNorm2d(3) of {shape:?} on {d}"),
            || batch_norm.forward(&zeros(shape, d)),
            shape_or_invalid,
        );
    }
    for p in [-0.1, 1.5, f64::NAN] {
        corpus.refuse(&format!("Dropout({p})"), || Dropout::new(p, 1), invalid);
    }
    for (heads, width) in [(4, 6), (0, 4), (2, 0)] {
        corpus.refuse(
            &format!("attention of width {width} in {heads} heads on {d}"),
            || MultiheadAttention::new(width, heads, 0.0, 1, DType::F32, d),
            invalid,
        );
    }
    let attention = MultiheadAttention::new(8, 2, 0.0, 1, DType::F32, d).unwrap();
    for shape in [&[2, 5, 6][..], &[5, 8]] {
        corpus.refuse(
            &format!("attention of width 8 on {shape:?} on {d}"),
            || attention.forward(&zeros(shape, d)),
            shape_or_invalid,
        );
    }
    for kind in [CellKind::Lstm, CellKind::Gru, CellKind::RnnTanh] {
        let config = RecurrentConfig::new(3, 4);
        for bad in [
            RecurrentConfig {
                input_size: 0,
                ..config
            },
            RecurrentConfig {
                hidden_size: 0,
                ..config
            },
            RecurrentConfig {
                num_layers: 0,
                ..config
            },
            RecurrentConfig {
                dropout: 1.0,
                ..config
            },
            RecurrentConfig {
                dropout: f64::NAN,
                ..config
            },
        ] {
            corpus.refuse(
                &format!("{kind:?} with {bad:?} on {d}"),
                || Recurrent::new(kind, bad, 1, DType::F32, d),
                invalid,
            );
        }
        let layer = Recurrent::new(kind, config, 1, DType::F32, d).unwrap();
        for shape in [&[5, 2, 7][..], &[5, 3], &[5, 2, 3, 1]] {
            corpus.refuse(
                &format!("{kind:?}(3, 4) of {shape:?} on {d}"),
                || layer.forward(&zeros(shape, d)),
                shape_or_invalid,
            );
        }
        let c = (kind == CellKind::Lstm).then(|| zeros(&[1, 2, 4], d));
        let state = RecurrentState {
            h: zeros(&[1, 3, 4], d),
            c,
        };
        corpus.refuse(
            &format!("{kind:?}(3, 4) from a state of 3 rows for 2 on {d}"),
            || layer.forward_with_state(&zeros(&[5, 2, 3], d), Some(&state)),
            shape_or_invalid,
        );
    }
}

fn optimizers(corpus: &mut Corpus, d: &Device) {
    let layer = Linear::new(3, 2, true, 1, DType::F32, d).unwrap();
    let loss = || layer.forward(&zeros(&[4, 3], d))?.sum(&[], false);
    let adam = || Adam::new(layer.parameters(), 1e-3);
    let sgd = || Sgd::new(layer.parameters(), 1e-3);
    let mut cases: Vec<(String, Box<dyn Optimizer>)> = Vec::new();
    for lr in [f64::NAN, -1e-3, f64::INFINITY] {
        cases.push((
            format!("Adam with lr {lr}"),
            Box::new(Adam::new(layer.parameters(), lr)),
        ));
        cases.push((
            format!("SGD with lr {lr}"),
            Box::new(Sgd::new(layer.parameters(), lr)),
        ));
    }
    for (b1, b2) in [(1.0, 0.999), (0.9, -0.1), (f64::NAN, 0.999), (0.9, 1.5)] {
        cases.push((
            format!("Adam with betas ({b1}, {b2})"),
            Box::new(adam().betas(b1, b2)),
        ));
    }
    for v in [-1.0, f64::NAN] {
        cases.push((format!("Adam with eps {v}"), Box::new(adam().eps(v))));
        cases.push((
            format!("Adam with weight decay {v}"),
            Box::new(adam().weight_decay(v)),
        ));
        cases.push((
            format!("SGD with weight decay {v}"),
            Box::new(sgd().weight_decay(v)),
        ));
        cases.push((
            format!("SGD with momentum {v}"),
            Box::new(sgd().momentum(v, false)),
        ));
    }
    cases.push((
        "Nesterov's SGD without momentum".into(),
        Box::new(sgd().momentum(0.0, true)),
    ));
    for max_norm in [0.0, -1.0, f64::NAN] {
        cases.push((
            format!("Adam clipping to {max_norm}"),
            Box::new(adam().clip_grad_norm(max_norm)),
        ));
    }
    let before = layer.weight.get().to_vec::<f32>().unwrap();
    for (name, mut optimizer) in cases {
        corpus.refuse(
            &format!("{name} on {d}"),
            || optimizer.step(&loss()?),
            invalid,
        );
    }
    corpus.holds(
        &format!("no refused step changed a parameter on {d}"),
        || Ok(layer.weight.get().to_vec::<f32>()? == before),
    );
    // A schedule's rate goes wrong only at a later step: that one is refused.
    for gamma in [f64::NAN, -0.5] {
        let mut optimizer = sgd().schedule(Schedule::Step { every: 1, gamma });
        corpus.refuse(
            &format!("SGD stepping its rate by {gamma} on {d}"),
            || {
                optimizer.step(&loss()?)?;
                optimizer.step(&loss()?)
            },
            invalid,
        );
    }
}
