//! Device selection and embedding a program's own wgpu device.

mod common;

use lepton::{DType, Device, Tensor};

#[test]
fn names_parse_to_devices() {
    assert_eq!(Device::parse("cpu").unwrap(), Device::cpu());
    let auto = Device::parse("auto").unwrap();
    // `auto` never picks a software adapter: on a machine without a hardware GPU it is the CPU path.
    let hardware = lepton::info::adapters().iter().any(|a| a.hardware);
    assert_eq!(auto.is_gpu(), hardware);
    if let Some(gpu) = common::gpu() {
        assert_eq!(
            Device::parse("gpu:0").unwrap(),
            gpu,
            "gpu is the best adapter, index 0"
        );
        assert_eq!(
            Device::parse("gpu").unwrap(),
            gpu,
            "one context per adapter"
        );
    }
}

#[test]
fn an_embedding_program_hands_over_its_device() {
    let Some(_) = common::gpu() else { return };
    let adapter = &lepton::info::adapters()[0];
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    let own = adapters
        .into_iter()
        .find(|a| a.get_info().name == adapter.name)
        .expect("the same adapter");
    let (device, queue) =
        pollster::block_on(own.request_device(&wgpu::DeviceDescriptor::default())).unwrap();
    let lepton_device = Device::from_wgpu(device, queue);
    let a = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], &[3], &lepton_device).unwrap();
    assert_eq!(
        a.square().sum(&[], false).unwrap().item::<f32>().unwrap(),
        14.0
    );
    // Without SHADER_F16 requested, f16 is refused with a typed error.
    assert!(!lepton_device.supports(DType::F16));
}
