//! exp in f64 without a call into libm, so that loops over rows vectorize (the CPU softmax
//! spent about a third of its time in libm's exp, one call per element; the recurrent
//! cells' gates most of theirs).
//!
//! exp(x) = 2^k · e^r, with k = round(x / ln 2) and r = x − k·ln 2, |r| ≤ ln 2 / 2 (ln 2 in two
//! parts, the first with trailing zeros, so k·ln2_hi is exact). e^r is its Taylor polynomial
//! to degree 13, whose remainder r¹⁴/14! stays below 2⁻⁶⁰ of e^r; 2^k is applied in two
//! factors so that results down to the subnormals come out. Integer rounding uses the
//! 1.5·2⁵² trick and exponent bits, which vectorize where float-to-integer conversion does
//! not. Within 2 ulp of the exact value (tested against libm across the range).
//!
//! `exp_f32` is the same construction in f32, twice as many lanes per vector, for the fast
//! paths whose results are f32 anyway: e^r = 1 + r + r²·P(r) with Cephes' minimax
//! polynomial P of degree 5 for expf, in fused multiply-adds (one rounding each, the same
//! on every path: an instruction where the loop is compiled with FMA, else libm's exact
//! `fmaf`; so callers' wide copies enable FMA). Within 1 ulp of the exact value (0.96 at
//! worst on the test's grid; the last step, 1 + r + r²·P, stays unfused: fused, 1.01).

const LN2_HI: f64 = 6.931_471_803_691_238e-1;
const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
/// Adding 1.5·2⁵² rounds a value below 2⁵¹ in magnitude to an integer, kept in the low bits.
const ROUND: f64 = 6_755_399_441_055_744.0;
/// exp overflows to +inf above this.
const HIGH: f64 = 709.782_712_893_384;
/// exp rounds to +0 below this.
const LOW: f64 = -745.2;
/// 1/13!, 1/12!, …, 1/1!, 1.
const TAYLOR: [f64; 14] = [
    1.0 / 6_227_020_800.0,
    1.0 / 479_001_600.0,
    1.0 / 39_916_800.0,
    1.0 / 3_628_800.0,
    1.0 / 362_880.0,
    1.0 / 40_320.0,
    1.0 / 5_040.0,
    1.0 / 720.0,
    1.0 / 120.0,
    1.0 / 24.0,
    1.0 / 6.0,
    0.5,
    1.0,
    1.0,
];

/// The integer held in `rounded` = n + ROUND.
#[inline(always)]
fn integer(rounded: f64) -> i64 {
    (rounded.to_bits() as i64).wrapping_sub(ROUND.to_bits() as i64)
}

/// 2^n for −1022 ≤ n ≤ 1023.
#[inline(always)]
fn power_of_two(n: i64) -> f64 {
    f64::from_bits(((n + 1023) as u64) << 52)
}

#[inline(always)]
pub(crate) fn exp(x: f64) -> f64 {
    // NaN stays NaN through the clamp and everything after.
    let clamped = x.clamp(LOW, HIGH);
    let k_rounded = clamped * std::f64::consts::LOG2_E + ROUND;
    let k = k_rounded - ROUND;
    let r = (clamped - k * LN2_HI) - k * LN2_LO;
    let p = TAYLOR.iter().fold(0.0, |p, &c| p * r + c);
    // k in [−1075, 1024]: two factors, each within the normal exponents.
    let half_rounded = k * 0.5 + ROUND;
    let (n, half) = (integer(k_rounded), integer(half_rounded));
    let y = p * power_of_two(half) * power_of_two(n - half);
    if x > HIGH {
        f64::INFINITY
    } else {
        y
    }
}

/// ln 2 in two parts for f32, the first with 9 significant bits (so k·LN2_HI_F32 is exact).
const LN2_HI_F32: f32 = 355.0 / 512.0;
const LN2_LO_F32: f32 = -2.121_944_4e-4;
/// Adding 1.5·2²³ rounds an f32 below 2²² in magnitude to an integer, kept in the low bits.
const ROUND_F32: f32 = 12_582_912.0;
/// Clamping here keeps k in [−150, 129]: past ln(f32::MAX) ≈ 88.72 the product overflows to
/// +inf by itself, below ln(2⁻¹⁵⁰) ≈ −103.97 it rounds to +0.
const HIGH_F32: f32 = 89.0;
const LOW_F32: f32 = -104.0;
/// Cephes expf's P, highest degree first (its last, 5.0000001e-1, is 0.5 in f32).
const CEPHES_F32: [f32; 6] = [
    1.987_569_2e-4,
    1.398_2e-3,
    8.333_452e-3,
    4.166_579_6e-2,
    1.666_666_5e-1,
    0.5,
];

