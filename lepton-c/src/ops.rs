//! Ops on tensors, each returning a new tensor (pending: computed when read, with the ops
//! before it in one plan) or NULL with the reason in `lepton_last_error()`.

use lepton::Tensor;

use crate::status::{borrow, make, Failure};
use crate::tensor::{host_slice, LeptonTensor};

/// An op of two tensors, as `op`.
///
/// # Safety
/// `a` and `b` are live tensor handles (NULL is refused).
unsafe fn binary(
    a: *const LeptonTensor,
    b: *const LeptonTensor,
    op: impl FnOnce(&Tensor, &Tensor) -> lepton::Result<Tensor>,
) -> *mut LeptonTensor {
    make(|| {
        // SAFETY: the caller's promise above.
        let (a, b) = unsafe { (borrow(a, "a")?, borrow(b, "b")?) };
        Ok(LeptonTensor(op(&a.0, &b.0)?))
    })
}

/// An op of one tensor, as `op`.
///
/// # Safety
/// `a` is a live tensor handle (NULL is refused).
unsafe fn unary(
    a: *const LeptonTensor,
    op: impl FnOnce(&Tensor) -> Result<Tensor, Failure>,
) -> *mut LeptonTensor {
    make(|| {
        // SAFETY: the caller's promise above.
        let a = unsafe { borrow(a, "a") }?;
        Ok(LeptonTensor(op(&a.0)?))
    })
}

/// `a + b`, broadcasting as NumPy does.
///
/// # Safety
/// `a` and `b` are live tensor handles.
#[no_mangle]
pub unsafe extern "C" fn lepton_add(
    a: *const LeptonTensor,
    b: *const LeptonTensor,
) -> *mut LeptonTensor {
    // SAFETY: the caller's promise above.
    unsafe { binary(a, b, Tensor::add) }
}

/// `a - b`, broadcasting.
///
/// # Safety
/// `a` and `b` are live tensor handles.
#[no_mangle]
pub unsafe extern "C" fn lepton_sub(
    a: *const LeptonTensor,
    b: *const LeptonTensor,
) -> *mut LeptonTensor {
    // SAFETY: the caller's promise above.
    unsafe { binary(a, b, Tensor::sub) }
}

/// `a * b` elementwise, broadcasting.
///
/// # Safety
/// `a` and `b` are live tensor handles.
#[no_mangle]
pub unsafe extern "C" fn lepton_mul(
    a: *const LeptonTensor,
    b: *const LeptonTensor,
) -> *mut LeptonTensor {
    // SAFETY: the caller's promise above.
    unsafe { binary(a, b, Tensor::mul) }
}

/// `a / b` elementwise, broadcasting.
///
/// # Safety
/// `a` and `b` are live tensor handles.
#[no_mangle]
pub unsafe extern "C" fn lepton_div(
    a: *const LeptonTensor,
    b: *const LeptonTensor,
) -> *mut LeptonTensor {
    // SAFETY: the caller's promise above.
    unsafe { binary(a, b, Tensor::div) }
}

/// The matrix product of `a` [..., m, k] and `b` [..., k, n] (batch axes broadcast).
///
/// # Safety
/// `a` and `b` are live tensor handles.
#[no_mangle]
pub unsafe extern "C" fn lepton_matmul(
    a: *const LeptonTensor,
    b: *const LeptonTensor,
) -> *mut LeptonTensor {
    // SAFETY: the caller's promise above.
    unsafe { binary(a, b, Tensor::matmul) }
}

/// `max(a, 0)`.
///
/// # Safety
/// `a` is a live tensor handle.
#[no_mangle]
pub unsafe extern "C" fn lepton_relu(a: *const LeptonTensor) -> *mut LeptonTensor {
    // SAFETY: the caller's promise above.
    unsafe { unary(a, |a| Ok(a.relu())) }
}

/// `tanh(a)`.
///
/// # Safety
/// `a` is a live tensor handle.
#[no_mangle]
pub unsafe extern "C" fn lepton_tanh(a: *const LeptonTensor) -> *mut LeptonTensor {
    // SAFETY: the caller's promise above.
    unsafe { unary(a, |a| Ok(a.tanh())) }
}

/// `1 / (1 + exp(-a))`.
///
/// # Safety
/// `a` is a live tensor handle.
#[no_mangle]
pub unsafe extern "C" fn lepton_sigmoid(a: *const LeptonTensor) -> *mut LeptonTensor {
    // SAFETY: the caller's promise above.
    unsafe { unary(a, |a| Ok(a.sigmoid())) }
}

/// Softmax along `axis` (negative counts from the last).
///
/// # Safety
/// `a` is a live tensor handle.
#[no_mangle]
pub unsafe extern "C" fn lepton_softmax(a: *const LeptonTensor, axis: isize) -> *mut LeptonTensor {
    // SAFETY: the caller's promise above.
    unsafe { unary(a, |a| Ok(a.softmax(axis)?)) }
}

/// The sum along `axis` (negative counts from the last), keeping it as size 1 when
/// `keepdim` is nonzero.
///
/// # Safety
/// `a` is a live tensor handle.
#[no_mangle]
pub unsafe extern "C" fn lepton_sum(
    a: *const LeptonTensor,
    axis: isize,
    keepdim: i32,
) -> *mut LeptonTensor {
    // SAFETY: the caller's promise above.
    unsafe { unary(a, |a| Ok(a.sum(&[axis], keepdim != 0)?)) }
}

/// `a` with axes `axis0` and `axis1` swapped (a view; negative axes count from the last).
///
/// # Safety
/// `a` is a live tensor handle.
#[no_mangle]
pub unsafe extern "C" fn lepton_transpose(
    a: *const LeptonTensor,
    axis0: isize,
    axis1: isize,
) -> *mut LeptonTensor {
    // SAFETY: the caller's promise above.
    unsafe { unary(a, |a| Ok(a.transpose(axis0, axis1)?)) }
}

/// `a`'s elements in `shape` (`rank` sizes; one of them may be -1, inferred).
///
/// # Safety
/// `a` is a live tensor handle; `shape` points at `rank` values (NULL when `rank` is 0).
#[no_mangle]
pub unsafe extern "C" fn lepton_reshape(
    a: *const LeptonTensor,
    shape: *const isize,
    rank: usize,
) -> *mut LeptonTensor {
    make(|| {
        // SAFETY: the caller's promise above, for each pointer.
        let (a, shape) = unsafe { (borrow(a, "a")?, host_slice(shape, rank, "shape")?) };
        Ok(LeptonTensor(a.0.reshape(shape)?))
    })
}
