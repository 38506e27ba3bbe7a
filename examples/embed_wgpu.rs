//! A host program that owns its wgpu device runs a small network on it through the engine
//! and consumes the output in a compute pass of its own, with no copy to the host between:
//! the network reads the host's input buffer as a tensor, and the host's shader reads the
//! network's probabilities from the engine's buffer and writes each row's most probable
//! class. Checked against the same network on the CPU path, and against the engine's
//! counters (nothing read back until the host reads its own result).

use anyhow::Context;
use lepton::nn::{Activation, Linear, Module, Sequential};
use lepton::{no_grad, DType, Device, Tensor, TENSOR_USAGES};
use wgpu::util::DeviceExt;

const ROWS: usize = 37;
const FEATURES: usize = 4;
const CLASSES: usize = 3;

/// The host's own kernel: each row's most probable class.
const ARGMAX: &str = r#"
@group(0) @binding(0) var<storage, read> probabilities: array<f32>;
@group(0) @binding(1) var<storage, read_write> classes: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let row = id.x;
    if (row >= arrayLength(&classes)) {
        return;
    }
    var best = 0u;
    for (var c = 1u; c < 3u; c++) {
        if (probabilities[row * 3u + c] > probabilities[row * 3u + best]) {
            best = c;
        }
    }
    classes[row] = best;
}
"#;

/// The host program's device: the first adapter wgpu finds (WGPU_BACKEND picks the
/// backend).
fn host_device() -> anyhow::Result<(wgpu::Device, wgpu::Queue)> {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()))
        .into_iter()
        .next()
        .context("no GPU adapter: this example embeds the engine in a wgpu program")?;
    println!("host device: {}", adapter.get_info().name);
    Ok(pollster::block_on(
        adapter.request_device(&wgpu::DeviceDescriptor::default()),
    )?)
}

fn network(device: &Device) -> lepton::Result<Sequential> {
    Ok(Sequential::new()
        .push(Linear::new(FEATURES, 16, true, 1, DType::F32, device)?)
        .push(Activation::Relu)
        .push(Linear::new(16, CLASSES, true, 2, DType::F32, device)?))
}

fn probabilities(model: &Sequential, x: &Tensor) -> lepton::Result<Tensor> {
    no_grad(|| model.forward(x)?.softmax(-1))
}

/// The host's input: a fixed pattern, row-major [ROWS, FEATURES].
fn input() -> Vec<f32> {
    (0..ROWS * FEATURES)
        .map(|i| ((i * 7919 % 97) as f32 / 48.5 - 1.0) * 2.0)
        .collect()
}

/// The host's pass over the engine's `probabilities`, and its own readback of the classes.
fn host_argmax(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    probabilities: &lepton::SharedBuffer,
) -> anyhow::Result<Vec<u32>> {
    anyhow::ensure!(
        probabilities.is_contiguous() && probabilities.offset() == 0,
        "a fresh result starts its buffer"
    );
    let bytes = (ROWS * 4) as u64;
    let classes = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("classes"),
        size: bytes,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    let readback = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("classes readback"),
        size: bytes,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("argmax"),
        source: wgpu::ShaderSource::Wgsl(ARGMAX.into()),
    });
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some("argmax"),
        layout: None,
        module: &module,
        entry_point: Some("main"),
        compilation_options: Default::default(),
        cache: None,
    });
    let group = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("argmax"),
        layout: &pipeline.get_bind_group_layout(0),
        entries: &[
            wgpu::BindGroupEntry {
                binding: 0,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: probabilities.buffer(),
                    offset: probabilities.offset(),
                    size: wgpu::BufferSize::new(probabilities.size()),
                }),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: classes.as_entire_binding(),
            },
        ],
    });
    let mut encoder = device.create_command_encoder(&Default::default());
    {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &group, &[]);
        pass.dispatch_workgroups(ROWS.div_ceil(64) as u32, 1, 1);
    }
    encoder.copy_buffer_to_buffer(&classes, 0, &readback, 0, Some(bytes));
    // The engine's submissions came first on this queue, so the pass sees their result.
    queue.submit([encoder.finish()]);
    let slice = readback.slice(..);
    let (sender, mapped) = std::sync::mpsc::channel();
    slice.map_async(wgpu::MapMode::Read, move |r| {
        let _ = sender.send(r);
    });
    device.poll(wgpu::PollType::wait_indefinitely())?;
    mapped.recv()??;
    let out = bytemuck::pod_collect_to_vec(&slice.get_mapped_range()?);
    readback.unmap();
    Ok(out)
}

fn main() -> anyhow::Result<()> {
    let (device, queue) = host_device()?;
    let engine = Device::from_wgpu(device.clone(), queue.clone());
    let model = network(&engine)?;
    let data = input();
    let buffer = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("host input"),
        contents: bytemuck::cast_slice(&data),
        usage: TENSOR_USAGES,
    });
    let before = lepton::stats();
    let x = Tensor::from_wgpu_buffer(buffer, &[ROWS, FEATURES], DType::F32, &engine)?;
    let p = probabilities(&model, &x)?;
    let classes = host_argmax(&device, &queue, &p.gpu_buffer()?)?;
    let after = lepton::stats();
    anyhow::ensure!(
        (after.uploads, after.read_backs) == (before.uploads, before.read_backs),
        "the engine copied to or from the host: {} uploads, {} read-backs",
        after.uploads - before.uploads,
        after.read_backs - before.read_backs
    );
    // The same network on the CPU path, from the same seeds.
    let cpu = Device::cpu();
    let want = probabilities(
        &network(&cpu)?,
        &Tensor::from_vec(data, &[ROWS, FEATURES], &cpu)?,
    )?
    .to_vec::<f32>()?;
    let got = p.to_vec::<f32>()?;
    let worst = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    anyhow::ensure!(
        worst < 1e-5,
        "probabilities differ from the CPU path by {worst}"
    );
    // Rows whose two best classes are closer than the two paths' difference could go
    // either way; every other row must agree.
    let mut compared = 0;
    for (row, &class) in classes.iter().enumerate() {
        let mut sorted: Vec<f32> = want[row * CLASSES..(row + 1) * CLASSES].to_vec();
        sorted.sort_by(|a, b| b.total_cmp(a));
        if sorted[0] - sorted[1] <= 2.0 * worst {
            continue;
        }
        let best = (0..CLASSES)
            .max_by(|&a, &b| want[row * CLASSES + a].total_cmp(&want[row * CLASSES + b]))
            .expect("classes");
        anyhow::ensure!(
            class as usize == best,
            "row {row}: the host's pass says class {class}, the CPU path {best}"
        );
        compared += 1;
    }
    println!(
        "{ROWS} rows through the engine on the host's device into the host's own pass; \
         {compared} classes match the CPU path (probabilities within {worst:.1e}), \
         first {:?}",
        &classes[..8]
    );
    Ok(())
}
