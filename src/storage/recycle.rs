//! Storage of dropped CPU buffers, kept for the next results of the same dtype. A training
//! step's results (new parameters, moments, activations) have the sizes of the last
//! step's, which die as the step ends; taking their storage saves the allocator's fresh
//! pages, each one a page fault and the kernel's zeroing on first touch (in the LSTM step,
//! some 1,600 faults a step, more time than its gate arithmetic, when buffers were matched
//! by exact length: a plan slot ends a step at its last result's length, not its first's).
//! So buffers are kept by capacity, served to any request they hold without growing, and
//! the oldest go first when the store is full. Kernels overwrite every element of their
//! output: slots of a plan already hand them storage with stale values.

use std::collections::BTreeMap;
use std::sync::{LazyLock, Mutex};

use half::f16;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::storage::cpu_data::CpuData;

/// The most bytes kept; past it, the oldest kept storage is freed.
const MAX_BYTES: usize = 64 << 20;

/// Smaller buffers are freed: the allocator serves them quickly and zeroing them is cheap.
const MIN_BYTES: usize = 16 << 10;

/// Kept buffers by capacity, each with the time it was kept, oldest first.
type Pool<T> = BTreeMap<usize, Vec<(u64, Vec<T>)>>;

#[derive(Default)]
struct Spares {
    bytes: usize,
    clock: u64,
    f16: Pool<f16>,
    f32: Pool<f32>,
    f64: Pool<f64>,
    i32: Pool<i32>,
}

static SPARES: LazyLock<Mutex<Spares>> = LazyLock::new(Default::default);

fn spares() -> std::sync::MutexGuard<'static, Spares> {
    SPARES.lock().unwrap_or_else(|e| e.into_inner())
}

/// The time and capacity of `pool`'s oldest buffer.
fn oldest<T>(pool: &Pool<T>) -> Option<(u64, usize)> {
    pool.iter()
        .filter_map(|(&capacity, kept)| kept.first().map(|(time, _)| (*time, capacity)))
        .min()
}

/// Free the buffer of `capacity` kept longest in `pool`; its bytes.
fn free_oldest<T>(pool: &mut Pool<T>, capacity: usize) -> usize {
    let Some(kept) = pool.get_mut(&capacity) else {
        return 0;
    };
    let (_, v) = kept.remove(0);
    if kept.is_empty() {
        pool.remove(&capacity);
    }
    v.capacity() * std::mem::size_of::<T>()
}

impl Spares {
    /// Free the oldest kept buffer of any dtype; false when nothing is kept.
    fn free_one(&mut self) -> bool {
        let candidates = [
            (oldest(&self.f16), DType::F16),
            (oldest(&self.f32), DType::F32),
            (oldest(&self.f64), DType::F64),
            (oldest(&self.i32), DType::I32),
        ];
        let Some(((_, capacity), dtype)) = candidates
            .into_iter()
            .filter_map(|(o, d)| o.map(|o| (o, d)))
            .min_by_key(|((time, _), _)| *time)
        else {
            return false;
        };
        let freed = match dtype {
            DType::F16 => free_oldest(&mut self.f16, capacity),
            DType::F32 => free_oldest(&mut self.f32, capacity),
            DType::F64 => free_oldest(&mut self.f64, capacity),
            DType::I32 => free_oldest(&mut self.i32, capacity),
        };
        self.bytes -= freed;
        true
    }
}

impl Spares {
    /// Keep `v` if it is worth keeping, freeing the oldest kept storage to make room.
    fn keep<T>(&mut self, v: Vec<T>, pick: impl Fn(&mut Spares) -> &mut Pool<T>) {
        let bytes = v.capacity() * std::mem::size_of::<T>();
        if !(MIN_BYTES..=MAX_BYTES).contains(&bytes) {
            return;
        }
        while self.bytes + bytes > MAX_BYTES && self.free_one() {}
        self.bytes += bytes;
        self.clock += 1;
        let time = self.clock;
        pick(self).entry(v.capacity()).or_default().push((time, v));
    }

    /// The most recently kept buffer whose capacity holds `capacity` values without
    /// wasting more than as much again.
    fn take<T>(
        &mut self,
        capacity: usize,
        pick: impl Fn(&mut Spares) -> &mut Pool<T>,
    ) -> Option<Vec<T>> {
        let pool = pick(self);
        let (&fit, kept) = pool
            .range_mut(capacity..=capacity.saturating_mul(2))
            .next()?;
        let (_, v) = kept.pop()?;
        if kept.is_empty() {
            pool.remove(&fit);
        }
        self.bytes -= v.capacity() * std::mem::size_of::<T>();
        Some(v)
    }
}

fn keep<T>(v: Vec<T>, pick: impl Fn(&mut Spares) -> &mut Pool<T>) {
    spares().keep(v, pick);
}

