//! Choosing among kernels on this device: pinned, remembered, or timed (see
//! `crate::autotune`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::autotune;
use crate::autotune::DiskCache;
use crate::backend::gpu::context::GpuContext;
use crate::backend::gpu::program::fold;
use crate::ops::dispatch::{Arg, Lowering, Tuner};
use crate::ops::op::StepDesc;
use crate::ops::shader_files::ShaderFile;
use crate::shape::Layout;

/// Timed runs per candidate at most, and the time after which a candidate gets no more.
const RUNS: usize = 5;
const BUDGET: Duration = Duration::from_millis(300);

impl Tuner for GpuContext {
    fn choose(
        &self,
        step: &StepDesc,
        class: &str,
        names: &[String],
        pinned: Option<usize>,
        lower: &dyn Fn(usize) -> Lowering,
    ) -> usize {
        if let Some(i) = pinned {
            return i;
        }
        if !autotune::enabled() || names.len() == 1 {
            return 0;
        }
        let adapter = self.tuning_key();
        let mut tuned = self.tuned.lock().unwrap_or_else(|e| e.into_inner());
        let known = tuned.get_or_insert_with(|| match &adapter {
            Some(key) => DiskCache::load(key),
            None => HashMap::new(),
        });
        if let Some(i) = known
            .get(class)
            .and_then(|name| names.iter().position(|n| n == name))
        {
            return i;
        }
        let chosen = self.fastest(step, names.len(), lower).unwrap_or(0);
        crate::stats::tuned();
        known.insert(class.to_string(), names[chosen].clone());
        if let Some(key) = adapter {
            DiskCache::store(&key, class, &names[chosen]);
        }
        chosen
    }

    fn subgroup_size(&self) -> Option<u32> {
        GpuContext::subgroup_size(self)
    }

    fn wide_loads(&self) -> bool {
        self.features().contains(wgpu::Features::SHADER_INT64)
    }
}

/// Bytes a strided view reaches from the start of its buffer.
fn extent(layout: &Layout, element: usize) -> u64 {
    (layout.reach() * element).max(4) as u64
}

impl GpuContext {
    /// What identifies this device and these kernels in the disk cache: the adapter and its
    /// driver, and a hash of the product kernels' sources, so edited kernels are timed
    /// afresh. None for a device an embedding program made (no adapter to name).
    fn tuning_key(&self) -> Option<String> {
        let info = self.adapter_info()?;
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for file in [
            ShaderFile::Matmul,
            ShaderFile::MatmulBlocked,
            ShaderFile::MatmulShared,
            ShaderFile::Conv,
        ] {
            for byte in file.template().bytes() {
                hash = (hash ^ byte as u64).wrapping_mul(0x100_0000_01b3);
            }
        }
        Some(format!(
            "{} ({:?}, {:04x}:{:04x}, {} {}) kernels {hash:016x}",
            info.name, info.backend, info.vendor, info.device, info.driver, info.driver_info
        ))
    }

    /// Time each of `count` candidates on zeroed operands of the step's layouts and return
    /// the fastest; None when none ran.
    fn fastest(
        &self,
        step: &StepDesc,
        count: usize,
        lower: &dyn Fn(usize) -> Lowering,
    ) -> Option<usize> {
        let fresh = |bytes: u64| {
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("autotune operand"),
                size: bytes.div_ceil(16) * 16,
                usage: wgpu::BufferUsages::STORAGE,
                mapped_at_creation: false,
            })
        };
        let output = Layout::contiguous(step.out_shape);
        let buffers: Vec<wgpu::Buffer> = self
            .scoped("autotune buffers", || {
                Ok(step
                    .inputs
                    .iter()
                    .map(|(dtype, l)| fresh(extent(l, dtype.size_in_bytes())))
                    .chain([fresh(extent(&output, step.out_dtype.size_in_bytes()))])
                    .collect())
            })
            .ok()?;
        let mut best: Option<(Duration, usize)> = None;
        for i in 0..count {
            let lowering = lower(i);
            let Ok(scratch) = self.scoped("autotune scratch", || {
                Ok(lowering
                    .scratch
                    .iter()
                    .map(|&bytes| fresh(bytes))
                    .collect::<Vec<_>>())
            }) else {
                continue;
            };
            let Some(time) = self.time_one(&lowering, &buffers, &scratch) else {
                continue;
            };
            if best.is_none_or(|(t, _)| time < t) {
                best = Some((time, i));
            }
        }
        best.map(|(_, i)| i)
    }

    /// The best of a few runs of a lowering, its dispatches in one submission, after one run
    /// to warm up; None if it cannot run. `buffers` holds the step's inputs, then its output;
    /// `scratch` the lowering's scratch buffers.
    fn time_one(
        &self,
        lowering: &Lowering,
        buffers: &[wgpu::Buffer],
        scratch: &[wgpu::Buffer],
    ) -> Option<Duration> {
        let mut prepared = Vec::with_capacity(lowering.dispatches.len());
        for dispatch in &lowering.dispatches {
            let (_, pipeline) = self.pipeline(&dispatch.variant).ok()?;
            let words = dispatch.param_words().ok()?;
            let params = self
                .scoped("autotune parameters", || {
                    self.pool.params(words.len() as u64 * 4)
                })
                .ok()?;
            self.queue
                .write_buffer(params.raw(), 0, bytemuck::cast_slice(words));
            let mut entries = vec![wgpu::BindGroupEntry {
                binding: 0,
                resource: params.raw().as_entire_binding(),
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
            prepared.push((pipeline, group, groups, params));
        }
        let run = || -> Option<Duration> {
            let start = Instant::now();
            let mut encoder = self.device.create_command_encoder(&Default::default());
            {
                let mut pass = encoder.begin_compute_pass(&Default::default());
                for (pipeline, group, groups, _) in &prepared {
                    pass.set_pipeline(pipeline);
                    pass.set_bind_group(0, group, &[]);
                    pass.dispatch_workgroups(groups.0, groups.1, 1);
                }
            }
            self.queue.submit([encoder.finish()]);
            self.synchronize().ok()?;
            Some(start.elapsed())
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
