//! NumPy's `.npy` arrays (format versions 1.0 to 3.0), read into tensors and written from
//! them, so that arrays pass between this engine and NumPy or PyTorch (`np.save`,
//! `np.load`, `torch.from_numpy`). Read: f2, f4, f8 and i4 as themselves, in either byte
//! order; the other integers and booleans as i32 when every value fits; C or Fortran order.
//! Written: little-endian, C order, version 1.0 (2.0 past a 64 KiB header), atomically.

use std::path::Path;

use crate::device::Device;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::Tensor;
use crate::shape::{check_shape, numel};
use crate::storage::{with_dtype, CpuData};

const MAGIC: &[u8] = b"\x93NUMPY";

/// The array in the `.npy` file at `path`, as a tensor on `device`.
pub fn read(path: &Path, device: &Device) -> Result<Tensor> {
    let bytes = std::fs::read(path).map_err(|e| fail(path, e.to_string()))?;
    decode(&bytes, device).map_err(|message| fail(path, message))
}

/// Write `tensor` to `path` as a `.npy` file (a temporary file beside it, renamed).
pub fn write(path: &Path, tensor: &Tensor) -> Result<()> {
    let bytes = to_bytes(tensor)?;
    crate::checkpoint::write_atomic(path, &bytes).map_err(|e| fail(path, e.to_string()))
}

/// The array in `.npy` bytes, as a tensor on `device`.
pub fn from_bytes(bytes: &[u8], device: &Device) -> Result<Tensor> {
    decode(bytes, device).map_err(|message| Error::ArrayFile {
        path: "(bytes)".into(),
        message,
    })
}

fn fail(path: &Path, message: String) -> Error {
    Error::ArrayFile {
        path: path.display().to_string(),
        message,
    }
}

/// How the file stores each element.
#[derive(Debug, PartialEq)]
struct Descr {
    big_endian: bool,
    kind: char,
    size: usize,
}

pub(crate) fn decode(bytes: &[u8], device: &Device) -> std::result::Result<Tensor, String> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err("not a .npy file (no \\x93NUMPY magic)".into());
    }
    let (major, minor) = (bytes[6], bytes[7]);
    let (len, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        _ => {
            return Err(format!(
                "format version {major}.{minor} is not one of 1.0 to 3.0"
            ))
        }
    };
    let header = bytes
        .get(start..start + len)
        .ok_or("the header runs past the end of the file")?;
    let header = std::str::from_utf8(header).map_err(|_| "the header is not text")?;
    let descr = parse_descr(&string_field(header, "descr")?)?;
    let fortran = match field(header, "fortran_order")? {
        "True" => true,
        "False" => false,
        other => return Err(format!("fortran_order is {other}, not True or False")),
    };
    let shape = parse_shape(field(header, "shape")?)?;
    // A shape the engine cannot hold (too many axes, or more elements than memory can
    // address) is refused before its size is counted.
    check_shape("npy", &shape).map_err(|e| e.to_string())?;
    let data = &bytes[start + len..];
    let expected = numel(&shape) * descr.size;
    if data.len() != expected {
        return Err(format!(
            "shape {shape:?} of {}-byte elements needs {expected} bytes of data, the file has {}",
            descr.size,
            data.len()
        ));
    }
    let values = elements(&descr, data)?;
    // Fortran order is C order of the reversed shape, transposed back.
    let stored: Vec<usize> = match fortran {
        true => shape.iter().rev().copied().collect(),
        false => shape.clone(),
    };
    let dtype = values.dtype();
    let buffer = device.upload(values).map_err(|e| e.to_string())?;
    let tensor = Tensor::realized(buffer, &stored, dtype, device);
    if !fortran || shape.len() < 2 {
        return Ok(tensor);
    }
    let reversed: Vec<isize> = (0..shape.len() as isize).rev().collect();
    tensor
        .permute(&reversed)
        .map(|t| t.contiguous())
        .map_err(|e| e.to_string())
}

/// The elements of `data` in the engine's dtype for `descr`.
fn elements(descr: &Descr, data: &[u8]) -> std::result::Result<CpuData, String> {
    let words = data.chunks_exact(descr.size).map(|chunk| {
        let mut word = [0u8; 8];
        word[..descr.size].copy_from_slice(chunk);
        if descr.big_endian {
            word[..descr.size].reverse();
        }
        word
    });
    Ok(match (descr.kind, descr.size) {
        ('f', 2) => CpuData::from_vec(
            words
                .map(|w| half::f16::from_le_bytes([w[0], w[1]]))
                .collect::<Vec<_>>(),
        ),
        ('f', 4) => CpuData::from_vec(
            words
                .map(|w| f32::from_le_bytes([w[0], w[1], w[2], w[3]]))
                .collect::<Vec<_>>(),
        ),
        ('f', 8) => CpuData::from_vec(words.map(f64::from_le_bytes).collect::<Vec<_>>()),
        ('i', 1 | 2 | 4 | 8) | ('u', 1 | 2 | 4 | 8) | ('b', 1) => {
            let shift = 64 - 8 * descr.size;
            let values = words
                .map(|w| {
                    let value = match descr.kind {
                        // Sign-extended from the element's width.
                        'i' => (i64::from_le_bytes(w) << shift >> shift) as i128,
                        _ => u64::from_le_bytes(w) as i128,
                    };
                    i32::try_from(value).map_err(|_| {
                        format!("the value {value} does not fit the i32 that integers are read as")
                    })
                })
                .collect::<std::result::Result<Vec<i32>, String>>()?;
            CpuData::from_vec(values)
        }
        (kind, size) => {
            return Err(format!(
                "elements of kind '{kind}' and {size} bytes are not read: f2, f4, f8, integers \
                 and booleans are"
            ))
        }
    })
}

