//! The device's compute pipelines, compiled once per shader variant. Compiling is the
//! slow part of a cold start (a software driver spends a good part of a second in its
//! compiler on a large kernel), so the lock is not held over a compile, and a plan's new
//! variants are compiled several at a time.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::backend::gpu::context::GpuContext;
use crate::error::{Error, Result};
use crate::ops::dispatch::ShaderVariant;

impl GpuContext {
    /// The pipeline of `variant` and its id, compiled on first use.
    pub(crate) fn pipeline(
        &self,
        variant: &ShaderVariant,
    ) -> Result<(u64, Arc<wgpu::ComputePipeline>)> {
        if let Some(p) = self.compiled(variant) {
            return Ok(p);
        }
        let pipeline = self.compile(variant)?;
        let mut pipelines = self.pipelines.lock().unwrap_or_else(|e| e.into_inner());
        let next = pipelines.len() as u64;
        // Another thread may have compiled the same variant meanwhile: the first one kept
        // wins, so a variant has one id.
        let entry = pipelines.entry(variant.clone()).or_insert_with(|| {
            crate::stats::pipeline_created();
            (next, Arc::new(pipeline))
        });
        Ok(entry.clone())
    }

    fn compiled(&self, variant: &ShaderVariant) -> Option<(u64, Arc<wgpu::ComputePipeline>)> {
        self.pipelines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(variant)
            .cloned()
    }

    /// Compile those of `variants` not compiled yet, on as many threads as the machine has
    /// cores (a driver compiles each on the thread that asks), or on this one where one
    /// context serializes them anyway.
    pub(crate) fn compile_all<'a>(
        &self,
        variants: impl IntoIterator<Item = &'a ShaderVariant>,
    ) -> Result<()> {
        let mut seen = HashSet::new();
        let missing: Vec<&ShaderVariant> = variants
            .into_iter()
            .filter(|v| seen.insert(*v) && self.compiled(v).is_none())
            .collect();
        let threads = match self.one_context() {
            true => 1,
            false => std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
        .min(missing.len());
        if threads <= 1 {
            return missing.iter().try_for_each(|v| self.pipeline(v).map(drop));
        }
        let next = AtomicUsize::new(0);
        let failed: Mutex<Option<Error>> = Mutex::new(None);
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    while let Some(v) = missing.get(next.fetch_add(1, Ordering::Relaxed)) {
                        if let Err(e) = self.pipeline(v) {
                            failed
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .get_or_insert(e);
                            return;
                        }
                    }
                });
            }
        });
        match failed.into_inner().unwrap_or_else(|e| e.into_inner()) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn compile(&self, variant: &ShaderVariant) -> Result<wgpu::ComputePipeline> {
        let label = variant.label();
        let source = variant.render().map_err(|e| Error::Gpu {
            context: label.clone(),
            message: format!("the kernel did not render: {e}"),
        })?;
        self.scoped(&label, || {
            let descriptor = wgpu::ShaderModuleDescriptor {
                label: Some(&label),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            };
            // SAFETY: these are the engine's own shaders (shaders/*.wgsl as their variants
            // render them), never user code, and every loop in them counts up, by a
            // constant of at least 1, to a bound taken from its parameters, so it ends.
            // Dropping naga's loop bounding spares every trip of every loop a counter and a
            // test: 4–9% of lavapipe's row sums. Bounds and division checks stay.
            let module = unsafe {
                self.device.create_shader_module_trusted(
                    descriptor,
                    wgpu::ShaderRuntimeChecks {
                        force_loop_bounding: false,
                        ..wgpu::ShaderRuntimeChecks::checked()
                    },
                )
            };
            Ok(self
                .device
                .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(&label),
                    layout: None,
                    module: &module,
                    entry_point: Some(variant.entry),
                    compilation_options: Default::default(),
                    cache: None,
                }))
        })
    }
}
