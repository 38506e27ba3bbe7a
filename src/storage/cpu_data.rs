//! CPU storage: one dense vector per buffer, typed by dtype.

use half::f16;

use crate::dtype::{DType, Element};

#[derive(Clone, Debug)]
pub enum CpuData {
    F16(Vec<f16>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    I32(Vec<i32>),
}

/// `match` on dtype `$dt`: `$body` with `$T` bound to the float's Rust type, or `$int` for
/// i32. The two macros below are its uses.
macro_rules! match_dtype {
    ($dt:expr, $T:ident => $body:expr, i32 => $int:expr) => {
        match $dt {
            $crate::dtype::DType::I32 => $int,
            $crate::dtype::DType::F16 => {
                type $T = half::f16;
                $body
            }
            $crate::dtype::DType::F32 => {
                type $T = f32;
                $body
            }
            $crate::dtype::DType::F64 => {
                type $T = f64;
                $body
            }
        }
    };
}
pub(crate) use match_dtype;

/// Run `$body` with `$T` bound to the Rust type of dtype `$dt`, any dtype: for code that
/// only moves elements ([`Element`]).
macro_rules! with_dtype {
    ($dt:expr, $T:ident => $body:expr) => {
        $crate::storage::match_dtype!($dt, $T => $body, i32 => {
            type $T = i32;
            $body
        })
    };
}
pub(crate) use with_dtype;

/// Run `$body` with `$T` bound to the Rust type of float dtype `$dt`: for kernels that
/// compute. An i32 `$dt` returns the error that `ops::integers` gives before any kernel
/// runs, so reaching it means a plan slipped past that check.
macro_rules! with_float_dtype {
    ($dt:expr, $T:ident => $body:expr) => {
        $crate::storage::match_dtype!($dt, $T => $body, i32 => {
            return Err($crate::error::Error::integer_arithmetic(module_path!()))
        })
    };
}
pub(crate) use with_float_dtype;

impl CpuData {
    pub fn from_vec<T: Element>(data: Vec<T>) -> CpuData {
        match T::DTYPE {
            DType::F16 => CpuData::F16(bytemuck::allocation::cast_vec(data)),
            DType::F32 => CpuData::F32(bytemuck::allocation::cast_vec(data)),
            DType::F64 => CpuData::F64(bytemuck::allocation::cast_vec(data)),
            DType::I32 => CpuData::I32(bytemuck::allocation::cast_vec(data)),
        }
    }

    /// Elements of `dtype` from their little-endian bytes (as a GPU buffer holds them).
    pub fn from_bytes(dtype: DType, bytes: &[u8]) -> CpuData {
        match dtype {
            DType::F16 => CpuData::F16(bytemuck::pod_collect_to_vec(bytes)),
            DType::F32 => CpuData::F32(bytemuck::pod_collect_to_vec(bytes)),
            DType::F64 => CpuData::F64(bytemuck::pod_collect_to_vec(bytes)),
            DType::I32 => CpuData::I32(bytemuck::pod_collect_to_vec(bytes)),
        }
    }

    pub fn dtype(&self) -> DType {
        match self {
            CpuData::F16(_) => DType::F16,
            CpuData::F32(_) => DType::F32,
            CpuData::F64(_) => DType::F64,
            CpuData::I32(_) => DType::I32,
        }
    }

    /// The elements as `T`; `T` must be this buffer's dtype (the planner guarantees it).
    pub fn slice<T: Element>(&self) -> &[T] {
        debug_assert_eq!(T::DTYPE, self.dtype());
        match self {
            CpuData::F16(v) => bytemuck::cast_slice(v),
            CpuData::F32(v) => bytemuck::cast_slice(v),
            CpuData::F64(v) => bytemuck::cast_slice(v),
            CpuData::I32(v) => bytemuck::cast_slice(v),
        }
    }

    pub fn slice_mut<T: Element>(&mut self) -> &mut [T] {
        debug_assert_eq!(T::DTYPE, self.dtype());
        match self {
            CpuData::F16(v) => bytemuck::cast_slice_mut(v),
            CpuData::F32(v) => bytemuck::cast_slice_mut(v),
            CpuData::F64(v) => bytemuck::cast_slice_mut(v),
            CpuData::I32(v) => bytemuck::cast_slice_mut(v),
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        match self {
            CpuData::F16(v) => bytemuck::cast_slice(v),
            CpuData::F32(v) => bytemuck::cast_slice(v),
            CpuData::F64(v) => bytemuck::cast_slice(v),
            CpuData::I32(v) => bytemuck::cast_slice(v),
        }
    }
}
