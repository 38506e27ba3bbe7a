//! Character language models at small sizes: the transformer is causal, a recurrent model's
//! carried state continues a sequence, and a checkpoint generates the same text for the
//! same seed on every device.

mod common;

use common::*;
use lepton::checkpoint::save_training;
use lepton::models::charlm::{self, Arch, CharLm, CharLmConfig};
use lepton::models::generate::{generate, Sampling};
use lepton::nn::Module;
use lepton::{Device, Tensor};

fn small(arch: Arch) -> CharLmConfig {
    CharLmConfig {
        arch,
        vocab: 11,
        embed: 16,
        hidden: 13,
        layers: 2,
        heads: 2,
        context: 9,
    }
}

fn ids(values: &[u32], device: &Device) -> Tensor {
    let v: Vec<i32> = values.iter().map(|&i| i as i32).collect();
    Tensor::from_vec(v, &[1, values.len()], device).unwrap()
}

/// Logits [1, T, V] as rows per position.
fn positions(logits: &Tensor) -> Vec<Vec<f64>> {
    let v = logits.shape()[2];
    values(logits).chunks(v).map(<[f64]>::to_vec).collect()
}

#[test]
fn the_transformer_sees_no_later_characters() {
    let device = Device::cpu();
    let model = CharLm::new(small(Arch::Transformer), 3, &device).unwrap();
    let a = positions(
        &model
            .forward(&ids(&[1, 2, 3, 4, 5, 6, 7], &device))
            .unwrap(),
    );
    let b = positions(
        &model
            .forward(&ids(&[1, 2, 3, 4, 9, 0, 10], &device))
            .unwrap(),
    );
    for t in 0..4 {
        assert_close(&a[t], &b[t], 0.0, 1e-6, &format!("position {t}"));
    }
    assert!(a[4].iter().zip(&b[4]).any(|(x, y)| (x - y).abs() > 1e-3));
    // Past the position table is an error, not a silent crop.
    assert!(model.forward(&ids(&[1; 10], &device)).is_err());
}

on_every_device! {
    fn the_kv_cache_gives_the_full_passes_logits(device) {
        let model = CharLm::new(small(Arch::Transformer), 8, &device).unwrap();
        let text = [3, 1, 4, 1, 5, 9, 2, 6, 5];
        let whole = positions(&model.forward(&ids(&text, &device)).unwrap());
        let mut caches = model.kv_caches();
        for (t, &id) in text.iter().enumerate() {
            let step = positions(&model.forward_cached(&ids(&[id], &device), &mut caches).unwrap());
            // f32 sums of up to 16 terms in another order: a few ulp of logits of order 1.
            assert_close(&step[0], &whole[t], 1e-5, 1e-5, &format!("position {t} on {device}"));
        }
        // Full after the context: an error, not a silent overwrite.
        assert!(model.forward_cached(&ids(&[0], &device), &mut caches).is_err());
    }
}

#[test]
fn a_recurrent_state_continues_the_sequence() {
    let device = Device::cpu();
    for arch in [Arch::Lstm, Arch::Gru] {
        let model = CharLm::new(small(arch), 4, &device).unwrap();
        let text = [3, 1, 4, 1, 5, 9, 2, 6];
        let whole = positions(&model.forward(&ids(&text, &device)).unwrap());
        let (first, state) = model
            .forward_with_state(&ids(&text[..5], &device), None)
            .unwrap();
        let (rest, _) = model
            .forward_with_state(&ids(&text[5..], &device), state.as_ref())
            .unwrap();
        let joined: Vec<Vec<f64>> = positions(&first)
            .into_iter()
            .chain(positions(&rest))
            .collect();
        for (t, (a, b)) in joined.iter().zip(&whole).enumerate() {
            assert_close(a, b, 1e-6, 1e-6, &format!("{arch:?} position {t}"));
        }
    }
}

#[test]
fn a_checkpoint_generates_the_same_text_on_every_device() {
    let vocab: Vec<char> = "abcdefghij\n".chars().collect();
    let dir = std::env::temp_dir().join(format!("lepton-charlm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for arch in [Arch::Lstm, Arch::Gru, Arch::Transformer] {
        let path = dir.join(format!("{}.safetensors", arch.name()));
        let model = CharLm::new(small(arch), 5, &Device::cpu()).unwrap();
        let meta = charlm::save_metadata(&model.config, &vocab)
            .into_iter()
            .collect();
        save_training(&path, &model, None, meta).unwrap();
        let sampling = Sampling {
            temperature: 1.3,
            top_k: Some(6),
            seed: 7,
        };
        // Longer than the context, so the transformer's window moves.
        let texts: Vec<Vec<u32>> = devices()
            .iter()
            .map(|device| {
                let (loaded, v) = charlm::load(&path, device).unwrap();
                assert_eq!(v, vocab);
                generate(&loaded, &[10, 0], 30, &sampling, device).unwrap()
            })
            .collect();
        assert_eq!(texts[0].len(), 30);
        assert!(texts.iter().all(|t| *t == texts[0]), "{arch:?}: {texts:?}");
        assert!(
            texts[0].iter().any(|&i| i != texts[0][0]),
            "{arch:?} repeats one character"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Sizes in the metadata that the tensors do not bear out are an error before any model is
/// built (2^40 units would otherwise be an allocation past memory, an abort).
#[test]
fn a_checkpoint_whose_sizes_lie_is_refused() {
    let vocab: Vec<char> = "abcdefghij\n".chars().collect();
    let path = std::env::temp_dir().join(format!(
        "lepton-charlm-lie-{}.safetensors",
        std::process::id()
    ));
    let model = CharLm::new(small(Arch::Lstm), 5, &Device::cpu()).unwrap();
    for (hidden, layers) in [(1 << 40, 2), (13, 3)] {
        let claimed = CharLmConfig {
            hidden,
            layers,
            ..model.config
        };
        let meta = charlm::save_metadata(&claimed, &vocab)
            .into_iter()
            .collect();
        save_training(&path, &model, None, meta).unwrap();
        let err = charlm::load(&path, &Device::cpu()).err().expect("refused");
        assert!(err.to_string().contains("weight_hh"), "{err}");
    }
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn sampling_refuses_what_it_cannot_draw() {
    let device = Device::cpu();
    let model = CharLm::new(small(Arch::Gru), 6, &device).unwrap();
    let draw = |temperature: f64, top_k: Option<usize>, prompt: &[u32]| {
        let s = Sampling {
            temperature,
            top_k,
            seed: 0,
        };
        generate(&model, prompt, 3, &s, &device)
    };
    assert!(draw(-1.0, None, &[1]).is_err());
    assert!(draw(f64::NAN, None, &[1]).is_err());
    assert!(draw(1.0, Some(0), &[1]).is_err());
    assert!(draw(1.0, None, &[]).is_err());
    assert!(draw(1.0, None, &[11]).is_err());
    // Temperature 0 is the most likely character every time: the same for any seed.
    let greedy = draw(0.0, None, &[1, 2]).unwrap();
    let s = Sampling {
        temperature: 0.0,
        top_k: None,
        seed: 99,
    };
    assert_eq!(generate(&model, &[1, 2], 3, &s, &device).unwrap(), greedy);
}
