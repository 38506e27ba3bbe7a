//! Kernel benchmarks: ids `op/device/shape`, throughput in FLOP/s or bytes/s, and the clock
//! stopped only after the device has finished (`Device::synchronize`).

use std::time::{Duration, Instant};

mod common;

use common::devices;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lepton::nn::{CellKind, Conv2dSpec, Module, Recurrent, RecurrentConfig};
use lepton::{DType, Device, Tensor};

/// Time `iters` realizations of `f`, each waited for.
fn timed(device: &Device, iters: u64, f: &dyn Fn() -> Tensor) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        f().realize().expect("benchmark step runs");
    }
    device.synchronize().expect("device finishes");
    start.elapsed()
}

fn bench(
    c: &mut Criterion,
    name: &str,
    throughput: Throughput,
    device: &Device,
    f: &dyn Fn() -> Tensor,
) {
    let mut group = c.benchmark_group("kernels");
    group.throughput(throughput);
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    let mut tuned = false;
    group.bench_function(name, |b| {
        if !tuned {
            // Time the kernels the autotuner chooses, not the defaults they start with.
            timed(device, 1, f);
            lepton::autotune::settle();
            tuned = true;
        }
        b.iter_custom(|iters| timed(device, iters, f))
    });
    group.finish();
}

fn rand(shape: &[usize], seed: u64, device: &Device) -> Tensor {
    Tensor::rand_uniform(shape, -1.0, 1.0, seed, DType::F32, device).expect("benchmark input")
}

