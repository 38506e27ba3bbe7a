//! The CPU fallback inside a GPU plan: steps on a dtype the device's shaders cannot run go to
//! the CPU executor, between explicit copies (see `plan::split`), instead of being refused.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use crate::backend::cpu;
use crate::backend::gpu::buffer_pool::GpuBuffer;
use crate::backend::gpu::context::GpuContext;
use crate::backend::gpu::program::Executed;
use crate::dtype::DType;
use crate::error::Result;
use crate::plan::{Place, PlanStep, Split, Stage, Value};
use crate::storage::CpuData;

/// Why an adapter with `features` runs steps on `dtype` on the CPU, or `None` where its
/// shaders run them.
pub(crate) fn host_reason(features: wgpu::Features, dtype: DType) -> Option<&'static str> {
    match dtype {
        DType::F64 => Some("WGSL has no 64-bit floats"),
        DType::F16 if !features.contains(wgpu::Features::SHADER_F16) => {
            Some("the adapter lacks SHADER_F16")
        }
        _ => None,
    }
}

/// Where a step of a plan for a device with `features` runs.
pub(crate) fn place(features: wgpu::Features, step: &PlanStep) -> Place {
    let dtypes = step.inputs.iter().map(|i| i.1).chain([step.dtype]);
    match dtypes
        .into_iter()
        .any(|d| host_reason(features, d).is_some())
    {
        true => Place::Host,
        false => Place::Device,
    }
}

/// Run `split` over the device buffers `leaves`: device segments as programs, host
/// segments on the CPU executor, copies as they come; optionally read bytes of one result.
pub(crate) fn execute(
    ctx: &GpuContext,
    split: &Split,
    leaves: &[Arc<GpuBuffer>],
    read: Option<(usize, Range<u64>)>,
) -> Result<Executed> {
    let mut device: HashMap<Value, Arc<GpuBuffer>> = leaves
        .iter()
        .enumerate()
        .map(|(l, b)| (Value::Leaf(l), b.clone()))
        .collect();
    let mut host: HashMap<Value, Arc<CpuData>> = HashMap::new();
    for stage in &split.stages {
        match stage {
            Stage::Copy {
                value,
                to: Place::Host,
                dtype,
                elements,
            } => {
                let bytes = (elements * dtype.size_in_bytes()) as u64;
                let data = ctx.read(&device[value], 0..bytes)?;
                crate::stats::fallback_copied(data.len());
                host.insert(*value, Arc::new(CpuData::from_bytes(*dtype, &data)));
            }
            Stage::Copy {
                value,
                to: Place::Device,
                ..
            } => {
                let data = &host[value];
                crate::stats::fallback_copied(data.as_bytes().len());
                device.insert(*value, ctx.upload(data.as_bytes())?);
            }
            Stage::Run(segment) => match segment.place {
                Place::Device => {
                    let inputs: Vec<_> = segment.inputs.iter().map(|v| device[v].clone()).collect();
                    let (outputs, _) = ctx.execute_on_device(&segment.plan, &inputs, None)?;
                    device.extend(segment.outputs.iter().copied().zip(outputs));
                }
                Place::Host => {
                    let inputs: Vec<_> = segment.inputs.iter().map(|v| host[v].clone()).collect();
                    let outputs = cpu::execute(&segment.plan, &inputs)?;
                    crate::stats::fell_back(segment.plan.steps.len());
                    host.extend(segment.outputs.iter().copied().zip(outputs));
                }
            },
        }
    }
    let results: Vec<Arc<GpuBuffer>> = split.results.iter().map(|v| device[v].clone()).collect();
    let bytes = match read {
        Some((o, range)) => Some(match host.get(&split.results[o]) {
            Some(data) => data.as_bytes()[range.start as usize..range.end as usize].to_vec(),
            None => ctx.read(&results[o], range)?,
        }),
        None => None,
    };
    Ok((results, bytes))
}
