//! PyTorch parity: the sequence layers, given PyTorch's own weights by their state-dict
//! names, reproduce PyTorch's outputs. The fixtures (float64, a few KB) are written by
//! tests/fixtures/make_pytorch_fixtures.py, which says how to regenerate them; the
//! comparison runs on the CPU path in f64, where only rounding separates the two.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::*;
use lepton::nn::{
    CellKind, Module, MultiheadAttention, Recurrent, RecurrentConfig, RecurrentState,
    TransformerBlock, TransformerConfig,
};
use lepton::{DType, Device, Tensor};

fn fixtures() -> HashMap<String, Tensor> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pytorch_sequence.safetensors");
    lepton::checkpoint::load(&path, &Device::cpu())
        .unwrap()
        .0
        .into_iter()
        .collect()
}

/// Give `module` the weights stored under `case.`, each by its own parameter name, and check
/// that they are exactly the case's weights: PyTorch's state dict maps one to one.
fn load_weights(module: &dyn Module, case: &str, all: &HashMap<String, Tensor>) {
    let prefix = format!("{case}.");
    let params = module.parameters();
    for (name, p) in &params {
        let t = all
            .get(&format!("{prefix}{name}"))
            .unwrap_or_else(|| panic!("{case}: no {name} in PyTorch's state dict"));
        assert_eq!(t.shape(), &p.shape()[..], "{case}.{name}: shape");
        p.set(t.clone());
    }
    let ours: Vec<String> = params.iter().map(|(n, _)| format!("{prefix}{n}")).collect();
    for key in all.keys().filter(|k| k.starts_with(&prefix)) {
        let role = &key[prefix.len()..];
        let is_data = [
            "input",
            "h0",
            "c0",
            "output",
            "h_n",
            "c_n",
            "query",
            "key",
            "key_padding_mask",
            "causal_output",
        ]
        .contains(&role);
        assert!(
            is_data || ours.contains(key),
            "{key}: a PyTorch weight with no parameter here"
        );
    }
}

/// Agreement to 1e-12: f64 through a few dozen operations on values of order 1.
fn same(got: &Tensor, want: &Tensor, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    assert_close(&values(got), &values(want), 1e-12, 1e-12, what);
}

#[test]
fn recurrent_layers_match_pytorch() {
    let all = fixtures();
    for (case, kind) in [
        ("rnn_tanh", CellKind::RnnTanh),
        ("rnn_relu", CellKind::RnnRelu),
        ("lstm", CellKind::Lstm),
        ("gru", CellKind::Gru),
    ] {
        let config = RecurrentConfig {
            num_layers: 2,
            bidirectional: true,
            batch_first: true,
            ..RecurrentConfig::new(3, 4)
        };
        let layer = Recurrent::new(kind, config, 0, DType::F64, &Device::cpu()).unwrap();
        load_weights(&layer, case, &all);
        let get = |role: &str| all[&format!("{case}.{role}")].clone();
        let state = RecurrentState {
            h: get("h0"),
            c: (kind == CellKind::Lstm).then(|| get("c0")),
        };
        let (output, last) = layer
            .forward_with_state(&get("input"), Some(&state))
            .unwrap();
        same(&output, &get("output"), &format!("{case} output"));
        same(&last.h, &get("h_n"), &format!("{case} h_n"));
        if kind == CellKind::Lstm {
            same(last.c.as_ref().unwrap(), &get("c_n"), "lstm c_n");
        }
    }
}

#[test]
fn multihead_attention_matches_pytorch() {
    let all = fixtures();
    let layer = MultiheadAttention::new(6, 2, 0.0, 0, DType::F64, &Device::cpu()).unwrap();
    load_weights(&layer, "mha", &all);
    let (query, key) = (&all["mha.query"], &all["mha.key"]);
    let padded = layer
        .attend(
            query,
            key,
            key,
            Some(&all["mha.key_padding_mask"]),
            None,
            false,
        )
        .unwrap();
    same(
        &padded,
        &all["mha.output"],
        "cross-attention with key padding",
    );
    let causal = layer.attend(query, query, query, None, None, true).unwrap();
    same(&causal, &all["mha.causal_output"], "causal self-attention");
}

#[test]
fn the_transformer_block_matches_pytorchs_pre_norm_encoder_layer() {
    let all = fixtures();
    let config = TransformerConfig {
        embed_dim: 8,
        num_heads: 2,
        feedforward: 12,
        dropout: 0.0,
        causal: true,
    };
    let block = TransformerBlock::new(config, 0, DType::F64, &Device::cpu()).unwrap();
    load_weights(&block, "block", &all);
    // The engine's erf, and so its GELU, is an approximation within 1.5e-7 (PyTorch's is
    // exact): each of the 12 hidden units is off by up to |x|/2·1.5e-7 ≈ 2.3e-7 for |x| ≤ 3,
    // and linear2 sums 12 of them with weights below 1/√12, so outputs may differ by 8e-7
    // (4.8e-8 at most here).
    let got = block.forward(&all["block.input"]).unwrap();
    assert_close(
        &values(&got),
        &values(&all["block.output"]),
        1e-6,
        0.0,
        "block",
    );
}
