//! One node being lowered: its inputs as tensors, its attributes with their defaults, and
//! the operator set version that decides which form of the op it is.

use super::proto::{AttributeValue, Node, TensorData};
use crate::device::Device;
use crate::dtype::DType;
use crate::graph::Tensor;

pub(super) struct Call<'a> {
    pub node: &'a Node,
    /// By position; None where the node leaves an optional input out.
    pub inputs: Vec<Option<Tensor>>,
    /// The default domain's operator set version.
    pub opset: i64,
    pub device: &'a Device,
}

impl Call<'_> {
    pub fn input(&self, i: usize) -> Result<&Tensor, String> {
        self.optional(i)
            .ok_or_else(|| format!("input {i} is required and missing"))
    }

    pub fn optional(&self, i: usize) -> Option<&Tensor> {
        self.inputs.get(i).and_then(Option::as_ref)
    }

    /// Every input given, in order (variadic ops).
    pub fn all_inputs(&self) -> Vec<&Tensor> {
        self.inputs.iter().flatten().collect()
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

    /// Input `i`'s values on the host, as integers (a shape, axes, starts): ONNX passes
    /// them as int64 tensors, which the engine holds as i32.
    pub fn host_ints(&self, i: usize) -> Result<Vec<i64>, String> {
        let t = self.input(i)?;
        let values = match t.dtype() {
            DType::I32 => t
                .to_vec::<i32>()
                .map(|v| v.into_iter().map(i64::from).collect()),
            _ => t
                .cast(DType::F64)
                .and_then(|t| t.to_vec::<f64>())
                .map(|v| v.into_iter().map(|x| x as i64).collect()),
        };
        values.map_err(|e| e.to_string())
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
