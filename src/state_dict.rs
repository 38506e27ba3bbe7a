//! PyTorch weights: a model's `state_dict` saved as safetensors (`safetensors.torch.save_file(
//! model.state_dict(), path)`, or `save_model(model, path)`), loaded into this engine's
//! modules by name. The layers carry PyTorch's parameter names (`0.weight`,
//! `lstm.weight_ih_l0`, `attn.in_proj_weight`, `bn.running_var`), so a model built with the
//! same structure maps one to one. Each tensor is converted to its parameter's dtype (f16,
//! bf16, f32 and f64 among themselves, rounded once; i64 to i32 when it fits) and placed on
//! the parameter's device. Every problem is found before anything changes and reported in one
//! typed error, as PyTorch's `load_state_dict` does.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::Tensor;
use crate::nn::{Module, Parameter};
use crate::storage::CpuData;

/// PyTorch's BatchNorm counts its batches in a buffer that this engine's BatchNorm, with its
/// fixed momentum, has no use for: it is skipped wherever the model has the running mean.
const BATCH_COUNTER: &str = "num_batches_tracked";

/// How the file's names meet the model's.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    strict: bool,
    prefix: String,
    renames: HashMap<String, String>,
    ignored: HashSet<String>,
}

impl Default for LoadOptions {
    fn default() -> LoadOptions {
        LoadOptions {
            strict: true,
            prefix: String::new(),
            renames: HashMap::new(),
            ignored: HashSet::new(),
        }
    }
}

impl LoadOptions {
    /// Strict: every parameter must be in the file and every tensor in the file must be a
    /// parameter (PyTorch's `strict=True`).
    pub fn new() -> LoadOptions {
        LoadOptions::default()
    }

    /// Missing and unexpected tensors are listed in the report instead of failing the load
    /// (PyTorch's `strict=False`); a wrong shape or dtype still fails it.
    pub fn lenient(mut self) -> LoadOptions {
        self.strict = false;
        self
    }

    /// Read only the file's tensors whose names start with `prefix` (a submodule's, or the
    /// `module.` that DataParallel adds), without it; the others are skipped.
    pub fn prefix(mut self, prefix: &str) -> LoadOptions {
        self.prefix = prefix.to_string();
        self
    }

    /// The file's tensor `from` (named without the prefix) loads into the parameter `to`.
    pub fn rename(mut self, from: &str, to: &str) -> LoadOptions {
        self.renames.insert(from.to_string(), to.to_string());
        self
    }

    /// Skip the file's tensor `name` (named without the prefix): a tied copy such as
    /// `lm_head.weight`, or state with no counterpart here.
    pub fn ignore(mut self, name: &str) -> LoadOptions {
        self.ignored.insert(name.to_string());
        self
    }
}

/// What a load did, each list in the file's (sorted) order of names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Parameters given a value.
    pub loaded: Vec<String>,
    /// Parameters whose value changed dtype on the way (`name: bf16 -> f32`).
    pub converted: Vec<String>,
    /// The file's tensors passed over: outside the prefix, ignored, or BatchNorm's counter.
    pub skipped: Vec<String>,
    /// Parameters the file does not have (a lenient load only).
    pub missing: Vec<String>,
    /// The file's tensors that name no parameter (a lenient load only).
    pub unexpected: Vec<String>,
}

/// Load the state dict in the safetensors file at `path` into `model`.
pub fn load(path: &Path, model: &dyn Module, options: &LoadOptions) -> Result<LoadReport> {
    let what = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| corrupt(&what, e.to_string()))?;
    load_named(&what, &bytes, model, options)
}

/// Load the state dict in safetensors bytes into `model`.
pub fn load_bytes(bytes: &[u8], model: &dyn Module, options: &LoadOptions) -> Result<LoadReport> {
    load_named("(bytes)", bytes, model, options)
}

fn corrupt(what: &str, message: String) -> Error {
    Error::Checkpoint {
        path: what.to_string(),
        message,
    }
}

