//! Element types: what a tensor stores, and the Rust types that map onto them.

use half::f16;

/// The element type of a tensor. f16 and f32 run on both devices; f64 only on the CPU path,
/// where it serves as the reference for tests and gradient checks. i32 holds what counts
/// and names positions (token ids, class targets, `argmax` results, indices) exactly, on
/// both devices; arithmetic on it is refused (cast to a float first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    F16,
    F32,
    F64,
    I32,
}

impl DType {
    pub fn size_in_bytes(self) -> usize {
        match self {
            DType::F16 => 2,
            DType::F32 => 4,
            DType::F64 => 8,
            DType::I32 => 4,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DType::F16 => "f16",
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::I32 => "i32",
        }
    }

    /// Whether the dtype is a floating-point one, which every op computes in.
    pub fn is_float(self) -> bool {
        self != DType::I32
    }

    /// The WGSL scalar type that stores this dtype, if a shader can.
    pub(crate) fn wgsl(self) -> Option<&'static str> {
        match self {
            DType::F16 => Some("f16"),
            DType::F32 => Some("f32"),
            DType::F64 => None,
            DType::I32 => Some("i32"),
        }
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A Rust type that can be the element of a tensor.
pub trait Element: Copy + Send + Sync + bytemuck::Pod + std::fmt::Debug + 'static {
    const DTYPE: DType;
    fn to_f64(self) -> f64;
    fn from_f64(v: f64) -> Self;
}

impl Element for f32 {
    const DTYPE: DType = DType::F32;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v as f32
    }
}

impl Element for f64 {
    const DTYPE: DType = DType::F64;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v
    }
}

impl Element for f16 {
    const DTYPE: DType = DType::F16;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        f16::to_f64(self)
    }
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        f16::from_f64(v)
    }
}

impl Element for i32 {
    const DTYPE: DType = DType::I32;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
    /// Rounds toward zero and saturates at the type's bounds (NaN gives 0), as Rust's `as`.
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v as i32
    }
}
