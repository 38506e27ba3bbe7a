// The helpers of the elementwise ops, written once for elementwise.wgsl (F = f32, B = bool)
// and elementwise_vec4.wgsl (F = vec4<f32>, B = vec4<bool>), each rendered after this
// prelude: WGSL's builtins and arithmetic work lane by lane on vectors, so one text serves
// both. Each file adds `pow_` over `pow1`.

// NaN by its bits: shader compilers may assume that x == x.
fn is_nan_(x: F) -> B {
    return (bitcast<U>(x) & U(0x7fffffffu)) > U(0x7f800000u);
}

// max and min that give NaN where either operand is NaN, as PyTorch's maximum and minimum
// do (WGSL leaves max and min of NaN to the implementation, which mostly drops the NaN).
fn max_or_nan(a: F, b: F) -> F {
    return select(select(max(a, b), b, is_nan_(b)), a, is_nan_(a));
}

fn min_or_nan(a: F, b: F) -> F {
    return select(select(min(a, b), b, is_nan_(b)), a, is_nan_(a));
}

// NaN keeps its NaN (WGSL's sign leaves it to the implementation, which may give 0).
fn sign_or_nan(x: F) -> F {
    return select(sign(x), x, is_nan_(x));
}

fn relu_(x: F) -> F {
    return max_or_nan(x, F(0.0));
}

// Comparisons as 1 or 0.
fn flag(c: B) -> F {
    return select(F(0.0), F(1.0), c);
}

// tanh through exp(-2|x|): never overflows, unlike (e^x - e^-x) / (e^x + e^-x).
fn tanh_(x: F) -> F {
    let e = exp(-2.0 * abs(x));
    return sign(x) * (1.0 - e) / (1.0 + e);
}

// erf by Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7), as the CPU path computes it, given
// exp(-x^2).
fn erf_given_exp(x: F, e: F) -> F {
    let t = 1.0 / (1.0 + 0.3275911 * abs(x));
    let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    return sign(x) * (1.0 - poly * e);
}

fn erf_(x: F) -> F {
    return erf_given_exp(x, exp(-x * x));
}

// GELU's derivative Φ(x) + x φ(x): one exp serves both, as exp(-(x/√2)^2) = exp(-x^2/2).
fn gelu_grad_(x: F) -> F {
    let e = exp(-0.5 * x * x);
    return 0.5 * (1.0 + erf_given_exp(x * 0.70710678118654752, e)) + x * e * 0.3989422804014327;
}

// pow with C's rules, which WGSL's pow (defined only for a > 0) lacks:
// x^0 = 1 and 1^y = 1 (NaN too), NaN otherwise where either is NaN, 0^y = 0 for y > 0, and a
// negative base with an integer exponent.
fn pow1(a: f32, b: f32) -> f32 {
    if (b == 0.0 || a == 1.0) {
        return 1.0;
    }
    if (max(bitcast<u32>(a) & 0x7fffffffu, bitcast<u32>(b) & 0x7fffffffu) > 0x7f800000u) {
        return bitcast<f32>(0x7fc00000u);
    }
    if (a == 0.0) {
        return select(0.0, bitcast<f32>(0x7f800000u), b < 0.0);
    }
    if (a > 0.0) {
        return pow(a, b);
    }
    if (b != floor(b)) {
        return bitcast<f32>(0x7fc00000u);
    }
    let magnitude = pow(-a, b);
    return select(magnitude, -magnitude, (abs(b) % 2.0) == 1.0);
}
