//! Lowerings of ONNX's window ops on images: Conv (1-D and 2-D), MaxPool, AveragePool, the
//! global pools, and BatchNormalization in inference.

use super::call::{engine, one, Call, Out};
use crate::graph::Tensor;
use crate::ops::conv::geometry::Conv2dSpec;

/// One spatial axis of a window op: size, kernel, stride, dilation and the padding before
/// and after it.
#[derive(Clone, Copy, Debug)]
struct Axis {
    kernel: usize,
    stride: usize,
    dilation: usize,
    before: usize,
    after: usize,
}

/// The spatial axes of input `x` (rank 3 or 4) for a window of `kernel`, from the node's
/// strides, dilations, pads, auto_pad and, for pools, ceil_mode.
fn axes(call: &Call, x: &Tensor, kernel: &[usize]) -> Result<Vec<Axis>, String> {
    if x.rank() < 3 {
        return Err(format!(
            "a window over a rank-{} input: [N, C, ...] is expected",
            x.rank()
        ));
    }
    let spatial = &x.shape()[2..];
    if spatial.len() != kernel.len() || !(1..=2).contains(&kernel.len()) {
        return Err(format!(
            "a {}-D window over a rank-{} input: 1-D and 2-D windows are lowered",
            kernel.len(),
            x.rank()
        ));
    }
    let n = kernel.len();
    let list = |name: &str| -> Result<Vec<usize>, String> {
        match call.ints(name)? {
            Some(v) if v.len() == n || (name == "pads" && v.len() == 2 * n) => v
                .iter()
                .map(|&d| usize::try_from(d).map_err(|_| format!("{name} holds {d}")))
                .collect(),
            Some(v) => Err(format!("{name} {v:?} does not fit {n} spatial axes")),
            None if name == "pads" => Ok(vec![0; 2 * n]),
            None => Ok(vec![1; n]),
        }
    };
    let (strides, dilations, pads) = (list("strides")?, list("dilations")?, list("pads")?);
    let auto_pad = call.string("auto_pad", "NOTSET")?;
    let ceil = call.int("ceil_mode", 0)? != 0;
    (0..n)
        .map(|i| {
            let (size, k, s, d) = (
                spatial[i],
                kernel[i],
                strides[i].max(1),
                dilations[i].max(1),
            );
            if size == 0 || k == 0 {
                return Err(format!("a window of {k} over {size} elements"));
            }
            let reach = (k - 1) * d + 1;
            let (before, mut after) = match auto_pad.as_str() {
                "NOTSET" => (pads[i], pads[n + i]),
                "VALID" => (0, 0),
                "SAME_UPPER" | "SAME_LOWER" => {
                    let out = size.div_ceil(s);
                    let total = ((out - 1) * s + reach).saturating_sub(size);
                    match auto_pad.as_str() {
                        "SAME_UPPER" => (total / 2, total - total / 2),
                        _ => (total - total / 2, total / 2),
                    }
                }
                other => return Err(format!("auto_pad {other} is not known")),
            };
            let padded = size + before + after;
            if padded < reach {
                return Err(format!("a window of {reach} over {padded} elements"));
            }
            if ceil {
                // One more window where the last would start inside the input or its
                // leading padding, as PyTorch and ONNX's reference count them.
                let mut out = (padded - reach).div_ceil(s) + 1;
                if (out - 1) * s >= size + before {
                    out -= 1;
                }
                after += ((out - 1) * s + reach).saturating_sub(padded);
            }
            Ok(Axis {
                kernel: k,
                stride: s,
                dilation: d,
                before,
                after,
            })
        })
        .collect()
}

/// `x` padded explicitly with `value` where an axis's padding is uneven (the engine's
/// windows pad evenly) or, for a pool, wider than half its window (the engine keeps
/// PyTorch's limit there), and the spec of the padding left; 1-D as 2-D with height 1.
fn prepare(
    x: &Tensor,
    axes: &[Axis],
    value: f64,
    pool: bool,
) -> Result<(Tensor, Conv2dSpec, (usize, usize)), String> {
    let mut axes = axes.to_vec();
    let mut x = x.clone();
    if axes.len() == 1 {
        x = engine(x.unsqueeze(2))?;
        axes.insert(
            0,
            Axis {
                kernel: 1,
                stride: 1,
                dilation: 1,
                before: 0,
                after: 0,
            },
        );
    }
    let uneven = axes
        .iter()
        .any(|a| a.before != a.after || (pool && 2 * a.before > a.kernel));
    if uneven {
        let mut pads = vec![(0, 0); 2];
        pads.extend(axes.iter().map(|a| (a.before, a.after)));
        x = engine(x.pad(&pads, value))?;
    }
    let padding = |a: &Axis| if uneven { 0 } else { a.before };
    let spec = Conv2dSpec {
        stride: (axes[0].stride, axes[1].stride),
        padding: (padding(&axes[0]), padding(&axes[1])),
        dilation: (axes[0].dilation, axes[1].dilation),
        groups: 1,
    };
    Ok((x, spec, (axes[0].kernel, axes[1].kernel)))
}

