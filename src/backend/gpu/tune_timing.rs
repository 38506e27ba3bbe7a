//! Timing the candidate kernels of one problem class on zeroed operands. The timing thread
//! shares the queue with the program's own work, so where the device has TIMESTAMP_QUERY a
//! run is timed by timestamps written at the start and end of its pass, which that work
//! does not enter; elsewhere by the host's clock around a finished submission.

use std::time::{Duration, Instant};

use crate::backend::gpu::context::GpuContext;
use crate::backend::gpu::program::fold;
use crate::backend::gpu::tune::Job;
use crate::ops::dispatch::{Arg, Lowering};

/// Timed runs per candidate at most, and the time after which a candidate gets no more.
const RUNS: usize = 5;
const BUDGET: Duration = Duration::from_millis(300);

type Prepared = (
    std::sync::Arc<wgpu::ComputePipeline>,
    wgpu::BindGroup,
    (u32, u32),
);

impl GpuContext {
    /// The index of `job`'s fastest candidate; None when none ran.
    pub(super) fn fastest(&self, job: &Job) -> Option<usize> {
        let fresh = |bytes: u64| {
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("autotune operand"),
                size: bytes.div_ceil(16) * 16,
                usage: wgpu::BufferUsages::STORAGE,
                mapped_at_creation: false,
            })
        };
        let buffers: Vec<wgpu::Buffer> = self
            .scoped("autotune buffers", || {
                Ok(job.operands.iter().map(|&b| fresh(b)).collect())
            })
            .ok()?;
        let stopwatch = Stopwatch::new(self);
        let mut best: Option<(Duration, usize)> = None;
        for (i, lowering) in job.lowerings.iter().enumerate() {
            let Ok(scratch) = self.scoped("autotune scratch", || {
                Ok(lowering
                    .scratch
                    .iter()
                    .map(|&bytes| fresh(bytes))
                    .collect::<Vec<_>>())
            }) else {
                continue;
            };
            let Some(prepared) = self.prepare(lowering, &buffers, &scratch) else {
                continue;
            };
            let Some(time) = self.time_one(&prepared, stopwatch.as_ref()) else {
                continue;
            };
            if best.is_none_or(|(t, _)| time < t) {
                best = Some((time, i));
            }
        }
        best.map(|(_, i)| i)
    }

    /// A lowering's pipelines and bind groups; None if it cannot run. `buffers` holds the
    /// step's inputs, then its output; `scratch` the lowering's scratch buffers.
    fn prepare(
        &self,
        lowering: &Lowering,
        buffers: &[wgpu::Buffer],
        scratch: &[wgpu::Buffer],
    ) -> Option<Vec<Prepared>> {
        let mut prepared = Vec::with_capacity(lowering.dispatches.len());
        for dispatch in &lowering.dispatches {
            let (_, pipeline) = self.pipeline(&dispatch.variant).ok()?;
            let words = dispatch.param_words().ok()?;
            let params = self
                .scoped("autotune parameters", || {
                    Ok(self.device.create_buffer(&wgpu::BufferDescriptor {
                        label: Some("autotune parameters"),
                        size: (words.len() as u64 * 4).div_ceil(16).max(1) * 16,
                        usage: crate::backend::gpu::buffer_pool::PARAMS
                            | wgpu::BufferUsages::COPY_DST,
                        mapped_at_creation: false,
                    }))
                })
                .ok()?;
            self.queue
                .write_buffer(&params, 0, bytemuck::cast_slice(words));
            let mut entries = vec![wgpu::BindGroupEntry {
                binding: 0,
                resource: params.as_entire_binding(),
            }];
            for &(binding, arg) in &dispatch.bindings {
                let buffer = match arg {
                    Arg::Input(i) => &buffers[i],
                    Arg::Output(0) => buffers.last()?,
                    Arg::Scratch(k) => scratch.get(k)?,
                    Arg::Output(_) => return None,
                };
                entries.push(wgpu::BindGroupEntry {
                    binding,
                    resource: buffer.as_entire_binding(),
                });
            }
            let group = self
                .scoped("autotune bind group", || {
                    Ok(self.device.create_bind_group(&wgpu::BindGroupDescriptor {
                        label: None,
                        layout: &pipeline.get_bind_group_layout(0),
                        entries: &entries,
                    }))
                })
                .ok()?;
            let groups = fold(
                dispatch.workgroups,
                self.limits().max_compute_workgroups_per_dimension,
            );
            prepared.push((pipeline, group, groups));
        }
        Some(prepared)
    }

    /// The best of a few runs of a lowering's dispatches, in one pass each, after one run
    /// to warm up; None if a run fails.
    fn time_one(&self, prepared: &[Prepared], stopwatch: Option<&Stopwatch>) -> Option<Duration> {
        let run = || -> Option<Duration> {
            let start = Instant::now();
            let mut encoder = self.device.create_command_encoder(&Default::default());
            {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("autotune"),
                    timestamp_writes: stopwatch.map(Stopwatch::writes),
                });
                for (pipeline, group, groups) in prepared {
                    pass.set_pipeline(pipeline);
                    pass.set_bind_group(0, group, &[]);
                    pass.dispatch_workgroups(groups.0, groups.1, 1);
                }
            }
            if let Some(watch) = stopwatch {
                watch.resolve(&mut encoder);
            }
            self.queue.submit([encoder.finish()]);
            match stopwatch {
                Some(watch) => watch.read(self),
                None => {
                    self.synchronize().ok()?;
                    Some(start.elapsed())
                }
            }
        };
        run()?;
        let started = Instant::now();
        let mut best = Duration::MAX;
        for _ in 0..RUNS {
            best = best.min(run()?);
            if started.elapsed() > BUDGET {
                break;
            }
        }
        Some(best)
    }
}

