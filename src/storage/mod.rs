//! CPU storage and the loops over it: typed dense buffers (recycled when dropped), the
//! element types' arithmetic, and strided walks of views. Below the kernels, which read and
//! write through it, and the executors, which own it.

pub(crate) mod arithmetic;
mod cpu_data;
pub(crate) mod fast_erf;
pub(crate) mod fast_exp;
mod recycle;
pub(crate) mod strided;
pub(crate) mod transpose;
pub(crate) mod vector_width;

pub use cpu_data::CpuData;
pub(crate) use cpu_data::{match_dtype, with_dtype, with_float_dtype};
pub(crate) use recycle::with_room;
