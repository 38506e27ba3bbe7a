//! The bad-input corpus (#18), the ops: every elementwise op, reduction, movement, product,
//! convolution and pooling with shapes that do not fit, axes out of range and wrong dtypes.
//! Each case must end in the typed error it names, on every device, and nothing else; each
//! runs under `catch_unwind`, so a panic is counted as a failure. The test prints how many
//! cases it ran. (The rest of the API is in tests/bad_api.rs; NaN and infinite data, which
//! are not errors, in tests/nonfinite.rs.)

mod common;

use common::corpus::*;
use lepton::nn::Conv2dSpec;
use lepton::{BinaryOp, DType, Device, Error, ReduceOp, Tensor, UnaryOp};

/// Shape pairs that no broadcast joins.
const UNBROADCASTABLE: &[(&[usize], &[usize])] = &[
    (&[2, 3], &[4, 3]),
    (&[3], &[4]),
    (&[2, 1, 5], &[3, 4]),
    (&[0], &[2]),
    (&[5, 2], &[2, 5]),
    (&[7, 1, 3], &[1, 6, 2]),
];

fn elementwise(corpus: &mut Corpus, d: &Device) {
    for &op in BinaryOp::ALL {
        for (a, b) in UNBROADCASTABLE {
            corpus.refuse(
                &format!("{} of {a:?} and {b:?} on {d}", op.name()),
                || zeros(a, d).binary(op, &zeros(b, d)),
                shape_error,
            );
        }
        corpus.refuse(
            &format!("{} of f32 and i32 on {d}", op.name()),
            || zeros(&[3], d).binary(op, &indices(&[1, 2, 3], &[3], d)),
            dtype_error,
        );
        corpus.refuse(
            &format!("{} of f32 and f16 on {d}", op.name()),
            || zeros(&[3], d).binary(op, &Tensor::zeros(&[3], DType::F16, d)?),
            dtype_error,
        );
    }
    for &op in UnaryOp::ALL {
        corpus.refuse(
            &format!("{} of i32 on {d}", op.name()),
            || run(Ok(indices(&[1, -2], &[2], d).unary(op))),
            dtype_error,
        );
    }
    for op in [BinaryOp::Add, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Pow] {
        corpus.refuse(
            &format!("{} of two i32 tensors on {d}", op.name()),
            || indices(&[1], &[1], d).binary(op, &indices(&[2], &[1], d)),
            dtype_error,
        );
    }
    let cond = zeros(&[2, 3], d);
    for (a, b) in [
        (&[2, 3][..], &[3, 2][..]),
        (&[4, 3], &[2, 3]),
        (&[2, 3], &[5]),
    ] {
        corpus.refuse(
            &format!("where of [2, 3] over {a:?} and {b:?} on {d}"),
            || cond.where_cond(&zeros(a, d), &zeros(b, d)),
            shape_error,
        );
    }
    corpus.refuse(
        &format!("where of f32 and i32 on {d}"),
        || cond.where_cond(&cond, &indices(&[0; 6], &[2, 3], d)),
        dtype_error,
    );
    for (lo, hi) in [(1.0, -1.0), (f64::NAN, 1.0), (0.0, f64::NAN)] {
        corpus.refuse(
            &format!("clamp to [{lo}, {hi}] on {d}"),
            || cond.clamp(lo, hi),
            invalid,
        );
    }
    corpus.refuse(
        &format!("masked_fill with a [3, 2] mask of [2, 3] on {d}"),
        || cond.masked_fill(&zeros(&[3, 2], d), 0.0),
        shape_error,
    );
}

fn reductions(corpus: &mut Corpus, d: &Device) {
    let x = zeros(&[2, 3], d);
    let ops = [
        ReduceOp::Sum,
        ReduceOp::Mean,
        ReduceOp::Max,
        ReduceOp::Min,
        ReduceOp::Prod,
    ];
    for op in ops {
        for axes in [&[2][..], &[-3], &[9], &[0, 0], &[1, -1], &[isize::MIN]] {
            corpus.refuse(
                &format!("{} over axes {axes:?} of [2, 3] on {d}", op.name()),
                || x.reduce(op, axes, false),
                axis_error,
            );
        }
    }
    for axis in [2, -3, isize::MAX] {
        corpus.refuse(
            &format!("argmax along {axis} on {d}"),
            || x.argmax(Some(axis), false),
            axis_error,
        );
        corpus.refuse(
            &format!("argmin along {axis} on {d}"),
            || x.argmin(Some(axis), true),
            axis_error,
        );
        corpus.refuse(
            &format!("softmax along {axis} on {d}"),
            || x.softmax(axis),
            axis_error,
        );
        corpus.refuse(
            &format!("log_softmax along {axis} on {d}"),
            || x.log_softmax(axis),
            axis_error,
        );
        corpus.refuse(
            &format!("logsumexp along {axis} on {d}"),
            || x.logsumexp(axis, false),
            axis_error,
        );
    }
    let empty = zeros(&[0, 3], d);
    for (what, result) in [
        ("max", empty.max(&[0], false)),
        ("min", empty.min(&[0], false)),
        ("argmax", empty.argmax(Some(0), false)),
        ("argmin", empty.argmin(None, false)),
        ("max over all", zeros(&[2, 0], d).max(&[], true)),
    ] {
        corpus.refuse(
            &format!("{what} of an empty axis on {d}"),
            || result,
            invalid,
        );
    }
    corpus.refuse(
        &format!("layer_norm of a scalar on {d}"),
        || zeros(&[], d).layer_norm(1e-5),
        shape_or_invalid,
    );
    for eps in [-1.0, f64::NAN, f64::INFINITY] {
        corpus.refuse(
            &format!("layer_norm with eps {eps} on {d}"),
            || x.layer_norm(eps),
            invalid,
        );
    }
}

