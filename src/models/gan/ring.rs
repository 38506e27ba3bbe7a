//! The ring of 8 Gaussians (radius 2, σ 0.02), the benchmark of unrolled GANs and VEEGAN:
//! its samples, and how well a set of points covers it.

use std::f64::consts::TAU;

use crate::counter_rng;
use crate::models::gan::Coverage;

pub const MODES: usize = 8;
pub const RADIUS: f64 = 2.0;
pub const SIGMA: f64 = 0.02;

/// `n` points of the ring [n × 2]: a mode uniformly, then Gaussian noise of σ around it,
/// from stream `stream`.
pub fn ring_samples(n: usize, stream: u64) -> Vec<f32> {
    let mut out = Vec::with_capacity(2 * n);
    for i in 0..n as u64 {
        let mode = ((counter_rng::uniform(stream, 3 * i) * MODES as f64) as usize).min(MODES - 1);
        let (x, y) = center(mode);
        out.push((x + SIGMA * counter_rng::normal(stream, 3 * i + 1)) as f32);
        out.push((y + SIGMA * counter_rng::normal(stream, 3 * i + 2)) as f32);
    }
    out
}

/// The center of mode `k`.
pub fn center(k: usize) -> (f64, f64) {
    let angle = k as f64 * TAU / MODES as f64;
    (RADIUS * angle.cos(), RADIUS * angle.sin())
}

/// How points [n × 2] cover the ring: the modes with at least 1% of the points within 3σ
/// of their center, the share of points within 3σ of some mode (high quality), and the KL
/// divergence of the high-quality points' mode histogram from uniform.
pub fn ring_coverage(points: &[f32]) -> Coverage {
    let mut counts = vec![0usize; MODES];
    for p in points.chunks(2) {
        let near = (0..MODES).find(|&k| {
            let (x, y) = center(k);
            let (dx, dy) = (p[0] as f64 - x, p[1] as f64 - y);
            (dx * dx + dy * dy).sqrt() <= 3.0 * SIGMA
        });
        if let Some(k) = near {
            counts[k] += 1;
        }
    }
    Coverage::from_counts(&counts, points.len() / 2, None)
}
