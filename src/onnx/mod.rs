//! ONNX models for inference. The protobuf is read by hand (`wire.rs`, `proto.rs`: no
//! protoc at build time), each node lowered to the engine's ops (`math.rs`, `layout.rs`,
//! `select.rs`, `reduce.rs`, `windows.rs`, `recurrent.rs`) or, where its inputs are
//! integers, evaluated on the host (`host.rs`, `ints.rs`), and the graph run lazily on
//! either device, so the whole model becomes the engine's plans.
//! [`OnnxModel::unsupported`] lists every op the engine cannot lower, with the nodes that
//! use it, before anything runs.

mod call;
mod host;
mod ints;
mod layout;
mod math;
mod proto;
mod recurrent;
mod reduce;
mod select;
mod values;
mod windows;
mod wire;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use crate::device::Device;
use crate::error::{Error, Result};
use crate::graph::Tensor;
use crate::ops::{BinaryOp, ReduceOp, UnaryOp};
use call::{Call, Value};
use proto::Node;
use reduce::Reduction;

type Lowering = fn(&Call) -> call::Out;

/// The ops of ONNX's default domain that lower to the engine's, with their lowering.
const LOWERINGS: &[(&str, Lowering)] = &[
    ("Abs", |c| math::unary(c, UnaryOp::Abs)),
    ("Add", |c| math::binary(c, BinaryOp::Add)),
    ("AveragePool", windows::average_pool),
    ("BatchNormalization", windows::batch_norm),
    ("Cast", math::cast),
    ("Concat", layout::concat),
    ("Constant", layout::constant),
    ("ConstantOfShape", select::constant_of_shape),
    ("Conv", windows::conv),
    ("Cos", |c| math::unary(c, UnaryOp::Cos)),
    ("Div", |c| math::binary(c, BinaryOp::Div)),
    ("Equal", |c| select::compare(c, BinaryOp::Eq)),
    ("Erf", |c| math::unary(c, UnaryOp::Erf)),
    ("Exp", |c| math::unary(c, UnaryOp::Exp)),
    ("Expand", layout::expand),
    ("Flatten", layout::flatten),
    ("GRU", recurrent::gru),
    ("Gather", select::gather),
    ("Gelu", math::gelu),
    ("Gemm", math::gemm),
    ("GlobalAveragePool", |c| windows::global_pool(c, false)),
    ("GlobalMaxPool", |c| windows::global_pool(c, true)),
    ("Greater", |c| select::compare(c, BinaryOp::Gt)),
    ("GreaterOrEqual", |c| select::compare(c, BinaryOp::Ge)),
    ("Identity", math::identity),
    ("LSTM", recurrent::lstm),
    ("LayerNormalization", reduce::layer_norm),
    ("Less", |c| select::compare(c, BinaryOp::Lt)),
    ("LessOrEqual", |c| select::compare(c, BinaryOp::Le)),
    ("Log", |c| math::unary(c, UnaryOp::Log)),
    ("LogSoftmax", |c| math::softmax(c, true)),
    ("MatMul", math::matmul),
    ("Max", |c| math::variadic(c, BinaryOp::Maximum, false)),
    ("MaxPool", windows::max_pool),
    ("Mean", |c| math::variadic(c, BinaryOp::Add, true)),
    ("Min", |c| math::variadic(c, BinaryOp::Minimum, false)),
    ("Mul", |c| math::binary(c, BinaryOp::Mul)),
    ("Neg", |c| math::unary(c, UnaryOp::Neg)),
    ("Pow", |c| math::binary(c, BinaryOp::Pow)),
    ("Range", select::range),
    ("Reciprocal", |c| math::unary(c, UnaryOp::Recip)),
    ("ReduceL1", |c| reduce::reduce(c, Reduction::L1)),
    ("ReduceL2", |c| reduce::reduce(c, Reduction::L2)),
    ("ReduceLogSum", |c| reduce::reduce(c, Reduction::LogSum)),
    ("ReduceLogSumExp", |c| {
        reduce::reduce(c, Reduction::LogSumExp)
    }),
    ("ReduceMax", |c| {
        reduce::reduce(c, Reduction::Plain(ReduceOp::Max))
    }),
    ("ReduceMean", |c| {
        reduce::reduce(c, Reduction::Plain(ReduceOp::Mean))
    }),
    ("ReduceMin", |c| {
        reduce::reduce(c, Reduction::Plain(ReduceOp::Min))
    }),
    ("ReduceProd", |c| {
        reduce::reduce(c, Reduction::Plain(ReduceOp::Prod))
    }),
    ("ReduceSum", |c| {
        reduce::reduce(c, Reduction::Plain(ReduceOp::Sum))
    }),
    ("ReduceSumSquare", |c| {
        reduce::reduce(c, Reduction::SumSquare)
    }),
    ("Relu", |c| math::unary(c, UnaryOp::Relu)),
    ("Reshape", layout::reshape),
    ("Sigmoid", |c| math::unary(c, UnaryOp::Sigmoid)),
    ("Sin", |c| math::unary(c, UnaryOp::Sin)),
    ("Slice", select::slice),
    ("Softmax", |c| math::softmax(c, false)),
    ("Sqrt", |c| math::unary(c, UnaryOp::Sqrt)),
    ("Squeeze", layout::squeeze),
    ("Sub", |c| math::binary(c, BinaryOp::Sub)),
    ("Sum", |c| math::variadic(c, BinaryOp::Add, false)),
    ("Tanh", |c| math::unary(c, UnaryOp::Tanh)),
    ("Transpose", layout::transpose),
    ("Trilu", select::trilu),
    ("Unsqueeze", layout::unsqueeze),
    ("Where", math::where_),
];

