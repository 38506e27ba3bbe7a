//! Timestamps written on the GPU for the profiler and the peaks: numbered from 0, spread
//! over query sets of at most `QUERY_SET_MAX_QUERIES`, resolved into one buffer and read
//! back as nanoseconds. Pairs around a pass need only TIMESTAMP_QUERY; writes between
//! dispatches inside a pass need TIMESTAMP_QUERY_INSIDE_PASSES.

use crate::backend::gpu::context::GpuContext;
use crate::error::{Error, Result};

/// Timestamps per query set: even, so a pair at an even index lies in one set, and a full
/// set's 8-byte results fill whole multiples of the resolve alignment.
const PER_SET: usize = wgpu::QUERY_SET_MAX_QUERIES as usize;

pub(crate) struct DispatchTimer {
    sets: Vec<wgpu::QuerySet>,
    count: usize,
    resolved: wgpu::Buffer,
    readable: wgpu::Buffer,
    /// Nanoseconds per tick.
    period: f64,
    /// Whether timestamps can be written inside a pass.
    pub inside_passes: bool,
}

impl DispatchTimer {
    /// Room for `count` timestamps; None where the device has no TIMESTAMP_QUERY.
    pub fn new(ctx: &GpuContext, count: usize) -> Result<Option<DispatchTimer>> {
        if !ctx.features().contains(wgpu::Features::TIMESTAMP_QUERY) || count == 0 {
            return Ok(None);
        }
        let bytes = (count.div_ceil(PER_SET) * PER_SET) as u64 * wgpu::QUERY_SIZE as u64;
        ctx.scoped("profiler timestamps", || {
            let sets = (0..count.div_ceil(PER_SET))
                .map(|s| {
                    ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
                        label: Some("profiler timestamps"),
                        ty: wgpu::QueryType::Timestamp,
                        count: (count - s * PER_SET).min(PER_SET) as u32,
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
                count,
                resolved: buffer(wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC),
                readable: buffer(wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST),
                period: ctx.queue.get_timestamp_period() as f64,
                inside_passes: ctx
                    .features()
                    .contains(wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES),
            }))
        })
    }

    /// Room for timing `dispatches` dispatches of one pass and a pair around nothing
    /// (timestamps 0 and 1, what writing one costs by itself): inside the pass where the
    /// device can, one timestamp between each two dispatches, else a pair around each
    /// dispatch's own pass ([`DispatchTimer::dispatch`] says which).
    pub fn for_dispatches(ctx: &GpuContext, dispatches: usize) -> Result<Option<DispatchTimer>> {
        let count = match ctx
            .features()
            .contains(wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES)
        {
            true => dispatches + 3,
            false => 2 * dispatches + 2,
        };
        DispatchTimer::new(ctx, count)
    }

    /// The timestamps before and after dispatch `i` of a timer `for_dispatches`.
    pub fn dispatch(&self, i: usize) -> (usize, usize) {
        match self.inside_passes {
            true => (2 + i, 3 + i),
            false => (2 + 2 * i, 3 + 2 * i),
        }
    }

    /// Timestamp `k`'s query set and index in it.
    pub fn query(&self, k: usize) -> (&wgpu::QuerySet, u32) {
        (&self.sets[k / PER_SET], (k % PER_SET) as u32)
    }

    /// A pass's writes of timestamps `k` (even) at its beginning and `k + 1` at its end.
    pub fn pass_writes(&self, k: usize) -> wgpu::ComputePassTimestampWrites<'_> {
        let (query_set, at) = self.query(k);
        wgpu::ComputePassTimestampWrites {
            query_set,
            beginning_of_pass_write_index: Some(at),
            end_of_pass_write_index: Some(at + 1),
        }
    }

    /// Record the copy of every timestamp to the mappable buffer.
    pub fn resolve(&self, encoder: &mut wgpu::CommandEncoder) {
        for (s, set) in self.sets.iter().enumerate() {
            let count = (self.count - s * PER_SET).min(PER_SET) as u32;
            let offset = (s * PER_SET) as u64 * wgpu::QUERY_SIZE as u64;
            encoder.resolve_query_set(set, 0..count, &self.resolved, offset);
        }
        encoder.copy_buffer_to_buffer(&self.resolved, 0, &self.readable, 0, None);
    }

    /// Every timestamp in nanoseconds from the earliest, once the submission that resolved
    /// them has finished.
    pub fn read(&self, ctx: &GpuContext) -> Result<Vec<f64>> {
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
            bytemuck::pod_collect_to_vec(&view[..self.count * 8])
        };
        self.readable.unmap();
        let origin = ticks.iter().copied().min().unwrap_or(0);
        Ok(ticks
            .iter()
            .map(|&t| t.saturating_sub(origin) as f64 * self.period)
            .collect())
    }
}

/// The span from timestamp `start` to `end` in `ns`, never negative.
pub(crate) fn span(ns: &[f64], start: usize, end: usize) -> f64 {
    (ns[end] - ns[start]).max(0.0)
}
