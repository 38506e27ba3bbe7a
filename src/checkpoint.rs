//! Checkpoints as safetensors files: parameters under their module names, optimizer state
//! under `optim.`, the rest of a run's state (a replay buffer, environments) under `run.`,
//! and string metadata, the header's keys sorted so that the same run writes the same
//! bytes. Written atomically (a temporary file beside the target, fsync, rename, fsync of
//! the directory; tests/kill_resume.rs kills runs mid-save); loading checks every name,
//! shape and dtype before changing anything, so a bad file leaves the model and optimizer
//! untouched.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use safetensors::{Dtype, SafeTensors, View};

use crate::device::Device;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::Tensor;
use crate::nn::Module;
use crate::optim::Optimizer;

/// Tensors with their names, sorted by name.
pub type NamedTensors = Vec<(String, Tensor)>;

const OPTIM_PREFIX: &str = "optim.";
const RUN_PREFIX: &str = "run.";
const STEPS_KEY: &str = "optim.steps";

fn err(path: &Path, message: impl Into<String>) -> Error {
    named_err(&path.display().to_string(), message)
}

/// A checkpoint error about the file or bytes called `what`.
fn named_err(what: &str, message: impl Into<String>) -> Error {
    Error::Checkpoint {
        path: what.to_string(),
        message: message.into(),
    }
}

struct Host {
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl View for &Host {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        (&self.bytes[..]).into()
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

fn to_safetensors(dtype: DType) -> Dtype {
    match dtype {
        DType::F16 => Dtype::F16,
        DType::F32 => Dtype::F32,
        DType::F64 => Dtype::F64,
        DType::I32 => Dtype::I32,
    }
}

fn host(t: &Tensor) -> Result<Host> {
    let bytes = match t.dtype() {
        DType::F16 => bytemuck::cast_slice(&t.to_vec::<half::f16>()?).to_vec(),
        DType::F32 => bytemuck::cast_slice(&t.to_vec::<f32>()?).to_vec(),
        DType::F64 => bytemuck::cast_slice(&t.to_vec::<f64>()?).to_vec(),
        DType::I32 => bytemuck::cast_slice(&t.to_vec::<i32>()?).to_vec(),
    };
    Ok(Host {
        dtype: to_safetensors(t.dtype()),
        shape: t.shape().to_vec(),
        bytes,
    })
}

/// Write `bytes` to `path` so that a crash leaves either the old file or the new one.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let written = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    std::fs::File::open(dir)?.sync_all()
}

/// Save named tensors and metadata.
pub fn save(
    path: &Path,
    tensors: &[(String, Tensor)],
    metadata: HashMap<String, String>,
) -> Result<()> {
    let all: Vec<&Tensor> = tensors.iter().map(|(_, t)| t).collect();
    crate::realize::realize(&all)?;
    let hosts: Vec<(String, Host)> = tensors
        .iter()
        .map(|(n, t)| Ok((n.clone(), host(t)?)))
        .collect::<Result<_>>()?;
    let bytes = safetensors::serialize(hosts.iter().map(|(n, h)| (n.as_str(), h)), Some(metadata))
        .map_err(|e| err(path, e.to_string()))?;
    let bytes = sorted_header(bytes).map_err(|e| err(path, e))?;
    write_atomic(path, &bytes).map_err(|e| err(path, e.to_string()))
}

/// The file with its JSON header's keys in sorted order (the metadata arrives as a hash map,
/// whose order changes from run to run), so that the same run writes the same bytes. The
/// header stays padded with spaces to a multiple of 8 bytes, as safetensors aligns it.
fn sorted_header(bytes: Vec<u8>) -> std::result::Result<Vec<u8>, String> {
    let length = bytes
        .get(..8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_le_bytes)
        .ok_or("a serialized file without its header length")? as usize;
    let header = bytes
        .get(8..8 + length)
        .ok_or("a serialized header past the end of its file")?;
    // serde_json's maps are ordered by key (this crate does not enable `preserve_order`).
    let parsed: serde_json::Value = serde_json::from_slice(header).map_err(|e| e.to_string())?;
    let mut text = serde_json::to_vec(&parsed).map_err(|e| e.to_string())?;
    text.resize(text.len().div_ceil(8) * 8, b' ');
    let mut out = Vec::with_capacity(8 + text.len() + bytes.len() - 8 - length);
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(&text);
    out.extend_from_slice(&bytes[8 + length..]);
    Ok(out)
}

/// Each tensor's shape by name.
pub type Shapes = HashMap<String, Vec<usize>>;

/// The metadata and each tensor's shape, without the tensors: what a model's sizes are read
/// and checked from before it is built (the shapes are the data's, so they bound the sizes).
pub fn header(path: &Path) -> Result<(HashMap<String, String>, Shapes)> {
    let bytes = std::fs::read(path).map_err(|e| err(path, e.to_string()))?;
    let file = SafeTensors::deserialize(&bytes)
        .map_err(|e| err(path, format!("truncated or corrupt: {e}")))?;
    let shapes = file
        .tensors()
        .into_iter()
        .map(|(name, view)| (name, view.shape().to_vec()))
        .collect();
    let (_, meta) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| err(path, format!("truncated or corrupt: {e}")))?;
    Ok((meta.metadata().clone().unwrap_or_default(), shapes))
}

