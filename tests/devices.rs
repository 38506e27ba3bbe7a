//! Device selection and embedding a program's own wgpu device.

mod common;

use common::host_device::own_device;

use lepton::{DType, Device, Error, Tensor};

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
    let (device, queue) = own_device(wgpu::Features::empty());
    let lepton_device = Device::from_wgpu(device, queue);
    let a = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], &[3], &lepton_device).unwrap();
    assert_eq!(
        a.square().sum(&[], false).unwrap().item::<f32>().unwrap(),
        14.0
    );
    // Without SHADER_F16 requested, f16 steps run on the CPU inside the plan.
    assert!(lepton_device.falls_back(DType::F16).is_some());
    let before = lepton::stats();
    let half = a
        .cast(DType::F16)
        .unwrap()
        .square()
        .sum(&[], false)
        .unwrap();
    assert_eq!(half.item::<half::f16>().unwrap(), half::f16::from_f32(14.0));
    assert!(lepton::stats().fallback_steps > before.fallback_steps);
}

/// A device lost under the engine (here its host program destroys it, as a driver reset or
/// an unplugged GPU would take it) is `Error::DeviceLost` from every later call that needs
/// it, at once: never a hang, a panic or a wrong result.
#[test]
fn a_lost_device_is_an_error_from_every_later_call() {
    let Some(_) = common::gpu() else { return };
    let (device, queue) = own_device(wgpu::Features::empty());
    let host = device.clone();
    let gpu = Device::from_wgpu(device, queue);
    let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], &[3], &gpu).unwrap();
    let kept = x.exp();
    kept.realize().unwrap();
    host.destroy();
    let began = std::time::Instant::now();
    let lost = |r: lepton::Result<Vec<f32>>, what: &str| {
        let err = r.err().unwrap_or_else(|| panic!("{what}: accepted"));
        assert!(matches!(err, Error::DeviceLost { .. }), "{what}: {err}");
    };
    lost(x.square().sum(&[], false).unwrap().to_vec(), "a new graph");
    lost(kept.to_vec(), "reading a realized tensor");
    lost(
        Tensor::ones(&[4], DType::F32, &gpu).and_then(|t| t.to_vec()),
        "a new tensor",
    );
    lost(
        Tensor::from_vec(vec![1.0f32], &[1], &gpu).and_then(|t| t.to_vec()),
        "an upload",
    );
    lost(gpu.synchronize().map(|()| Vec::new()), "synchronize");
    assert!(
        began.elapsed() < std::time::Duration::from_secs(10),
        "no hang"
    );
}
