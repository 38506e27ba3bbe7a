//! The fused attention kernels (an online softmax over the keys; the score matrix never
//! written) against the composed form they replace, on every device: the output and the
//! gradients of q, k and v for head sizes 1, 7, 64 and 128 and sequence lengths 1, 63,
//! 64, 65 and 1000, causal, with key padding, both and neither; the fused gradients against
//! central differences in f64. (tests/kernel_count.rs counts the kernels.)

mod common;

use common::*;
use lepton::nn::{composed_attention, fused_attention, scaled_dot_product_attention, Parameter};
use lepton::{DType, Device, Tensor};

/// q, k, v [batch, heads, t, d] with values in [−1, 1], as gradient leaves.
fn problem(
    (batch, heads, t, d): (usize, usize, usize, usize),
    seed: u64,
    device: &Device,
) -> [Tensor; 3] {
    std::array::from_fn(|i| {
        let x = tensor(
            &data(batch * heads * t * d, seed + i as u64, -1.0, 1.0),
            &[batch, heads, t, d],
            DType::F32,
            device,
        );
        x.set_requires_grad(true);
        x
    })
}

/// An additive key-padding mask [batch, 1, 1, t]: the last batch row hides its last third
/// of keys (key 0 stays visible, so no query row is hidden entirely, causal or not).
fn padding(batch: usize, t: usize, device: &Device) -> Tensor {
    let values: Vec<f64> = (0..batch * t)
        .map(|i| {
            let (b, j) = (i / t, i % t);
            if b == batch - 1 && j > 0 && j >= t - t / 3 {
                f64::NEG_INFINITY
            } else {
                0.0
            }
        })
        .collect();
    tensor(&values, &[batch, 1, 1, t], DType::F32, device)
}

/// The output and the gradients of q, k and v of L = Σ w ⊙ attention(q, k, v).
fn run(
    attention: &dyn Fn(&Tensor, &Tensor, &Tensor) -> lepton::Result<Tensor>,
    [q, k, v]: &[Tensor; 3],
) -> Vec<Vec<f64>> {
    let out = attention(q, k, v).unwrap();
    let w = tensor(
        &data(out.numel(), 7, 0.5, 1.5),
        out.shape(),
        DType::F32,
        out.device(),
    );
    let loss = out.mul(&w).unwrap().sum(&[], false).unwrap();
    let grads = lepton::grad(&loss, &[q, k, v]).unwrap();
    std::iter::once(values(&out))
        .chain(grads.iter().map(values))
        .collect()
}

/// The fused kernels against the composed form at one size, every mask combination (the
/// longest sequences only causal-and-padded and neither, to keep the run short).
fn compare(device: &Device, d: usize, t: usize) {
    let (batch, heads) = if t > 100 { (2, 1) } else { (2, 3) };
    let qkv = problem((batch, heads, t, d), (d * 1000 + t) as u64, device);
    let mask = padding(batch, t, device);
    let combinations: &[(bool, bool)] = if t > 100 {
        &[(false, false), (true, true)]
    } else {
        &[(false, false), (true, false), (false, true), (true, true)]
    };
    for &(causal, padded) in combinations {
        let m = padded.then_some(&mask);
        let fused = run(&|q, k, v| fused_attention(q, k, v, m, causal), &qkv);
        let composed = run(&|q, k, v| composed_attention(q, k, v, m, causal), &qkv);
        for (part, (got, want)) in ["output", "dq", "dk", "dv"]
            .iter()
            .zip(fused.iter().zip(&composed))
        {
            // Both sides are f32 sums of the same terms in different orders: at most t
            // weighted values (weights summing to 1, values ≤ 1) or d products of values ≤ 1,
            // so each side is within about √t·u_f32 of the exact sum on random data, the
            // gradients through √d-scaled scores a few times that.
            let what =
                format!("{part}, d {d}, t {t}, causal {causal}, padded {padded} on {device}");
            assert_close(got, want, 2e-5, 2e-4, &what);
        }
    }
}