/// Every tensor in the file, on `device`, with the metadata.
pub fn load(path: &Path, device: &Device) -> Result<(NamedTensors, HashMap<String, String>)> {
    let bytes = std::fs::read(path).map_err(|e| err(path, e.to_string()))?;
    parse(&path.display().to_string(), &bytes, device)
}

/// Every tensor in a checkpoint held in memory (a safetensors file's bytes), on `device`,
/// with the metadata; errors name the checkpoint `<bytes>`.
pub fn load_bytes(
    bytes: &[u8],
    device: &Device,
) -> Result<(NamedTensors, HashMap<String, String>)> {
    parse("<bytes>", bytes, device)
}

/// `load` of the bytes of the checkpoint called `what`.
fn parse(
    what: &str,
    bytes: &[u8],
    device: &Device,
) -> Result<(NamedTensors, HashMap<String, String>)> {
    let corrupt =
        |e: safetensors::SafeTensorError| named_err(what, format!("truncated or corrupt: {e}"));
    let (_, meta) = SafeTensors::read_metadata(bytes).map_err(corrupt)?;
    let file = SafeTensors::deserialize(bytes).map_err(corrupt)?;
    let mut tensors = Vec::new();
    for (name, view) in file.tensors() {
        let shape = view.shape().to_vec();
        let data = view.data();
        let t = match view.dtype() {
            Dtype::F16 => Tensor::from_vec(
                bytemuck::pod_collect_to_vec::<u8, half::f16>(data),
                &shape,
                device,
            )?,
            Dtype::F32 => Tensor::from_vec(
                bytemuck::pod_collect_to_vec::<u8, f32>(data),
                &shape,
                device,
            )?,
            Dtype::F64 => Tensor::from_vec(
                bytemuck::pod_collect_to_vec::<u8, f64>(data),
                &shape,
                device,
            )?,
            Dtype::I32 => Tensor::from_vec(
                bytemuck::pod_collect_to_vec::<u8, i32>(data),
                &shape,
                device,
            )?,
            // PyTorch stores integers as i64 (step counts, token ids): read as i32 when
            // every value fits.
            Dtype::I64 => {
                let wide = bytemuck::pod_collect_to_vec::<u8, i64>(data);
                let narrow = wide
                    .iter()
                    .map(|&v| i32::try_from(v))
                    .collect::<std::result::Result<Vec<i32>, _>>()
                    .map_err(|_| {
                        named_err(what, format!("{name}: an i64 value does not fit in i32"))
                    })?;
                Tensor::from_vec(narrow, &shape, device)?
            }
            other => {
                return Err(named_err(
                    what,
                    format!("{name}: dtype {other:?} is not f16, f32, f64, i32 or i64"),
                ))
            }
        };
        tensors.push((name, t));
    }
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    Ok((tensors, meta.metadata().clone().unwrap_or_default()))
}

