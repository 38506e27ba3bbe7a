//! The device's own peaks (`profile::Peaks`), measured with peak.wgsl: a streaming copy
//! between two buffers of 128 MiB (or the largest binding, if smaller, and larger than
//! the caches of the CPUs software devices run on), a streaming read of one, register-resident
//! FMA chains over 65,536 invocations, and a copy of one element for the cost of a dispatch
//! that does nothing. Each is the best of a few runs after one to warm up, timed by
//! timestamps around its pass where the device has TIMESTAMP_QUERY, else by the host clock
//! around a finished submission.

use std::time::Instant;

use crate::backend::gpu::context::GpuContext;
use crate::backend::gpu::dispatch_timer::{span, DispatchTimer};
use crate::backend::gpu::program::fold;
use crate::error::Result;
use crate::ops::shader_files::ShaderFile;
use crate::profile::Peaks;

const COPY_BYTES: u64 = 128 << 20;
/// peak.wgsl's `READS`.
const READS: u64 = 16;
const FMA_WORKGROUPS: u32 = 1024;
const WORKGROUP: u32 = 64;
/// peak.wgsl's multiply-adds per chain, chains, and lanes per chain.
const FLOP_PER_INVOCATION: f64 = 2.0 * 256.0 * 8.0 * 4.0;
const RUNS: usize = 10;

struct Kernel {
    pipeline: wgpu::ComputePipeline,
    group: wgpu::BindGroup,
    workgroups: (u32, u32),
}

fn buffer(ctx: &GpuContext, bytes: u64) -> wgpu::Buffer {
    ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("peaks"),
        size: bytes,
        usage: wgpu::BufferUsages::STORAGE,
        mapped_at_creation: false,
    })
}

fn kernel(
    ctx: &GpuContext,
    module: &wgpu::ShaderModule,
    entry: &str,
    (src, dst): (&wgpu::Buffer, &wgpu::Buffer),
    invocations: u64,
) -> Kernel {
    let pipeline = ctx
        .device
        .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(entry),
            layout: None,
            module,
            entry_point: Some(entry),
            compilation_options: Default::default(),
            cache: None,
        });
    let group = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: None,
        layout: &pipeline.get_bind_group_layout(0),
        entries: &[
            wgpu::BindGroupEntry {
                binding: 0,
                resource: src.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: dst.as_entire_binding(),
            },
        ],
    });
    let groups = invocations.div_ceil(WORKGROUP as u64) as u32;
    Kernel {
        pipeline,
        group,
        workgroups: fold(groups, ctx.limits().max_compute_workgroups_per_dimension),
    }
}

/// The best time of `kernel`'s dispatch, seconds.
fn best(ctx: &GpuContext, kernel: &Kernel) -> Result<f64> {
    let timer = DispatchTimer::new(ctx, 2)?;
    let mut best = f64::INFINITY;
    for run in 0..=RUNS {
        let started = Instant::now();
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("peaks"),
                timestamp_writes: timer.as_ref().map(|t| t.pass_writes(0)),
            });
            pass.set_pipeline(&kernel.pipeline);
            pass.set_bind_group(0, &kernel.group, &[]);
            pass.dispatch_workgroups(kernel.workgroups.0, kernel.workgroups.1, 1);
        }
        if let Some(timer) = &timer {
            timer.resolve(&mut encoder);
        }
        ctx.queue.submit([encoder.finish()]);
        let seconds = match &timer {
            Some(timer) => span(&timer.read(ctx)?, 0, 1) / 1e9,
            None => {
                ctx.synchronize()?;
                started.elapsed().as_secs_f64()
            }
        };
        // The first run compiles and warms up.
        if run > 0 {
            best = best.min(seconds);
        }
    }
    Ok(best)
}

/// Measure `ctx`'s peaks.
pub(crate) fn measure(ctx: &GpuContext) -> Result<Peaks> {
    let bytes = COPY_BYTES.min(ctx.limits().max_storage_buffer_binding_size) / 16 * 16;
    let fma_out = FMA_WORKGROUPS as u64 * WORKGROUP as u64 * 16;
    let kernels = ctx.scoped("measuring the device's peaks", || {
        let module = ctx
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some("peak.wgsl"),
                source: wgpu::ShaderSource::Wgsl(ShaderFile::Peak.text().into()),
            });
        let (src, dst) = (buffer(ctx, bytes), buffer(ctx, bytes));
        let (one_in, one_out) = (buffer(ctx, 16), buffer(ctx, 16));
        let fma_dst = buffer(ctx, fma_out);
        let sums = buffer(ctx, bytes / READS);
        Ok([
            kernel(ctx, &module, "copy", (&src, &dst), bytes / 16),
            kernel(
                ctx,
                &module,
                "stream_read",
                (&src, &sums),
                bytes / 16 / READS,
            ),
            kernel(ctx, &module, "fma_chain", (&one_in, &fma_dst), fma_out / 16),
            kernel(ctx, &module, "copy", (&one_in, &one_out), 1),
        ])
    })?;
    let [copy, read, fma, empty] = kernels;
    let invocations = (fma_out / 16) as f64;
    Ok(Peaks {
        copy_bytes_per_s: 2.0 * bytes as f64 / best(ctx, &copy)?,
        read_bytes_per_s: (bytes + bytes / READS) as f64 / best(ctx, &read)?,
        flop_per_s: invocations * FLOP_PER_INVOCATION / best(ctx, &fma)?,
        empty_s: best(ctx, &empty)?,
    })
}
