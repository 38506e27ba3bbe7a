//! Status codes, the calling thread's last error, and the guard that keeps panics and null
//! pointers from crossing into C.

use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use lepton::Error;

/// What kind of failure a call met.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeptonStatus {
    Ok = 0,
    /// A NULL handle, a bad pointer or size, an argument out of range.
    InvalidArgument = 1,
    /// Shapes that do not fit the op (or the model).
    Shape = 2,
    /// A tensor of a dtype the call does not take.
    Dtype = 3,
    /// No such device, or no GPU adapter.
    Device = 4,
    /// A file that is missing, corrupt, or not what the call reads.
    File = 5,
    OutOfMemory = 6,
    DeviceLost = 7,
    /// Any other error the GPU reported.
    Gpu = 8,
    /// A bug in the engine (it panicked); the message says where.
    Internal = 9,
}

struct LastError {
    status: LeptonStatus,
    message: CString,
}

thread_local! {
    static LAST: RefCell<LastError> = RefCell::new(LastError {
        status: LeptonStatus::Ok,
        message: CString::default(),
    });
}

fn record(status: LeptonStatus, message: &str) {
    let message = CString::new(message.replace('\0', " ")).unwrap_or_default();
    LAST.with(|last| *last.borrow_mut() = LastError { status, message });
}

/// The kind of `error`, for C.
fn status_of(error: &Error) -> LeptonStatus {
    match error {
        Error::ShapeMismatch { .. }
        | Error::AxisOutOfRange { .. }
        | Error::ReshapeNumel { .. }
        | Error::DataLength { .. } => LeptonStatus::Shape,
        Error::DtypeMismatch { .. } | Error::WrongDtype { .. } | Error::UnsupportedDtype { .. } => {
            LeptonStatus::Dtype
        }
        Error::DeviceMismatch { .. } | Error::NoAdapter { .. } | Error::UnknownDevice { .. } => {
            LeptonStatus::Device
        }
        Error::Data { .. }
        | Error::Checkpoint { .. }
        | Error::ArrayFile { .. }
        | Error::Onnx { .. }
        | Error::WeightsMismatch { .. } => LeptonStatus::File,
        Error::OutOfMemory { .. } | Error::BufferTooLarge { .. } => LeptonStatus::OutOfMemory,
        Error::DeviceLost { .. } => LeptonStatus::DeviceLost,
        Error::Gpu { .. } => LeptonStatus::Gpu,
        Error::NoGradient { .. } | Error::GraphCut { .. } | Error::InvalidArgument { .. } => {
            LeptonStatus::InvalidArgument
        }
    }
}

/// A failure of the call, before or from the engine.
pub(crate) enum Failure {
    Engine(Error),
    Argument(String),
}

impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        Failure::Engine(error)
    }
}

pub(crate) fn argument(message: impl Into<String>) -> Failure {
    Failure::Argument(message.into())
}

/// Run `body`, recording its failure (or panic) as the thread's last error.
fn guarded<T>(body: impl FnOnce() -> Result<T, Failure>) -> Option<T> {
    let outcome = catch_unwind(AssertUnwindSafe(body));
    let (status, message) = match outcome {
        Ok(Ok(value)) => {
            record(LeptonStatus::Ok, "");
            return Some(value);
        }
        Ok(Err(Failure::Engine(error))) => (status_of(&error), error.to_string()),
        Ok(Err(Failure::Argument(message))) => (LeptonStatus::InvalidArgument, message),
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("a panic without a message");
            (LeptonStatus::Internal, format!("internal error: {what}"))
        }
    };
    record(status, &message);
    None
}

/// A call that makes a handle: the boxed value, or NULL.
pub(crate) fn make<T>(body: impl FnOnce() -> Result<T, Failure>) -> *mut T {
    guarded(body).map_or(std::ptr::null_mut(), |value| Box::into_raw(Box::new(value)))
}

/// A call that reports a status.
pub(crate) fn status(body: impl FnOnce() -> Result<(), Failure>) -> LeptonStatus {
    match guarded(body) {
        Some(()) => LeptonStatus::Ok,
        None => lepton_last_status(),
    }
}

/// The value behind a handle the caller passed, or an argument error naming it.
///
/// # Safety
/// `handle` is NULL or a pointer this library returned and the caller has not freed.
pub(crate) unsafe fn borrow<'a, T>(handle: *const T, what: &str) -> Result<&'a T, Failure> {
    // SAFETY: the caller's promise above; NULL is refused here.
    unsafe { handle.as_ref() }.ok_or_else(|| argument(format!("{what} is NULL")))
}

/// Free a handle made by [`make`].
///
/// # Safety
/// `handle` is NULL or a pointer this library returned and the caller has not freed.
pub(crate) unsafe fn free<T>(handle: *mut T) {
    if !handle.is_null() {
        // SAFETY: made by Box::into_raw in `make`, freed once (the caller's promise).
        drop(unsafe { Box::from_raw(handle) });
    }
}

/// The calling thread's last error message: empty after a call that succeeded. The text
/// stays valid until this thread's next call into the library.
#[no_mangle]
pub extern "C" fn lepton_last_error() -> *const c_char {
    LAST.with(|last| last.borrow().message.as_ptr())
}

/// The calling thread's last status: `LEPTON_STATUS_OK` after a call that succeeded.
#[no_mangle]
pub extern "C" fn lepton_last_status() -> LeptonStatus {
    LAST.with(|last| last.borrow().status)
}
