//! A plan compiled for one device: pipelines resolved, parameters uploaded once, and
//! intermediate buffers owned, so a replay only binds its inputs and outputs and submits.

use std::ops::Range;
use std::sync::{Arc, Mutex};

use crate::backend::gpu::buffer_pool::GpuBuffer;
use crate::backend::gpu::context::GpuContext;
use crate::backend::gpu::dispatch_timer::{span, DispatchTimer};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops::cost::Cost;
use crate::ops::dispatch::Arg;
use crate::plan::{Loc, Plan};
use crate::profile::Detail;
use crate::shape::MAX_RANK;

/// A run's results, and the bytes read back from one of them if asked.
pub(crate) type Executed = (Vec<Arc<GpuBuffer>>, Option<Vec<u8>>);

/// Which buffer a binding refers to.
#[derive(Clone, Copy, Debug)]
enum Ref {
    Leaf(usize),
    Slot(usize),
    Output(usize),
    Scratch(usize),
}

struct Compiled {
    /// The shader's entry point, and its dtype unless f32: the profiler's kernel name.
    kernel: String,
    /// The plan step the dispatch belongs to.
    step: usize,
    pipeline_id: u64,
    pipeline: Arc<wgpu::ComputePipeline>,
    bindings: Vec<(u32, Ref)>,
    params: Range<u64>,
    groups: (u32, u32),
}

/// A plan step as the profiler reports it.
struct StepInfo {
    op: &'static str,
    shapes: String,
    cost: Cost,
}

pub(crate) struct Program {
    dispatches: Vec<Compiled>,
    steps: Vec<StepInfo>,
    params: Arc<GpuBuffer>,
    slots: Vec<Arc<GpuBuffer>>,
    scratch: Vec<Arc<GpuBuffer>>,
    output_bytes: Vec<u64>,
    /// Set when some class was still being timed as the program compiled: the autotuner's
    /// generation then, after which a new choice may compile the plan differently.
    provisional: Option<u64>,
    /// Replays of one program share its intermediates, so they are recorded one at a time.
    running: Mutex<()>,
}

impl Program {
    /// Whether the program still runs the kernels chosen for its classes by the autotuner's
    /// `generation`.
    pub fn current(&self, generation: u64) -> bool {
        self.provisional.is_none_or(|g| g == generation)
    }

    /// Bytes of device memory the program holds between runs.
    pub fn held_bytes(&self) -> u64 {
        self.slots
            .iter()
            .chain(&self.scratch)
            .chain([&self.params])
            .map(|b| b.size)
            .sum()
    }
}

fn loc_ref(loc: Loc) -> Ref {
    match loc {
        Loc::Leaf(l) => Ref::Leaf(l),
        Loc::Slot(s) => Ref::Slot(s),
        Loc::Output(o) => Ref::Output(o),
    }
}

/// Spread `total` workgroups over x and y so neither exceeds the per-dimension limit; the
/// shaders rebuild the linear index from `num_workgroups`.
pub(crate) fn fold(total: u32, max_per_dim: u32) -> (u32, u32) {
    let x = total.min(max_per_dim);
    (x, total.div_ceil(x))
}

/// Record `d` with its bind group into `pass`.
fn dispatch(pass: &mut wgpu::ComputePass, d: &Compiled, group: &wgpu::BindGroup) {
    pass.set_pipeline(&d.pipeline);
    pass.set_bind_group(0, group, &[]);
    pass.dispatch_workgroups(d.groups.0, d.groups.1, 1);
}

/// Every dtype and rank in `plan` is one the shaders handle on this device. Steps on other
/// dtypes were split off to the host (`fallback`); this keeps a plan that slips past from
/// reaching a shader.
fn check_supported(ctx: &GpuContext, plan: &Plan) -> Result<()> {
    let features = ctx.features();
    for step in &plan.steps {
        crate::ops::integers::check(&step.desc())?;
        let dtypes = step.inputs.iter().map(|(_, d, _)| *d).chain([step.dtype]);
        for dtype in dtypes {
            if let Some(why) = crate::backend::gpu::fallback::host_reason(features, dtype) {
                return Err(Error::UnsupportedDtype {
                    op: step.op.name(),
                    dtype,
                    device: ctx.name(),
                    why,
                });
            }
        }
        if step.inputs.iter().any(|(_, _, l)| l.rank() > MAX_RANK) || step.shape.len() > MAX_RANK {
            return Err(Error::invalid(
                step.op.name(),
                format!("more than {MAX_RANK} dimensions"),
            ));
        }
    }
    Ok(())
}