fn movement(corpus: &mut Corpus, d: &Device) {
    let x = zeros(&[2, 3, 4], d);
    for (a, b) in [(0, 3), (-4, 1), (7, 0)] {
        corpus.refuse(
            &format!("transpose({a}, {b}) on {d}"),
            || x.transpose(a, b),
            axis_error,
        );
    }
    for axes in [&[0, 1][..], &[0, 1, 1], &[0, 1, 3], &[0, 1, 2, 3], &[]] {
        corpus.refuse(
            &format!("permute {axes:?} on {d}"),
            || x.permute(axes),
            axis_error,
        );
    }
    for (axis, start, end, step) in [(3, 0, 1, 1), (-4, 0, 1, 1), (0, 0, 1, 0), (1, 0, 3, 0)] {
        corpus.refuse(
            &format!("slice({axis}, {start}, {end}, {step}) on {d}"),
            || x.slice(axis, start, end, step),
            axis_error,
        );
    }
    for axis in [0, 3, -4] {
        corpus.refuse(
            &format!("squeeze({axis}) of [2, 3, 4] on {d}"),
            || x.squeeze(axis),
            axis_error,
        );
    }
    for axis in [4, -5, isize::MAX] {
        corpus.refuse(
            &format!("unsqueeze({axis}) on {d}"),
            || x.unsqueeze(axis),
            axis_error,
        );
    }
    for shape in [
        &[25][..],
        &[5, -1],
        &[-1, -1, 2],
        &[0, -1],
        &[-7, 24],
        &[isize::MAX, 2],
    ] {
        corpus.refuse(
            &format!("reshape of 24 elements to {shape:?} on {d}"),
            || x.reshape(shape),
            |e| {
                matches!(
                    e,
                    Error::ReshapeNumel { .. } | Error::InvalidArgument { .. }
                )
            },
        );
    }
    for shape in [&[2, 4, 4][..], &[3], &[2, 3, 4, 0], &[1, 3, 4]] {
        corpus.refuse(
            &format!("broadcast of [2, 3, 4] to {shape:?} on {d}"),
            || x.broadcast_to(shape),
            shape_error,
        );
    }
    let y = zeros(&[2, 5, 4], d);
    corpus.refuse(
        &format!("concat of nothing on {d}"),
        || Tensor::concat(&[], 0),
        invalid,
    );
    corpus.refuse(
        &format!("stack of nothing on {d}"),
        || Tensor::stack(&[], 0),
        invalid,
    );
    for axis in [0, 2] {
        corpus.refuse(
            &format!("concat of [2,3,4] and [2,5,4] along {axis} on {d}"),
            || Tensor::concat(&[&x, &y], axis),
            shape_error,
        );
    }
    for axis in [3, -4] {
        corpus.refuse(
            &format!("concat along {axis} on {d}"),
            || Tensor::concat(&[&x, &x], axis),
            axis_error,
        );
        corpus.refuse(
            &format!("stack along {axis} + 1 on {d}"),
            || Tensor::stack(&[&x, &x], axis + axis.signum()),
            axis_error,
        );
    }
    corpus.refuse(
        &format!("stack of two shapes on {d}"),
        || Tensor::stack(&[&x, &y], 0),
        shape_error,
    );
    corpus.refuse(
        &format!("concat of f32 and i32 on {d}"),
        || Tensor::concat(&[&zeros(&[1], d), &indices(&[1], &[1], d)], 0),
        dtype_error,
    );
    corpus.refuse(
        &format!("pad with too many axes on {d}"),
        || x.pad(&[(0, 0); 4], 0.0),
        invalid,
    );
    corpus.refuse(
        &format!("pad to a size past usize on {d}"),
        || x.pad(&[(usize::MAX, 1), (0, 0), (0, 0)], 0.0),
        invalid,
    );
    for k in [0, 1] {
        corpus.refuse(
            &format!("tril({k}) of a vector on {d}"),
            || zeros(&[3], d).tril(k),
            shape_or_invalid,
        );
        corpus.refuse(
            &format!("triu({k}) of a scalar on {d}"),
            || zeros(&[], d).triu(k),
            shape_or_invalid,
        );
    }
}

