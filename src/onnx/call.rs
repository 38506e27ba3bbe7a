//! One node being lowered: its inputs, as tensors on the device or as integers on the host,
//! its attributes with their defaults, and the operator set version that decides which
//! form of the op it is.

use super::ints::Ints;
use super::proto::{AttributeValue, Node, TensorData};
use crate::device::Device;
use crate::dtype::DType;
use crate::graph::Tensor;

/// A value of the graph: a tensor of the engine's, or integers held on the host (shapes,
/// indices and their arithmetic, which the engine's float kernels do not compute).
#[derive(Clone)]
pub(super) enum Value {
    Tensor(Tensor),
    Ints(Ints),
}

impl Value {
    pub fn shape(&self) -> &[usize] {
        match self {
            Value::Tensor(t) => t.shape(),
            Value::Ints(i) => &i.shape,
        }
    }

    pub fn is_integer(&self) -> bool {
        match self {
            Value::Tensor(t) => t.dtype() == DType::I32,
            Value::Ints(_) => true,
        }
    }

    /// As a tensor on `device`: host integers become an i32 tensor there.
    pub fn tensor(&self, device: &Device) -> Result<Tensor, String> {
        match self {
            Value::Tensor(t) => Ok(t.clone()),
            Value::Ints(i) => i.tensor(device),
        }
    }

    /// As integers on the host: an integer tensor is read back, a float one refused.
    pub fn ints(&self) -> Result<Ints, String> {
        match self {
            Value::Ints(i) => Ok(i.clone()),
            Value::Tensor(t) if t.dtype() == DType::I32 => {
                let values = t.to_vec::<i32>().map_err(|e| e.to_string())?;
                Ints::new(t.shape(), values.into_iter().map(i64::from).collect())
            }
            Value::Tensor(t) => Err(format!("a {:?} tensor where integers belong", t.dtype())),
        }
    }
}

/// What a device lowering gives: its outputs, or why not.
pub(super) type Out = Result<Vec<Tensor>, String>;

/// The engine's error as the lowering's message.
pub(super) fn engine<T>(r: crate::error::Result<T>) -> Result<T, String> {
    r.map_err(|e| e.to_string())
}

/// One output.
pub(super) fn one(t: crate::error::Result<Tensor>) -> Out {
    engine(t).map(|t| vec![t])
}

pub(super) struct Call<'a> {
    pub node: &'a Node,
    /// By position; None where the node leaves an optional input out.
    pub inputs: Vec<Option<Value>>,
    /// The default domain's operator set version.
    pub opset: i64,
    pub device: &'a Device,
}

