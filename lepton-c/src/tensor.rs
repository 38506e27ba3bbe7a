//! Devices and float32 tensors: made from host memory, described, read back, freed.

use std::ffi::{c_char, CStr};

use lepton::{Device, Tensor};

use crate::status::{argument, borrow, free, make, status, Failure, LeptonStatus};

/// A device: the CPU path or a GPU adapter.
pub struct LeptonDevice(pub(crate) Device);

/// A tensor, on its device.
pub struct LeptonTensor(pub(crate) Tensor);

/// The slice of `len` values at `data`, which C may pass as NULL when `len` is 0.
///
/// # Safety
/// `data` is NULL or points at `len` readable values.
pub(crate) unsafe fn host_slice<'a, T>(
    data: *const T,
    len: usize,
    what: &str,
) -> Result<&'a [T], Failure> {
    match (data.is_null(), len) {
        (_, 0) => Ok(&[]),
        (true, _) => Err(argument(format!("{what} is NULL"))),
        // SAFETY: the caller's promise above.
        (false, _) => Ok(unsafe { std::slice::from_raw_parts(data, len) }),
    }
}

/// Open a device by name: "cpu", "gpu", "gpu:N" (an adapter index, as `lepton info` lists
/// them) or "auto" (a GPU when there is one, else the CPU). NULL on failure.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn lepton_device_new(name: *const c_char) -> *mut LeptonDevice {
    make(|| {
        if name.is_null() {
            return Err(argument("the device name is NULL"));
        }
        // SAFETY: the caller's promise above.
        let name = unsafe { CStr::from_ptr(name) }
            .to_str()
            .map_err(|_| argument("the device name is not UTF-8"))?;
        Ok(LeptonDevice(Device::parse(name)?))
    })
}

/// Whether the device is a GPU (1) or the CPU path (0); -1 for NULL.
///
/// # Safety
/// `device` is NULL or a live device handle.
#[no_mangle]
pub unsafe extern "C" fn lepton_device_is_gpu(device: *const LeptonDevice) -> i32 {
    // SAFETY: the caller's promise above.
    match unsafe { device.as_ref() } {
        Some(d) => i32::from(d.0.is_gpu()),
        None => -1,
    }
}

/// # Safety
/// `device` is NULL or a live device handle, not used after this. Tensors made on it stay
/// usable.
#[no_mangle]
pub unsafe extern "C" fn lepton_device_free(device: *mut LeptonDevice) {
    // SAFETY: the caller's promise above.
    unsafe { free(device) }
}

/// A float32 tensor of `shape` (`rank` sizes; rank 0 is a scalar) holding a copy of the
/// row-major values at `data`, on `device`. NULL on failure.
///
/// # Safety
/// `device` is a live device handle; `shape` points at `rank` sizes and `data` at as many
/// floats as their product (either may be NULL when its count is 0).
#[no_mangle]
pub unsafe extern "C" fn lepton_tensor_from_f32(
    device: *const LeptonDevice,
    data: *const f32,
    shape: *const usize,
    rank: usize,
) -> *mut LeptonTensor {
    make(|| {
        // SAFETY: the caller's promise above, for each pointer.
        let device = unsafe { borrow(device, "device") }?;
        let shape = unsafe { host_slice(shape, rank, "shape") }?;
        let count = shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .ok_or_else(|| argument(format!("shape {shape:?} has more elements than memory")))?;
        let values = unsafe { host_slice(data, count, "data") }?;
        Ok(LeptonTensor(Tensor::from_vec(
            values.to_vec(),
            shape,
            &device.0,
        )?))
    })
}

/// The tensor's rank; 0 for NULL (and for a scalar).
///
/// # Safety
/// `tensor` is NULL or a live tensor handle.
#[no_mangle]
pub unsafe extern "C" fn lepton_tensor_rank(tensor: *const LeptonTensor) -> usize {
    // SAFETY: the caller's promise above.
    unsafe { tensor.as_ref() }.map_or(0, |t| t.0.rank())
}

/// Write the tensor's sizes into `shape`, which holds `capacity` of them (at least the rank).
///
/// # Safety
/// `tensor` is a live tensor handle; `shape` points at `capacity` writable sizes.
#[no_mangle]
pub unsafe extern "C" fn lepton_tensor_shape(
    tensor: *const LeptonTensor,
    shape: *mut usize,
    capacity: usize,
) -> LeptonStatus {
    status(|| {
        // SAFETY: the caller's promise above.
        let dims = unsafe { borrow(tensor, "tensor") }?.0.shape();
        if capacity < dims.len() || (shape.is_null() && !dims.is_empty()) {
            return Err(argument(format!(
                "the tensor has rank {}, the shape array holds {capacity}",
                dims.len()
            )));
        }
        for (i, &d) in dims.iter().enumerate() {
            // SAFETY: i < rank <= capacity, and the caller's promise.
            unsafe { shape.add(i).write(d) };
        }
        Ok(())
    })
}

/// The number of elements; 0 for NULL.
///
/// # Safety
/// `tensor` is NULL or a live tensor handle.
#[no_mangle]
pub unsafe extern "C" fn lepton_tensor_numel(tensor: *const LeptonTensor) -> usize {
    // SAFETY: the caller's promise above.
    unsafe { tensor.as_ref() }.map_or(0, |t| t.0.numel())
}

/// Compute the tensor (if it is pending) and copy its values, row-major, into `out`, which
/// holds `len` floats: exactly the tensor's element count.
///
/// # Safety
/// `tensor` is a live tensor handle; `out` points at `len` writable floats.
#[no_mangle]
pub unsafe extern "C" fn lepton_tensor_read_f32(
    tensor: *const LeptonTensor,
    out: *mut f32,
    len: usize,
) -> LeptonStatus {
    status(|| {
        // SAFETY: the caller's promise above.
        let tensor = &unsafe { borrow(tensor, "tensor") }?.0;
        if len != tensor.numel() || (out.is_null() && len > 0) {
            return Err(argument(format!(
                "the tensor has {} elements, the output holds {len}",
                tensor.numel()
            )));
        }
        let values = tensor.to_vec::<f32>()?;
        // SAFETY: `out` holds len == values.len() floats (checked above, and the caller's
        // promise); the two do not overlap, one being the engine's own vector.
        unsafe { std::ptr::copy_nonoverlapping(values.as_ptr(), out, len) };
        Ok(())
    })
}

/// # Safety
/// `tensor` is NULL or a live tensor handle, not used after this.
#[no_mangle]
pub unsafe extern "C" fn lepton_tensor_free(tensor: *mut LeptonTensor) {
    // SAFETY: the caller's promise above.
    unsafe { free(tensor) }
}
