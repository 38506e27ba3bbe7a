//! multinomial against an independent reference of its definition (lowbias32 uniforms, f32
//! sums in order), the same draws on every device, the frequencies its weights ask for,
//! and its errors.

mod common;

use common::*;
use lepton::{DType, Device, Error, Tensor};

fn lowbias32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^ (x >> 16)
}

/// The documented draw: u = (hash(row ^ hash(seed)) >> 8) / 2^24, and the first category
/// whose running f32 sum passes u·total.
fn reference(weights: &[f32], seed: u32, row: u32) -> usize {
    let u = (lowbias32(row ^ lowbias32(seed)) >> 8) as f32 / 16_777_216.0;
    let total: f32 = weights.iter().fold(0.0, |a, &w| a + w);
    let mut running = 0.0f32;
    for (j, &w) in weights.iter().enumerate() {
        running += w;
        if running > u * total {
            return j;
        }
    }
    weights.iter().rposition(|&w| w > 0.0).unwrap()
}

fn seed(v: f32, device: &Device) -> Tensor {
    Tensor::from_vec(vec![v], &[1], device).unwrap()
}

on_every_device! {
    fn draws_follow_the_definition_on_every_device(device) {
        let (rows, classes) = (300usize, 65usize);
        // Some weights zero: they are never drawn.
        let weights: Vec<f32> = data(rows * classes, 70, -0.5, 2.0)
            .iter()
            .map(|&w| w.max(0.0) as f32)
            .collect();
        let t = Tensor::from_vec(weights.clone(), &[3, rows / 3, classes], &device).unwrap();
        for s in [0u32, 1, 12_345, (1 << 24) - 1] {
            let got = t.multinomial(&seed(s as f32, &device)).unwrap();
            assert_eq!(got.shape(), &[3, rows / 3]);
            let got = got.to_vec::<i32>().unwrap();
            for (row, &g) in got.iter().enumerate() {
                let w = &weights[row * classes..(row + 1) * classes];
                assert_eq!(g as usize, reference(w, s, row as u32), "row {row}, seed {s} on {device}");
                assert!(w[g as usize] > 0.0);
            }
        }
    }
}

on_every_device! {
    fn frequencies_match_the_weights(device) {
        let rows = 40_000;
        let weights = Tensor::from_vec(vec![1.0f32, 0.0, 2.0, 3.0, 4.0], &[1, 5], &device)
            .unwrap()
            .broadcast_to(&[rows, 5])
            .unwrap();
        let draws = weights.multinomial(&seed(7.0, &device)).unwrap().to_vec::<i32>().unwrap();
        for (k, want) in [0.1, 0.0, 0.2, 0.3, 0.4].into_iter().enumerate() {
            let share = draws.iter().filter(|&&d| d as usize == k).count() as f64 / rows as f64;
            // Five standard errors of a share near 0.4 over 40000 draws: 0.012. The draws are
            // fixed by the seed, so this cannot flake.
            assert!((share - want).abs() < 0.012, "category {k}: {share} for {want} on {device}");
        }
    }
}

on_every_device! {
    fn a_row_without_a_valid_weight_fails_or_gives_minus_one(device) {
        for bad in [[0.0f32, 0.0], [1.0, -1.0], [f32::NAN, 1.0], [f32::INFINITY, 1.0]] {
            let w = Tensor::from_vec([1.0, 1.0].into_iter().chain(bad).collect::<Vec<f32>>(), &[2, 2], &device).unwrap();
            let draws = w.multinomial(&seed(3.0, &device)).unwrap();
            if device.is_gpu() {
                let got = draws.to_vec::<i32>().unwrap();
                assert!((0..2).contains(&got[0]) && got[1] == -1, "{bad:?} on {device}: {got:?}");
            } else {
                assert!(
                    matches!(draws.to_vec::<i32>(), Err(Error::InvalidArgument { op: "multinomial", .. })),
                    "{bad:?} on {device}"
                );
            }
        }
    }
}

#[test]
fn f16_weights_draw_as_their_f32_values() {
    let weights: Vec<f64> = data(64 * 9, 71, 0.0, 3.0);
    let cpu = Device::cpu();
    let draws = |device: &Device| {
        tensor(&weights, &[64, 9], DType::F16, device)
            .multinomial(&seed(5.0, device))
            .unwrap()
            .to_vec::<i32>()
            .unwrap()
    };
    let on_cpu = draws(&cpu);
    if let Some(gpu) = common::gpu() {
        assert_eq!(on_cpu, draws(&gpu), "f16 weights, CPU against GPU");
    }
    let wrong = Tensor::from_vec(vec![1.0f32, 2.0], &[2], &cpu).unwrap();
    assert!(matches!(
        wrong.multinomial(&Tensor::from_vec(vec![1.0f32, 2.0], &[2], &cpu).unwrap()),
        Err(Error::InvalidArgument { .. })
    ));
}