/// A kept buffer (`Spares::take`) at length `len`: stale values, zeros past its old length.
fn take<T: Copy + Default>(
    len: usize,
    capacity: usize,
    pick: impl Fn(&mut Spares) -> &mut Pool<T>,
) -> Option<Vec<T>> {
    let mut v = spares().take(capacity, pick)?;
    if v.len() >= len {
        v.truncate(len);
    } else {
        v.resize(len, T::default());
    }
    Some(v)
}

/// An empty vector with room for `room` values; an error where the allocator cannot give
/// them (a 2^40-element tensor), not the process's abort. `what` names the memory's use.
pub(crate) fn with_room<T>(room: usize, what: &str) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(room).map_err(|_| Error::OutOfMemory {
        bytes: (room as u64).saturating_mul(std::mem::size_of::<T>() as u64),
        context: format!("host memory for {what}"),
    })?;
    Ok(v)
}

/// `len` zeros with room for `capacity` values.
fn zeros<T: Copy + Default>(len: usize, capacity: usize) -> Result<Vec<T>> {
    let mut v = with_room(capacity.max(len), "a CPU-path result")?;
    v.resize(len, T::default());
    Ok(v)
}

impl CpuData {
    /// Storage for a kernel's output of `len` elements: kept storage of that dtype that
    /// holds them if there is some (its values are stale), else zeros.
    pub(crate) fn for_output(dtype: DType, len: usize) -> Result<CpuData> {
        CpuData::for_slot(dtype, len, len)
    }

    /// `for_output` for the first of several results that share the storage, the largest
    /// of which has `capacity` elements: it never grows.
    pub(crate) fn for_slot(dtype: DType, len: usize, capacity: usize) -> Result<CpuData> {
        let capacity = capacity.max(len);
        Ok(match dtype {
            DType::F16 => CpuData::F16(kept_or_zeros(len, capacity, |s| &mut s.f16)?),
            DType::F32 => CpuData::F32(kept_or_zeros(len, capacity, |s| &mut s.f32)?),
            DType::F64 => CpuData::F64(kept_or_zeros(len, capacity, |s| &mut s.f64)?),
            DType::I32 => CpuData::I32(kept_or_zeros(len, capacity, |s| &mut s.i32)?),
        })
    }
}

/// Kept storage (`take`) if some fits, else new zeros.
fn kept_or_zeros<T: Copy + Default>(
    len: usize,
    capacity: usize,
    pick: impl Fn(&mut Spares) -> &mut Pool<T>,
) -> Result<Vec<T>> {
    match take(len, capacity, pick) {
        Some(kept) => Ok(kept),
        None => zeros(len, capacity),
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

    // On a store of their own: the process's one is shared with every test running.

    #[test]
    fn kept_storage_serves_the_requests_it_holds_without_doubling() {
        let mut s = Spares::default();
        let capacity = 12_347;
        let kept = vec![7.0f32; capacity];
        let address = kept.as_ptr();
        s.keep(kept, |s| &mut s.f32);
        assert_eq!(s.bytes, capacity * 4);
        assert!(s.take(capacity / 2 - 1, |s| &mut s.f32).is_none());
        assert!(s.take(capacity + 1, |s| &mut s.f32).is_none());
        assert!(s.take(capacity, |s| &mut s.f64).is_none());
        let again = s.take(capacity - 100, |s| &mut s.f32).expect("kept");
        assert_eq!(again.as_ptr(), address);
        assert_eq!(s.bytes, 0);
        assert!(s.f32.is_empty());
    }

    #[test]
    fn small_and_huge_storage_is_not_kept() {
        let mut s = Spares::default();
        s.keep(vec![f16::ZERO; MIN_BYTES / 2 - 1], |s| &mut s.f16);
        s.keep(vec![0.0f64; MAX_BYTES / 8 + 1], |s| &mut s.f64);
        assert_eq!(s.bytes, 0);
        assert!(s.f16.is_empty() && s.f64.is_empty());
    }

    #[test]
    fn a_slot_is_allocated_for_its_largest_result() {
        let v: Vec<f64> = zeros(23_456, 34_567).unwrap();
        assert_eq!(v.len(), 23_456);
        assert!(v.capacity() >= 34_567);
        assert!(v.iter().all(|&x| x == 0.0));
    }

    #[test]
    fn the_oldest_storage_goes_first_when_full() {
        let mut s = Spares::default();
        let mb = (1 << 20) / 4;
        for _ in 0..MAX_BYTES / (4 << 20) {
            s.keep(vec![0.0f32; 4 * mb], |s| &mut s.f32);
        }
        assert_eq!(s.bytes, MAX_BYTES);
        let first = s.f32[&(4 * mb)][0].0;
        s.keep(vec![0i32; 2 * mb], |s| &mut s.i32);
        assert_eq!(s.bytes, MAX_BYTES - (2 << 20));
        assert!(s.f32[&(4 * mb)].iter().all(|(time, _)| *time != first));
        while s.free_one() {}
        assert_eq!(s.bytes, 0);
    }
}
