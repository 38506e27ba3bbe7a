//! Device memory shared with a host program that owns the wgpu device: a tensor over the
//! host's buffer computes as a tensor the engine uploaded, bit for bit; a realized tensor
//! lends its buffer, which the host reads with its own copy, and which stays intact while
//! lent; buffers that cannot be tensors are refused with typed errors.

mod common;

use common::host_device::own_device;
use common::*;
use lepton::{DType, Device, Error, Tensor, MIN_TENSOR_BUFFER, TENSOR_USAGES};
use wgpu::util::DeviceExt;

/// The host's engine: a device of its own, handed over; kernels fixed, so that two runs of
/// one computation choose the same ones.
fn host() -> Option<(wgpu::Device, wgpu::Queue, Device)> {
    common::gpu()?;
    lepton::autotune::set_enabled(false);
    let (device, queue) = own_device(wgpu::Features::SHADER_F16);
    let engine = Device::from_wgpu(device.clone(), queue.clone());
    Some((device, queue, engine))
}

fn host_buffer(device: &wgpu::Device, bytes: &[u8], usage: wgpu::BufferUsages) -> wgpu::Buffer {
    device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("host data"),
        contents: bytes,
        usage,
    })
}

/// `bytes` bytes of `buffer` from `offset`, copied and read back by the host itself.
fn host_read(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    buffer: &wgpu::Buffer,
    offset: u64,
    bytes: u64,
) -> Vec<u8> {
    let size = bytes.next_multiple_of(4);
    let staging = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("host readback"),
        size,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut encoder = device.create_command_encoder(&Default::default());
    encoder.copy_buffer_to_buffer(buffer, offset, &staging, 0, Some(size));
    queue.submit([encoder.finish()]);
    let slice = staging.slice(..);
    slice.map_async(wgpu::MapMode::Read, |r| r.unwrap());
    device.poll(wgpu::PollType::wait_indefinitely()).unwrap();
    let out = slice.get_mapped_range().unwrap()[..bytes as usize].to_vec();
    staging.unmap();
    out
}

/// What the tests compute from a vector `x` of n: a product, squares plus one summed, and
/// a softmax.
fn computed(x: &Tensor, device: &Device) -> Vec<Vec<f32>> {
    let n = x.shape()[0];
    let w = tensor(&data(5, 9, -1.0, 1.0), &[1, 5], DType::F32, device);
    let product = x.reshape(&[n as isize, 1]).unwrap().matmul(&w).unwrap();
    let squares = x.square().add_scalar(1.0).unwrap().sum(&[], false).unwrap();
    let softmax = x.softmax(-1).unwrap();
    [product, squares, softmax]
        .iter()
        .map(|t| t.to_vec::<f32>().unwrap())
        .collect()
}

#[test]
fn a_host_buffer_computes_as_an_uploaded_tensor() {
    let Some((device, _queue, engine)) = host() else {
        return;
    };
    for n in [1, 7, 513] {
        let values: Vec<f32> = data(n, n as u64, -2.0, 2.0)
            .iter()
            .map(|&v| v as f32)
            .collect();
        // The elements' bytes, and no more past the smallest buffer a kernel binds: no
        // padding for the kernels to lean on.
        let mut bytes = bytemuck::cast_slice::<f32, u8>(&values).to_vec();
        bytes.resize(bytes.len().max(MIN_TENSOR_BUFFER as usize), 0);
        let buffer = host_buffer(&device, &bytes, TENSOR_USAGES);
        let wrapped = Tensor::from_wgpu_buffer(buffer, &[n], DType::F32, &engine).unwrap();
        let uploaded = Tensor::from_vec(values.clone(), &[n], &engine).unwrap();
        assert_eq!(wrapped.to_vec::<f32>().unwrap(), values);
        assert_eq!(
            computed(&wrapped, &engine),
            computed(&uploaded, &engine),
            "n = {n}"
        );
    }
    // f16 of an odd count: its 38 bytes rounded up to 4, as bindings are.
    let halves: Vec<half::f16> = (0..19)
        .map(|i| half::f16::from_f32(i as f32 - 9.0))
        .collect();
    let mut bytes = bytemuck::cast_slice::<half::f16, u8>(&halves).to_vec();
    bytes.extend([0, 0]);
    let buffer = host_buffer(&device, &bytes, TENSOR_USAGES);
    let wrapped = Tensor::from_wgpu_buffer(buffer, &[19], DType::F16, &engine).unwrap();
    let sum = wrapped
        .sum(&[], false)
        .unwrap()
        .item::<half::f16>()
        .unwrap();
    assert_eq!(sum, half::f16::from_f32(0.0));
}

