//! Elementwise ops: unary and binary ops (table.rs), `where`, casts, copies, fills and
//! seeded uniform samples. Binary ops broadcast with NumPy rules; every input is read
//! through its layout, so views (permuted, sliced, expanded) need no copy. Here: the
//! `Tensor` methods, shape rules and gradients; the kernels are cpu.rs and gpu.rs, and
//! fused/ runs the planner's chains of elementwise ops as one kernel.

pub(crate) mod cpu;
pub(crate) mod fused;
pub(crate) mod gpu;
pub(crate) mod random;
pub(crate) mod table;

use std::panic::Location;

use crate::device::Device;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::Tensor;
use crate::ops::elementwise::table::{BinaryOp, UnaryOp};
use crate::ops::op::Op;
use crate::shape::{broadcast_shapes, check_shape};

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
    tanh Tanh; sigmoid Sigmoid; relu Relu; gelu Gelu; square Square; silu Silu;
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

// Comparisons give 1 or 0 in the operands' dtype: floats, which masks multiply and fused
// kernels take, or i32, compared exactly.
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
        if !self.dtype().is_float() && op.comparison().is_none() {
            return Err(Error::integer_arithmetic(name));
        }
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

    /// Each element limited to [`min`, `max`], as PyTorch's `clamp`: the gradient passes
    /// where min ≤ x ≤ max (both ends included). A NaN element stays NaN and, unlike in
    /// PyTorch, passes its gradient.
    #[track_caller]
    pub fn clamp(&self, min: f64, max: f64) -> Result<Tensor> {
        if min.is_nan() || max.is_nan() || min > max {
            return Err(Error::invalid(
                "clamp",
                format!("needs min ≤ max, got min {min} and max {max}"),
            ));
        }
        let constant = |v: f64| Tensor::constant(v, self.dtype(), self.device());
        let below = self.binary_scalar(BinaryOp::Lt, min)?;
        let above = self.binary_scalar(BinaryOp::Gt, max)?;
        below.where_cond(&constant(min)?, &above.where_cond(&constant(max)?, self)?)
    }

    /// Elements of `a` where `self` is nonzero, else of `b`; all three broadcast together.
    #[track_caller]
    pub fn where_cond(&self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
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

    /// Convert to `dtype` (a no-op when it already is). To i32, values round toward zero
    /// and saturate at the largest i32 the source type holds (f32 and f16: 2^31 − 128, as
    /// WGSL defines it); NaN gives 0.
    /// From i32, values round to the nearest, ties to even.
    #[track_caller]
    pub fn cast(&self, dtype: DType) -> Result<Tensor> {
        if dtype == self.dtype() {
            return Ok(self.clone());
        }
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

    /// A tensor of `shape` whose every element is `value`. Lazy: nothing is uploaded, but
    /// for i32, whose value is one shared element seen through a broadcast view (a fill
    /// kernel passes its value as f32, exact only to 2^24).
    #[track_caller]
    pub fn full(shape: &[usize], value: f64, dtype: DType, device: &Device) -> Result<Tensor> {
        check_shape("full", shape)?;
        if dtype == DType::I32 {
            if value.fract() != 0.0 || value < i32::MIN as f64 || value > i32::MAX as f64 {
                return Err(Error::invalid(
                    "full",
                    format!("{value} is not an i32 value"),
                ));
            }
            return Ok(Tensor::constant(value, dtype, device)?.expand_view(shape));
        }
        Ok(Tensor::from_op(
            Op::Fill(value.to_bits()),
            Vec::new(),
            shape.to_vec(),
            dtype,
            device.clone(),
        ))
    }

    #[track_caller]
    pub fn zeros(shape: &[usize], dtype: DType, device: &Device) -> Result<Tensor> {
        Tensor::full(shape, 0.0, dtype, device)
    }

    #[track_caller]
    pub fn ones(shape: &[usize], dtype: DType, device: &Device) -> Result<Tensor> {
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
    use std::f64::consts::PI;
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
        UnaryOp::Gelu => g.mul(&x.unary(UnaryOp::GeluGrad))?,
        UnaryOp::Square => g.mul(&x.mul_scalar(2.0)?)?,
        // silu(x) = x σ(x): d = σ(x) (1 + x (1 − σ(x)))
        UnaryOp::Silu => {
            let s = x.sigmoid();
            g.mul(&s.mul(&x.mul(&s.neg().add_scalar(1.0)?)?.add_scalar(1.0)?)?)?
        }
        UnaryOp::Sign => return Ok(None),
        // Φ'(x) + φ(x) + x φ'(x) = φ(x) (2 − x²)
        UnaryOp::GeluGrad => g.mul(
            &x.square()
                .mul_scalar(-0.5)?
                .exp()
                .mul_scalar(1.0 / (2.0 * PI).sqrt())?
                .mul(&x.square().neg().add_scalar(2.0)?)?,
        )?,
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
            let db = g.mul(&positive.where_cond(&y.mul(&a.log())?, &zero)?)?;
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

impl Tensor {
    /// Uniform samples in [0, 1) of `shape`, generated on the device from the value of
    /// `seed` (a one-element tensor holding an integer below 2^24). A new seed each call
    /// gives new samples without changing the plan.
    #[track_caller]
    pub fn random_like_seed(shape: &[usize], seed: &Tensor, dtype: DType) -> Result<Tensor> {
        check_shape("random", shape)?;
        if seed.numel() != 1 {
            return Err(Error::invalid(
                "random",
                format!(
                    "the seed must have one element, it has shape {:?}",
                    seed.shape()
                ),
            ));
        }
        let device = seed.device().clone();
        Ok(Tensor::from_op(
            Op::Random,
            vec![seed.reshape_usize(&[])?],
            shape.to_vec(),
            dtype,
            device,
        ))
    }
}
