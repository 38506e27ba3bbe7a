//! A C ABI for the Lepton engine: `include/lepton.h`, generated from this crate by cbindgen.
//!
//! Conventions, the same for every function:
//! - Handles (`LeptonDevice`, `LeptonTensor`, `LeptonModel`) are opaque pointers that the
//!   caller frees with their `_free` function, once; freeing NULL does nothing. A handle may
//!   be used from any thread.
//! - A function that makes a handle returns NULL on failure; the others return a
//!   `LeptonStatus`, `LEPTON_STATUS_OK` (0) on success. Either way `lepton_last_error()` then
//!   holds the reason as text for the calling thread and `lepton_last_status()` its kind.
//! - Nothing unwinds into C: a panic inside the engine becomes `LEPTON_STATUS_INTERNAL`.
//! - Tensors are float32 here; shapes are arrays of `size_t` with their rank beside them.

mod model;
mod ops;
mod status;
mod tensor;

pub use model::*;
pub use ops::*;
pub use status::*;
pub use tensor::*;
