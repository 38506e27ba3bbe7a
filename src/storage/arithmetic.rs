//! The arithmetic the CPU kernels compute in: f32 for f16 and f32 storage, f64 for f64.

use half::f16;

use crate::dtype::Element;
use crate::storage::{fast_erf, fast_exp};

pub trait Real:
    Copy
    + Send
    + Sync
    + PartialOrd
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
    + std::ops::Neg<Output = Self>
{
    fn k(v: f64) -> Self;
    /// The constant `v` in this value's type (lets table rows name constants without a type).
    fn c(self, v: f64) -> Self {
        Self::k(v)
    }
    fn as_f64(self) -> f64;
    fn abs(self) -> Self;
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn sqrt(self) -> Self;
    fn sin(self) -> Self;
    fn cos(self) -> Self;
    fn tanh(self) -> Self;
    fn powf(self, e: Self) -> Self;
    /// The larger of the two, NaN if either is (PyTorch's `maximum`; `f32::max` passes NaN
    /// over, which would hide a NaN in a model's activations).
    fn max(self, o: Self) -> Self;
    /// The smaller of the two, NaN if either is.
    fn min(self, o: Self) -> Self;
    fn neg_infinity() -> Self;
    fn infinity() -> Self;

    /// erf by Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7), the formula the shaders use;
    /// f32 overrides it with a more accurate one that vectorizes (storage/fast_erf.rs).
    #[inline(always)]
    fn erf(self) -> Self {
        let x = self.as_f64();
        Self::k(erf_given_exp(x, fast_exp::exp(-x * x)))
    }

    /// GELU's derivative Φ(x) + x φ(x), with Φ through the erf above: one exp serves both,
    /// as exp(−(x/√2)²) = exp(−x²/2).
    #[inline(always)]
    fn gelu_grad(self) -> Self {
        let x = self.as_f64();
        let e = fast_exp::exp(-0.5 * x * x);
        let cdf = 0.5 * (1.0 + erf_given_exp(x * std::f64::consts::FRAC_1_SQRT_2, e));
        Self::k(cdf + x * e * 0.398_942_280_401_432_7)
    }
}

/// erf(x) by Abramowitz & Stegun 7.1.26, given exp(−x²).
#[inline]
fn erf_given_exp(x: f64, exp_minus_square: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let y = 1.0 - poly * exp_minus_square;
    if x < 0.0 {
        -y
    } else {
        y
    }
}

macro_rules! impl_real {
    ($t:ty, |$x:ident| $exp:expr $(, $own:item)*) => {
        impl Real for $t {
            $($own)*
            #[inline(always)]
            fn k(v: f64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn as_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            #[inline(always)]
            fn exp(self) -> Self {
                let $x = self;
                $exp
            }
            #[inline(always)]
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline(always)]
            fn sin(self) -> Self {
                <$t>::sin(self)
            }
            #[inline(always)]
            fn cos(self) -> Self {
                <$t>::cos(self)
            }
            #[inline(always)]
            fn tanh(self) -> Self {
                <$t>::tanh(self)
            }
            #[inline(always)]
            fn powf(self, e: Self) -> Self {
                <$t>::powf(self, e)
            }
            #[inline(always)]
            fn max(self, o: Self) -> Self {
                if self.is_nan() || o.is_nan() {
                    self + o
                } else {
                    <$t>::max(self, o)
                }
            }
            #[inline(always)]
            fn min(self, o: Self) -> Self {
                if self.is_nan() || o.is_nan() {
                    self + o
                } else {
                    <$t>::min(self, o)
                }
            }
            #[inline(always)]
            fn neg_infinity() -> Self {
                <$t>::NEG_INFINITY
            }
            #[inline(always)]
            fn infinity() -> Self {
                <$t>::INFINITY
            }
        }
    };
}
// f32's exp goes through the f64 one of storage/fast_exp.rs (within 2 ulp of f64, so
// rounded to f32 within half an ulp and a hair), which vectorizes where libm's calls do
// not; f64, the reference, keeps libm's. Its erf and GELU derivative stay in f32, where
// sixteen lanes fit a vector, and a more accurate erf makes up for f32's rounding.
impl_real!(
    f32,
    |x| fast_exp::exp(x as f64) as f32,
    #[inline(always)]
    fn erf(self) -> f32 {
        fast_erf::erf_f32(self)
    },
    #[inline(always)]
    fn gelu_grad(self) -> f32 {
        let e = fast_exp::exp_f32(-0.5 * self * self);
        let cdf = 0.5 * (1.0 + fast_erf::erf_f32(self * std::f32::consts::FRAC_1_SQRT_2));
        cdf + self * e * 0.398_942_3
    }
);
impl_real!(f64, |x| x.exp());

/// A storable element together with the type its arithmetic runs in.
pub trait Compute: Element {
    type C: Real;
    fn load(self) -> Self::C;
    fn store(c: Self::C) -> Self;
    /// The elements as compute values without a copy, where the two types are one.
    fn as_compute(values: &[Self]) -> Option<&[Self::C]>;
}

impl Compute for f32 {
    type C = f32;
    fn load(self) -> f32 {
        self
    }
    fn store(c: f32) -> Self {
        c
    }
    fn as_compute(values: &[f32]) -> Option<&[f32]> {
        Some(values)
    }
}

impl Compute for f64 {
    type C = f64;
    fn load(self) -> f64 {
        self
    }
    fn store(c: f64) -> Self {
        c
    }
    fn as_compute(values: &[f64]) -> Option<&[f64]> {
        Some(values)
    }
}

impl Compute for f16 {
    type C = f32;
    fn load(self) -> f32 {
        self.to_f32()
    }
    fn store(c: f32) -> Self {
        f16::from_f32(c)
    }
    fn as_compute(_: &[f16]) -> Option<&[f32]> {
        None
    }
}