/// Save a model's parameters, its optimizer's state and `metadata`.
pub fn save_training(
    path: &Path,
    model: &dyn Module,
    optimizer: Option<&dyn Optimizer>,
    metadata: HashMap<String, String>,
) -> Result<()> {
    save_run(path, model, optimizer, &[], metadata)
}

/// [`save_training`] with more of a run's state: tensors that [`load_run`] gives back by
/// the same names.
pub fn save_run(
    path: &Path,
    model: &dyn Module,
    optimizer: Option<&dyn Optimizer>,
    state: &[(String, Tensor)],
    mut metadata: HashMap<String, String>,
) -> Result<()> {
    let mut tensors: Vec<(String, Tensor)> = model
        .parameters()
        .into_iter()
        .map(|(n, p)| (n, p.get()))
        .collect();
    if let Some(opt) = optimizer {
        let (state, steps) = opt.state();
        tensors.extend(
            state
                .into_iter()
                .map(|(n, t)| (format!("{OPTIM_PREFIX}{n}"), t)),
        );
        metadata.insert(STEPS_KEY.into(), steps.to_string());
    }
    tensors.extend(
        state
            .iter()
            .map(|(n, t)| (format!("{RUN_PREFIX}{n}"), t.clone())),
    );
    save(path, &tensors, metadata)
}

/// Load what [`save_training`] wrote into `model` (and `optimizer`), returning the metadata.
/// Missing, unexpected or mis-shaped tensors are all named in one error, and then nothing
/// has been changed.
pub fn load_training(
    path: &Path,
    model: &dyn Module,
    optimizer: Option<&mut dyn Optimizer>,
    device: &Device,
) -> Result<HashMap<String, String>> {
    load_checked(path, model, optimizer, device, false).map(|(metadata, _)| metadata)
}

/// Load what [`save_run`] wrote, as [`load_training`] does, and give back the run's state
/// tensors by the names they were saved under.
pub fn load_run(
    path: &Path,
    model: &dyn Module,
    optimizer: Option<&mut dyn Optimizer>,
    device: &Device,
) -> Result<(HashMap<String, String>, NamedTensors)> {
    load_checked(path, model, optimizer, device, true)
}

fn load_checked(
    path: &Path,
    model: &dyn Module,
    optimizer: Option<&mut dyn Optimizer>,
    device: &Device,
    with_run_state: bool,
) -> Result<(HashMap<String, String>, NamedTensors)> {
    let (tensors, metadata) = load(path, device)?;
    let params = model.parameters();
    let mut found: HashMap<String, Tensor> = HashMap::new();
    let mut optim = Vec::new();
    let mut run = Vec::new();
    let mut problems = Vec::new();
    for (name, t) in tensors {
        if let Some(rest) = name.strip_prefix(OPTIM_PREFIX) {
            optim.push((rest.to_string(), t));
        } else if let Some(rest) = name.strip_prefix(RUN_PREFIX).filter(|_| with_run_state) {
            run.push((rest.to_string(), t));
        } else if params.iter().any(|(n, _)| *n == name) {
            found.insert(name, t);
        } else {
            problems.push(format!("unexpected tensor {name}"));
        }
    }
    for (name, p) in &params {
        let current = p.get();
        match found.get(name) {
            None => problems.push(format!("missing tensor {name}")),
            Some(t) if t.shape() != current.shape() || t.dtype() != current.dtype() => problems
                .push(format!(
                    "{name} is {:?} {} in the file but {:?} {} in the model",
                    t.shape(),
                    t.dtype(),
                    current.shape(),
                    current.dtype()
                )),
            Some(_) => {}
        }
    }
    if !problems.is_empty() {
        return Err(err(path, problems.join("; ")));
    }
    if let Some(opt) = optimizer {
        let steps = match metadata.get(STEPS_KEY) {
            Some(s) => s
                .parse()
                .map_err(|_| err(path, format!("{STEPS_KEY} is {s:?}, not a step count")))?,
            None => return Err(err(path, "no optimizer state in the file")),
        };
        opt.load_state(optim, steps)
            .map_err(|e| err(path, e.to_string()))?;
    }
    for (name, p) in params {
        if let Some(t) = found.remove(&name) {
            p.set(t);
        }
    }
    Ok((metadata, run))
}
