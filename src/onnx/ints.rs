//! Integer tensors held on the host in i64, as ONNX declares shapes and indices: the
//! engine's kernels compute in floats and keep integers as i32 for indexing only, so the
//! integer arithmetic of a graph (shapes taken, sliced, multiplied and joined into the
//! next reshape's target) runs here, exactly, and reaches the device only as indices.

use crate::device::Device;
use crate::graph::Tensor;
use crate::shape::{broadcast_shapes, numel};

/// The most elements a tensor computed on the host may hold: shapes and index lists are far
/// smaller, and a corrupt shape must not become an allocation the process cannot survive.
const MOST: usize = 1 << 24;

/// The element count of `shape` for a tensor computed on the host, refused past [`MOST`].
pub(super) fn count(shape: &[usize]) -> Result<usize, String> {
    shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .filter(|&n| n <= MOST)
        .ok_or_else(|| {
            format!(
                "a result of shape {shape:?}: what is computed on the host (integer tensors, \
                 Range) holds at most {MOST} elements"
            )
        })
}

#[derive(Clone, Debug, PartialEq)]
pub(super) struct Ints {
    pub shape: Vec<usize>,
    /// Row-major.
    pub values: Vec<i64>,
}

impl Ints {
    pub fn new(shape: &[usize], values: Vec<i64>) -> Result<Ints, String> {
        if numel(shape) != values.len() {
            return Err(format!(
                "shape {shape:?} needs {} values, got {}",
                numel(shape),
                values.len()
            ));
        }
        Ok(Ints {
            shape: shape.to_vec(),
            values,
        })
    }

    pub fn scalar(value: i64) -> Ints {
        Ints {
            shape: vec![],
            values: vec![value],
        }
    }

    pub fn vector(values: Vec<i64>) -> Ints {
        Ints {
            shape: vec![values.len()],
            values,
        }
    }

    /// As an i32 tensor on `device` (the engine's index type).
    pub fn tensor(&self, device: &Device) -> Result<Tensor, String> {
        let narrowed = self
            .values
            .iter()
            .map(|&v| i32::try_from(v).map_err(|_| format!("the integer {v} does not fit i32")))
            .collect::<Result<Vec<i32>, String>>()?;
        Tensor::from_vec(narrowed, &self.shape, device).map_err(|e| e.to_string())
    }

    /// The one value of a tensor of one element.
    pub fn single(&self) -> Result<i64, String> {
        match self.values.as_slice() {
            [v] => Ok(*v),
            _ => Err(format!("expected one value, got shape {:?}", self.shape)),
        }
    }

    /// For each element of `shape` in row-major order, the index of the element of this
    /// tensor that broadcasts to it.
    pub fn broadcast_index(&self, shape: &[usize]) -> Vec<usize> {
        let offset = shape.len() - self.shape.len();
        let mut strides = vec![0; shape.len()];
        let mut stride = 1;
        for (d, &size) in self.shape.iter().enumerate().rev() {
            strides[offset + d] = if size == 1 { 0 } else { stride };
            stride *= size;
        }
        let mut out = Vec::with_capacity(numel(shape));
        let mut at = vec![0; shape.len()];
        for _ in 0..numel(shape) {
            out.push(at.iter().zip(&strides).map(|(i, s)| i * s).sum());
            for d in (0..shape.len()).rev() {
                at[d] += 1;
                if at[d] < shape[d] {
                    break;
                }
                at[d] = 0;
            }
        }
        out
    }

    /// The tensor broadcast to `shape`.
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Ints, String> {
        count(shape)?;
        let values = self
            .broadcast_index(shape)
            .into_iter()
            .map(|i| self.values[i])
            .collect();
        Ok(Ints {
            shape: shape.to_vec(),
            values,
        })
    }

    /// The same values in another shape of as many elements.
    pub fn reshaped(&self, shape: &[usize]) -> Result<Ints, String> {
        Ints::new(shape, self.values.clone())
    }

    /// The elements at positions `picks` along `axis`, in that order.
    pub fn take(&self, axis: usize, picks: &[usize]) -> Ints {
        let outer: usize = self.shape[..axis].iter().product();
        let inner: usize = self.shape[axis + 1..].iter().product();
        let size = self.shape[axis];
        let mut values = Vec::with_capacity(outer * picks.len() * inner);
        for o in 0..outer {
            for &p in picks {
                let start = (o * size + p) * inner;
                values.extend_from_slice(&self.values[start..start + inner]);
            }
        }
        let mut shape = self.shape.clone();
        shape[axis] = picks.len();
        Ints { shape, values }
    }
}

/// `f` of the broadcast elements of every input, in NumPy's broadcasting.
pub(super) fn broadcast_map(
    inputs: &[&Ints],
    f: impl Fn(&[i64]) -> Result<i64, String>,
) -> Result<Ints, String> {
    let mut shape: Vec<usize> = vec![];
    for t in inputs {
        shape = broadcast_shapes("onnx integers", &shape, &t.shape).map_err(|e| e.to_string())?;
    }
    count(&shape)?;
    let indices: Vec<Vec<usize>> = inputs.iter().map(|t| t.broadcast_index(&shape)).collect();
    let mut args = vec![0; inputs.len()];
    let values = (0..numel(&shape))
        .map(|k| {
            for (j, t) in inputs.iter().enumerate() {
                args[j] = t.values[indices[j][k]];
            }
            f(&args)
        })
        .collect::<Result<Vec<i64>, String>>()?;
    Ok(Ints { shape, values })
}

/// `v` wrapped to the range of ONNX element type `data_type`, as a cast to it stores it.
pub(super) fn wrap(v: i64, data_type: i64) -> i64 {
    match data_type {
        2 => i64::from(v as u8),
        3 => i64::from(v as i8),
        4 => i64::from(v as u16),
        5 => i64::from(v as i16),
        6 => i64::from(v as i32),
        12 => i64::from(v as u32),
        9 => i64::from(v != 0),
        _ => v,
    }
}
