//! Scaled dot-product attention and MultiheadAttention against an independent f64 reference
//! (plain loops over the layer's own weights) on every device, with additive, causal and
//! key-padding masks and cross-attention of unequal lengths; gradients against central
//! differences on the CPU path in f64.

mod common;

use common::*;
use lepton::nn::{
    scaled_dot_product_attention, Module, MultiheadAttention, TransformerBlock, TransformerConfig,
};
use lepton::{DType, Device, Tensor};

/// softmax(q·kᵀ/√d + mask)·v for one [tq, d] × [tk, d] × [tk, dv] problem; `hidden(i, j)`
/// hides key j from query i.
fn reference(
    q: &[f64],
    k: &[f64],
    v: &[f64],
    (tq, tk, d, dv): (usize, usize, usize, usize),
    mask: impl Fn(usize, usize) -> f64,
) -> Vec<f64> {
    let mut out = vec![0.0; tq * dv];
    for i in 0..tq {
        let scores: Vec<f64> = (0..tk)
            .map(|j| {
                (0..d).map(|c| q[i * d + c] * k[j * d + c]).sum::<f64>() / (d as f64).sqrt()
                    + mask(i, j)
            })
            .collect();
        let m = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = scores.iter().map(|s| (s - m).exp()).collect();
        let total: f64 = e.iter().sum();
        for j in 0..tk {
            for c in 0..dv {
                out[i * dv + c] += e[j] / total * v[j * dv + c];
            }
        }
    }
    out
}

on_every_device! {
    fn scaled_dot_product_attention_matches_the_reference(device) {
        let (batch, tq, tk, d, dv) = (2usize, 5usize, 9usize, 7usize, 3usize);
        let q = rounded(&data(batch * tq * d, 80, -1.0, 1.0), DType::F32);
        let k = rounded(&data(batch * tk * d, 81, -1.0, 1.0), DType::F32);
        let v = rounded(&data(batch * tk * dv, 82, -1.0, 1.0), DType::F32);
        let m = rounded(&data(tq * tk, 83, -2.0, 2.0), DType::F32);
        let t = |x: &[f64], shape: &[usize]| tensor(x, shape, DType::F32, &device);
        let (qt, kt, vt) = (t(&q, &[batch, tq, d]), t(&k, &[batch, tk, d]), t(&v, &[batch, tk, dv]));
        let mask = t(&m, &[tq, tk]);
        for (with_mask, causal) in [(false, false), (true, false), (false, true), (true, true)] {
            let got = scaled_dot_product_attention(&qt, &kt, &vt, with_mask.then_some(&mask), causal).unwrap();
            let mut want = Vec::new();
            for b in 0..batch {
                want.extend(reference(
                    &q[b * tq * d..][..tq * d],
                    &k[b * tk * d..][..tk * d],
                    &v[b * tk * dv..][..tk * dv],
                    (tq, tk, d, dv),
                    |i, j| {
                        let added = if with_mask { m[i * tk + j] } else { 0.0 };
                        if causal && j > i { f64::NEG_INFINITY } else { added }
                    },
                ));
            }
            // A product over 7 terms, a softmax over 9 and a product over 9, in f32.
            assert_close(&values(&got), &want, 1e-6, 1e-5, &format!("mask {with_mask}, causal {causal} on {device}"));
        }
    }
}

/// The layer's output for x (B, T, E) attending over y (B, S, E), from its parameters.
fn layer_reference(
    layer: &MultiheadAttention,
    heads: usize,
    (x, y): (&[f64], &[f64]),
    (batch, t, s, e): (usize, usize, usize, usize),
    hidden: impl Fn(usize, usize, usize) -> bool,
) -> Vec<f64> {
    let params = layer.parameters();
    let get = |name: &str| values(&params.iter().find(|(n, _)| n == name).unwrap().1.get());
    let (w, b, wo, bo) = (
        get("in_proj_weight"),
        get("in_proj_bias"),
        get("out_proj.weight"),
        get("out_proj.bias"),
    );
    // rows of `src` [n, e] through block `k` of the input projection: [n, e]
    let project = |src: &[f64], n: usize, k: usize| -> Vec<f64> {
        (0..n * e)
            .map(|p| {
                let (r, o) = (p / e, p % e);
                b[k * e + o]
                    + (0..e)
                        .map(|c| src[r * e + c] * w[(k * e + o) * e + c])
                        .sum::<f64>()
            })
            .collect()
    };
    let d = e / heads;
    let mut out = Vec::new();
    for bi in 0..batch {
        let q = project(&x[bi * t * e..][..t * e], t, 0);
        let k = project(&y[bi * s * e..][..s * e], s, 1);
        let v = project(&y[bi * s * e..][..s * e], s, 2);
        let mut joined = vec![0.0; t * e];
        for h in 0..heads {
            let pick = |m: &[f64], n: usize| -> Vec<f64> {
                (0..n * d).map(|p| m[(p / d) * e + h * d + p % d]).collect()
            };
            let o = reference(
                &pick(&q, t),
                &pick(&k, s),
                &pick(&v, s),
                (t, s, d, d),
                |i, j| {
                    if hidden(bi, i, j) {
                        f64::NEG_INFINITY
                    } else {
                        0.0
                    }
                },
            );
            for i in 0..t {
                for c in 0..d {
                    joined[i * e + h * d + c] = o[i * d + c];
                }
            }
        }
        for i in 0..t {
            for o in 0..e {
                out.push(
                    bo[o]
                        + (0..e)
                            .map(|c| joined[i * e + c] * wo[o * e + c])
                            .sum::<f64>(),
                );
            }
        }
    }
    out
}