#[test]
fn a_lent_buffer_holds_the_result_for_the_host() {
    let Some((device, queue, engine)) = host() else {
        return;
    };
    let x = tensor(&data(6 * 9, 1, -1.0, 1.0), &[6, 9], DType::F32, &engine);
    let y = x.tanh();
    let shared = y.gpu_buffer().unwrap();
    assert_eq!(
        (
            shared.dtype(),
            shared.shape(),
            shared.strides(),
            shared.offset(),
            shared.size()
        ),
        (DType::F32, &[6usize, 9][..], &[9usize, 1][..], 0, 6 * 9 * 4)
    );
    assert!(shared.is_contiguous());
    let want = y.to_vec::<f32>().unwrap();
    let read = |s: &lepton::SharedBuffer| -> Vec<f32> {
        bytemuck::pod_collect_to_vec(&host_read(
            &device,
            &queue,
            s.buffer(),
            s.offset(),
            s.size(),
        ))
    };
    assert_eq!(read(&shared), want);
    // The tensor gone, the engine's later results of the same size take other buffers.
    drop(y);
    let others: Vec<Tensor> = (0..4).map(|i| x.mul_scalar(i as f64).unwrap()).collect();
    lepton::realize(&others.iter().collect::<Vec<_>>()).unwrap();
    assert_eq!(
        read(&shared),
        want,
        "a lent buffer is never reused while lent"
    );
    // A view lends the buffer it looks into, with its offset and strides.
    let z = x.exp();
    let column = z.transpose(0, 1).unwrap().slice(0, 2, 3, 1).unwrap();
    let view = column.gpu_buffer().unwrap();
    assert_eq!(
        (view.shape(), view.strides()),
        (&[1usize, 6][..], &[1usize, 9][..])
    );
    assert_eq!((view.offset(), view.size()), (2 * 4, (5 * 9 + 1) * 4));
    assert!(!view.is_contiguous());
    let span = read(&view);
    let whole = z.to_vec::<f32>().unwrap();
    let strided: Vec<f32> = (0..6).map(|r| span[r * 9]).collect();
    let want: Vec<f32> = (0..6).map(|r| whole[r * 9 + 2]).collect();
    assert_eq!(strided, want);
}

#[test]
fn buffers_that_cannot_be_tensors_are_refused() {
    let cpu = Tensor::ones(&[3], DType::F32, &Device::cpu()).unwrap();
    assert!(matches!(
        cpu.gpu_buffer(),
        Err(Error::InvalidArgument { .. })
    ));
    let Some((device, _queue, engine)) = host() else {
        return;
    };
    let bytes = [0u8; 64];
    let no_storage = host_buffer(&device, &bytes, wgpu::BufferUsages::COPY_SRC);
    let error = Tensor::from_wgpu_buffer(no_storage, &[16], DType::F32, &engine).unwrap_err();
    assert!(
        matches!(&error, Error::InvalidArgument { message, .. } if message.contains("STORAGE")),
        "{error}"
    );
    let small = host_buffer(&device, &bytes, TENSOR_USAGES);
    let error = Tensor::from_wgpu_buffer(small, &[17], DType::F32, &engine).unwrap_err();
    assert!(
        matches!(
            error,
            Error::DataLength {
                expected: 17,
                got: 16,
                ..
            }
        ),
        "{error}"
    );
    let tiny = host_buffer(&device, &[0; 4], TENSOR_USAGES);
    let error = Tensor::from_wgpu_buffer(tiny, &[1], DType::F32, &engine).unwrap_err();
    assert!(
        matches!(&error, Error::InvalidArgument { message, .. } if message.contains("at least 32")),
        "{error}"
    );
    let fine = host_buffer(&device, &bytes, TENSOR_USAGES);
    let error = Tensor::from_wgpu_buffer(fine, &[16], DType::F32, &Device::cpu()).unwrap_err();
    assert!(matches!(error, Error::InvalidArgument { .. }), "{error}");
}
