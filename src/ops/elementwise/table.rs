//! The elementwise tables: each unary and binary op once, with its name, its CPU function
//! and its WGSL expression.

use crate::shape::Layout;
use crate::storage::arithmetic::{Compute, Real};
use crate::storage::strided::map_n;

macro_rules! unary_table {
    ($($variant:ident $name:literal |$x:ident| $cpu:expr, $wgsl:literal;)*) => {
        /// Elementwise functions of one tensor.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum UnaryOp { $($variant),* }

        impl UnaryOp {
            pub const ALL: &'static [UnaryOp] = &[$(UnaryOp::$variant),*];

            pub fn name(self) -> &'static str {
                match self { $(UnaryOp::$variant => $name),* }
            }

            /// The op as a WGSL expression of `x: f32`.
            pub(crate) fn wgsl(self) -> &'static str {
                match self { $(UnaryOp::$variant => $wgsl),* }
            }

            /// The op in the CPU path's arithmetic.
            pub fn eval<R: Real>(self, v: R) -> R {
                match self { $(UnaryOp::$variant => { let $x = v; $cpu }),* }
            }

            /// The op over a block, in place (the match is outside the loop).
            #[inline(always)]
            pub(crate) fn apply<R: Real>(self, xs: &mut [R]) {
                match self {
                    $(UnaryOp::$variant => for v in xs.iter_mut() {
                        let $x = *v;
                        *v = $cpu;
                    }),*
                }
            }

            /// The op over a block: `out[i] = op(xs[i])`.
            #[inline(always)]
            pub(crate) fn apply_to<R: Real>(self, out: &mut [R], xs: &[R]) {
                match self {
                    $(UnaryOp::$variant => for (o, &$x) in out.iter_mut().zip(xs) {
                        *o = $cpu;
                    }),*
                }
            }

            pub(crate) fn map_cpu<T: Compute>(self, input: (&[T], &Layout), out: &mut [T]) {
                match self {
                    $(UnaryOp::$variant => map_n([input], out, |[v]| {
                        let $x = v.load();
                        T::store($cpu)
                    })),*
                }
            }
        }
    };
}

unary_table! {
    Neg "neg" |x| -x, "-x";
    Abs "abs" |x| x.abs(), "abs(x)";
    Exp "exp" |x| x.exp(), "exp(x)";
    Log "log" |x| x.ln(), "log(x)";
    Sqrt "sqrt" |x| x.sqrt(), "sqrt(x)";
    Rsqrt "rsqrt" |x| x.c(1.0) / x.sqrt(), "inverseSqrt(x)";
    Recip "recip" |x| x.c(1.0) / x, "1.0 / x";
    Sin "sin" |x| x.sin(), "sin(x)";
    Cos "cos" |x| x.cos(), "cos(x)";
    Tanh "tanh" |x| x.tanh(), "tanh_(x)";
    Sigmoid "sigmoid" |x| x.c(1.0) / (x.c(1.0) + (-x).exp()), "1.0 / (1.0 + exp(-x))";
    Relu "relu" |x| x.max(x.c(0.0)), "relu_(x)";
    Gelu "gelu" |x| x.c(0.5) * x * (x.c(1.0) + (x * x.c(std::f64::consts::FRAC_1_SQRT_2)).erf()),
        "0.5 * x * (1.0 + erf_(x * 0.70710678118654752))";
    Square "square" |x| x * x, "x * x";
    Silu "silu" |x| x / (x.c(1.0) + (-x).exp()), "x / (1.0 + exp(-x))";
    Sign "sign" |x| if x > x.c(0.0) { x.c(1.0) } else if x < x.c(0.0) { x.c(-1.0) } else { x }, "sign_or_nan(x)";
    Erf "erf" |x| x.erf(), "erf_(x)";
    GeluGrad "gelu_grad" |x| x.gelu_grad(), "gelu_grad_(x)";
}