fn load_named(
    what: &str,
    bytes: &[u8],
    model: &dyn Module,
    options: &LoadOptions,
) -> Result<LoadReport> {
    let file = SafeTensors::deserialize(bytes)
        .map_err(|e| corrupt(what, format!("truncated or corrupt: {e}")))?;
    let params: HashMap<String, Parameter> = model.parameters().into_iter().collect();
    let mut report = LoadReport::default();
    let mut mismatched = Vec::new();
    let mut values: Vec<(String, Tensor)> = Vec::new();
    // Parameters the file names, whether their values fit or not.
    let mut present = HashSet::new();
    let mut names = file.names();
    names.sort();
    for stored in names {
        let Some(local) = stored.strip_prefix(&options.prefix) else {
            report.skipped.push(stored.to_string());
            continue;
        };
        let target = options.renames.get(local).map_or(local, String::as_str);
        let counter_of_batch_norm = target
            .strip_suffix(BATCH_COUNTER)
            .is_some_and(|stem| params.contains_key(&format!("{stem}running_mean")));
        if options.ignored.contains(local) || counter_of_batch_norm {
            report.skipped.push(stored.to_string());
            continue;
        }
        let Some(param) = params.get(target) else {
            report.unexpected.push(stored.to_string());
            continue;
        };
        if !present.insert(target.to_string()) {
            mismatched.push(format!("{target} is given twice (check the renames)"));
            continue;
        }
        let view = file
            .tensor(stored)
            .map_err(|e| corrupt(what, format!("{stored}: {e}")))?;
        let current = param.get();
        if view.shape() != current.shape() {
            mismatched.push(format!(
                "{target} is {:?} in the file, {:?} in the model",
                view.shape(),
                current.shape()
            ));
            continue;
        }
        match convert(&view, current.dtype()) {
            Ok(host) => {
                let stored = dtype_name(view.dtype());
                if stored != current.dtype().name() {
                    report
                        .converted
                        .push(format!("{target}: {stored} -> {}", current.dtype()));
                }
                let buffer = current.device().upload(host)?;
                let value =
                    Tensor::realized(buffer, view.shape(), current.dtype(), current.device());
                values.push((target.to_string(), value));
            }
            Err(problem) => mismatched.push(format!("{target}: {problem}")),
        }
    }
    report.missing = params
        .keys()
        .filter(|n| !present.contains(*n))
        .cloned()
        .collect();
    report.missing.sort();
    let (missing, unexpected) = match options.strict {
        true => (report.missing.clone(), report.unexpected.clone()),
        false => (Vec::new(), Vec::new()),
    };
    if !(missing.is_empty() && unexpected.is_empty() && mismatched.is_empty()) {
        return Err(Error::WeightsMismatch {
            path: what.to_string(),
            missing,
            unexpected,
            mismatched,
        });
    }
    for (name, value) in values {
        params[&name].set(value);
        report.loaded.push(name);
    }
    Ok(report)
}

fn dtype_name(dtype: Dtype) -> String {
    format!("{dtype:?}").to_lowercase()
}

/// The stored tensor's values in the dtype `to`, or why the two dtypes do not meet.
fn convert(view: &TensorView<'_>, to: DType) -> std::result::Result<CpuData, String> {
    let data = view.data();
    let refused = || {
        format!(
            "{} in the file cannot become the model's {to}",
            dtype_name(view.dtype())
        )
    };
    let floats = || floats(view.dtype(), data).ok_or_else(refused);
    Ok(match (view.dtype(), to) {
        (Dtype::F32, DType::F32) => {
            CpuData::from_vec(bytemuck::pod_collect_to_vec::<u8, f32>(data))
        }
        (Dtype::I32, DType::I32) => {
            CpuData::from_vec(bytemuck::pod_collect_to_vec::<u8, i32>(data))
        }
        (Dtype::I64, DType::I32) => CpuData::from_vec(
            bytemuck::pod_collect_to_vec::<u8, i64>(data)
                .into_iter()
                .map(|v| i32::try_from(v).map_err(|_| format!("the value {v} does not fit i32")))
                .collect::<std::result::Result<Vec<i32>, String>>()?,
        ),
        (_, DType::I32) => return Err(refused()),
        (_, DType::F16) => CpuData::from_vec(
            floats()?
                .into_iter()
                .map(half::f16::from_f64)
                .collect::<Vec<_>>(),
        ),
        (_, DType::F32) => {
            CpuData::from_vec(floats()?.into_iter().map(|v| v as f32).collect::<Vec<_>>())
        }
        (_, DType::F64) => CpuData::from_vec(floats()?),
    })
}

/// The values of a floating-point tensor's bytes, exactly, as f64.
fn floats(dtype: Dtype, data: &[u8]) -> Option<Vec<f64>> {
    Some(match dtype {
        Dtype::F16 => bytemuck::pod_collect_to_vec::<u8, half::f16>(data)
            .into_iter()
            .map(f64::from)
            .collect(),
        Dtype::BF16 => bytemuck::pod_collect_to_vec::<u8, half::bf16>(data)
            .into_iter()
            .map(f64::from)
            .collect(),
        Dtype::F32 => bytemuck::pod_collect_to_vec::<u8, f32>(data)
            .into_iter()
            .map(f64::from)
            .collect(),
        Dtype::F64 => bytemuck::pod_collect_to_vec::<u8, f64>(data),
        _ => return None,
    })
}
