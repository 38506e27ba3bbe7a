//! RNN, LSTM and GRU layers against an independent f64 reference written from PyTorch's
//! equations (plain loops over the module's own weights) on every device, with odd sizes,
//! stacked and bidirectional layers, batch-first inputs and initial states (gradients:
//! recurrent_gradients.rs).

mod common;

use common::*;
use lepton::nn::{CellKind, Module, Recurrent, RecurrentConfig, RecurrentState};
use lepton::{DType, Device, Tensor};

const KINDS: [CellKind; 4] = [
    CellKind::RnnTanh,
    CellKind::RnnRelu,
    CellKind::Lstm,
    CellKind::Gru,
];

fn sigmoid(v: f64) -> f64 {
    1.0 / (1.0 + (-v).exp())
}

/// row-major [rows, cols] · v
fn product(m: &[f64], v: &[f64], rows: usize) -> Vec<f64> {
    let cols = v.len();
    (0..rows)
        .map(|r| (0..cols).map(|k| m[r * cols + k] * v[k]).sum())
        .collect()
}

/// One direction's weights as the reference reads them.
struct RefWeights {
    ih: Vec<f64>,
    hh: Vec<f64>,
    b_ih: Vec<f64>,
    b_hh: Vec<f64>,
}

fn weights_of(layer: &Recurrent) -> Vec<RefWeights> {
    let params = layer.parameters();
    let get = |name: String| -> Vec<f64> {
        params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, p)| values(&p.get()))
            .unwrap_or_default()
    };
    let c = layer.config();
    let mut out = Vec::new();
    for l in 0..c.num_layers {
        for d in 0..1 + c.bidirectional as usize {
            let s = format!("l{l}{}", if d == 1 { "_reverse" } else { "" });
            let rows = 4 * c.hidden_size;
            let zero = vec![0.0; rows];
            let b = |v: Vec<f64>| if v.is_empty() { zero.clone() } else { v };
            out.push(RefWeights {
                ih: get(format!("weight_ih_{s}")),
                hh: get(format!("weight_hh_{s}")),
                b_ih: b(get(format!("bias_ih_{s}"))),
                b_hh: b(get(format!("bias_hh_{s}"))),
            });
        }
    }
    out
}

/// One step of `kind` for one batch row: the next (h, c).
fn step(kind: CellKind, w: &RefWeights, x: &[f64], h: &[f64], c: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let n = h.len();
    let gates = match kind {
        CellKind::Lstm => 4,
        CellKind::Gru => 3,
        _ => 1,
    };
    let xi: Vec<f64> = product(&w.ih, x, gates * n)
        .iter()
        .zip(&w.b_ih)
        .map(|(a, b)| a + b)
        .collect();
    let hh: Vec<f64> = product(&w.hh, h, gates * n)
        .iter()
        .zip(&w.b_hh)
        .map(|(a, b)| a + b)
        .collect();
    match kind {
        CellKind::RnnTanh => ((0..n).map(|j| (xi[j] + hh[j]).tanh()).collect(), vec![]),
        CellKind::RnnRelu => ((0..n).map(|j| (xi[j] + hh[j]).max(0.0)).collect(), vec![]),
        CellKind::Lstm => {
            let z = |g: usize, j: usize| xi[g * n + j] + hh[g * n + j];
            let c2: Vec<f64> = (0..n)
                .map(|j| sigmoid(z(1, j)) * c[j] + sigmoid(z(0, j)) * z(2, j).tanh())
                .collect();
            let h2 = (0..n).map(|j| sigmoid(z(3, j)) * c2[j].tanh()).collect();
            (h2, c2)
        }
        CellKind::Gru => {
            let h2 = (0..n)
                .map(|j| {
                    let r = sigmoid(xi[j] + hh[j]);
                    let z = sigmoid(xi[n + j] + hh[n + j]);
                    let cand = (xi[2 * n + j] + r * hh[2 * n + j]).tanh();
                    (1.0 - z) * cand + z * h[j]
                })
                .collect();
            (h2, vec![])
        }
    }
}

/// Values indexed [time or cell][batch][feature].
type Seq = Vec<Vec<Vec<f64>>>;

/// The layer's output [time][batch][directions·hidden] and final h and c
/// [cell][batch][hidden], from time-first input x[time][batch][features].
fn reference(
    layer: &Recurrent,
    x: Seq,
    h0: &[Vec<Vec<f64>>],
    c0: &[Vec<Vec<f64>>],
) -> (Seq, Seq, Seq) {
    let c = layer.config();
    let dirs = 1 + c.bidirectional as usize;
    let weights = weights_of(layer);
    let (steps, batch) = (x.len(), x[0].len());
    let mut input = x;
    let (mut hn, mut cn) = (Vec::new(), Vec::new());
    for l in 0..c.num_layers {
        let mut output = vec![vec![Vec::new(); batch]; steps];
        for d in 0..dirs {
            let cell = l * dirs + d;
            let (mut h, mut cs) = (h0[cell].clone(), c0[cell].clone());
            for k in 0..steps {
                let t = if d == 1 { steps - 1 - k } else { k };
                for b in 0..batch {
                    let (h2, c2) = step(layer.kind(), &weights[cell], &input[t][b], &h[b], &cs[b]);
                    output[t][b].extend(&h2);
                    h[b] = h2;
                    cs[b] = c2;
                }
            }
            hn.push(h);
            cn.push(cs);
        }
        input = output;
    }
    (input, hn, cn)
}

