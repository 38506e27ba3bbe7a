//! For the unit tests that hold a fast path to a plain kernel: seeded operands and the
//! rounding bound of a sum of products.

/// f32 unit roundoff.
pub(crate) const U32: f64 = f32::EPSILON as f64 / 2.0;

/// `len` values uniform in [−1, 1), stream `seed` of `counter_rng`.
pub(crate) fn signed_values(len: usize, seed: u64) -> Vec<f32> {
    (0..len as u64)
        .map(|i| (2.0 * crate::counter_rng::uniform(seed, i) - 1.0) as f32)
        .collect()
}

/// Each output a sum of `terms` products of f32 values (exact in f64): an f32 sum of them in
/// any order is within γ_terms·Σ|products| of the exact sum, and a plain kernel that sums
/// in f64 rounds the exact sum once, so the two differ by at most (terms + 2)·u·Σ|products|,
/// `scale` being the plain kernel on the operands' absolute values. Fails naming `what`
/// and the first output outside that bound.
pub(crate) fn assert_within_sum_bound(
    what: &str,
    terms: usize,
    (fast, plain): (&[f32], &[f32]),
    scale: &[f32],
) {
    for (i, ((f, p), s)) in fast.iter().zip(plain).zip(scale).enumerate() {
        let bound = (terms as f64 + 2.0) * U32 * *s as f64;
        assert!(
            (*f as f64 - *p as f64).abs() <= bound,
            "{what} output {i}: fast {f}, plain {p}, bound {bound:e}"
        );
    }
}
