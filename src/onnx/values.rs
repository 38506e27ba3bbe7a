//! A TensorProto's values as a tensor of the engine's: floats as f32, f64 and f16 (bfloat16
//! widened to f32), integers and booleans as i32 when every value fits (the engine's index
//! type; ONNX's int64 shapes and indices are small).

use super::ints::{wrap, Ints};
use super::proto::TensorData;
use crate::device::Device;
use crate::graph::Tensor;
use crate::shape::{check_shape, numel};

/// ONNX's element types by their number in `TensorProto.DataType`.
pub(super) fn type_name(data_type: i64) -> &'static str {
    match data_type {
        1 => "float",
        2 => "uint8",
        3 => "int8",
        4 => "uint16",
        5 => "int16",
        6 => "int32",
        7 => "int64",
        8 => "string",
        9 => "bool",
        10 => "float16",
        11 => "double",
        12 => "uint32",
        13 => "uint64",
        14 => "complex64",
        15 => "complex128",
        16 => "bfloat16",
        _ => "an element type this engine does not know",
    }
}

fn narrow(values: impl IntoIterator<Item = i64>) -> Result<Vec<i32>, String> {
    values
        .into_iter()
        .map(|v| i32::try_from(v).map_err(|_| format!("the value {v} does not fit i32")))
        .collect()
}

/// The raw bytes' little-endian words of `size` bytes each.
fn words(raw: &[u8], size: usize) -> impl Iterator<Item = &[u8]> {
    raw.chunks_exact(size)
}

/// An integer or boolean tensor's values as i64 on the host; None for other types. A
/// uint64 past i64's range is refused rather than wrapped.
pub(super) fn ints(t: &TensorData) -> Result<Option<Ints>, String> {
    if !matches!(t.data_type, 2..=7 | 9 | 12 | 13) {
        return Ok(None);
    }
    if t.external {
        return Err(format!(
            "{}: values in an external file are not read",
            t.name
        ));
    }
    let shape = dims(t)?;
    let size = match t.data_type {
        2 | 3 | 9 => 1,
        4 | 5 => 2,
        6 | 12 => 4,
        _ => 8,
    };
    let signed = matches!(t.data_type, 3 | 5 | 6 | 7);
    let values: Vec<i64> = match t.raw.as_deref() {
        Some(raw) => words(raw, size)
            .map(|w| {
                let mut word = [0u8; 8];
                word[..size].copy_from_slice(w);
                let shift = 64 - 8 * size;
                let bits = u64::from_le_bytes(word);
                match signed {
                    true => Ok((bits as i64) << shift >> shift),
                    false => i64::try_from(bits)
                        .map_err(|_| format!("{}: the value {bits} does not fit i64", t.name)),
                }
            })
            .collect::<Result<_, String>>()?,
        None => match t.data_type {
            7 => t.int64s.clone(),
            // uint64_data holds the bits: a negative word is a value past i64's range.
            12 | 13 => match t.uint64s.iter().find(|&&v| v < 0) {
                Some(&v) => {
                    return Err(format!(
                        "{}: the value {} does not fit i64",
                        t.name, v as u64
                    ))
                }
                None => t.uint64s.clone(),
            },
            _ => t.int32s.clone(),
        },
    };
    let values = values.into_iter().map(|v| wrap(v, t.data_type)).collect();
    Ints::new(&shape, values)
        .map(Some)
        .map_err(|e| format!("{}: {e}", t.name))
}

fn dims(t: &TensorData) -> Result<Vec<usize>, String> {
    let shape = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("{}: a negative size {d}", t.name)))
        .collect::<Result<Vec<usize>, String>>()?;
    check_shape("onnx tensor", &shape).map_err(|e| e.to_string())?;
    Ok(shape)
}

/// `t`'s values on `device`, in the shape it declares.
pub(super) fn tensor(t: &TensorData, device: &Device) -> Result<Tensor, String> {
    if t.external {
        return Err(format!(
            "{}: values in an external file are not read",
            t.name
        ));
    }
    let shape = dims(t)?;
    let count = numel(&shape);
    let raw = t.raw.as_deref();
    let f32_of = |bits: &[u8]| f32::from_le_bytes([bits[0], bits[1], bits[2], bits[3]]);
    let made = match t.data_type {
        1 => {
            let values: Vec<f32> = match raw {
                Some(raw) => words(raw, 4).map(f32_of).collect(),
                None => t.floats.clone(),
            };
            checked(values, count, &shape, device)
        }
        11 => {
            let values: Vec<f64> = match raw {
                Some(raw) => words(raw, 8)
                    .map(|w| f64::from_le_bytes(w.try_into().expect("8 bytes")))
                    .collect(),
                None => t.doubles.clone(),
            };
            checked(values, count, &shape, device)
        }
        10 | 16 => {
            let bits: Vec<u16> = match raw {
                Some(raw) => words(raw, 2)
                    .map(|w| u16::from_le_bytes([w[0], w[1]]))
                    .collect(),
                None => t.int32s.iter().map(|&v| v as u16).collect(),
            };
            if t.data_type == 10 {
                checked(
                    bits.into_iter().map(half::f16::from_bits).collect(),
                    count,
                    &shape,
                    device,
                )
            } else {
                let widened = bits.into_iter().map(|b| half::bf16::from_bits(b).to_f32());
                checked(widened.collect(), count, &shape, device)
            }
        }
        2..=7 | 9 | 12 | 13 => {
            let ints = ints(t)?.expect("an integer type");
            checked(narrow(ints.values)?, count, &shape, device)
        }
        other => {
            return Err(format!(
                "{}: {} tensors are not read",
                t.name,
                type_name(other)
            ))
        }
    };
    made.map_err(|e| format!("{}: {e}", t.name))
}

fn checked<T: crate::dtype::Element>(
    values: Vec<T>,
    count: usize,
    shape: &[usize],
    device: &Device,
) -> Result<Tensor, String> {
    if values.len() != count {
        return Err(format!(
            "shape {shape:?} needs {count} values, the tensor holds {}",
            values.len()
        ));
    }
    Tensor::from_vec(values, shape, device).map_err(|e| e.to_string())
}