/// The header's value of `key`, as written (up to the next top-level comma or brace).
fn field<'a>(header: &'a str, key: &str) -> std::result::Result<&'a str, String> {
    let quoted = [format!("'{key}'"), format!("\"{key}\"")];
    let at = quoted
        .iter()
        .find_map(|k| header.find(k.as_str()).map(|i| i + k.len()))
        .ok_or_else(|| format!("the header has no '{key}'"))?;
    let rest = header[at..].trim_start();
    let rest = rest
        .strip_prefix(':')
        .ok_or_else(|| format!("no ':' after '{key}'"))?
        .trim_start();
    let end = match rest.chars().next() {
        Some('(') => rest.find(')').map(|i| i + 1),
        Some(q @ ('\'' | '"')) => rest[1..].find(q).map(|i| i + 2),
        _ => rest.find([',', '}']),
    }
    .ok_or_else(|| format!("the value of '{key}' does not end"))?;
    Ok(rest[..end].trim())
}

fn string_field(header: &str, key: &str) -> std::result::Result<String, String> {
    let value = field(header, key)?;
    let inner = value
        .strip_prefix(['\'', '"'])
        .and_then(|v| v.strip_suffix(['\'', '"']))
        .ok_or_else(|| {
            format!("'{key}' is {value}, not a string (structured dtypes are not read)")
        })?;
    Ok(inner.to_string())
}

fn parse_descr(text: &str) -> std::result::Result<Descr, String> {
    let mut chars = text.chars();
    let order = chars.next().ok_or("an empty descr")?;
    let big_endian = match order {
        '<' | '|' | '=' => false,
        '>' => true,
        _ => return Err(format!("descr {text} has no byte order")),
    };
    let kind = chars
        .next()
        .ok_or_else(|| format!("descr {text} has no kind"))?;
    let size: usize = chars
        .as_str()
        .parse()
        .map_err(|_| format!("descr {text} has no element size"))?;
    if !(1..=8).contains(&size) {
        return Err(format!(
            "descr {text}: elements of {size} bytes are not read"
        ));
    }
    Ok(Descr {
        big_endian,
        kind,
        size,
    })
}

fn parse_shape(text: &str) -> std::result::Result<Vec<usize>, String> {
    let inner = text
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .ok_or_else(|| format!("shape {text} is not a tuple"))?;
    inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.trim_end_matches('L')
                .parse::<usize>()
                .map_err(|_| format!("shape {text} holds {s}, not a size"))
        })
        .collect()
}

/// `tensor` as the bytes of a `.npy` file.
pub fn to_bytes(tensor: &Tensor) -> Result<Vec<u8>> {
    let descr = match tensor.dtype() {
        DType::F16 => "<f2",
        DType::F32 => "<f4",
        DType::F64 => "<f8",
        DType::I32 => "<i4",
    };
    let shape = match tensor.shape() {
        [n] => format!("({n},)"),
        dims => format!(
            "({})",
            dims.iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    // The data starts on a 64-byte boundary; the header ends with a newline.
    let (version, prefix) = if header.len() + 64 <= u16::MAX as usize {
        (1u8, 10)
    } else {
        (2, 12)
    };
    let total = (prefix + header.len() + 1).next_multiple_of(64);
    header.push_str(&" ".repeat(total - prefix - header.len() - 1));
    header.push('\n');
    let data: Vec<u8> = with_dtype!(tensor.dtype(), T => {
        let values = tensor.to_vec::<T>()?;
        let mut bytes = bytemuck::cast_slice::<T, u8>(&values).to_vec();
        if cfg!(target_endian = "big") {
            bytes
                .chunks_exact_mut(tensor.dtype().size_in_bytes())
                .for_each(<[u8]>::reverse);
        }
        bytes
    });
    let mut out = Vec::with_capacity(total + data.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[version, 0]);
    match version {
        1 => out.extend_from_slice(&(header.len() as u16).to_le_bytes()),
        _ => out.extend_from_slice(&(header.len() as u32).to_le_bytes()),
    }
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&data);
    Ok(out)
}