on_every_device! {
    fn the_fused_kernels_match_the_composed_form(device) {
        for d in [1, 7, 64, 128] {
            for t in [1, 63, 64, 65, 1000] {
                compare(&device, d, t);
            }
        }
    }
}

on_every_device! {
    fn unequal_lengths_and_head_sizes_match_the_composed_form(device) {
        // Cross-attention: 5 queries over 11 keys, values of another width, three batch
        // axes, an additive mask of the scores' trailing shape, causal (the top-left
        // triangle when Tq ≠ Tk).
        let make = |shape: &[usize], seed: u64| {
            let x = tensor(&data(shape.iter().product(), seed, -1.0, 1.0), shape, DType::F32, &device);
            x.set_requires_grad(true);
            x
        };
        let qkv = [make(&[2, 1, 3, 5, 7], 1), make(&[2, 1, 3, 11, 7], 2), make(&[2, 1, 3, 11, 3], 3)];
        let mask = tensor(&data(5 * 11, 4, -2.0, 2.0), &[5, 11], DType::F32, &device);
        for causal in [false, true] {
            let fused = run(&|q, k, v| fused_attention(q, k, v, Some(&mask), causal), &qkv);
            let composed = run(&|q, k, v| composed_attention(q, k, v, Some(&mask), causal), &qkv);
            for (part, (got, want)) in ["output", "dq", "dk", "dv"].iter().zip(fused.iter().zip(&composed)) {
                assert_close(got, want, 2e-6, 2e-5, &format!("{part}, causal {causal} on {device}"));
            }
        }
    }
}

/// Central differences of L = Σ w ⊙ attention(q, k, v) over every element of q, k and v, in
/// f64 on the CPU path, causal with an additive mask and padding, prime sizes.
#[test]
fn fused_gradients_match_central_differences() {
    let device = Device::cpu();
    let (tq, tk, d, dv) = (3usize, 5usize, 3usize, 2usize);
    let make = |shape: &[usize], seed: u64| {
        tensor(
            &data(shape.iter().product(), seed, -1.0, 1.0),
            shape,
            DType::F64,
            &device,
        )
    };
    let (q, k, v) = (
        make(&[2, tq, d], 10),
        make(&[2, tk, d], 11),
        make(&[2, tk, dv], 12),
    );
    let mut mask = data(2 * tq * tk, 13, -1.0, 1.0);
    mask[tq * tk + tk - 1] = f64::NEG_INFINITY;
    let mask = tensor(&mask, &[2, tq, tk], DType::F64, &device);
    let params = [("k", &k), ("v", &v)].map(|(n, t)| (n.to_string(), Parameter::new(t.clone())));
    let forward = |q: &Tensor| {
        let (k, v) = (params[0].1.get(), params[1].1.get());
        fused_attention(q, &k, &v, Some(&mask), true)
    };
    gradcheck_module(
        "fused attention",
        &forward,
        (&values(&q), &[2, tq, d]),
        &params,
    );
}

#[test]
fn what_the_fused_kernels_cannot_take_is_an_error() {
    let device = Device::cpu();
    let t = |shape: &[usize]| {
        tensor(
            &data(shape.iter().product(), 30, -1.0, 1.0),
            shape,
            DType::F32,
            &device,
        )
    };
    // A head wider than 256, batch axes that differ, no keys, keys and values of unequal
    // lengths.
    for (q, k, v) in [
        (t(&[2, 300]), t(&[3, 300]), t(&[3, 4])),
        (t(&[2, 2, 4]), t(&[3, 2, 4]), t(&[3, 2, 4])),
        (t(&[2, 4]), t(&[0, 4]), t(&[0, 4])),
        (t(&[2, 4]), t(&[3, 4]), t(&[5, 4])),
    ] {
        let got = fused_attention(&q, &k, &v, None, false);
        assert!(
            matches!(got, Err(lepton::Error::InvalidArgument { .. })),
            "{:?}",
            q.shape()
        );
    }
    // The composed form still takes the wide head.
    assert!(
        scaled_dot_product_attention(&t(&[2, 300]), &t(&[3, 300]), &t(&[3, 4]), None, false)
            .is_ok()
    );
}