fn products(corpus: &mut Corpus, d: &Device) {
    for (a, b) in [
        (&[2, 3][..], &[4, 5][..]),
        (&[3][..], &[4]),
        (&[2, 3], &[2]),
        (&[], &[3]),
        (&[3], &[]),
        (&[2, 2, 3], &[3, 3, 4]),
        (&[5, 0], &[1, 5]),
    ] {
        corpus.refuse(
            &format!("matmul of {a:?} and {b:?} on {d}"),
            || zeros(a, d).matmul(&zeros(b, d)),
            shape_error,
        );
    }
    corpus.refuse(
        &format!("matmul of i32 on {d}"),
        || indices(&[1, 2, 3, 4], &[2, 2], d).matmul(&indices(&[1, 2, 3, 4], &[2, 2], d)),
        dtype_error,
    );
    let image = zeros(&[1, 3, 8, 8], d);
    let spec = Conv2dSpec::default();
    for (what, w, s) in [
        ("channels that differ", &[4, 2, 3, 3][..], spec),
        ("a rank-3 weight", &[4, 3, 3], spec),
        ("a kernel larger than the padded image", &[4, 3, 9, 9], spec),
        (
            "groups of 0",
            &[4, 3, 3, 3],
            Conv2dSpec { groups: 0, ..spec },
        ),
        (
            "groups that do not divide the channels",
            &[4, 1, 3, 3],
            Conv2dSpec { groups: 2, ..spec },
        ),
        (
            "a stride of 0",
            &[4, 3, 3, 3],
            Conv2dSpec {
                stride: (0, 1),
                ..spec
            },
        ),
        (
            "a dilation of 0",
            &[4, 3, 3, 3],
            Conv2dSpec {
                dilation: (1, 0),
                ..spec
            },
        ),
        (
            "a dilation past the image",
            &[4, 3, 3, 3],
            Conv2dSpec {
                dilation: (5, 5),
                ..spec
            },
        ),
    ] {
        corpus.refuse(
            &format!("conv2d with {what} on {d}"),
            || image.conv2d(&zeros(w, d), None, &s),
            |e| shape_error(e) || invalid(e),
        );
    }
    corpus.refuse(
        &format!("conv2d with a bias of the wrong length on {d}"),
        || image.conv2d(&zeros(&[4, 3, 3, 3], d), Some(&zeros(&[5], d)), &spec),
        |e| shape_error(e) || matches!(e, Error::ReshapeNumel { .. }),
    );
    corpus.refuse(
        &format!("conv1d of a 4-D input on {d}"),
        || image.conv1d(&zeros(&[4, 3, 3], d), None, &spec),
        shape_error,
    );
    for (what, k, s) in [
        ("a 0×2 kernel", (0, 2), spec),
        ("a kernel past the image", (9, 9), spec),
        (
            "a stride of 0",
            (2, 2),
            Conv2dSpec {
                stride: (2, 0),
                ..spec
            },
        ),
        (
            "padding over half the kernel",
            (2, 2),
            Conv2dSpec {
                padding: (2, 2),
                ..spec
            },
        ),
    ] {
        corpus.refuse(
            &format!("max_pool2d with {what} on {d}"),
            || image.max_pool2d(k, &s),
            |e| shape_error(e) || invalid(e),
        );
        corpus.refuse(
            &format!("avg_pool2d with {what} on {d}"),
            || image.avg_pool2d(k, &s),
            |e| shape_error(e) || invalid(e),
        );
    }
    corpus.refuse(
        &format!("max_pool2d of a matrix on {d}"),
        || zeros(&[8, 8], d).max_pool2d((2, 2), &spec),
        shape_or_invalid,
    );
    corpus.refuse(
        &format!("adaptive pooling of a matrix on {d}"),
        || zeros(&[8, 8], d).adaptive_avg_pool2d_1x1(),
        shape_or_invalid,
    );
}

#[test]
fn bad_op_calls_end_in_typed_errors_without_a_panic() {
    let mut corpus = Corpus::default();
    for d in common::devices() {
        elementwise(&mut corpus, &d);
        reductions(&mut corpus, &d);
        movement(&mut corpus, &d);
        products(&mut corpus, &d);
    }
    corpus.finish("bad op calls");
}
