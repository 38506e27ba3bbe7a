//! What `lepton info` reports: every adapter wgpu finds, the features and limits that
//! size our kernels, and which device `auto` picks.

use crate::backend::gpu::adapters;
use crate::device::Device;
use crate::dtype::DType;

/// One adapter as reported to users.
pub struct AdapterReport {
    pub index: usize,
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    pub hardware: bool,
    pub features: Vec<(&'static str, bool)>,
    pub limits: Vec<(&'static str, u64)>,
    /// The subgroup size reductions and softmax combine lanes in, if any.
    pub row_subgroup: Option<u32>,
    /// The dtypes whose steps run on the CPU inside a plan for this adapter, and why.
    pub fallbacks: Vec<(DType, &'static str)>,
    /// Whether the autotuner times kernel candidates here: not on GL, whose one context
    /// leaves no room for a timing thread beside the work, so its kernels keep their
    /// defaults.
    pub times_candidates: bool,
}

/// Every adapter, in `gpu:N` order.
pub fn adapters() -> Vec<AdapterReport> {
    adapters::list()
        .iter()
        .enumerate()
        .map(|(index, adapter)| {
            let info = adapter.get_info();
            let f = adapter.features();
            let l = adapter.limits();
            AdapterReport {
                index,
                name: info.name.clone(),
                backend: format!("{:?}", info.backend),
                device_type: format!("{:?}", info.device_type),
                driver: format!("{} {}", info.driver, info.driver_info)
                    .trim()
                    .to_string(),
                hardware: adapters::is_hardware(&info),
                times_candidates: !crate::backend::gpu::context::one_context(info.backend),
                row_subgroup: crate::backend::gpu::context::row_subgroup_size(
                    adapter.features(),
                    &info,
                ),
                fallbacks: [DType::F16, DType::F32, DType::F64, DType::I32]
                    .into_iter()
                    .filter_map(|d| {
                        crate::backend::gpu::fallback::host_reason(f, d).map(|why| (d, why))
                    })
                    .collect(),
                features: vec![
                    ("SHADER_F16", f.contains(wgpu::Features::SHADER_F16)),
                    ("SHADER_INT64", f.contains(wgpu::Features::SHADER_INT64)),
                    ("SUBGROUP", f.contains(wgpu::Features::SUBGROUP)),
                    (
                        "TIMESTAMP_QUERY",
                        f.contains(wgpu::Features::TIMESTAMP_QUERY),
                    ),
                    (
                        "TIMESTAMP_QUERY_INSIDE_PASSES",
                        f.contains(wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES),
                    ),
                    (
                        "COOPERATIVE_MATRIX",
                        f.contains(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX),
                    ),
                ],
                limits: vec![
                    (
                        "max_compute_workgroup_storage_size",
                        l.max_compute_workgroup_storage_size as u64,
                    ),
                    (
                        "max_compute_invocations_per_workgroup",
                        l.max_compute_invocations_per_workgroup as u64,
                    ),
                    (
                        "max_compute_workgroups_per_dimension",
                        l.max_compute_workgroups_per_dimension as u64,
                    ),
                    ("max_buffer_size", l.max_buffer_size),
                    (
                        "max_storage_buffers_per_shader_stage",
                        l.max_storage_buffers_per_shader_stage as u64,
                    ),
                    (
                        "max_storage_buffer_binding_size",
                        l.max_storage_buffer_binding_size,
                    ),
                    ("subgroup_min_size", info.subgroup_min_size as u64),
                    ("subgroup_max_size", info.subgroup_max_size as u64),
                ],
            }
        })
        .collect()
}

/// The device `auto` resolves to, described.
pub fn auto_choice() -> String {
    match Device::auto() {
        Device::Cpu => {
            "cpu (no hardware GPU adapter; a software adapter is used only with --device gpu)"
                .into()
        }
        gpu => gpu.to_string(),
    }
}
