//! Arithmetic operators on tensors, in the style of candle: `&a + &b`, `&a * 2.0`,
//! `2.0 - &a`, `-&a`. A binary operator records the op and returns `Result<Tensor>`, as the
//! named methods do (`add`, `mul_scalar`, ...); a `Result<Tensor>` is accepted on the left,
//! so `(&a + &b) * &c` chains and its first error comes out at the end
//! (Rust's orphan rule forbids a scalar after a `Result`: write `(&a + &b)? * 2.0`).

use std::ops::{Add, Div, Mul, Neg, Sub};

use crate::error::Result;
use crate::graph::Tensor;
use crate::ops::BinaryOp;

/// `value op t` for a scalar on the left: `t` is broadcast against a 0-d constant.
fn scalar_left(value: f64, op: BinaryOp, t: &Tensor) -> Result<Tensor> {
    Tensor::constant(value, t.dtype(), t.device())?.binary(op, t)
}

macro_rules! binary_operator {
    ($trait:ident, $method:ident, $op:expr) => {
        impl $trait<&Tensor> for &Tensor {
            type Output = Result<Tensor>;
            #[track_caller]
            fn $method(self, rhs: &Tensor) -> Result<Tensor> {
                self.binary($op, rhs)
            }
        }

        impl $trait<Tensor> for &Tensor {
            type Output = Result<Tensor>;
            #[track_caller]
            fn $method(self, rhs: Tensor) -> Result<Tensor> {
                self.binary($op, &rhs)
            }
        }

        impl $trait<&Tensor> for Tensor {
            type Output = Result<Tensor>;
            #[track_caller]
            fn $method(self, rhs: &Tensor) -> Result<Tensor> {
                self.binary($op, rhs)
            }
        }

        impl $trait<Tensor> for Tensor {
            type Output = Result<Tensor>;
            #[track_caller]
            fn $method(self, rhs: Tensor) -> Result<Tensor> {
                self.binary($op, &rhs)
            }
        }

        impl $trait<f64> for &Tensor {
            type Output = Result<Tensor>;
            #[track_caller]
            fn $method(self, rhs: f64) -> Result<Tensor> {
                self.binary_scalar($op, rhs)
            }
        }

        impl $trait<f64> for Tensor {
            type Output = Result<Tensor>;
            #[track_caller]
            fn $method(self, rhs: f64) -> Result<Tensor> {
                self.binary_scalar($op, rhs)
            }
        }

        impl $trait<&Tensor> for f64 {
            type Output = Result<Tensor>;
            #[track_caller]
            fn $method(self, rhs: &Tensor) -> Result<Tensor> {
                scalar_left(self, $op, rhs)
            }
        }

        impl $trait<Tensor> for f64 {
            type Output = Result<Tensor>;
            #[track_caller]
            fn $method(self, rhs: Tensor) -> Result<Tensor> {
                scalar_left(self, $op, &rhs)
            }
        }

        impl $trait<&Tensor> for Result<Tensor> {
            type Output = Result<Tensor>;
            #[track_caller]
            fn $method(self, rhs: &Tensor) -> Result<Tensor> {
                self?.binary($op, rhs)
            }
        }

        impl $trait<Tensor> for Result<Tensor> {
            type Output = Result<Tensor>;
            #[track_caller]
            fn $method(self, rhs: Tensor) -> Result<Tensor> {
                self?.binary($op, &rhs)
            }
        }

        impl $trait<Result<Tensor>> for &Tensor {
            type Output = Result<Tensor>;
            #[track_caller]
            fn $method(self, rhs: Result<Tensor>) -> Result<Tensor> {
                self.binary($op, &rhs?)
            }
        }
    };
}

binary_operator!(Add, add, BinaryOp::Add);
binary_operator!(Sub, sub, BinaryOp::Sub);
binary_operator!(Mul, mul, BinaryOp::Mul);
binary_operator!(Div, div, BinaryOp::Div);

impl Neg for &Tensor {
    type Output = Tensor;
    fn neg(self) -> Tensor {
        Tensor::neg(self)
    }
}

impl Neg for Tensor {
    type Output = Tensor;
    fn neg(self) -> Tensor {
        Tensor::neg(&self)
    }
}
