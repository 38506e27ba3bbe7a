//! The messages of `onnx.proto` that inference reads (ModelProto, GraphProto, NodeProto,
//! AttributeProto, TensorProto, ValueInfoProto), decoded from the wire with the field
//! numbers the schema gives them. Fields this engine has no use for are skipped, as
//! Protocol Buffers readers do.

use super::wire::{Fields, Value};

/// A model: its format version, operator sets and graph.
#[derive(Clone, Debug, Default)]
pub struct Model {
    pub ir_version: i64,
    /// (domain, version); the default domain is "".
    pub opsets: Vec<(String, i64)>,
    pub producer: String,
    pub graph: Graph,
}

#[derive(Clone, Debug, Default)]
pub struct Graph {
    pub name: String,
    pub nodes: Vec<Node>,
    pub initializers: Vec<TensorData>,
    pub inputs: Vec<ValueInfo>,
    pub outputs: Vec<ValueInfo>,
}

#[derive(Clone, Debug, Default)]
pub struct Node {
    pub name: String,
    pub op_type: String,
    pub domain: String,
    /// Input names; "" marks an optional input left out.
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub attributes: Vec<Attribute>,
}

#[derive(Clone, Debug)]
pub struct Attribute {
    pub name: String,
    pub value: AttributeValue,
}

#[derive(Clone, Debug)]
pub enum AttributeValue {
    Float(f32),
    Int(i64),
    String(Vec<u8>),
    Tensor(TensorData),
    Floats(Vec<f32>),
    Ints(Vec<i64>),
    Strings(Vec<Vec<u8>>),
    /// A kind no lowering reads (strings, graphs, sparse tensors, types), by its name.
    Unread(&'static str),
}

impl AttributeValue {
    /// What kind of value it is, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            AttributeValue::Float(_) => "a float",
            AttributeValue::Int(_) => "an int",
            AttributeValue::String(_) => "a string",
            AttributeValue::Tensor(_) => "a tensor",
            AttributeValue::Floats(_) => "floats",
            AttributeValue::Ints(_) => "ints",
            AttributeValue::Strings(_) => "strings",
            AttributeValue::Unread(kind) => kind,
        }
    }
}

/// The kinds no lowering reads, by their AttributeProto type number.
fn unread(kind: i64) -> &'static str {
    match kind {
        5 => "a graph",
        9 => "tensors",
        10 => "graphs",
        11 => "a sparse tensor",
        12 => "sparse tensors",
        13 => "a type",
        14 => "types",
        _ => "an unknown kind",
    }
}