/// Back to 1-D where the input was.
fn finish(y: Tensor, rank: usize) -> Out {
    match rank {
        3 => one(y.squeeze(2)),
        _ => Ok(vec![y]),
    }
}

pub(super) fn conv(call: &Call) -> Out {
    let (x, w, b) = (call.input(0)?, call.input(1)?, call.optional(2)?);
    let kernel: Vec<usize> = w.shape().get(2..).unwrap_or(&[]).to_vec();
    let axes = axes(call, &x, &kernel)?;
    let (x2, mut spec, _) = prepare(&x, &axes, 0.0, false)?;
    spec.groups = usize::try_from(call.int("group", 1)?).map_err(|_| "a negative group")?;
    let w2 = match kernel.len() {
        1 => engine(w.unsqueeze(2))?,
        _ => w.clone(),
    };
    finish(engine(x2.conv2d(&w2, b.as_ref(), &spec))?, x.rank())
}

fn pool_kernel(call: &Call) -> Result<Vec<usize>, String> {
    call.ints("kernel_shape")?
        .ok_or("no kernel_shape")?
        .iter()
        .map(|&k| usize::try_from(k).map_err(|_| format!("kernel size {k}")))
        .collect()
}

pub(super) fn max_pool(call: &Call) -> Out {
    let x = call.input(0)?;
    if call.node.outputs.iter().skip(1).any(|o| !o.is_empty()) {
        return Err("MaxPool's Indices output is not computed".into());
    }
    let axes = axes(call, &x, &pool_kernel(call)?)?;
    let (x2, spec, kernel) = prepare(&x, &axes, f64::NEG_INFINITY, true)?;
    finish(engine(x2.max_pool2d(kernel, &spec))?, x.rank())
}

/// The mean over each window; padding counted (count_include_pad) or not (the default),
/// the latter as the window's sum over the count of input elements in it.
pub(super) fn average_pool(call: &Call) -> Out {
    let x = call.input(0)?;
    let axes = axes(call, &x, &pool_kernel(call)?)?;
    let (x2, spec, kernel) = prepare(&x, &axes, 0.0, true)?;
    let mean = engine(x2.avg_pool2d(kernel, &spec))?;
    let padded = axes.iter().any(|a| a.before + a.after > 0);
    if call.int("count_include_pad", 0)? != 0 || !padded {
        return finish(mean, x.rank());
    }
    let mut shape = vec![1, 1];
    shape.extend_from_slice(&x.shape()[2..]);
    let ones = engine(Tensor::ones(&shape, x.dtype(), x.device()))?;
    let (ones2, _, _) = prepare(&ones, &axes, 0.0, true)?;
    let share = engine(ones2.avg_pool2d(kernel, &spec))?;
    finish(engine(mean.div(&share))?, x.rank())
}

/// Mean or max over every spatial axis, kept as size 1.
pub(super) fn global_pool(call: &Call, max: bool) -> Out {
    let x = call.input(0)?;
    let spatial: Vec<isize> = (2..x.rank() as isize).collect();
    match max {
        true => one(x.max(&spatial, true)),
        false => one(x.mean(&spatial, true)),
    }
}

/// Inference: (x − mean) / sqrt(var + epsilon) · scale + B, per channel (axis 1).
pub(super) fn batch_norm(call: &Call) -> Out {
    if call.int("training_mode", 0)? != 0 {
        return Err("training_mode = 1 is not lowered (inference only)".into());
    }
    let x = call.input(0)?;
    let eps = f64::from(call.float("epsilon", 1e-5)?);
    let mut per_channel = vec![-1isize];
    per_channel.extend(std::iter::repeat_n(1, x.rank().saturating_sub(2)));
    let channel = |i: usize| engine(call.input(i)?.reshape(&per_channel));
    let (scale, bias, mean, var) = (channel(1)?, channel(2)?, channel(3)?, channel(4)?);
    one((|| {
        let inv = var.add_scalar(eps)?.unary(crate::ops::UnaryOp::Rsqrt);
        x.sub(&mean)?.mul(&inv.mul(&scale)?)?.add(&bias)
    })())
}
