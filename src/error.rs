//! `lepton::Error`: every way a Lepton call can fail, as a value.

use std::panic::Location;

use crate::dtype::DType;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, naming the op, the shapes or dtypes involved and, where the error
/// comes from user input, the caller's source line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{op}: incompatible shapes {lhs:?} and {rhs:?} ({why}) at {location}")]
    ShapeMismatch {
        op: &'static str,
        lhs: Vec<usize>,
        rhs: Vec<usize>,
        why: String,
        location: &'static Location<'static>,
    },
    #[error("{op}: axis {axis} is out of range for a tensor of rank {rank} at {location}")]
    AxisOutOfRange {
        op: &'static str,
        axis: isize,
        rank: usize,
        location: &'static Location<'static>,
    },
    #[error("reshape: cannot reshape {from:?} ({from_numel} elements) to {to:?} at {location}")]
    ReshapeNumel {
        from: Vec<usize>,
        from_numel: usize,
        to: Vec<isize>,
        location: &'static Location<'static>,
    },
    #[error("{op}: data has {got} elements but shape {shape:?} needs {expected} at {location}")]
    DataLength {
        op: &'static str,
        shape: Vec<usize>,
        expected: usize,
        got: usize,
        location: &'static Location<'static>,
    },
    #[error("{op}: tensors live on different devices ({lhs} and {rhs}) at {location}")]
    DeviceMismatch {
        op: &'static str,
        lhs: String,
        rhs: String,
        location: &'static Location<'static>,
    },
    #[error("{op}: dtypes differ ({lhs} and {rhs}); cast one first at {location}")]
    DtypeMismatch {
        op: &'static str,
        lhs: DType,
        rhs: DType,
        location: &'static Location<'static>,
    },
    #[error("{op}: needs {expected}, got {got} at {location}")]
    WrongDtype {
        op: &'static str,
        expected: &'static str,
        got: DType,
        location: &'static Location<'static>,
    },
    #[error("{op}: dtype {dtype} is not supported on {device}: {why}")]
    UnsupportedDtype {
        op: &'static str,
        dtype: DType,
        device: String,
        why: &'static str,
    },
    #[error(
        "grad: the loss does not depend on any tensor that requires gradients \
         (call set_requires_grad on the parameters before using them) at {location}"
    )]
    NoGradient {
        location: &'static Location<'static>,
    },
    #[error(
        "grad: a tensor of shape {shape:?} on the path to the loss was realized (read) before grad \
         was called, so its history is gone; take gradients first and realize the loss with them, \
         or mark it with set_requires_grad at {location}"
    )]
    GraphCut {
        shape: Vec<usize>,
        location: &'static Location<'static>,
    },
    #[error("{op}: {message} at {location}")]
    InvalidArgument {
        op: &'static str,
        message: String,
        location: &'static Location<'static>,
    },
    #[error(
        "no GPU adapter found{detail}. Install a GPU driver, or on Debian/Ubuntu a software Vulkan \
         device with `apt-get install mesa-vulkan-drivers`; or use the CPU path (LEPTON_DEVICE=cpu)"
    )]
    NoAdapter { detail: String },
    #[error("unknown device {name:?}: expected cpu, gpu, gpu:N (an adapter index from `lepton info`) or auto")]
    UnknownDevice { name: String },
    #[error("{op}: a buffer of {bytes} bytes exceeds the adapter's {limit_name} of {limit} bytes")]
    BufferTooLarge {
        op: &'static str,
        bytes: u64,
        limit: u64,
        limit_name: &'static str,
    },
    #[error("data set {what}: {message}")]
    Data { what: String, message: String },
    #[error("checkpoint {path}: {message}")]
    Checkpoint { path: String, message: String },
    #[error("array file {path}: {message}")]
    ArrayFile { path: String, message: String },
    /// A state dict that does not fit the model, every problem listed.
    #[error("weights {path} do not fit the model: {}", mismatch_list(.missing, .unexpected, .mismatched))]
    WeightsMismatch {
        path: String,
        /// Parameters the file does not have.
        missing: Vec<String>,
        /// The file's tensors that name no parameter.
        unexpected: Vec<String>,
        /// Tensors whose shape or dtype does not fit their parameter, with both.
        mismatched: Vec<String>,
    },
    #[error("ONNX model {what}: {message}")]
    Onnx { what: String, message: String },
    #[error("out of memory while allocating {bytes} bytes ({context})")]
    OutOfMemory { bytes: u64, context: String },
    #[error("the GPU device was lost: {reason}")]
    DeviceLost { reason: String },
    #[error("GPU error in {context}: {message}")]
    Gpu { context: String, message: String },
}

fn mismatch_list(missing: &[String], unexpected: &[String], mismatched: &[String]) -> String {
    [
        ("missing", missing),
        ("unexpected", unexpected),
        ("mismatched", mismatched),
    ]
    .iter()
    .filter(|(_, names)| !names.is_empty())
    .map(|(kind, names)| format!("{kind} ({}): {}", names.len(), names.join(", ")))
    .collect::<Vec<_>>()
    .join("; ")
}

impl Error {
    /// An i32 operand where the op computes: i32 holds indices and counts, not values.
    #[track_caller]
    pub(crate) fn integer_arithmetic(op: &'static str) -> Self {
        Error::WrongDtype {
            op,
            expected: "a float dtype (i32 tensors hold indices: cast with .cast(DType::F32) \
                       to compute on them)",
            got: DType::I32,
            location: Location::caller(),
        }
    }

    /// An error unless `got` is i32: indices, targets and token ids are i32 tensors.
    #[track_caller]
    pub(crate) fn expect_indices(op: &'static str, got: DType) -> Result<()> {
        if got == DType::I32 {
            return Ok(());
        }
        Err(Error::WrongDtype {
            op,
            expected: "i32 indices (whole-number floats convert with .cast(DType::I32))",
            got,
            location: Location::caller(),
        })
    }

    #[track_caller]
    pub(crate) fn invalid(op: &'static str, message: impl Into<String>) -> Self {
        Error::InvalidArgument {
            op,
            message: message.into(),
            location: Location::caller(),
        }
    }
}