impl Program {
    /// Compile `plan`, with the kernel choices of the autotuner's `generation` (read before
    /// the choices are).
    pub fn compile(ctx: &GpuContext, plan: &Plan, generation: u64) -> Result<Program> {
        check_supported(ctx, plan)?;
        let limits = ctx.limits();
        let align = (limits
            .min_storage_buffer_offset_alignment
            .max(limits.min_uniform_buffer_offset_alignment)) as u64;
        let mut words: Vec<u32> = Vec::new();
        let mut dispatches = Vec::new();
        let mut scratch_bytes: Vec<u64> = Vec::new();
        let mut output_bytes = vec![0; plan.outputs];
        let lowerings: Vec<_> = plan
            .steps
            .iter()
            .map(|step| crate::ops::lower(&step.desc(), ctx))
            .collect();
        ctx.compile_all(
            lowerings
                .iter()
                .flat_map(|l| &l.dispatches)
                .filter(|d| d.workgroups > 0)
                .map(|d| &d.variant),
        )?;
        let mut steps = Vec::with_capacity(plan.steps.len());
        for (step, lowering) in plan.steps.iter().zip(lowerings) {
            let desc = step.desc();
            steps.push(StepInfo {
                op: step.op.name(),
                shapes: crate::ops::cost::describe(&desc),
                cost: crate::ops::cost::cost(&desc),
            });
            for out in &step.outs {
                if let Loc::Output(o) = *out {
                    output_bytes[o] = step.out_bytes();
                }
            }
            let scratch_base = scratch_bytes.len();
            scratch_bytes.extend(&lowering.scratch);
            for d in lowering.dispatches {
                if d.workgroups == 0 {
                    continue;
                }
                let (pipeline_id, pipeline) = ctx.pipeline(&d.variant)?;
                let start = (words.len() as u64 * 4).div_ceil(align) * align;
                words.resize(start as usize / 4, 0);
                let param_words = d.param_words()?;
                words.extend(param_words);
                let bindings = d
                    .bindings
                    .iter()
                    .map(|&(binding, arg)| {
                        let r = match arg {
                            Arg::Input(i) => loc_ref(step.inputs[i].0),
                            Arg::Output(k) => loc_ref(step.outs[k]),
                            Arg::Scratch(j) => Ref::Scratch(scratch_base + j),
                        };
                        (binding, r)
                    })
                    .collect();
                let kernel = match d.variant.input {
                    DType::F32 => d.variant.entry.to_string(),
                    other => format!("{}<{other}>", d.variant.entry),
                };
                dispatches.push(Compiled {
                    kernel,
                    step: steps.len() - 1,
                    pipeline_id,
                    pipeline,
                    bindings,
                    params: start..start + param_words.len() as u64 * 4,
                    groups: fold(d.workgroups, limits.max_compute_workgroups_per_dimension),
                });
            }
        }
        let params = ctx.pool.params((words.len() as u64 * 4).max(4))?;
        ctx.queue
            .write_buffer(params.raw(), 0, bytemuck::cast_slice(&words));
        let slots = plan
            .slots
            .iter()
            .map(|&b| ctx.pool.storage("intermediate", b))
            .collect::<Result<_>>()?;
        let scratch = scratch_bytes
            .iter()
            .map(|&b| ctx.pool.storage("scratch", b))
            .collect::<Result<_>>()?;
        crate::stats::program_compiled();
        Ok(Program {
            dispatches,
            steps,
            params,
            slots,
            scratch,
            output_bytes,
            // A class that was timed while the plan lowered may have run its default too.
            provisional: (ctx.tuning.any_pending() || ctx.tuning.generation() != generation)
                .then_some(generation),
            running: Mutex::new(()),
        })
    }

