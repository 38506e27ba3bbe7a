//! Elementwise ops: unary and binary tables (name, CPU function, WGSL expression), `where`,
//! casts, copies and fills. Binary ops broadcast with NumPy rules; every input is read
//! through its layout, so views (permuted, sliced, expanded) need no copy. Here: the tables,
//! the `Tensor` methods, gradients and CPU kernels; the GPU dispatches are in lowering.rs.

use std::panic::Location;

mod lowering;

pub(crate) use lowering::{dispatch, lower, variant};

use super::real::{Compute, Real};
use super::{Op, StepDesc};
use crate::backend::cpu::strided::map_n;
use crate::backend::cpu::{with_dtype, CpuData};
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::shape::{broadcast_shapes, check_rank, Layout};
use crate::tensor::Tensor;

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
                    $(UnaryOp::$variant => xs.iter_mut().for_each(|v| {
                        let $x = *v;
                        *v = $cpu;
                    })),*
                }
            }

            /// The op over a block: `out[i] = op(xs[i])`.
            #[inline(always)]
            pub(crate) fn apply_to<R: Real>(self, out: &mut [R], xs: &[R]) {
                match self {
                    $(UnaryOp::$variant => out.iter_mut().zip(xs).for_each(|(o, v)| {
                        let $x = *v;
                        *o = $cpu;
                    })),*
                }
            }

            fn map_cpu<T: Compute>(self, input: (&[T], &Layout), out: &mut [T]) {
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
    Relu "relu" |x| if x > x.c(0.0) { x } else { x.c(0.0) }, "relu_(x)";
    Gelu "gelu" |x| x.c(0.5) * x * (x.c(1.0) + (x * x.c(std::f64::consts::FRAC_1_SQRT_2)).erf()),
        "0.5 * x * (1.0 + erf_(x * 0.70710678118654752))";
    Square "square" |x| x * x, "x * x";
    Sign "sign" |x| if x > x.c(0.0) { x.c(1.0) } else if x < x.c(0.0) { x.c(-1.0) } else { x }, "sign(x)";
    Erf "erf" |x| x.erf(), "erf_(x)";
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
                    $(BinaryOp::$variant => xs.iter_mut().zip(ys).for_each(|(v, w)| {
                        let ($a, $b) = (*v, *w);
                        *v = $cpu;
                    })),*
                }
            }

            /// The op over blocks with the result in the right operand: `ys[i] = op(xs[i], ys[i])`.
            #[inline(always)]
            pub(crate) fn apply_rev<R: Real>(self, xs: &[R], ys: &mut [R]) {
                match self {
                    $(BinaryOp::$variant => ys.iter_mut().zip(xs).for_each(|(w, v)| {
                        let ($a, $b) = (*v, *w);
                        *w = $cpu;
                    })),*
                }
            }

            /// The op over blocks: `out[i] = op(xs[i], ys[i])`.
            #[inline(always)]
            pub(crate) fn apply_to<R: Real>(self, out: &mut [R], xs: &[R], ys: &[R]) {
                match self {
                    $(BinaryOp::$variant => out.iter_mut().zip(xs.iter().zip(ys)).for_each(|(o, (v, w))| {
                        let ($a, $b) = (*v, *w);
                        *o = $cpu;
                    })),*
                }
            }

            fn map_cpu<T: Compute>(self, lhs: (&[T], &Layout), rhs: (&[T], &Layout), out: &mut [T]) {
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

fn flag<R: Real>(c: bool) -> R {
    R::k(if c { 1.0 } else { 0.0 })
}

binary_table! {
    Add "add" |a, b| a + b, "a + b";
    Sub "sub" |a, b| a - b, "a - b";
    Mul "mul" |a, b| a * b, "a * b";
    Div "div" |a, b| a / b, "a / b";
    Pow "pow" |a, b| a.powf(b), "pow_(a, b)";
    Maximum "maximum" |a, b| a.max(b), "max(a, b)";
    Minimum "minimum" |a, b| a.min(b), "min(a, b)";
    Eq "eq" |a, b| flag(a == b), "flag(a == b)";
    Ne "ne" |a, b| flag(a != b), "flag(a != b)";
    Lt "lt" |a, b| flag(a < b), "flag(a < b)";
    Le "le" |a, b| flag(a <= b), "flag(a <= b)";
    Gt "gt" |a, b| flag(a > b), "flag(a > b)";
    Ge "ge" |a, b| flag(a >= b), "flag(a >= b)";
}

macro_rules! unary_methods {
    ($($method:ident $variant:ident;)*) => {
        impl Tensor {
            $(
                #[doc = concat!("Elementwise `", stringify!($method), "`.")]
                pub fn $method(&self) -> Tensor {
                    self.unary(UnaryOp::$variant)
                }
            )*
        }
    };
}

unary_methods! {
    sign Sign; erf Erf;
    neg Neg; abs Abs; exp Exp; log Log; sqrt Sqrt; rsqrt Rsqrt; recip Recip; sin Sin; cos Cos;
    tanh Tanh; sigmoid Sigmoid; relu Relu; gelu Gelu; square Square;
}

macro_rules! binary_methods {
    ($($method:ident $variant:ident;)*) => {
        impl Tensor {
            $(
                #[doc = concat!("Elementwise `", stringify!($method), "` with NumPy broadcasting.")]
                #[track_caller]
                pub fn $method(&self, rhs: &Tensor) -> Result<Tensor> {
                    self.binary(BinaryOp::$variant, rhs)
                }
            )*
        }
    };
}

binary_methods! {
    add Add; sub Sub; mul Mul; div Div; pow Pow; maximum Maximum; minimum Minimum;
    eq Eq; ne Ne; lt Lt; le Le; gt Gt; ge Ge;
}

impl Tensor {
    pub fn unary(&self, op: UnaryOp) -> Tensor {
        Tensor::from_op(
            Op::Unary(op),
            vec![self.clone()],
            self.shape().to_vec(),
            self.dtype(),
            self.device().clone(),
        )
    }

    #[track_caller]
    pub fn binary(&self, op: BinaryOp, rhs: &Tensor) -> Result<Tensor> {
        let name = op.name();
        let device = self.same_device(name, rhs)?;
        self.same_dtype(name, rhs)?;
        let shape = broadcast_shapes(name, self.shape(), rhs.shape())?;
        let inputs = vec![self.expand_view(&shape), rhs.expand_view(&shape)];
        Ok(Tensor::from_op(
            Op::Binary(op),
            inputs,
            shape,
            self.dtype(),
            device,
        ))
    }

    /// `self + value`.
    #[track_caller]
    pub fn add_scalar(&self, value: f64) -> Result<Tensor> {
        self.binary_scalar(BinaryOp::Add, value)
    }

    /// `self * value`.
    #[track_caller]
    pub fn mul_scalar(&self, value: f64) -> Result<Tensor> {
        self.binary_scalar(BinaryOp::Mul, value)
    }

    /// `self ^ value`.
    #[track_caller]
    pub fn pow_scalar(&self, value: f64) -> Result<Tensor> {
        self.binary_scalar(BinaryOp::Pow, value)
    }

    /// `self` op a scalar (a broadcast fill of the same dtype and device).
    #[track_caller]
    pub fn binary_scalar(&self, op: BinaryOp, value: f64) -> Result<Tensor> {
        self.binary(op, &Tensor::constant(value, self.dtype(), self.device())?)
    }

    /// Elements of `a` where `self` is nonzero, else of `b`; all three broadcast together.
    #[track_caller]
    pub fn where_(&self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        let device = self.same_device("where", a)?;
        a.same_device("where", b)?;
        self.same_dtype("where", a)?;
        a.same_dtype("where", b)?;
        let shape = broadcast_shapes("where", self.shape(), a.shape())?;
        let shape = broadcast_shapes("where", &shape, b.shape())?;
        let inputs = vec![
            self.expand_view(&shape),
            a.expand_view(&shape),
            b.expand_view(&shape),
        ];
        Ok(Tensor::from_op(Op::Where, inputs, shape, a.dtype(), device))
    }

    /// Convert to `dtype` (a no-op when it already is).
    #[track_caller]
    pub fn cast(&self, dtype: DType) -> Result<Tensor> {
        if dtype == self.dtype() {
            return Ok(self.clone());
        }
        self.device().check_dtype("cast", dtype)?;
        Ok(Tensor::from_op(
            Op::Cast,
            vec![self.clone()],
            self.shape().to_vec(),
            dtype,
            self.device().clone(),
        ))
    }

    /// A dense copy if this is a view that is not already dense (row-major from its offset).
    pub fn contiguous(&self) -> Tensor {
        if self.layout.is_contiguous() {
            return self.clone();
        }
        Tensor::from_op(
            Op::Copy,
            vec![self.clone()],
            self.shape().to_vec(),
            self.dtype(),
            self.device().clone(),
        )
    }

    /// A tensor of `shape` whose every element is `value`. Lazy: nothing is uploaded.
    #[track_caller]
    pub fn full(
        shape: &[usize],
        value: f64,
        dtype: DType,
        device: &crate::Device,
    ) -> Result<Tensor> {
        check_rank("full", shape)?;
        device.check_dtype("full", dtype)?;
        Ok(Tensor::from_op(
            Op::Fill(value.to_bits()),
            Vec::new(),
            shape.to_vec(),
            dtype,
            device.clone(),
        ))
    }

    #[track_caller]
    pub fn zeros(shape: &[usize], dtype: DType, device: &crate::Device) -> Result<Tensor> {
        Tensor::full(shape, 0.0, dtype, device)
    }

    #[track_caller]
    pub fn ones(shape: &[usize], dtype: DType, device: &crate::Device) -> Result<Tensor> {
        Tensor::full(shape, 1.0, dtype, device)
    }

    #[track_caller]
    pub(crate) fn same_dtype(&self, op: &'static str, other: &Tensor) -> Result<()> {
        if self.dtype() != other.dtype() {
            return Err(Error::DtypeMismatch {
                op,
                lhs: self.dtype(),
                rhs: other.dtype(),
                location: Location::caller(),
            });
        }
        Ok(())
    }
}

/// d/dx of each unary op, as ops on the input `x`, the output `y` and the gradient `g`.
pub(crate) fn unary_grad(
    op: UnaryOp,
    x: &Tensor,
    y: &Tensor,
    g: &Tensor,
) -> Result<Option<Tensor>> {
    use std::f64::consts::{FRAC_1_SQRT_2, PI};
    let d = match op {
        UnaryOp::Neg => g.neg(),
        UnaryOp::Abs => g.mul(&x.sign())?,
        UnaryOp::Exp => g.mul(y)?,
        UnaryOp::Log => g.div(x)?,
        // d sqrt(x) = 1 / (2 sqrt x)
        UnaryOp::Sqrt => g.div(&y.mul_scalar(2.0)?)?,
        // d x^(-1/2) = -x^(-3/2) / 2 = -y^3 / 2
        UnaryOp::Rsqrt => g.mul(&y.square().mul(y)?.mul_scalar(-0.5)?)?,
        // d (1/x) = -1/x^2 = -y^2
        UnaryOp::Recip => g.mul(&y.square().neg())?,
        UnaryOp::Sin => g.mul(&x.cos())?,
        UnaryOp::Cos => g.mul(&x.sin().neg())?,
        UnaryOp::Tanh => g.mul(&y.square().neg().add_scalar(1.0)?)?,
        UnaryOp::Sigmoid => g.mul(&y.mul(&y.neg().add_scalar(1.0)?)?)?,
        UnaryOp::Relu => g.mul(&x.binary_scalar(BinaryOp::Gt, 0.0)?)?,
        // gelu(x) = x Φ(x): d = Φ(x) + x φ(x), φ(x) = exp(-x^2/2) / sqrt(2π)
        UnaryOp::Gelu => {
            let cdf = x
                .mul_scalar(FRAC_1_SQRT_2)?
                .erf()
                .add_scalar(1.0)?
                .mul_scalar(0.5)?;
            let pdf = x
                .square()
                .mul_scalar(-0.5)?
                .exp()
                .mul_scalar(1.0 / (2.0 * PI).sqrt())?;
            g.mul(&cdf.add(&x.mul(&pdf)?)?)?
        }
        UnaryOp::Square => g.mul(&x.mul_scalar(2.0)?)?,
        UnaryOp::Sign => return Ok(None),
        // d erf(x) = 2/sqrt(π) exp(-x^2)
        UnaryOp::Erf => g.mul(&x.square().neg().exp().mul_scalar(2.0 / PI.sqrt())?)?,
    };
    Ok(Some(d))
}

/// Gradients of a binary op with respect to each (broadcast) operand.
pub(crate) fn binary_grad(
    op: BinaryOp,
    a: &Tensor,
    b: &Tensor,
    y: &Tensor,
    g: &Tensor,
) -> Result<(Option<Tensor>, Option<Tensor>)> {
    // Ties of maximum/minimum split the gradient evenly, as PyTorch does.
    let share =
        |first: BinaryOp| -> Result<Tensor> { a.binary(first, b)?.add(&a.eq(b)?.mul_scalar(0.5)?) };
    Ok(match op {
        BinaryOp::Add => (Some(g.clone()), Some(g.clone())),
        BinaryOp::Sub => (Some(g.clone()), Some(g.neg())),
        BinaryOp::Mul => (Some(g.mul(b)?), Some(g.mul(a)?)),
        // d(a/b)/db = -a/b^2 = -y/b
        BinaryOp::Div => (Some(g.div(b)?), Some(g.mul(y)?.div(b)?.neg())),
        // d a^b/da = b a^(b-1); d a^b/db = a^b ln a, taken as 0 where a ≤ 0 (ln undefined)
        BinaryOp::Pow => {
            let da = g.mul(&b.mul(&a.pow(&b.add_scalar(-1.0)?)?)?)?;
            let zero = Tensor::constant(0.0, y.dtype(), y.device())?;
            let positive = a.binary_scalar(BinaryOp::Gt, 0.0)?;
            let db = g.mul(&positive.where_(&y.mul(&a.log())?, &zero)?)?;
            (Some(da), Some(db))
        }
        BinaryOp::Maximum | BinaryOp::Minimum => {
            let first = if op == BinaryOp::Maximum {
                BinaryOp::Gt
            } else {
                BinaryOp::Lt
            };
            let to_a = share(first)?;
            (
                Some(g.mul(&to_a)?),
                Some(g.mul(&to_a.neg().add_scalar(1.0)?)?),
            )
        }
        BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
            (None, None)
        }
    })
}

