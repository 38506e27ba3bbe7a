//! The Fréchet distance between two sets of feature vectors, each taken as a Gaussian of
//! its mean and covariance (the distance FID computes on Inception features):
//! |μ₁ − μ₂|² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁^½ Σ₂ Σ₁^½)^½, in f64 on the host. The square roots
//! come from the eigenvalues of symmetric matrices (cyclic Jacobi), so no non-symmetric
//! matrix square root, and its complex round-off, is needed.

/// Mean and covariance (divided by n − 1) of `rows` vectors of `dim` values.
pub fn moments(features: &[f32], dim: usize) -> (Vec<f64>, Vec<f64>) {
    let rows = features.len() / dim.max(1);
    let mut mean = vec![0.0; dim];
    for row in features.chunks(dim) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += v as f64 / rows as f64;
        }
    }
    let mut cov = vec![0.0; dim * dim];
    for row in features.chunks(dim) {
        for i in 0..dim {
            let di = row[i] as f64 - mean[i];
            for j in 0..dim {
                cov[i * dim + j] += di * (row[j] as f64 - mean[j]);
            }
        }
    }
    let denominator = rows.saturating_sub(1).max(1) as f64;
    cov.iter_mut().for_each(|c| *c /= denominator);
    (mean, cov)
}

/// The Fréchet distance between Gaussians of moments `a` and `b` (from [`moments`]).
pub fn frechet_distance(a: &(Vec<f64>, Vec<f64>), b: &(Vec<f64>, Vec<f64>)) -> f64 {
    let dim = a.0.len();
    let mean_term: f64 = a.0.iter().zip(&b.0).map(|(x, y)| (x - y).powi(2)).sum();
    let trace = |m: &[f64]| (0..dim).map(|i| m[i * dim + i]).sum::<f64>();
    let (values, vectors) = symmetric_eigen(&a.1, dim);
    // Σ₁^½ = V diag(√λ) Vᵀ, negative round-off eigenvalues clipped to zero.
    let root_a = compose(
        &vectors,
        &values.iter().map(|l| l.max(0.0).sqrt()).collect::<Vec<_>>(),
        dim,
    );
    let inner = product(&product(&root_a, &b.1, dim), &root_a, dim);
    let symmetric: Vec<f64> = (0..dim * dim)
        .map(|k| 0.5 * (inner[k] + inner[(k % dim) * dim + k / dim]))
        .collect();
    let (inner_values, _) = symmetric_eigen(&symmetric, dim);
    let cross: f64 = inner_values.iter().map(|l| l.max(0.0).sqrt()).sum();
    mean_term + trace(&a.1) + trace(&b.1) - 2.0 * cross
}