impl Call<'_> {
    /// Input `i` as a tensor on the call's device.
    pub fn input(&self, i: usize) -> Result<Tensor, String> {
        self.value(i)?.tensor(self.device)
    }

    pub fn value(&self, i: usize) -> Result<&Value, String> {
        self.inputs
            .get(i)
            .and_then(Option::as_ref)
            .ok_or_else(|| format!("input {i} is required and missing"))
    }

    pub fn is_given(&self, i: usize) -> bool {
        matches!(self.inputs.get(i), Some(Some(_)))
    }

    pub fn optional(&self, i: usize) -> Result<Option<Tensor>, String> {
        match self.is_given(i) {
            true => self.input(i).map(Some),
            false => Ok(None),
        }
    }

    /// Every input given, in order (variadic ops).
    pub fn all_inputs(&self) -> Result<Vec<Tensor>, String> {
        (0..self.inputs.len())
            .filter(|&i| self.is_given(i))
            .map(|i| self.input(i))
            .collect()
    }

    /// Input `i` as integers on the host.
    pub fn int_input(&self, i: usize) -> Result<Ints, String> {
        self.value(i)?.ints()
    }

    /// Whether every input given holds integers.
    pub fn all_integer(&self) -> bool {
        self.inputs.iter().flatten().all(Value::is_integer)
    }

    fn attribute(&self, name: &str) -> Option<&AttributeValue> {
        self.node
            .attributes
            .iter()
            .find(|a| a.name == name)
            .map(|a| &a.value)
    }

    pub fn has(&self, name: &str) -> bool {
        self.attribute(name).is_some()
    }

    pub fn int(&self, name: &str, default: i64) -> Result<i64, String> {
        match self.attribute(name) {
            None => Ok(default),
            Some(AttributeValue::Int(v)) => Ok(*v),
            Some(other) => Err(format!("attribute {name} is {}, not an int", other.kind())),
        }
    }

    pub fn float(&self, name: &str, default: f32) -> Result<f32, String> {
        match self.attribute(name) {
            None => Ok(default),
            Some(AttributeValue::Float(v)) => Ok(*v),
            Some(other) => Err(format!("attribute {name} is {}, not a float", other.kind())),
        }
    }

    pub fn ints(&self, name: &str) -> Result<Option<Vec<i64>>, String> {
        match self.attribute(name) {
            None => Ok(None),
            Some(AttributeValue::Ints(v)) => Ok(Some(v.clone())),
            Some(other) => Err(format!("attribute {name} is {}, not ints", other.kind())),
        }
    }

    pub fn floats(&self, name: &str) -> Result<Option<Vec<f32>>, String> {
        match self.attribute(name) {
            None => Ok(None),
            Some(AttributeValue::Floats(v)) => Ok(Some(v.clone())),
            Some(other) => Err(format!("attribute {name} is {}, not floats", other.kind())),
        }
    }

    pub fn string(&self, name: &str, default: &str) -> Result<String, String> {
        match self.attribute(name) {
            None => Ok(default.to_string()),
            Some(AttributeValue::String(v)) => {
                String::from_utf8(v.clone()).map_err(|_| format!("attribute {name} is not UTF-8"))
            }
            Some(other) => Err(format!(
                "attribute {name} is {}, not a string",
                other.kind()
            )),
        }
    }

    pub fn strings(&self, name: &str) -> Result<Option<Vec<String>>, String> {
        match self.attribute(name) {
            None => Ok(None),
            Some(AttributeValue::Strings(v)) => v
                .iter()
                .map(|s| {
                    String::from_utf8(s.clone())
                        .map_err(|_| format!("attribute {name} is not UTF-8"))
                })
                .collect::<Result<Vec<String>, String>>()
                .map(Some),
            Some(other) => Err(format!("attribute {name} is {}, not strings", other.kind())),
        }
    }

    pub fn tensor(&self, name: &str) -> Result<Option<&TensorData>, String> {
        match self.attribute(name) {
            None => Ok(None),
            Some(AttributeValue::Tensor(t)) => Ok(Some(t)),
            Some(other) => Err(format!(
                "attribute {name} is {}, not a tensor",
                other.kind()
            )),
        }
    }

    /// Input `i`'s values on the host, as integers (a shape, axes, starts); a float
    /// tensor's values truncated.
    pub fn host_ints(&self, i: usize) -> Result<Vec<i64>, String> {
        match self.value(i)? {
            Value::Tensor(t) if t.dtype().is_float() => t
                .cast(DType::F64)
                .and_then(|t| t.to_vec::<f64>())
                .map(|v| v.into_iter().map(|x| x as i64).collect())
                .map_err(|e| e.to_string()),
            value => Ok(value.ints()?.values),
        }
    }

    /// Axis `axis` of a tensor of rank `rank`, negative counting from the end.
    pub fn axis(&self, axis: i64, rank: usize) -> Result<usize, String> {
        let normalized = if axis < 0 { axis + rank as i64 } else { axis };
        usize::try_from(normalized)
            .ok()
            .filter(|&a| a < rank)
            .ok_or_else(|| format!("axis {axis} is out of range for rank {rank}"))
    }
}