/// A graph input or output: its name, element type and shape (None where unknown; a
/// dimension is a size or a symbolic name).
#[derive(Clone, Debug, Default)]
pub struct ValueInfo {
    pub name: String,
    pub elem_type: i64,
    pub shape: Option<Vec<Dim>>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Dim {
    Size(i64),
    Named(String),
    Unknown,
}

/// A TensorProto as stored: the values are in `raw` or in one of the typed lists.
#[derive(Clone, Debug, Default)]
pub struct TensorData {
    pub name: String,
    pub dims: Vec<i64>,
    pub data_type: i64,
    pub raw: Option<Vec<u8>>,
    pub floats: Vec<f32>,
    /// int32_data: int32, int16, int8, uint16, uint8, bool, and float16's bits.
    pub int32s: Vec<i64>,
    pub int64s: Vec<i64>,
    pub doubles: Vec<f64>,
    pub uint64s: Vec<i64>,
    /// Whether the values live in a file beside the model (not read here).
    pub external: bool,
}

fn each<'a>(
    bytes: &'a [u8],
    mut field: impl FnMut(u32, Value<'a>) -> Result<(), String>,
) -> Result<(), String> {
    let mut fields = Fields::new(bytes);
    while let Some((number, value)) = fields.next_field()? {
        field(number, value)?;
    }
    Ok(())
}

pub fn model(bytes: &[u8]) -> Result<Model, String> {
    let mut m = Model::default();
    let mut graph = None;
    each(bytes, |number, value| {
        match number {
            1 => m.ir_version = value.int("ir_version")?,
            2 => m.producer = value.string("producer_name")?,
            7 => graph = Some(self::graph(value.bytes("graph")?)?),
            8 => {
                let (mut domain, mut version) = (String::new(), 0);
                each(value.bytes("opset_import")?, |n, v| {
                    match n {
                        1 => domain = v.string("opset domain")?,
                        2 => version = v.int("opset version")?,
                        _ => {}
                    }
                    Ok(())
                })?;
                m.opsets.push((domain, version));
            }
            _ => {}
        }
        Ok(())
    })?;
    m.graph = graph.ok_or("the model has no graph (is this an ONNX model?)")?;
    Ok(m)
}

pub fn graph(bytes: &[u8]) -> Result<Graph, String> {
    let mut g = Graph::default();
    each(bytes, |number, value| {
        match number {
            1 => g.nodes.push(node(value.bytes("node")?)?),
            2 => g.name = value.string("graph name")?,
            5 => g.initializers.push(tensor(value.bytes("initializer")?)?),
            11 => g.inputs.push(value_info(value.bytes("graph input")?)?),
            12 => g.outputs.push(value_info(value.bytes("graph output")?)?),
            15 => return Err("sparse initializers are not read".into()),
            _ => {}
        }
        Ok(())
    })?;
    Ok(g)
}

fn node(bytes: &[u8]) -> Result<Node, String> {
    let mut n = Node::default();
    each(bytes, |number, value| {
        match number {
            1 => n.inputs.push(value.string("node input")?),
            2 => n.outputs.push(value.string("node output")?),
            3 => n.name = value.string("node name")?,
            4 => n.op_type = value.string("op_type")?,
            5 => n.attributes.push(attribute(value.bytes("attribute")?)?),
            7 => n.domain = value.string("node domain")?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(n)
}

fn attribute(bytes: &[u8]) -> Result<Attribute, String> {
    let mut name = String::new();
    let mut kind = None;
    let (mut f, mut i, mut s, mut t) = (None, None, None, None);
    let (mut floats, mut ints, mut strings) = (Vec::new(), Vec::new(), Vec::new());
    let mut other = None;
    each(bytes, |number, value| {
        match number {
            1 => name = value.string("attribute name")?,
            2 => f = Some(value.float("attribute f")?),
            3 => i = Some(value.int("attribute i")?),
            4 => s = Some(value.bytes("attribute s")?.to_vec()),
            5 => t = Some(tensor(value.bytes("attribute t")?)?),
            7 => value.floats(&mut floats, "attribute floats")?,
            8 => value.ints(&mut ints, "attribute ints")?,
            20 => kind = Some(value.int("attribute type")?),
            6 => other = Some(5),
            9 => strings.push(value.bytes("attribute strings")?.to_vec()),
            10 => other = Some(9),
            11 => other = Some(10),
            22 => other = Some(11),
            23 => other = Some(12),
            14 => other = Some(13),
            15 => other = Some(14),
            _ => {}
        }
        Ok(())
    })?;
    // The type field names the one in use; models from before it existed are read by
    // which field is present.
    let value = match kind {
        Some(1) => f.map(AttributeValue::Float),
        Some(2) => i.map(AttributeValue::Int),
        Some(3) => s.map(AttributeValue::String),
        Some(4) => t.map(AttributeValue::Tensor),
        Some(6) => Some(AttributeValue::Floats(floats)),
        Some(7) => Some(AttributeValue::Ints(ints)),
        Some(8) => Some(AttributeValue::Strings(strings)),
        Some(other) => Some(AttributeValue::Unread(unread(other))),
        None => f
            .map(AttributeValue::Float)
            .or(i.map(AttributeValue::Int))
            .or(s.map(AttributeValue::String))
            .or(t.map(AttributeValue::Tensor))
            .or((!floats.is_empty()).then_some(AttributeValue::Floats(floats)))
            .or((!ints.is_empty()).then_some(AttributeValue::Ints(ints)))
            .or((!strings.is_empty()).then_some(AttributeValue::Strings(strings)))
            .or(other.map(|k| AttributeValue::Unread(unread(k)))),
    }
    .ok_or_else(|| format!("attribute {name} has no value of its type"))?;
    Ok(Attribute { name, value })
}

/// A TensorProto (a graph's initializer, an attribute, or a test's input or output file).
pub fn tensor(bytes: &[u8]) -> Result<TensorData, String> {
    let mut t = TensorData::default();
    each(bytes, |number, value| {
        match number {
            1 => value.ints(&mut t.dims, "dims")?,
            2 => t.data_type = value.int("data_type")?,
            3 => return Err("segmented tensors are not read".into()),
            4 => value.floats(&mut t.floats, "float_data")?,
            5 => value.ints(&mut t.int32s, "int32_data")?,
            6 => return Err("string tensors are not read".into()),
            7 => value.ints(&mut t.int64s, "int64_data")?,
            8 => t.name = value.string("tensor name")?,
            9 => t.raw = Some(value.bytes("raw_data")?.to_vec()),
            10 => value.doubles(&mut t.doubles, "double_data")?,
            11 => value.ints(&mut t.uint64s, "uint64_data")?,
            14 => t.external = value.int("data_location")? == 1,
            _ => {}
        }
        Ok(())
    })?;
    Ok(t)
}

fn value_info(bytes: &[u8]) -> Result<ValueInfo, String> {
    let mut info = ValueInfo::default();
    each(bytes, |number, value| {
        match number {
            1 => info.name = value.string("value name")?,
            // TypeProto: tensor_type (1) holds elem_type (1) and shape (2).
            2 => each(value.bytes("type")?, |n, v| {
                if n == 1 {
                    each(v.bytes("tensor_type")?, |n, v| {
                        match n {
                            1 => info.elem_type = v.int("elem_type")?,
                            2 => info.shape = Some(shape(v.bytes("shape")?)?),
                            _ => {}
                        }
                        Ok(())
                    })?;
                }
                Ok(())
            })?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(info)
}

fn shape(bytes: &[u8]) -> Result<Vec<Dim>, String> {
    let mut dims = Vec::new();
    each(bytes, |number, value| {
        if number == 1 {
            let mut dim = Dim::Unknown;
            each(value.bytes("dim")?, |n, v| {
                match n {
                    1 => dim = Dim::Size(v.int("dim_value")?),
                    2 => dim = Dim::Named(v.string("dim_param")?),
                    _ => {}
                }
                Ok(())
            })?;
            dims.push(dim);
        }
        Ok(())
    })?;
    Ok(dims)
}