fn nested(v: &[f64], shape: [usize; 3]) -> Seq {
    (0..shape[0])
        .map(|i| {
            (0..shape[1])
                .map(|j| v[(i * shape[1] + j) * shape[2]..][..shape[2]].to_vec())
                .collect()
        })
        .collect()
}

fn flatten(v: &[Vec<Vec<f64>>]) -> Vec<f64> {
    v.iter().flatten().flatten().copied().collect()
}

#[derive(Clone, Copy)]
struct Case {
    layers: usize,
    bidirectional: bool,
    batch_first: bool,
    steps: usize,
    batch: usize,
    inputs: usize,
    hidden: usize,
    with_state: bool,
}

// Hidden sizes 1 and 4 run only the CPU gate passes' partial group; 32 runs two full
// 16-lane groups and no partial one; 19 runs one full group and a partial one of 3.
const CASES: [Case; 4] = [
    Case {
        layers: 1,
        bidirectional: false,
        batch_first: false,
        steps: 1,
        batch: 1,
        inputs: 1,
        hidden: 1,
        with_state: false,
    },
    Case {
        layers: 2,
        bidirectional: true,
        batch_first: true,
        steps: 5,
        batch: 3,
        inputs: 7,
        hidden: 4,
        with_state: true,
    },
    Case {
        layers: 1,
        bidirectional: false,
        batch_first: false,
        steps: 4,
        batch: 2,
        inputs: 3,
        hidden: 32,
        with_state: true,
    },
    Case {
        layers: 1,
        bidirectional: true,
        batch_first: false,
        steps: 3,
        batch: 2,
        inputs: 5,
        hidden: 19,
        with_state: true,
    },
];

fn check(kind: CellKind, device: &Device, dtype: DType, (atol, rtol): (f64, f64)) {
    for (seed, case) in CASES.iter().enumerate() {
        let Case {
            layers,
            bidirectional: bi,
            batch_first,
            steps,
            batch,
            inputs,
            hidden,
            with_state,
        } = *case;
        let config = RecurrentConfig {
            num_layers: layers,
            bidirectional: bi,
            batch_first,
            ..RecurrentConfig::new(inputs, hidden)
        };
        let layer = Recurrent::new(kind, config, 10 + seed as u64, dtype, device).unwrap();
        let cells = layers * (1 + bi as usize);
        let x = rounded(
            &data(steps * batch * inputs, 20 + seed as u64, -1.0, 1.0),
            dtype,
        );
        let states: Vec<Vec<f64>> = (0..2)
            .map(|k| {
                let n = cells * batch * hidden;
                if with_state {
                    rounded(&data(n, 30 + k, -0.5, 0.5), dtype)
                } else {
                    vec![0.0; n]
                }
            })
            .collect();
        let state = with_state.then(|| RecurrentState {
            h: tensor(&states[0], &[cells, batch, hidden], dtype, device),
            c: (kind == CellKind::Lstm)
                .then(|| tensor(&states[1], &[cells, batch, hidden], dtype, device)),
        });
        let time_first = nested(&x, [steps, batch, inputs]);
        let x_shape = if batch_first {
            [batch, steps, inputs]
        } else {
            [steps, batch, inputs]
        };
        let x_values = if batch_first {
            let mut v = Vec::new();
            for b in 0..batch {
                for t in time_first.iter() {
                    v.extend(&t[b]);
                }
            }
            v
        } else {
            x.clone()
        };
        let xt = tensor(&x_values, &x_shape, dtype, device);
        let (out, last) = layer.forward_with_state(&xt, state.as_ref()).unwrap();
        let (want, hn, cn) = reference(
            &layer,
            time_first,
            &nested(&states[0], [cells, batch, hidden]),
            &nested(&states[1], [cells, batch, hidden]),
        );
        let want = if batch_first {
            let mut v = Vec::new();
            for b in 0..batch {
                for t in want.iter() {
                    v.extend(&t[b]);
                }
            }
            v
        } else {
            flatten(&want)
        };
        let what = format!("{kind:?} {layers} layers, bidirectional {bi}, T={steps} B={batch} I={inputs} H={hidden} {dtype} on {device}");
        let dirs = 1 + bi as usize;
        let out_shape = if batch_first {
            [batch, steps, dirs * hidden]
        } else {
            [steps, batch, dirs * hidden]
        };
        assert_eq!(out.shape(), &out_shape[..], "{what}");
        assert_close(
            &values(&out),
            &want,
            atol,
            rtol,
            &format!("output of {what}"),
        );
        assert_close(
            &values(&last.h),
            &flatten(&hn),
            atol,
            rtol,
            &format!("h of {what}"),
        );
        match (kind, &last.c) {
            (CellKind::Lstm, Some(c)) => assert_close(
                &values(c),
                &flatten(&cn),
                atol,
                rtol,
                &format!("c of {what}"),
            ),
            (CellKind::Lstm, None) => panic!("{what}: no cell state"),
            (_, c) => assert!(c.is_none(), "{what}: a cell state"),
        }
    }
}

