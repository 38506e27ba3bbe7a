//! Storage of dropped CPU buffers, kept for the next result of the same dtype and length.
//! A training step's results (new parameters, moments, activations) have the shapes of the
//! last step's, which die as the step ends; taking their storage saves zeroing fresh
//! memory (5% of the MLP step's CPU samples). Kernels overwrite every element of their
//! output: slots of a plan already hand them storage with stale values.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use half::f16;

use crate::dtype::DType;
use crate::storage::cpu_data::CpuData;

/// The most bytes kept; past it, dropped storage is freed.
const MAX_BYTES: usize = 64 << 20;

/// Smaller buffers are freed: the allocator serves them quickly and zeroing them is cheap.
const MIN_BYTES: usize = 16 << 10;

#[derive(Default)]
struct Spares {
    bytes: usize,
    f16: HashMap<usize, Vec<Vec<f16>>>,
    f32: HashMap<usize, Vec<Vec<f32>>>,
    f64: HashMap<usize, Vec<Vec<f64>>>,
    i32: HashMap<usize, Vec<Vec<i32>>>,
}

static SPARES: LazyLock<Mutex<Spares>> = LazyLock::new(Default::default);

fn spares() -> std::sync::MutexGuard<'static, Spares> {
    SPARES.lock().unwrap_or_else(|e| e.into_inner())
}

/// Keep `v` if it is worth keeping and there is room.
fn keep<T>(v: Vec<T>, pick: impl FnOnce(&mut Spares) -> &mut HashMap<usize, Vec<Vec<T>>>) {
    let bytes = std::mem::size_of_val(v.as_slice());
    if bytes < MIN_BYTES {
        return;
    }
    let mut s = spares();
    if s.bytes + bytes <= MAX_BYTES {
        s.bytes += bytes;
        pick(&mut s).entry(v.len()).or_default().push(v);
    }
}

fn take<T>(
    len: usize,
    pick: impl FnOnce(&mut Spares) -> &mut HashMap<usize, Vec<Vec<T>>>,
) -> Option<Vec<T>> {
    let mut s = spares();
    let v = pick(&mut s).get_mut(&len)?.pop()?;
    s.bytes -= std::mem::size_of_val(v.as_slice());
    Some(v)
}

impl CpuData {
    /// Storage for a kernel's output of `len` elements: kept storage of that dtype and length
    /// if there is some (its values are stale), else zeros.
    pub(crate) fn for_output(dtype: DType, len: usize) -> CpuData {
        let kept = match dtype {
            DType::F16 => take(len, |s| &mut s.f16).map(CpuData::F16),
            DType::F32 => take(len, |s| &mut s.f32).map(CpuData::F32),
            DType::F64 => take(len, |s| &mut s.f64).map(CpuData::F64),
            DType::I32 => take(len, |s| &mut s.i32).map(CpuData::I32),
        };
        kept.unwrap_or_else(|| CpuData::zeros(dtype, len))
    }
}

impl Drop for CpuData {
    fn drop(&mut self) {
        match self {
            CpuData::F16(v) => keep(std::mem::take(v), |s| &mut s.f16),
            CpuData::F32(v) => keep(std::mem::take(v), |s| &mut s.f32),
            CpuData::F64(v) => keep(std::mem::take(v), |s| &mut s.f64),
            CpuData::I32(v) => keep(std::mem::take(v), |s| &mut s.i32),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_storage_serves_the_next_output_of_its_length() {
        // A length no other test uses, so nothing else takes the storage in between.
        let len = 12_347;
        let data = CpuData::F32(vec![7.0; len]);
        let address = data.as_bytes().as_ptr();
        drop(data);
        let again = CpuData::for_output(DType::F32, len);
        assert_eq!(again.as_bytes().as_ptr(), address);
        assert_eq!(again.slice::<f32>().len(), len);
        let other = CpuData::for_output(DType::F64, len);
        assert_eq!(other.slice::<f64>().len(), len);
    }
}