/// The eigenvalues and eigenvectors (the columns of a row-major `dim` × `dim` matrix) of
/// the symmetric matrix `m`, by cyclic Jacobi rotations until the off-diagonal part is
/// negligible against the whole.
fn symmetric_eigen(m: &[f64], dim: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = m.to_vec();
    let mut v = vec![0.0; dim * dim];
    (0..dim).for_each(|i| v[i * dim + i] = 1.0);
    let total: f64 = a.iter().map(|x| x * x).sum();
    // Each sweep at least squares the off-diagonal norm once it is small; 50 sweeps is far
    // past convergence for any size used here, and bounds the loop on NaN input.
    for _ in 0..50 {
        let off: f64 = (0..dim * dim)
            .filter(|k| k / dim != k % dim)
            .map(|k| a[k] * a[k])
            .sum();
        if off <= 1e-30 * total.max(f64::MIN_POSITIVE) {
            break;
        }
        for p in 0..dim {
            for q in p + 1..dim {
                let apq = a[p * dim + q];
                if apq == 0.0 {
                    continue;
                }
                // The rotation's tangent that zeroes a[p][q], the smaller root for stability.
                let theta = (a[q * dim + q] - a[p * dim + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..dim {
                    let (akp, akq) = (a[k * dim + p], a[k * dim + q]);
                    a[k * dim + p] = c * akp - s * akq;
                    a[k * dim + q] = s * akp + c * akq;
                }
                for k in 0..dim {
                    let (apk, aqk) = (a[p * dim + k], a[q * dim + k]);
                    a[p * dim + k] = c * apk - s * aqk;
                    a[q * dim + k] = s * apk + c * aqk;
                }
                for k in 0..dim {
                    let (vkp, vkq) = (v[k * dim + p], v[k * dim + q]);
                    v[k * dim + p] = c * vkp - s * vkq;
                    v[k * dim + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..dim).map(|i| a[i * dim + i]).collect(), v)
}

/// V diag(d) Vᵀ.
fn compose(v: &[f64], d: &[f64], dim: usize) -> Vec<f64> {
    let mut out = vec![0.0; dim * dim];
    for i in 0..dim {
        for j in 0..dim {
            out[i * dim + j] = (0..dim)
                .map(|k| v[i * dim + k] * d[k] * v[j * dim + k])
                .sum();
        }
    }
    out
}

fn product(a: &[f64], b: &[f64], dim: usize) -> Vec<f64> {
    let mut out = vec![0.0; dim * dim];
    for i in 0..dim {
        for k in 0..dim {
            let aik = a[i * dim + k];
            for j in 0..dim {
                out[i * dim + j] += aik * b[k * dim + j];
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counter_rng;

    /// A random symmetric positive semi-definite matrix G Gᵀ of `dim` × `dim`.
    fn spd(dim: usize, seed: u64) -> Vec<f64> {
        let g: Vec<f64> = (0..(dim * dim) as u64)
            .map(|i| counter_rng::normal(seed, i))
            .collect();
        let mut out = vec![0.0; dim * dim];
        for i in 0..dim {
            for j in 0..dim {
                out[i * dim + j] = (0..dim).map(|k| g[i * dim + k] * g[j * dim + k]).sum();
            }
        }
        out
    }

    #[test]
    fn eigenvectors_rebuild_the_matrix() {
        for dim in [1, 2, 7, 33] {
            let m = spd(dim, dim as u64);
            let (values, vectors) = symmetric_eigen(&m, dim);
            let rebuilt = compose(&vectors, &values, dim);
            let scale = m.iter().fold(0.0f64, |a, x| a.max(x.abs()));
            for (x, y) in m.iter().zip(&rebuilt) {
                // Jacobi is backward stable: errors of a few ulps of the largest entry.
                assert!((x - y).abs() <= 1e-10 * scale, "{dim}: {x} vs {y}");
            }
        }
    }

    #[test]
    fn the_distance_matches_closed_forms() {
        // Commuting (diagonal) covariances: |μ₁ − μ₂|² + Σ (√a − √b)².
        let a = (
            vec![1.0, 2.0, 0.0],
            vec![4.0, 0.0, 0.0, 0.0, 9.0, 0.0, 0.0, 0.0, 1.0],
        );
        let b = (
            vec![0.0, 2.0, 3.0],
            vec![1.0, 0.0, 0.0, 0.0, 9.0, 0.0, 0.0, 0.0, 16.0],
        );
        let expected = 1.0 + 9.0 + (2.0f64 - 1.0).powi(2) + 0.0 + (1.0f64 - 4.0).powi(2);
        assert!((frechet_distance(&a, &b) - expected).abs() < 1e-9);
        // A distribution is at distance 0 from itself, and the distance is symmetric.
        let c = (vec![0.5; 9], spd(9, 3));
        let d = (vec![-0.5; 9], spd(9, 4));
        assert!(frechet_distance(&c, &c).abs() < 1e-8);
        let (cd, dc) = (frechet_distance(&c, &d), frechet_distance(&d, &c));
        assert!((cd - dc).abs() < 1e-8 * cd, "{cd} vs {dc}");
    }

    #[test]
    fn moments_are_the_sample_mean_and_covariance() {
        let features = [1.0f32, 2.0, 3.0, 6.0];
        let (mean, cov) = moments(&features, 2);
        assert_eq!(mean, vec![2.0, 4.0]);
        assert_eq!(cov, vec![2.0, 4.0, 4.0, 8.0]);
    }
}
