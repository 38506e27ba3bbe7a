//! Timestamps around every dispatch of a program, for the profiler: each dispatch gets a
//! compute pass of its own whose beginning and end write a timestamp (which needs only
//! TIMESTAMP_QUERY). A query set holds at most `QUERY_SET_MAX_QUERIES`, so a long program
//! uses several.

use crate::backend::gpu::context::GpuContext;
use crate::error::{Error, Result};

const PER_SET: usize = wgpu::QUERY_SET_MAX_QUERIES as usize / 2;

pub(crate) struct DispatchTimer {
    sets: Vec<wgpu::QuerySet>,
    dispatches: usize,
    resolved: wgpu::Buffer,
    readable: wgpu::Buffer,
    /// Nanoseconds per tick.
    period: f64,
}

impl DispatchTimer {
    /// A timer for `dispatches` dispatches; None where the device has no TIMESTAMP_QUERY.
    pub fn new(ctx: &GpuContext, dispatches: usize) -> Result<Option<DispatchTimer>> {
        if !ctx.features().contains(wgpu::Features::TIMESTAMP_QUERY) || dispatches == 0 {
            return Ok(None);
        }
        // Each set's results start on the resolve alignment; a full set's 4,096 queries of
        // 8 bytes fill whole multiples of it.
        let bytes = (dispatches.div_ceil(PER_SET) * PER_SET * 2) as u64 * wgpu::QUERY_SIZE as u64;
        ctx.scoped("profiler timestamps", || {
            let sets = (0..dispatches.div_ceil(PER_SET))
                .map(|s| {
                    let count = (dispatches - s * PER_SET).min(PER_SET) as u32 * 2;
                    ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
                        label: Some("profiler timestamps"),
                        ty: wgpu::QueryType::Timestamp,
                        count,
                    })
                })
                .collect();
            let buffer = |usage| {
                ctx.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("profiler timestamps"),
                    size: bytes,
                    usage,
                    mapped_at_creation: false,
                })
            };
            Ok(Some(DispatchTimer {
                sets,
                dispatches,
                resolved: buffer(wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC),
                readable: buffer(wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST),
                period: ctx.queue.get_timestamp_period() as f64,
            }))
        })
    }

    /// The timestamp writes of dispatch `i`'s pass.
    pub fn writes(&self, i: usize) -> wgpu::ComputePassTimestampWrites<'_> {
        let at = (i % PER_SET) as u32 * 2;
        wgpu::ComputePassTimestampWrites {
            query_set: &self.sets[i / PER_SET],
            beginning_of_pass_write_index: Some(at),
            end_of_pass_write_index: Some(at + 1),
        }
    }

    /// Record the copy of every timestamp to the mappable buffer.
    pub fn resolve(&self, encoder: &mut wgpu::CommandEncoder) {
        for (s, set) in self.sets.iter().enumerate() {
            let count = (self.dispatches - s * PER_SET).min(PER_SET) as u32 * 2;
            let offset = (s * PER_SET * 2) as u64 * wgpu::QUERY_SIZE as u64;
            encoder.resolve_query_set(set, 0..count, &self.resolved, offset);
        }
        encoder.copy_buffer_to_buffer(&self.resolved, 0, &self.readable, 0, None);
    }

    /// Each dispatch's start and end in nanoseconds from the earliest start, once the
    /// submission that resolved them has finished.
    pub fn read(&self, ctx: &GpuContext) -> Result<Vec<(f64, f64)>> {
        let (sender, mapped) = std::sync::mpsc::channel();
        let slice = self.readable.slice(..);
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = sender.send(r);
        });
        ctx.synchronize()?;
        let failed = |message: String| Error::Gpu {
            context: "reading the profiler's timestamps".into(),
            message,
        };
        mapped
            .recv()
            .map_err(|_| failed("the mapping never completed".into()))?
            .map_err(|e| failed(e.to_string()))?;
        let ticks: Vec<u64> = {
            let view = slice
                .get_mapped_range()
                .map_err(|e| failed(e.to_string()))?;
            bytemuck::pod_collect_to_vec(&view[..self.dispatches * 2 * 8])
        };
        self.readable.unmap();
        let origin = ticks.iter().step_by(2).copied().min().unwrap_or(0);
        Ok(ticks
            .chunks(2)
            .map(|t| {
                let ns = |tick: u64| tick.saturating_sub(origin) as f64 * self.period;
                (ns(t[0]), ns(t[1]).max(ns(t[0])))
            })
            .collect())
    }
}
