//! A wgpu device opened by the test as an embedding program opens its own.

/// A wgpu device of the engine's first adapter, with the features the host asks for.
pub fn own_device(features: wgpu::Features) -> (wgpu::Device, wgpu::Queue) {
    let adapter = &lepton::info::adapters()[0];
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    let own = adapters
        .into_iter()
        .find(|a| a.get_info().name == adapter.name)
        .expect("the same adapter");
    let descriptor = wgpu::DeviceDescriptor {
        required_features: features & own.features(),
        ..Default::default()
    };
    pollster::block_on(own.request_device(&descriptor)).unwrap()
}
