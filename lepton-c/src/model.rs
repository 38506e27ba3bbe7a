//! Models that `lepton train <family> --save FILE` wrote, loaded and run forward.

use std::ffi::{c_char, CStr};
use std::path::Path;

use lepton::models::saved::SavedModel;

use crate::status::{argument, borrow, free, make};
use crate::tensor::{LeptonDevice, LeptonTensor};

/// A trained model, in evaluation mode.
pub struct LeptonModel(SavedModel);

/// Load the checkpoint at `path` (saved by `lepton train linreg|mlp|cnn|rnn|lstm|gru
/// --save`) onto `device`. NULL on failure: a missing or corrupt file, a family that does
/// not rebuild, tensors that do not fit.
///
/// # Safety
/// `device` is a live device handle; `path` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn lepton_model_load(
    device: *const LeptonDevice,
    path: *const c_char,
) -> *mut LeptonModel {
    make(|| {
        // SAFETY: the caller's promise above.
        let device = unsafe { borrow(device, "device") }?;
        if path.is_null() {
            return Err(argument("path is NULL"));
        }
        // SAFETY: the caller's promise above.
        let path = unsafe { CStr::from_ptr(path) }
            .to_str()
            .map_err(|_| argument("path is not UTF-8"))?;
        Ok(LeptonModel(SavedModel::load(Path::new(path), &device.0)?))
    })
}

/// Values per input row (features, or an image's pixels row-major); 0 for NULL.
///
/// # Safety
/// `model` is NULL or a live model handle.
#[no_mangle]
pub unsafe extern "C" fn lepton_model_inputs(model: *const LeptonModel) -> usize {
    // SAFETY: the caller's promise above.
    unsafe { model.as_ref() }.map_or(0, |m| m.0.inputs())
}

/// Values per output row (class logits, or the regression's value); 0 for NULL.
///
/// # Safety
/// `model` is NULL or a live model handle.
#[no_mangle]
pub unsafe extern "C" fn lepton_model_outputs(model: *const LeptonModel) -> usize {
    // SAFETY: the caller's promise above.
    unsafe { model.as_ref() }.map_or(0, |m| m.0.outputs())
}

/// The model's outputs [N, outputs] for `rows` [N, inputs], prepared as its training data
/// was (pixels scaled to 0..1). NULL on failure.
///
/// # Safety
/// `model` and `rows` are live handles.
#[no_mangle]
pub unsafe extern "C" fn lepton_model_forward(
    model: *const LeptonModel,
    rows: *const LeptonTensor,
) -> *mut LeptonTensor {
    make(|| {
        // SAFETY: the caller's promise above, for each handle.
        let (model, rows) = unsafe { (borrow(model, "model")?, borrow(rows, "rows")?) };
        Ok(LeptonTensor(model.0.forward(&rows.0)?))
    })
}

/// # Safety
/// `model` is NULL or a live model handle, not used after this.
#[no_mangle]
pub unsafe extern "C" fn lepton_model_free(model: *mut LeptonModel) {
    // SAFETY: the caller's promise above.
    unsafe { free(model) }
}
