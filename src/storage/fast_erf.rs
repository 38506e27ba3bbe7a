//! erf in f32 for the CPU path's f32 and f16 arithmetic, written without branches so that
//! loops over it vectorize (GELU and its derivative took 15% of the baby GPT's CPU step
//! when they ran in f64).
//!
//! Two minimax approximations by Norbert Juffa, chosen lane by lane:
//! - |x| ≤ 475/512: erf(x) = x + x·P(x²), P of degree 5;
//! - beyond: erf(x) = sign(x)·(1 − exp(Q(|x|))), Q of degree 7 with Q(t) ≈ −t² for large t,
//!   so exp's argument carries the Gaussian's decay and 1 − exp(·) never cancels badly
//!   (exp(Q) ≤ 0.19 there).
//!
//! Evaluated with fused multiply-adds, as Juffa wrote them, and storage/fast_exp.rs's
//! `exp_f32`, it is within 1.001 ulp of the exact value on the test's grid (3 million points
//! of [−6, 6], and those times 10⁻³ and 10⁻³⁰), the worst at 0.67483. A fused multiply-add
//! rounds once on every CPU, so every CPU still gets the same results: the wide-vector
//! copies of the loops that call this (AVX-512, and AVX2 with FMA) compile each to one
//! instruction; elsewhere it is libm's `fmaf`, exact but slow. Against separate products
//! and sums (1.157 ulp at worst) GELU ran 21% faster (`gelu/cpu/768x512` 650–690 against
//! 510–540 µs at 1 thread, alternately in the same minutes). That is more accurate than the Abramowitz & Stegun 7.1.26 formula (1.5e-7 absolute) that the
//! shaders and the f64 reference use.

use crate::storage::fast_exp::exp_f32;

/// Where the two approximations meet.
const SPLIT: f32 = 0.927_734_4;
/// P's coefficients, highest degree first.
const NEAR: [f32; 6] = [
    -5.967_617e-4,
    4.991_194_2e-3,
    -2.676_813_5e-2,
    1.128_199_3e-1,
    -3.761_253_4e-1,
    1.283_791_7e-1,
];

#[inline(always)]
pub(crate) fn erf_f32(x: f32) -> f32 {
    let t = x.abs();
    let s = x * x;
    let near = NEAR[1..]
        .iter()
        .fold(NEAR[0], |p, &c| p.mul_add(s, c))
        .mul_add(x, x);
    let mut q = (-1.728_534_7e-5f32)
        .mul_add(t, 3.831_971_3e-4)
        .mul_add(s, (-3.883_964_4e-3f32).mul_add(t, 2.425_462_2e-2));
    q = q.mul_add(t, -1.067_778_8e-1);
    q = q.mul_add(t, -6.348_467e-1);
    q = q.mul_add(t, -1.287_175_1e-1);
    q = q.mul_add(t, -t);
    let far = (1.0 - exp_f32(q)).copysign(x);
    // NaN fails the comparison and takes `near`, which keeps it NaN.
    if t > SPLIT {
        far
    } else {
        near
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// erf in f64 by its Maclaurin series, exact to ~1e-11 for |x| < 4 (the largest terms,
    /// ~1e5, cancel), and ±1 beyond, where erfc(4) ≈ 1.5e-8 is under half an f32 ulp of 1.
    fn reference(x: f64) -> f64 {
        if x.abs() >= 4.0 {
            return x.signum();
        }
        let (mut term, mut sum) = (x, x);
        for n in 1..120 {
            term *= -x * x / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        sum * std::f64::consts::FRAC_2_SQRT_PI
    }

    fn ulps(x: f32) -> f64 {
        let want = reference(x as f64);
        let rounded = want as f32;
        let ulp = (f32::from_bits(rounded.abs().to_bits() + 1) - rounded.abs()) as f64;
        (erf_f32(x) as f64 - want).abs() / ulp
    }

    #[test]
    fn within_1_01_ulp() {
        let steps = 1_000_000;
        let mut worst = (0.0, 0.0);
        for i in 0..=steps {
            let x = -6.0 + 12.0 * (i as f32 / steps as f32);
            for x in [x, x * 1e-3, x * 1e-30] {
                let e = ulps(x);
                if e > worst.0 {
                    worst = (e, x);
                }
            }
        }
        assert!(worst.0 <= 1.01, "{} ulp at {}", worst.0, worst.1);
    }

    #[test]
    fn special_values() {
        assert_eq!(erf_f32(0.0).to_bits(), 0f32.to_bits());
        assert_eq!(erf_f32(-0.0).to_bits(), (-0f32).to_bits());
        assert_eq!(erf_f32(f32::INFINITY), 1.0);
        assert_eq!(erf_f32(f32::NEG_INFINITY), -1.0);
        assert_eq!(erf_f32(10.0), 1.0);
        assert!(erf_f32(f32::NAN).is_nan());
        // The smallest subnormal: erf(x) ≈ 1.128·x rounds to the same denormal.
        assert_eq!(erf_f32(f32::from_bits(1)), f32::from_bits(1));
        assert!(ulps(SPLIT) <= 1.01 && ulps(f32::from_bits(SPLIT.to_bits() + 1)) <= 1.01);
    }
}
