//! The wgpu instance and the adapters it finds, best first.

use std::sync::LazyLock;

static INSTANCE: LazyLock<wgpu::Instance> = LazyLock::new(|| {
    wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env())
});

static ADAPTERS: LazyLock<Vec<wgpu::Adapter>> = LazyLock::new(|| {
    let mut adapters = pollster::block_on(INSTANCE.enumerate_adapters(wgpu::Backends::all()));
    adapters.sort_by_key(|a| rank(&a.get_info()));
    adapters
});

/// Lower is better: hardware before software, native APIs before GL.
fn rank(info: &wgpu::AdapterInfo) -> (u8, u8) {
    let kind = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    };
    let api = match info.backend {
        wgpu::Backend::Vulkan | wgpu::Backend::Metal | wgpu::Backend::Dx12 => 0,
        _ => 1,
    };
    (kind, api)
}

/// Every adapter, in the order `gpu:N` indexes them.
pub fn list() -> &'static [wgpu::Adapter] {
    &ADAPTERS
}

pub fn is_hardware(info: &wgpu::AdapterInfo) -> bool {
    !matches!(
        info.device_type,
        wgpu::DeviceType::Cpu | wgpu::DeviceType::Other
    )
}

/// Index of the best adapter; with `hardware_only`, of the best hardware one.
pub fn preferred(hardware_only: bool) -> Option<usize> {
    let first = list().first()?;
    (!hardware_only || is_hardware(&first.get_info())).then_some(0)
}