/// 2^n for −126 ≤ n ≤ 127.
#[inline(always)]
fn power_of_two_f32(n: i32) -> f32 {
    f32::from_bits(((n + 127) as u32) << 23)
}

/// The integer held in `rounded` = n + ROUND_F32.
#[inline(always)]
fn integer_f32(rounded: f32) -> i32 {
    (rounded.to_bits() as i32).wrapping_sub(ROUND_F32.to_bits() as i32)
}

#[inline(always)]
pub(crate) fn exp_f32(x: f32) -> f32 {
    // NaN stays NaN through the clamp and everything after.
    let clamped = x.clamp(LOW_F32, HIGH_F32);
    let k_rounded = clamped.mul_add(std::f32::consts::LOG2_E, ROUND_F32);
    let k = k_rounded - ROUND_F32;
    let r = k.mul_add(-LN2_LO_F32, k.mul_add(-LN2_HI_F32, clamped));
    let p = CEPHES_F32[1..]
        .iter()
        .fold(CEPHES_F32[0], |p, &c| p.mul_add(r, c));
    let e = p * (r * r) + r + 1.0;
    // k in [−150, 129]: two factors, each within the normal exponents.
    let half_rounded = k * 0.5 + ROUND_F32;
    let (n, half) = (integer_f32(k_rounded), integer_f32(half_rounded));
    e * power_of_two_f32(half) * power_of_two_f32(n - half)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(got: f64, want: f64) -> f64 {
        if got == want {
            return 0.0;
        }
        // One ulp of `want`, at least the smallest subnormal.
        let ulp = (f64::from_bits(want.to_bits() + 1) - want).max(f64::from_bits(1));
        (got - want).abs() / ulp
    }

    #[test]
    fn within_two_ulp_of_libm_everywhere() {
        let steps = 2_000_000;
        let mut worst = (0.0, 0.0);
        for i in 0..=steps {
            let x = LOW + (HIGH - LOW) * i as f64 / steps as f64;
            for x in [x, -x * 1e-3, x * 1e-9] {
                let e = ulps(exp(x), x.exp());
                if e > worst.0 {
                    worst = (e, x);
                }
            }
        }
        assert!(worst.0 <= 2.0, "{} ulp at {}", worst.0, worst.1);
    }

    /// Against libm's f64 exp rounded to f32, in ulps of that f32 (at least the smallest
    /// subnormal's).
    fn ulps_f32(x: f32) -> f64 {
        let want = (x as f64).exp();
        let rounded = want as f32;
        let ulp = (f32::from_bits(rounded.to_bits() + 1) - rounded).max(f32::from_bits(1));
        (exp_f32(x) as f64 - want).abs() / ulp as f64
    }

    #[test]
    fn f32_within_one_ulp_of_libm_everywhere() {
        let steps = 2_000_000;
        let (low, high) = (-103.9f32, 88.72f32);
        let mut worst = (0.0, 0.0);
        for i in 0..=steps {
            let x = low + (high - low) * (i as f32 / steps as f32);
            for x in [x, -x * 1e-3, x * 1e-6] {
                let e = ulps_f32(x);
                if e > worst.0 {
                    worst = (e, x);
                }
            }
        }
        assert!(worst.0 <= 1.0, "{} ulp at {}", worst.0, worst.1);
    }

    #[test]
    fn f32_special_values() {
        assert_eq!(exp_f32(0.0), 1.0);
        assert_eq!(exp_f32(-0.0), 1.0);
        assert_eq!(exp_f32(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_f32(f32::INFINITY), f32::INFINITY);
        assert_eq!(exp_f32(88.73), f32::INFINITY);
        assert_eq!(exp_f32(-104.0), 0.0);
        assert!(exp_f32(f32::NAN).is_nan());
        assert!(ulps_f32(1.0) <= 1.0);
        assert!(ulps_f32(88.72) <= 2.0);
        // Subnormal results, down to the smallest.
        assert!(ulps_f32(-95.0) <= 1.0);
        assert_eq!(exp_f32(-103.27), f32::from_bits(1));
    }

    #[test]
    fn special_values() {
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-0.0), 1.0);
        assert_eq!(exp(f64::NEG_INFINITY), 0.0);
        assert_eq!(exp(f64::INFINITY), f64::INFINITY);
        assert_eq!(exp(710.0), f64::INFINITY);
        assert_eq!(exp(-800.0), 0.0);
        assert!(exp(f64::NAN).is_nan());
        assert!(ulps(exp(1.0), std::f64::consts::E) <= 2.0);
        // Subnormal results: the smallest one, and one well inside the range.
        assert_eq!(exp(-744.44), (-744.44f64).exp());
        assert!(ulps(exp(-720.0), (-720.0f64).exp()) <= 1.0);
    }
}