    pub fn run(
        &self,
        ctx: &GpuContext,
        leaves: &[Arc<GpuBuffer>],
        read: Option<(usize, Range<u64>)>,
    ) -> Result<Executed> {
        let _running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let outputs: Vec<Arc<GpuBuffer>> = self
            .output_bytes
            .iter()
            .map(|&b| ctx.pool.storage("result", b))
            .collect::<Result<_>>()?;
        let buffer = |r: Ref| -> &GpuBuffer {
            match r {
                Ref::Leaf(i) => &leaves[i],
                Ref::Slot(i) => &self.slots[i],
                Ref::Output(i) => &outputs[i],
                Ref::Scratch(i) => &self.scratch[i],
            }
        };
        let groups: Vec<wgpu::BindGroup> = self
            .dispatches
            .iter()
            .map(|d| {
                let key = (
                    d.pipeline_id,
                    std::iter::once((0, self.params.id, d.params.start))
                        .chain(d.bindings.iter().map(|&(b, r)| (b, buffer(r).id, 0)))
                        .collect(),
                );
                ctx.bind_group(key, || {
                    let params = wgpu::BufferBinding {
                        buffer: self.params.raw(),
                        offset: d.params.start,
                        size: wgpu::BufferSize::new(d.params.end - d.params.start),
                    };
                    let mut entries = vec![wgpu::BindGroupEntry {
                        binding: 0,
                        resource: wgpu::BindingResource::Buffer(params),
                    }];
                    entries.extend(d.bindings.iter().map(|&(binding, r)| wgpu::BindGroupEntry {
                        binding,
                        resource: buffer(r).raw().as_entire_binding(),
                    }));
                    ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                        label: None,
                        layout: &d.pipeline.get_bind_group_layout(0),
                        entries: &entries,
                    })
                })
            })
            .collect();
        let detail = crate::profile::detail();
        let started = detail.is_some().then(crate::profile::now_us);
        let timer = match detail {
            Some(Detail::Kernels) => DispatchTimer::for_dispatches(ctx, self.dispatches.len())?,
            Some(Detail::Runs) => DispatchTimer::new(ctx, 2)?,
            None => None,
        };
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        match (detail, &timer) {
            (Some(Detail::Kernels), None) => self.run_host_timed(ctx, &groups)?,
            (Some(Detail::Kernels), Some(timer)) => self.encode_timed(&mut encoder, &groups, timer),
            (_, timer) => self.encode(&mut encoder, &groups, timer.as_ref()),
        }
        if let Some(timer) = &timer {
            timer.resolve(&mut encoder);
        }
        let staged = match read {
            Some((o, range)) => Some(ctx.stage(&mut encoder, &outputs[o], range)?),
            None => None,
        };
        let submitted = detail.is_some().then(crate::profile::now_us);
        ctx.queue.submit([encoder.finish()]);
        crate::stats::kernels_run(self.dispatches.len() as u64);
        crate::stats::submitted();
        if let Some(started) = started {
            crate::profile::record_host("record and submit", started);
        }
        if let Some(submitted) = submitted {
            match (detail, &timer) {
                (Some(Detail::Kernels), Some(timer)) => {
                    let ns = timer.read(ctx)?;
                    // The spans are the kernels' own time less what writing a timestamp
                    // between two others costs (a flush on some drivers), as this
                    // submission measures it by a pair around nothing.
                    let pair_us = span(&ns, 0, 1) / 1e3;
                    crate::profile::timestamp_pair(pair_us);
                    for i in 0..self.dispatches.len() {
                        let (start, end) = timer.dispatch(i);
                        let duration_us = (span(&ns, start, end) / 1e3 - pair_us).max(0.0);
                        self.record(i, submitted + ns[start] / 1e3, duration_us);
                    }
                }
                (Some(Detail::Kernels), None) => {}
                (_, Some(timer)) => {
                    let ns = timer.read(ctx)?;
                    self.record_run(submitted + ns[0] / 1e3, span(&ns, 0, 1) / 1e3);
                }
                (_, None) => {
                    ctx.synchronize()?;
                    self.record_run(submitted, crate::profile::now_us() - submitted);
                }
            }
        }
        let bytes = staged.map(|s| s.finish(ctx)).transpose()?;
        Ok((outputs, bytes))
    }

    /// Record the dispatches into `encoder` in one pass, with `timer`'s first timestamps
    /// around it when given.
    fn encode(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        groups: &[wgpu::BindGroup],
        timer: Option<&DispatchTimer>,
    ) {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: None,
            timestamp_writes: timer.map(|t| t.pass_writes(0)),
        });
        for (d, group) in self.dispatches.iter().zip(groups) {
            dispatch(&mut pass, d, group);
        }
    }

    /// Record each dispatch into `encoder` with `timer`'s timestamps around it, after the
    /// pair around nothing: inside the one pass where the device can, so that they run as
    /// unprofiled with one write between each two; else each in a pass of its own.
    fn encode_timed(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        groups: &[wgpu::BindGroup],
        timer: &DispatchTimer,
    ) {
        let write = |pass: &mut wgpu::ComputePass, k| {
            let (set, at) = timer.query(k);
            pass.write_timestamp(set, at);
        };
        if timer.inside_passes {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            (0..3).for_each(|k| write(&mut pass, k));
            for (i, (d, group)) in self.dispatches.iter().zip(groups).enumerate() {
                dispatch(&mut pass, d, group);
                write(&mut pass, timer.dispatch(i).1);
            }
            return;
        }
        encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: None,
            timestamp_writes: Some(timer.pass_writes(0)),
        });
        for (i, (d, group)) in self.dispatches.iter().zip(groups).enumerate() {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: None,
                timestamp_writes: Some(timer.pass_writes(timer.dispatch(i).0)),
            });
            dispatch(&mut pass, d, group);
        }
    }

    /// For the profiler on a device without timestamps: each dispatch submitted alone and
    /// timed by the host's clock until it finished.
    fn run_host_timed(&self, ctx: &GpuContext, groups: &[wgpu::BindGroup]) -> Result<()> {
        for (i, (d, group)) in self.dispatches.iter().zip(groups).enumerate() {
            let start = crate::profile::now_us();
            let mut encoder = ctx.device.create_command_encoder(&Default::default());
            dispatch(
                &mut encoder.begin_compute_pass(&Default::default()),
                d,
                group,
            );
            ctx.queue.submit([encoder.finish()]);
            crate::stats::submitted();
            ctx.synchronize()?;
            self.record(i, start, crate::profile::now_us() - start);
        }
        Ok(())
    }

    /// Hand the whole submission's span to the profiler, with every step's cost.
    fn record_run(&self, start_us: f64, duration_us: f64) {
        let (flop, bytes) = self
            .steps
            .iter()
            .fold((0, 0), |(f, b), s| (f + s.cost.flop, b + s.cost.bytes));
        crate::profile::record(crate::profile::Event {
            track: crate::profile::Track::Run,
            name: "gpu submission".into(),
            op: "",
            shapes: format!("{} dispatches", self.dispatches.len()),
            start_us,
            duration_us,
            flop,
            bytes,
            workgroups: 0,
            first_of_step: false,
        });
    }

    /// Hand dispatch `i`'s span to the profiler.
    fn record(&self, i: usize, start_us: f64, duration_us: f64) {
        let d = &self.dispatches[i];
        let step = &self.steps[d.step];
        let first_of_step = i == 0 || self.dispatches[i - 1].step != d.step;
        let cost = if first_of_step {
            step.cost
        } else {
            Cost::default()
        };
        crate::profile::record(crate::profile::Event {
            track: crate::profile::Track::Gpu,
            name: d.kernel.clone(),
            op: step.op,
            shapes: step.shapes.clone(),
            start_us,
            duration_us,
            flop: cost.flop,
            bytes: cost.bytes,
            workgroups: d.groups.0 * d.groups.1,
            first_of_step,
        });
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn folding_covers_every_workgroup_within_the_limit() {
        for total in [1, 65_535, 65_536, 78_126, 1 << 24] {
            let (x, y) = super::fold(total, 65_535);
            assert!(x <= 65_535 && y <= 65_535);
            assert!(x as u64 * y as u64 >= total as u64);
            assert!(
                (x as u64 * (y as u64 - 1)) < total as u64,
                "no wholly idle row of workgroups"
            );
        }
    }
}
