//! RNN, LSTM and GRU gradients: against central differences on the CPU path in f64, and the
//! f32 paths (the CPU path's fast gate passes and the GPU's backward kernels) against those
//! f64 gradients with the same weights.

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

/// Central differences of L = Σ w ⊙ output over every input and parameter element, in f64
/// (step 1e-6: truncation ~1e-12, rounding ~1e-10·|L|).
#[test]
fn gradients_match_central_differences() {
    let device = Device::cpu();
    for kind in KINDS {
        let config = RecurrentConfig {
            num_layers: 2,
            bidirectional: true,
            ..RecurrentConfig::new(3, 2)
        };
        let layer = Recurrent::new(kind, config, 5, DType::F64, &device).unwrap();
        let x_values = data(3 * 2 * 3, 40, -1.0, 1.0);
        let forward = |x: &Tensor| layer.forward(x);
        gradcheck_module(
            &format!("{kind:?}"),
            &forward,
            (&x_values, &[3, 2, 3]),
            &layer.parameters(),
        );
    }
}

on_every_device! {
    /// The f32 backward paths against the CPU path's f64 gradients (held to central
    /// differences above) with the same weights: two bidirectional layers, so both scan
    /// directions, with a batch of 5 (not a multiple of the GPU kernels' 4 rows), 7 units, 6
    /// timesteps and an initial state; and one layer of 517 units (past one workgroup's units
    /// in both GPU kernels, and 32 full 16-lane chunks of the CPU path's gate passes with a
    /// remainder of 5).
    fn f32_gradients_match_the_f64_cpu_path(device) {
        for kind in KINDS {
            check_gradients(kind, &device, (2, 6, 5, 3, 7));
        }
        for kind in [CellKind::Lstm, CellKind::Gru] {
            check_gradients(kind, &device, (1, 2, 1, 3, 517));
        }
    }
}

fn check_gradients(
    kind: CellKind,
    device: &Device,
    (layers, steps, batch, inputs, hidden): (usize, usize, usize, usize, usize),
) {
    let cpu = Device::cpu();
    let cells = 2 * layers;
    let config = RecurrentConfig {
        num_layers: layers,
        bidirectional: true,
        ..RecurrentConfig::new(inputs, hidden)
    };
    let reference = Recurrent::new(kind, config, 12, DType::F64, &cpu).unwrap();
    let layer = Recurrent::new(kind, config, 12, DType::F32, device).unwrap();
    for ((_, from), (_, to)) in reference.parameters().iter().zip(layer.parameters()) {
        let v = rounded(&values(&from.get()), DType::F32);
        from.set(tensor(&v, &from.shape(), DType::F64, &cpu));
        to.set(tensor(&v, &from.shape(), DType::F32, device));
    }
    let x = rounded(&data(steps * batch * inputs, 50, -1.0, 1.0), DType::F32);
    let h0 = rounded(&data(cells * batch * hidden, 51, -0.5, 0.5), DType::F32);
    let c0 = rounded(&data(cells * batch * hidden, 52, -0.5, 0.5), DType::F32);
    let weights = data(steps * batch * 2 * hidden, 53, -1.0, 1.0);
    let run = |layer: &Recurrent, dtype: DType, device: &Device| {
        let xt = tensor(&x, &[steps, batch, inputs], dtype, device);
        let state = RecurrentState {
            h: tensor(&h0, &[cells, batch, hidden], dtype, device),
            c: (kind == CellKind::Lstm)
                .then(|| tensor(&c0, &[cells, batch, hidden], dtype, device)),
        };
        for t in [&xt, &state.h].into_iter().chain(&state.c) {
            t.set_requires_grad(true);
        }
        let (out, last) = layer.forward_with_state(&xt, Some(&state)).unwrap();
        let w = tensor(&weights, &[steps, batch, 2 * hidden], dtype, device);
        let mut loss = out.mul(&w).unwrap().sum(&[], false).unwrap();
        loss = loss.add(&last.h.sum(&[], false).unwrap()).unwrap();
        if let Some(c) = &last.c {
            loss = loss.add(&c.square().sum(&[], false).unwrap()).unwrap();
        }
        let mut wrt: Vec<Tensor> = vec![xt, state.h];
        wrt.extend(state.c);
        wrt.extend(layer.parameters().iter().map(|(_, p)| p.get()));
        let refs: Vec<&Tensor> = wrt.iter().collect();
        lepton::grad(&loss, &refs)
            .unwrap()
            .iter()
            .map(values)
            .collect::<Vec<_>>()
    };
    let want = run(&reference, DType::F64, &cpu);
    let got = run(&layer, DType::F32, device);
    for (k, (g, w)) in got.iter().zip(&want).enumerate() {
        // Sums of up to 4·517 products per unit and timestep in f32 (each a relative
        // rounding of some 6e-8 per term at worst), on gradients of order 1–10.
        let what = format!("{kind:?} gradient {k}, {layers} layers, H = {hidden} on {device}");
        assert_close(g, w, 5e-5, 5e-5, &what);
    }
}

on_every_device! {
    /// Gradients asked of a layer's output itself, beside its input's: autodiff hands the
    /// scan's rule only the gradient of the trace's state blocks, but a caller asking for a
    /// view of the trace gets the gradient of the values it shows (w for the batch-first
    /// output, plus 1 where the last h's sum reads them too; 1 for the last c), and the
    /// input's gradient is the same either way.
    fn the_output_and_the_last_state_have_their_own_gradients(device) {
        let (steps, batch, hidden) = (4, 3, 5);
        let config = RecurrentConfig {
            batch_first: true,
            ..RecurrentConfig::new(2, hidden)
        };
        let layer = Recurrent::new(CellKind::Lstm, config, 9, DType::F32, &device).unwrap();
        let x_values = data(batch * steps * 2, 60, -1.0, 1.0);
        let x = tensor(&x_values, &[batch, steps, 2], DType::F32, &device);
        x.set_requires_grad(true);
        let (out, last) = layer.forward_with_state(&x, None).unwrap();
        let w_values = data(batch * steps * hidden, 61, -1.0, 1.0);
        let w = tensor(&w_values, &[batch, steps, hidden], DType::F32, &device);
        let c = last.c.unwrap();
        let loss = out
            .mul(&w)
            .and_then(|o| o.sum(&[], false))
            .and_then(|l| l.add(&last.h.sum(&[], false)?))
            .and_then(|l| l.add(&c.sum(&[], false)?))
            .unwrap();
        let grads = lepton::grad(&loss, &[&out, &last.h, &c, &x]).unwrap();
        // The last h is the output's last timestep: each view's gradient is that of the
        // values it shows, whichever view the loss read them through.
        let w_f32 = rounded(&w_values, DType::F32);
        let mut want_out = w_f32.clone();
        let mut want_h = Vec::new();
        for b in 0..batch {
            let last_step = (b * steps + steps - 1) * hidden;
            for v in &mut want_out[last_step..last_step + hidden] {
                *v += 1.0;
                want_h.push(*v);
            }
        }
        assert_eq!(values(&grads[0]), rounded(&want_out, DType::F32), "the output's");
        assert_eq!(values(&grads[1]), rounded(&want_h, DType::F32), "the last h's");
        assert!(values(&grads[2]).iter().all(|&v| v == 1.0), "the last c's");
        // The same kernels on the same values as when only x's gradient is asked for.
        let alone = lepton::grad(&loss, &[&x]).unwrap();
        assert_eq!(values(&grads[3]), values(&alone[0]), "x's");
    }
}