macro_rules! binary_table {
    ($($variant:ident $name:literal |$a:ident, $b:ident| $cpu:expr, $wgsl:literal;)*) => {
        /// Elementwise functions of two broadcast tensors. Comparisons give 1 or 0.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum BinaryOp { $($variant),* }

        impl BinaryOp {
            pub const ALL: &'static [BinaryOp] = &[$(BinaryOp::$variant),*];

            pub fn name(self) -> &'static str {
                match self { $(BinaryOp::$variant => $name),* }
            }

            /// The op as a WGSL expression of `a: f32` and `b: f32`.
            pub(crate) fn wgsl(self) -> &'static str {
                match self { $(BinaryOp::$variant => $wgsl),* }
            }

            /// The op in the CPU path's arithmetic.
            pub fn eval<R: Real>(self, va: R, vb: R) -> R {
                match self { $(BinaryOp::$variant => { let ($a, $b) = (va, vb); $cpu }),* }
            }

            /// The op over blocks: `xs[i] = op(xs[i], ys[i])`.
            #[inline(always)]
            pub(crate) fn apply<R: Real>(self, xs: &mut [R], ys: &[R]) {
                match self {
                    $(BinaryOp::$variant => for (v, &$b) in xs.iter_mut().zip(ys) {
                        let $a = *v;
                        *v = $cpu;
                    }),*
                }
            }

            /// The op over blocks with the result in the right operand: `ys[i] = op(xs[i], ys[i])`.
            #[inline(always)]
            pub(crate) fn apply_rev<R: Real>(self, xs: &[R], ys: &mut [R]) {
                match self {
                    $(BinaryOp::$variant => for (w, &$a) in ys.iter_mut().zip(xs) {
                        let $b = *w;
                        *w = $cpu;
                    }),*
                }
            }

            /// The op over blocks: `out[i] = op(xs[i], ys[i])`.
            #[inline(always)]
            pub(crate) fn apply_to<R: Real>(self, out: &mut [R], xs: &[R], ys: &[R]) {
                match self {
                    $(BinaryOp::$variant => for (o, (&$a, &$b)) in out.iter_mut().zip(xs.iter().zip(ys)) {
                        *o = $cpu;
                    }),*
                }
            }

            pub(crate) fn map_cpu<T: Compute>(self, lhs: (&[T], &Layout), rhs: (&[T], &Layout), out: &mut [T]) {
                match self {
                    $(BinaryOp::$variant => map_n([lhs, rhs], out, |[va, vb]| {
                        let ($a, $b) = (va.load(), vb.load());
                        T::store($cpu)
                    })),*
                }
            }
        }
    };
}

impl BinaryOp {
    /// A comparison as a WGSL expression of `a` and `b` of the storage type, giving
    /// booleans (of vectors, lane by lane): what i32 comparisons run, exactly.
    pub(crate) fn comparison(self) -> Option<&'static str> {
        Some(match self {
            BinaryOp::Eq => "a == b",
            BinaryOp::Ne => "a != b",
            BinaryOp::Lt => "a < b",
            BinaryOp::Le => "a <= b",
            BinaryOp::Gt => "a > b",
            BinaryOp::Ge => "a >= b",
            _ => return None,
        })
    }

    /// The comparison of two values of any ordered type, for i32 on the CPU path.
    pub(crate) fn compare<T: PartialOrd>(self, a: T, b: T) -> Option<bool> {
        Some(match self {
            BinaryOp::Eq => a == b,
            BinaryOp::Ne => a != b,
            BinaryOp::Lt => a < b,
            BinaryOp::Le => a <= b,
            BinaryOp::Gt => a > b,
            BinaryOp::Ge => a >= b,
            _ => return None,
        })
    }
}

fn flag<R: Real>(c: bool) -> R {
    R::k(if c { 1.0 } else { 0.0 })
}

binary_table! {
    Add "add" |a, b| a + b, "a + b";
    Sub "sub" |a, b| a - b, "a - b";
    Mul "mul" |a, b| a * b, "a * b";
    Div "div" |a, b| a / b, "a / b";
    Pow "pow" |a, b| a.powf(b), "pow_(a, b)";
    Maximum "maximum" |a, b| a.max(b), "max_or_nan(a, b)";
    Minimum "minimum" |a, b| a.min(b), "min_or_nan(a, b)";
    Eq "eq" |a, b| flag(a == b), "flag(a == b)";
    Ne "ne" |a, b| flag(a != b), "flag((a != b) | is_nan_(a) | is_nan_(b))";
    Lt "lt" |a, b| flag(a < b), "flag(a < b)";
    Le "le" |a, b| flag(a <= b), "flag(a <= b)";
    Gt "gt" |a, b| flag(a > b), "flag(a > b)";
    Ge "ge" |a, b| flag(a >= b), "flag(a >= b)";
}