/// Two timestamp queries around a pass, resolved and read back.
struct Stopwatch {
    queries: wgpu::QuerySet,
    resolved: wgpu::Buffer,
    readable: wgpu::Buffer,
    /// Nanoseconds per tick.
    period: f64,
}

impl Stopwatch {
    /// None where the device has no TIMESTAMP_QUERY.
    fn new(ctx: &GpuContext) -> Option<Stopwatch> {
        if !ctx.features().contains(wgpu::Features::TIMESTAMP_QUERY) {
            return None;
        }
        let buffer = |usage| {
            ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("autotune timestamps"),
                size: 2 * wgpu::QUERY_SIZE as u64,
                usage,
                mapped_at_creation: false,
            })
        };
        ctx.scoped("autotune timestamps", || {
            Ok(Stopwatch {
                queries: ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
                    label: Some("autotune timestamps"),
                    ty: wgpu::QueryType::Timestamp,
                    count: 2,
                }),
                resolved: buffer(wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC),
                readable: buffer(wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST),
                period: ctx.queue.get_timestamp_period() as f64,
            })
        })
        .ok()
    }

    fn writes(&self) -> wgpu::ComputePassTimestampWrites<'_> {
        wgpu::ComputePassTimestampWrites {
            query_set: &self.queries,
            beginning_of_pass_write_index: Some(0),
            end_of_pass_write_index: Some(1),
        }
    }

    fn resolve(&self, encoder: &mut wgpu::CommandEncoder) {
        encoder.resolve_query_set(&self.queries, 0..2, &self.resolved, 0);
        encoder.copy_buffer_to_buffer(&self.resolved, 0, &self.readable, 0, None);
    }

    /// The time between the two timestamps of the last submitted pass.
    fn read(&self, ctx: &GpuContext) -> Option<Duration> {
        let (sender, mapped) = std::sync::mpsc::channel();
        let slice = self.readable.slice(..);
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = sender.send(r);
        });
        ctx.synchronize().ok()?;
        mapped.recv().ok()?.ok()?;
        let ticks: [u64; 2] = {
            let view = slice.get_mapped_range().ok()?;
            bytemuck::pod_read_unaligned(&view[..16])
        };
        self.readable.unmap();
        let nanos = ticks[1].checked_sub(ticks[0])? as f64 * self.period;
        Some(Duration::from_nanos(nanos as u64))
    }
}
