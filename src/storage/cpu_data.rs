//! CPU storage: one dense vector per buffer, typed by dtype.

use half::f16;

use crate::dtype::{DType, Element};

#[derive(Clone, Debug)]
pub enum CpuData {
    F16(Vec<f16>),
    F32(Vec<f32>),
    F64(Vec<f64>),
}

/// Run `$body` with `$T` bound to the Rust type of dtype `$dt`.
macro_rules! with_dtype {
    ($dt:expr, $T:ident => $body:expr) => {
        match $dt {
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
pub(crate) use with_dtype;

impl CpuData {
    pub fn zeros(dtype: DType, len: usize) -> CpuData {
        match dtype {
            DType::F16 => CpuData::F16(vec![f16::ZERO; len]),
            DType::F32 => CpuData::F32(vec![0.0; len]),
            DType::F64 => CpuData::F64(vec![0.0; len]),
        }
    }

    pub fn from_vec<T: Element>(data: Vec<T>) -> CpuData {
        match T::DTYPE {
            DType::F16 => CpuData::F16(bytemuck::allocation::cast_vec(data)),
            DType::F32 => CpuData::F32(bytemuck::allocation::cast_vec(data)),
            DType::F64 => CpuData::F64(bytemuck::allocation::cast_vec(data)),
        }
    }

    pub fn dtype(&self) -> DType {
        match self {
            CpuData::F16(_) => DType::F16,
            CpuData::F32(_) => DType::F32,
            CpuData::F64(_) => DType::F64,
        }
    }

    /// The elements as `T`; `T` must be this buffer's dtype (the planner guarantees it).
    pub fn slice<T: Element>(&self) -> &[T] {
        debug_assert_eq!(T::DTYPE, self.dtype());
        match self {
            CpuData::F16(v) => bytemuck::cast_slice(v),
            CpuData::F32(v) => bytemuck::cast_slice(v),
            CpuData::F64(v) => bytemuck::cast_slice(v),
        }
    }

    pub fn slice_mut<T: Element>(&mut self) -> &mut [T] {
        debug_assert_eq!(T::DTYPE, self.dtype());
        match self {
            CpuData::F16(v) => bytemuck::cast_slice_mut(v),
            CpuData::F32(v) => bytemuck::cast_slice_mut(v),
            CpuData::F64(v) => bytemuck::cast_slice_mut(v),
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        match self {
            CpuData::F16(v) => bytemuck::cast_slice(v),
            CpuData::F32(v) => bytemuck::cast_slice(v),
            CpuData::F64(v) => bytemuck::cast_slice(v),
        }
    }
}
