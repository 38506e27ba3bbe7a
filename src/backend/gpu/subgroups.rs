//! Whether a device's subgroups are what the row kernels' subgroup form assumes: a
//! 64-invocation workgroup splits into 64/size full subgroups of the one reported size, and
//! (subgroup, place in it) names each invocation once. Drivers do this for a workgroup that
//! is a multiple of the size, but Vulkan promises it only with a flag wgpu does not expose,
//! so each device is checked once, when it opens.

use crate::backend::gpu::context::GpuContext;
use crate::error::Result;
use crate::ops::shader_files::ShaderFile;

/// Invocations in the checked workgroup (the row kernels' workgroup size).
const INVOCATIONS: u32 = crate::ops::row_tasks::WORKGROUP as u32;

/// Whether subgroups of `size` are laid out as the row kernels assume; false when the
/// check cannot run.
pub(crate) fn full_subgroups(ctx: &GpuContext, size: u32) -> bool {
    observe(ctx).is_ok_and(|seen| laid_out(&seen, size))
}

/// Each invocation's (subgroup, place, size, count), in invocation order.
fn observe(ctx: &GpuContext) -> Result<Vec<[u32; 4]>> {
    let bytes = u64::from(INVOCATIONS) * 16;
    let out = ctx.pool.storage("subgroup check", bytes)?;
    ctx.scoped("subgroup check", || {
        let module = ctx
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some("subgroup_check.wgsl"),
                source: wgpu::ShaderSource::Wgsl(ShaderFile::SubgroupCheck.text().into()),
            });
        let pipeline = ctx
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some("subgroup check"),
                layout: None,
                module: &module,
                entry_point: Some("check"),
                compilation_options: Default::default(),
                cache: None,
            });
        let group = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipeline.get_bind_group_layout(0),
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: out.raw().as_entire_binding(),
            }],
        });
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &group, &[]);
            pass.dispatch_workgroups(1, 1, 1);
        }
        ctx.queue.submit([encoder.finish()]);
        Ok(())
    })?;
    let words: Vec<u32> = ctx
        .read(&out, 0..bytes)?
        .chunks_exact(4)
        .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
        .collect();
    Ok(words
        .chunks_exact(4)
        .map(|v| [v[0], v[1], v[2], v[3]])
        .collect())
}

/// Whether `seen` shows INVOCATIONS / size full subgroups of `size`, each place once.
fn laid_out(seen: &[[u32; 4]], size: u32) -> bool {
    let groups = INVOCATIONS / size;
    let mut taken = vec![false; INVOCATIONS as usize];
    seen.len() == INVOCATIONS as usize
        && seen.iter().all(|&[group, lane, s, count]| {
            let fits = s == size && count == groups && group < groups && lane < size;
            let slot = (group * size + lane) as usize;
            fits && !std::mem::replace(&mut taken[slot], true)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linear(size: u32) -> Vec<[u32; 4]> {
        (0..INVOCATIONS)
            .map(|i| [i / size, i % size, size, INVOCATIONS / size])
            .collect()
    }

    #[test]
    fn full_subgroups_in_any_order_pass() {
        assert!(laid_out(&linear(8), 8));
        let mut shuffled = linear(32);
        shuffled.reverse();
        assert!(laid_out(&shuffled, 32));
    }

    #[test]
    fn partial_repeated_or_resized_subgroups_fail() {
        assert!(!laid_out(&linear(16), 8), "another size");
        let mut repeated = linear(8);
        repeated[9] = repeated[8];
        assert!(!laid_out(&repeated, 8), "a place named twice");
        let mut partial = linear(8);
        for v in partial.iter_mut() {
            v[3] = 9;
        }
        assert!(!laid_out(&partial, 8), "more subgroups than full ones make");
        assert!(!laid_out(&linear(8)[..63], 8), "an invocation missing");
    }
}
