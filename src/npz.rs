//! NumPy's `.npz` archives: named arrays in one zip file, as `np.savez` (stored) and
//! `np.savez_compressed` (deflated) write them and `np.load` reads them. Each member is a
//! `.npy` file called `<name>.npy`; the arrays read as [`crate::npy`] reads one.

use std::collections::HashSet;
use std::path::Path;

use crate::device::Device;
use crate::error::{Error, Result};
use crate::graph::Tensor;
pub use crate::zip_archive::Compression;

const SUFFIX: &str = ".npy";

/// The arrays in the `.npz` file at `path`, by name (without `.npy`), in the archive's order.
pub fn read(path: &Path, device: &Device) -> Result<Vec<(String, Tensor)>> {
    let bytes = std::fs::read(path).map_err(|e| fail(path, e.to_string()))?;
    decode(&bytes, device).map_err(|message| fail(path, message))
}

/// The arrays in `.npz` bytes, by name, in the archive's order.
pub fn from_bytes(bytes: &[u8], device: &Device) -> Result<Vec<(String, Tensor)>> {
    decode(bytes, device).map_err(|message| Error::ArrayFile {
        path: "(bytes)".into(),
        message,
    })
}

/// Write `arrays` to `path` as a `.npz` file (a temporary file beside it, renamed):
/// `Compression::Stored` as `np.savez` does, `Compression::Deflated` as
/// `np.savez_compressed`.
pub fn write(path: &Path, arrays: &[(&str, &Tensor)], compression: Compression) -> Result<()> {
    let bytes = encode(arrays, compression, &path.display().to_string())?;
    crate::checkpoint::write_atomic(path, &bytes).map_err(|e| fail(path, e.to_string()))
}

/// `arrays` as the bytes of a `.npz` file. Names must be distinct and not empty.
pub fn to_bytes(arrays: &[(&str, &Tensor)], compression: Compression) -> Result<Vec<u8>> {
    encode(arrays, compression, "(bytes)")
}

/// `to_bytes`, its errors naming the file `what`.
fn encode(arrays: &[(&str, &Tensor)], compression: Compression, what: &str) -> Result<Vec<u8>> {
    let mut seen = HashSet::new();
    for (name, _) in arrays {
        if name.is_empty() || !seen.insert(*name) {
            return Err(Error::ArrayFile {
                path: what.into(),
                message: format!("array names must be distinct and not empty; {name:?} is not"),
            });
        }
    }
    let tensors: Vec<&Tensor> = arrays.iter().map(|(_, t)| *t).collect();
    crate::realize::realize(&tensors)?;
    let files = arrays
        .iter()
        .map(|(name, t)| Ok((format!("{name}{SUFFIX}"), crate::npy::to_bytes(t)?)))
        .collect::<Result<Vec<_>>>()?;
    let members: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (n.as_str(), &b[..])).collect();
    crate::zip_archive::write(&members, compression).map_err(|message| Error::ArrayFile {
        path: what.into(),
        message,
    })
}

fn fail(path: &Path, message: String) -> Error {
    Error::ArrayFile {
        path: path.display().to_string(),
        message,
    }
}

fn decode(bytes: &[u8], device: &Device) -> std::result::Result<Vec<(String, Tensor)>, String> {
    crate::zip_archive::read(bytes)?
        .into_iter()
        .map(|member| {
            let name = member
                .name
                .strip_suffix(SUFFIX)
                .ok_or_else(|| format!("member {} is not a .npy array", member.name))?;
            let tensor = crate::npy::decode(&member.data, device)
                .map_err(|message| format!("member {}: {message}", member.name))?;
            Ok((name.to_string(), tensor))
        })
        .collect()
}