pub(crate) fn run_cpu(step: &StepDesc, inputs: &[&CpuData], out: &mut CpuData) -> Result<()> {
    let ins: Vec<&Layout> = step.inputs.iter().map(|(_, l)| *l).collect();
    match step.op {
        Op::Unary(op) => with_dtype!(step.out_dtype, T => {
            op.map_cpu::<T>((inputs[0].slice(), ins[0]), out.slice_mut())
        }),
        Op::Binary(op) => with_dtype!(step.out_dtype, T => {
            op.map_cpu::<T>((inputs[0].slice(), ins[0]), (inputs[1].slice(), ins[1]), out.slice_mut())
        }),
        Op::Where => with_dtype!(step.out_dtype, T => map_n(
            [(inputs[0].slice::<T>(), ins[0]), (inputs[1].slice(), ins[1]), (inputs[2].slice(), ins[2])],
            out.slice_mut::<T>(),
            |[c, a, b]| if c.to_f64() != 0.0 { a } else { b },
        )),
        Op::Copy => with_dtype!(step.out_dtype, T => {
            map_n([(inputs[0].slice::<T>(), ins[0])], out.slice_mut::<T>(), |[v]| v)
        }),
        Op::Cast => with_dtype!(step.inputs[0].0, I => with_dtype!(step.out_dtype, O => {
            map_n([(inputs[0].slice::<I>(), ins[0])], out.slice_mut::<O>(), |[v]| O::from_f64(v.to_f64()))
        })),
        Op::Fill(bits) => with_dtype!(step.out_dtype, T => {
            out.slice_mut::<T>().fill(T::from_f64(f64::from_bits(*bits)))
        }),
        Op::Random => with_dtype!(step.inputs[0].0, S => with_dtype!(step.out_dtype, T => {
            let seed = inputs[0].slice::<S>()[ins[0].offset].to_f64() as u32;
            out.slice_mut::<T>().iter_mut().enumerate().for_each(|(i, o)| *o = T::from_f64(super::random::hashed_uniform(seed, i as u32)));
        })),
        _ => unreachable!("not an elementwise op: {:?}", step.op),
    }
    Ok(())
}