/// The ops [`OnnxModel::run`] lowers, by name, sorted. And, Mod, Not, Or, Xor run on
/// integer inputs only (the engine computes them on the host).
pub fn supported_ops() -> Vec<&'static str> {
    let mut ops: Vec<&str> = LOWERINGS.iter().map(|(name, _)| *name).collect();
    ops.extend(host::HOST_ONLY);
    ops.sort_unstable();
    ops
}

fn default_domain(node: &Node) -> bool {
    matches!(node.domain.as_str(), "" | "ai.onnx")
}

fn lowering(node: &Node) -> Option<Lowering> {
    if !default_domain(node) {
        return None;
    }
    LOWERINGS
        .iter()
        .find(|(name, _)| *name == node.op_type)
        .map(|(_, lower)| *lower)
}

fn supported(node: &Node) -> bool {
    lowering(node).is_some()
        || (default_domain(node) && host::HOST_ONLY.contains(&node.op_type.as_str()))
}

/// An op the engine cannot lower, and the nodes that use it (by name, or `#index` when
/// unnamed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsupported {
    pub op_type: String,
    pub domain: String,
    pub nodes: Vec<String>,
}

/// A parsed ONNX model.
pub struct OnnxModel {
    what: String,
    model: proto::Model,
    /// The initializers as tensors on the device of the last run, which later runs there
    /// reuse instead of uploading the weights again.
    weights: Mutex<Option<(Device, HashMap<String, Value>)>>,
}

fn fail(what: &str, message: impl Into<String>) -> Error {
    Error::Onnx {
        what: what.to_string(),
        message: message.into(),
    }
}

fn node_name(node: &Node, index: usize) -> String {
    match node.name.is_empty() {
        true => format!("#{index}"),
        false => node.name.clone(),
    }
}