on_every_device! {
    fn every_cell_matches_the_reference(device) {
        // Through up to 10 sequential steps of a few f32 roundings each on values of order 1,
        // the GPU's exp and tanh adding some 3e-6 relative.
        for kind in KINDS {
            check(kind, &device, DType::F32, (2e-5, 2e-5));
        }
    }
}

#[test]
fn f64_cpu_path_matches_the_reference_to_rounding() {
    for kind in KINDS {
        check(kind, &Device::cpu(), DType::F64, (1e-13, 1e-13));
    }
}

/// Truncated backpropagation through time: a sequence run in two halves, the state carried
/// and detached, gives the outputs of one run, and the second half's loss sends no gradient
/// into the first half's inputs.
#[test]
fn a_carried_state_continues_the_sequence_and_cuts_the_gradient() {
    let device = Device::cpu();
    for kind in KINDS {
        let config = RecurrentConfig {
            num_layers: 2,
            batch_first: true,
            ..RecurrentConfig::new(3, 4)
        };
        let layer = Recurrent::new(kind, config, 8, DType::F64, &device).unwrap();
        let x = data(2 * 6 * 3, 45, -1.0, 1.0);
        let whole = layer
            .forward(&tensor(&x, &[2, 6, 3], DType::F64, &device))
            .unwrap();
        let halves = tensor(&x, &[2, 6, 3], DType::F64, &device);
        let first = halves.slice(1, 0, 3, 1).unwrap().contiguous();
        let second = halves.slice(1, 3, 6, 1).unwrap().contiguous();
        first.set_requires_grad(true);
        second.set_requires_grad(true);
        let (a, state) = layer.forward_with_state(&first, None).unwrap();
        let (b, _) = layer
            .forward_with_state(&second, Some(&state.detach()))
            .unwrap();
        let g = lepton::grad(&b.sum(&[], false).unwrap(), &[&first, &second]).unwrap();
        assert!(
            values(&g[0]).iter().all(|&v| v == 0.0),
            "{kind:?}: gradient crossed the cut"
        );
        assert!(
            values(&g[1]).iter().any(|&v| v != 0.0),
            "{kind:?}: no gradient in the second half"
        );
        let joined = Tensor::concat(&[&a, &b], 1).unwrap();
        // The same operations; only the input projection's blocking may differ.
        assert_close(
            &values(&joined),
            &values(&whole),
            1e-14,
            1e-13,
            &format!("{kind:?}"),
        );
    }
}

#[test]
fn parameters_have_pytorchs_names_and_shapes() {
    let config = RecurrentConfig {
        num_layers: 2,
        bidirectional: true,
        ..RecurrentConfig::new(3, 5)
    };
    let lstm = Recurrent::new(CellKind::Lstm, config, 1, DType::F32, &Device::cpu()).unwrap();
    let got: Vec<(String, Vec<usize>)> = lstm
        .parameters()
        .into_iter()
        .map(|(n, p)| (n, p.shape()))
        .collect();
    let mut want = Vec::new();
    for l in 0..2 {
        for suffix in ["", "_reverse"] {
            let inputs = if l == 0 { 3 } else { 10 };
            want.push((format!("weight_ih_l{l}{suffix}"), vec![20, inputs]));
            want.push((format!("weight_hh_l{l}{suffix}"), vec![20, 5]));
            want.push((format!("bias_ih_l{l}{suffix}"), vec![20]));
            want.push((format!("bias_hh_l{l}{suffix}"), vec![20]));
        }
    }
    assert_eq!(got, want);
    // PyTorch's initialization: uniform in ±1/√hidden.
    let bound = 1.0 / 5f64.sqrt();
    for (name, p) in lstm.parameters() {
        let v = values(&p.get());
        assert!(v.iter().all(|x| x.abs() <= bound), "{name}");
    }
    let bad = Tensor::zeros(&[2, 4, 4], DType::F32, &Device::cpu()).unwrap();
    assert!(
        lstm.forward(&bad).is_err(),
        "4 input features where 3 are expected"
    );
}