on_every_device! {
    fn multihead_attention_matches_the_reference(device) {
        let (batch, t, s, e, heads) = (2usize, 4usize, 5usize, 6usize, 2usize);
        let layer = MultiheadAttention::new(e, heads, 0.0, 3, DType::F32, &device).unwrap();
        let x = rounded(&data(batch * t * e, 90, -1.0, 1.0), DType::F32);
        let y = rounded(&data(batch * s * e, 91, -1.0, 1.0), DType::F32);
        let xt = tensor(&x, &[batch, t, e], DType::F32, &device);
        let yt = tensor(&y, &[batch, s, e], DType::F32, &device);
        // Cross-attention; batch 1 ignores its last two keys.
        let padding = tensor(&[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0], &[batch, s], DType::F32, &device);
        let got = layer.attend(&xt, &yt, &yt, Some(&padding), None, false).unwrap();
        let want = layer_reference(&layer, heads, (&x, &y), (batch, t, s, e), |b, _, j| b == 1 && j >= 3);
        assert_close(&values(&got), &want, 2e-6, 2e-5, &format!("cross-attention on {device}"));
        // Causal self-attention.
        let got = layer.attend(&xt, &xt, &xt, None, None, true).unwrap();
        let want = layer_reference(&layer, heads, (&x, &x), (batch, t, t, e), |_, i, j| j > i);
        assert_close(&values(&got), &want, 2e-6, 2e-5, &format!("causal self-attention on {device}"));
    }
}

#[test]
fn parameters_have_pytorchs_names_and_shapes() {
    let layer = MultiheadAttention::new(8, 4, 0.0, 1, DType::F32, &Device::cpu()).unwrap();
    let got: Vec<(String, Vec<usize>)> = layer
        .parameters()
        .into_iter()
        .map(|(n, p)| (n, p.shape()))
        .collect();
    let want: Vec<(String, Vec<usize>)> = vec![
        ("in_proj_weight".into(), vec![24, 8]),
        ("in_proj_bias".into(), vec![24]),
        ("out_proj.weight".into(), vec![8, 8]),
        ("out_proj.bias".into(), vec![8]),
    ];
    assert_eq!(got, want);
    assert!(MultiheadAttention::new(6, 4, 0.0, 1, DType::F32, &Device::cpu()).is_err());
}

/// Central differences of L = Σ w ⊙ attention(x) over every input and parameter element, in
/// f64, causal with key padding.
#[test]
fn gradients_match_central_differences() {
    let device = Device::cpu();
    let (batch, t, e) = (2usize, 3usize, 4usize);
    let layer = MultiheadAttention::new(e, 2, 0.0, 7, DType::F64, &device).unwrap();
    // PyTorch starts the biases at zero; nonzero ones exercise their gradients.
    for (name, p) in layer.parameters() {
        if name.ends_with("bias") {
            p.set(tensor(
                &data(p.get().numel(), 92, -0.5, 0.5),
                &p.shape(),
                DType::F64,
                &device,
            ));
        }
    }
    let padding = tensor(
        &[0.0, 0.0, 0.0, 0.0, 0.0, 1.0],
        &[batch, t],
        DType::F64,
        &device,
    );
    let forward = |x: &Tensor| layer.attend(x, x, x, Some(&padding), None, true);
    let x_values = data(batch * t * e, 94, -1.0, 1.0);
    gradcheck_module(
        "attention",
        &forward,
        (&x_values, &[batch, t, e]),
        &layer.parameters(),
    );
}

fn block(causal: bool, dtype: DType, device: &Device) -> TransformerBlock {
    let config = TransformerConfig {
        embed_dim: 8,
        num_heads: 2,
        feedforward: 12,
        dropout: 0.0,
        causal,
    };
    TransformerBlock::new(config, 11, dtype, device).unwrap()
}

on_every_device! {
    fn a_causal_block_never_reads_later_positions(device) {
        let layer = block(true, DType::F32, &device);
        let x = data(2 * 6 * 8, 95, -1.0, 1.0);
        let mut later = x.clone();
        // Change every position from 3 on.
        for b in 0..2 {
            for v in &mut later[(b * 6 + 3) * 8..(b + 1) * 6 * 8] {
                *v += 0.5;
            }
        }
        let run = |v: &[f64]| values(&layer.forward(&tensor(v, &[2, 6, 8], DType::F32, &device)).unwrap());
        let (a, b) = (run(&x), run(&later));
        for e in 0..a.len() {
            let position = (e / 8) % 6;
            if position < 3 {
                assert_eq!(a[e], b[e], "position {position} read a later one on {device}");
            } else {
                assert_ne!(a[e], b[e], "position {position} on {device}");
            }
        }
    }
}

#[test]
fn the_block_has_pytorchs_names_and_exact_gradients() {
    let layer = block(true, DType::F64, &Device::cpu());
    let names: Vec<String> = layer.parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "self_attn.in_proj_weight",
            "self_attn.in_proj_bias",
            "self_attn.out_proj.weight",
            "self_attn.out_proj.bias",
            "linear1.weight",
            "linear1.bias",
            "linear2.weight",
            "linear2.bias",
            "norm1.weight",
            "norm1.bias",
            "norm2.weight",
            "norm2.bias",
        ]
    );
    let forward = |x: &Tensor| layer.forward(x);
    let x = data(2 * 3 * 8, 97, -1.0, 1.0);
    gradcheck_module(
        "transformer block",
        &forward,
        (&x, &[2, 3, 8]),
        &layer.parameters(),
    );
}