impl OnnxModel {
    /// Parse the `.onnx` file at `path`.
    pub fn load(path: &Path) -> Result<OnnxModel> {
        let what = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| fail(&what, e.to_string()))?;
        OnnxModel::parse(what, &bytes)
    }

    /// Parse a model's bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<OnnxModel> {
        OnnxModel::parse("(bytes)".into(), bytes)
    }

    fn parse(what: String, bytes: &[u8]) -> Result<OnnxModel> {
        let model = proto::model(bytes).map_err(|m| fail(&what, m))?;
        Ok(OnnxModel {
            what,
            model,
            weights: Mutex::new(None),
        })
    }

    /// The version of ONNX's default operator set the model uses.
    pub fn opset(&self) -> Option<i64> {
        self.model
            .opsets
            .iter()
            .find(|(domain, _)| domain.is_empty() || domain == "ai.onnx")
            .map(|(_, version)| *version)
    }

    /// The inputs a run takes (graph inputs that no initializer supplies), with their
    /// shapes where the model states them (None for a symbolic or unknown size).
    pub fn inputs(&self) -> Vec<(String, Option<Vec<Option<usize>>>)> {
        let g = &self.model.graph;
        g.inputs
            .iter()
            .filter(|i| !g.initializers.iter().any(|t| t.name == i.name))
            .map(|i| {
                let shape = i.shape.as_ref().map(|dims| {
                    dims.iter()
                        .map(|d| match d {
                            proto::Dim::Size(n) => usize::try_from(*n).ok(),
                            _ => None,
                        })
                        .collect()
                });
                (i.name.clone(), shape)
            })
            .collect()
    }

    /// The names of the outputs a run gives, in order.
    pub fn outputs(&self) -> Vec<String> {
        self.model
            .graph
            .outputs
            .iter()
            .map(|o| o.name.clone())
            .collect()
    }

    /// How many nodes of each op type the graph has, sorted by op type.
    pub fn op_counts(&self) -> Vec<(String, usize)> {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for node in &self.model.graph.nodes {
            *counts.entry(node.op_type.as_str()).or_default() += 1;
        }
        let mut out: Vec<(String, usize)> = counts
            .into_iter()
            .map(|(op, n)| (op.to_string(), n))
            .collect();
        out.sort();
        out
    }

    /// Every op the engine cannot lower, with its nodes, sorted by op type.
    pub fn unsupported(&self) -> Vec<Unsupported> {
        let mut found: Vec<Unsupported> = Vec::new();
        for (i, node) in self.model.graph.nodes.iter().enumerate() {
            if supported(node) {
                continue;
            }
            let name = node_name(node, i);
            match found
                .iter_mut()
                .find(|u| u.op_type == node.op_type && u.domain == node.domain)
            {
                Some(u) => u.nodes.push(name),
                None => found.push(Unsupported {
                    op_type: node.op_type.clone(),
                    domain: node.domain.clone(),
                    nodes: vec![name],
                }),
            }
        }
        found.sort_by(|a, b| (&a.domain, &a.op_type).cmp(&(&b.domain, &b.op_type)));
        found
    }

    /// The initializers on `device`, uploaded on the first run there.
    fn weights(&self, device: &Device) -> Result<HashMap<String, Value>> {
        let mut cached = self.weights.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, weights)) = cached.as_ref().filter(|(on, _)| on == device) {
            return Ok(weights.clone());
        }
        let mut weights = HashMap::new();
        for t in &self.model.graph.initializers {
            let value = match values::ints(t) {
                Ok(Some(ints)) => Ok(Value::Ints(ints)),
                Ok(None) => values::tensor(t, device).map(Value::Tensor),
                Err(m) => Err(m),
            };
            weights.insert(t.name.clone(), value.map_err(|m| fail(&self.what, m))?);
        }
        *cached = Some((device.clone(), weights.clone()));
        Ok(weights)
    }

    /// Run the graph on `device` with `inputs` by name; the outputs in the model's order.
    /// The results are pending tensors: reading one computes what it needs.
    pub fn run(&self, inputs: &[(&str, Tensor)], device: &Device) -> Result<Vec<(String, Tensor)>> {
        let unsupported = self.unsupported();
        if !unsupported.is_empty() {
            let list: Vec<String> = unsupported
                .iter()
                .map(|u| {
                    format!(
                        "{} ({} of {} nodes)",
                        u.op_type,
                        u.nodes.len(),
                        self.model.graph.nodes.len()
                    )
                })
                .collect();
            return Err(fail(
                &self.what,
                format!("unsupported ops: {}", list.join(", ")),
            ));
        }
        let opset = self.opset().ok_or_else(|| {
            fail(
                &self.what,
                "the model imports no version of the default operator set",
            )
        })?;
        let graph = &self.model.graph;
        let mut values = self.weights(device)?;
        let wanted = self.inputs();
        for (name, tensor) in inputs {
            if !wanted.iter().any(|(n, _)| n == name) {
                return Err(fail(&self.what, format!("the model has no input {name}")));
            }
            values.insert(name.to_string(), Value::Tensor(tensor.clone()));
        }
        if let Some((name, _)) = wanted.iter().find(|(n, _)| !values.contains_key(n)) {
            return Err(fail(&self.what, format!("input {name} is not given")));
        }
        for (i, node) in graph.nodes.iter().enumerate() {
            let at = |m: String| {
                fail(
                    &self.what,
                    format!("node {} ({}): {m}", node_name(node, i), node.op_type),
                )
            };
            let args = node
                .inputs
                .iter()
                .map(|name| match name.is_empty() {
                    true => Ok(None),
                    false => values
                        .get(name)
                        .cloned()
                        .map(Some)
                        .ok_or_else(|| at(format!("input {name} comes from no earlier node"))),
                })
                .collect::<Result<Vec<_>>>()?;
            let call = Call {
                node,
                inputs: args,
                opset,
                device,
            };
            let results: Vec<Value> = match host::eval(&call) {
                Some(ints) => ints.map_err(at)?.into_iter().map(Value::Ints).collect(),
                None => {
                    let lower = lowering(node)
                        .ok_or_else(|| at("runs on integer or boolean inputs only".into()))?;
                    lower(&call)
                        .map_err(at)?
                        .into_iter()
                        .map(Value::Tensor)
                        .collect()
                }
            };
            for (name, value) in node.outputs.iter().zip(results) {
                if !name.is_empty() {
                    values.insert(name.clone(), value);
                }
            }
        }
        graph
            .outputs
            .iter()
            .map(|o| {
                let value = values.get(&o.name).ok_or_else(|| {
                    fail(
                        &self.what,
                        format!("output {} is computed by no node", o.name),
                    )
                })?;
                let tensor = value.tensor(device).map_err(|m| fail(&self.what, m))?;
                Ok((o.name.clone(), tensor))
            })
            .collect()
    }
}

/// A serialized TensorProto (as ONNX's test data stores inputs and outputs), with its name.
pub fn tensor_from_bytes(bytes: &[u8], device: &Device) -> Result<(String, Tensor)> {
    let data = proto::tensor(bytes).map_err(|m| fail("(tensor bytes)", m))?;
    let tensor = values::tensor(&data, device).map_err(|m| fail("(tensor bytes)", m))?;
    Ok((data.name, tensor))
}