fn kernels(c: &mut Criterion) {
    for (dev, device) in devices() {
        // (batch, m, k, n) of the product shapes.
        let products = [
            (1, 256, 256, 256),
            (1, 512, 512, 512),
            (1, 1024, 1024, 1024),
            (1, 2048, 2048, 2048),
            (1, 4096, 64, 4096),
            (1, 1, 4096, 4096),
            (32, 128, 64, 128),
        ];
        for (batch, m, k, n) in products {
            let (a, b) = if batch == 1 {
                (rand(&[m, k], 1, &device), rand(&[k, n], 2, &device))
            } else {
                (
                    rand(&[batch, m, k], 1, &device),
                    rand(&[batch, k, n], 2, &device),
                )
            };
            let id = if batch == 1 {
                format!("matmul/{dev}/{m}x{k}x{n}")
            } else {
                format!("matmul/{dev}/{batch}x{m}x{k}x{n}")
            };
            bench(
                c,
                &id,
                Throughput::Elements((2 * batch * m * k * n) as u64),
                &device,
                &|| a.matmul(&b).expect("matmul"),
            );
        }
        // (N, C, O, H=W, kernel, padding) of the convolutions; the gradients are
        // taken for a loss whose output gradient is all ones.
        let convolutions = [
            (32, 3, 32, 32, 3, 1),
            (32, 32, 64, 16, 3, 1),
            (8, 64, 64, 56, 3, 1),
            (32, 64, 128, 16, 1, 0),
        ];
        for (n, c_in, c_out, size, k, pad) in convolutions {
            let x = rand(&[n, c_in, size, size], 5, &device);
            let w = rand(&[c_out, c_in, k, k], 6, &device);
            let spec = Conv2dSpec {
                padding: (pad, pad),
                ..Conv2dSpec::default()
            };
            let flops = 2 * n * c_out * size * size * c_in * k * k;
            let shape = format!("{n}x{c_in}x{size}x{size}-{c_out}x{k}x{k}");
            let conv = |x: &Tensor, w: &Tensor| x.conv2d(w, None, &spec).expect("conv2d");
            bench(
                c,
                &format!("conv2d/{dev}/{shape}"),
                Throughput::Elements(flops as u64),
                &device,
                &|| conv(&x, &w),
            );
            x.set_requires_grad(true);
            w.set_requires_grad(true);
            let gradient = |wrt_input: bool| {
                let target = if wrt_input { &x } else { &w };
                let loss = conv(&x, &w).sum(&[], false).expect("loss");
                lepton::grad(&loss, &[target]).expect("gradient").remove(0)
            };
            for (name, wrt_input) in [("conv2d_grad_input", true), ("conv2d_grad_weight", false)] {
                bench(
                    c,
                    &format!("{name}/{dev}/{shape}"),
                    Throughput::Elements(flops as u64),
                    &device,
                    &|| gradient(wrt_input),
                );
            }
        }
        // Pooling a CNN's feature maps; bytes are those the kernel reads and writes: image
        // and output forward, and image, output, its gradient and the image's gradient
        // backward (the forward pass it needs is included in the time).
        let maps = rand(&[32, 64, 32, 32], 7, &device);
        let map_bytes = 4 * 32 * 64 * 32 * 32;
        let halving = Conv2dSpec {
            stride: (2, 2),
            ..Conv2dSpec::default()
        };
        let same = Conv2dSpec {
            padding: (1, 1),
            ..Conv2dSpec::default()
        };
        bench(
            c,
            &format!("max_pool2d/{dev}/32x64x32x32-2x2s2"),
            Throughput::Bytes(map_bytes * 5 / 4),
            &device,
            &|| maps.max_pool2d((2, 2), &halving).expect("max_pool2d"),
        );
        bench(
            c,
            &format!("avg_pool2d/{dev}/32x64x32x32-3x3p1"),
            Throughput::Bytes(map_bytes * 2),
            &device,
            &|| maps.avg_pool2d((3, 3), &same).expect("avg_pool2d"),
        );
        maps.set_requires_grad(true);
        bench(
            c,
            &format!("max_pool2d_grad/{dev}/32x64x32x32-2x2s2"),
            Throughput::Bytes(map_bytes * 5 / 2),
            &device,
            &|| {
                let loss = maps
                    .max_pool2d((2, 2), &halving)
                    .expect("max_pool2d")
                    .sum(&[], false);
                lepton::grad(&loss.expect("loss"), &[&maps])
                    .expect("gradient")
                    .remove(0)
            },
        );
        let big = rand(&[16 << 20], 3, &device);
        let bytes = (16u64 << 20) * 4;
        bench(
            c,
            &format!("copy/{dev}/16M"),
            Throughput::Bytes(2 * bytes),
            &device,
            &|| big.unary(lepton::UnaryOp::Neg),
        );
        bench(
            c,
            &format!("sum/{dev}/16M"),
            Throughput::Bytes(bytes),
            &device,
            &|| big.sum(&[], false).expect("sum"),
        );
        let square = rand(&[4096, 4096], 4, &device);
        bench(
            c,
            &format!("sum_rows/{dev}/4096x4096"),
            Throughput::Bytes(bytes),
            &device,
            &|| square.sum(&[1], false).expect("sum"),
        );
        bench(
            c,
            &format!("sum_cols/{dev}/4096x4096"),
            Throughput::Bytes(bytes),
            &device,
            &|| square.sum(&[0], false).expect("sum"),
        );
        bench(
            c,
            &format!("argmax_rows/{dev}/4096x4096"),
            Throughput::Bytes(bytes),
            &device,
            &|| square.argmax(Some(1), false).expect("argmax"),
        );
        bench(
            c,
            &format!("softmax/{dev}/4096x4096"),
            Throughput::Bytes(2 * bytes),
            &device,
            &|| square.softmax(-1).expect("softmax"),
        );
        // The baby GPT's per-step shapes: attention rows of 64 keys (batch 12, 4 heads), the
        // causal mask broadcast over them, LayerNorm's rows, those rows times their per-row scale, and
        // the MLP's GELU.
        let scores = rand(&[48, 64, 64], 8, &device);
        let rows_bytes = 4 * 48 * 64 * 64;
        bench(
            c,
            &format!("softmax/{dev}/3072x64"),
            Throughput::Bytes(2 * rows_bytes),
            &device,
            &|| scores.softmax(-1).expect("softmax"),
        );
        let causal = Tensor::ones(&[64, 64], DType::F32, &device)
            .and_then(|ones| ones.tril(0))
            .expect("causal mask");
        let minus_inf = Tensor::full(&[], f64::NEG_INFINITY, DType::F32, &device).expect("fill");
        bench(
            c,
            &format!("where_mask/{dev}/48x64x64"),
            Throughput::Bytes(2 * rows_bytes),
            &device,
            &|| causal.where_cond(&scores, &minus_inf).expect("where"),
        );
        let (activations, scale) = (rand(&[768, 128], 9, &device), rand(&[768, 1], 10, &device));
        bench(
            c,
            &format!("broadcast_mul/{dev}/768x128"),
            Throughput::Bytes(2 * 4 * 768 * 128),
            &device,
            &|| (&activations * &scale).expect("product"),
        );
        bench(
            c,
            &format!("layer_norm/{dev}/768x128"),
            Throughput::Bytes(2 * 4 * 768 * 128),
            &device,
            &|| activations.layer_norm(1e-5).expect("layer_norm"),
        );
        // The LSTM step's layer (benches/step.rs) forward: its input projection and scan.
        let lstm = Recurrent::new(
            CellKind::Lstm,
            RecurrentConfig::new(28, 128),
            12,
            DType::F32,
            &device,
        )
        .expect("lstm");
        let sequence = rand(&[28, 64, 28], 13, &device);
        bench(
            c,
            &format!("lstm/{dev}/28x64x128"),
            Throughput::Elements(2 * 28 * 64 * 4 * 128 * (28 + 128)),
            &device,
            &|| lstm.forward(&sequence).expect("lstm forward"),
        );
        let hidden = rand(&[768, 512], 11, &device);
        bench(
            c,
            &format!("gelu/{dev}/768x512"),
            Throughput::Bytes(2 * 4 * 768 * 512),
            &device,
            &|| hidden.unary(lepton::UnaryOp::Gelu),
        );
    }
}

criterion_group!(benches, kernels);
criterion_main!(benches);
