//! Shared test harness: the devices to run on, an independent f64 reference (plain index
//! loops, none of the engine's code), seeded data and the one tolerance contract.
#![allow(dead_code)]

pub mod cli;
pub mod convolutions;
pub mod corpus;
pub mod host_device;
pub mod numpy_fixtures;
pub mod products;
pub mod splitmix;
pub mod trained;

use lepton::{DType, Device, Tensor};

/// One test body, one test per device: `on_every_device! { fn name(device) { ... } }` makes
/// `name::cpu` and `name::gpu`, so each device's failure is reported on its own and
/// `cargo test gpu` selects the GPU tests. The GPU test skips loudly without an adapter, or
/// fails under LEPTON_REQUIRE_GPU=1 (see [`gpu`]).
// Not every test file uses it.
#[allow(unused_macros)]
macro_rules! on_every_device {
    ($(#[$meta:meta])* fn $name:ident($device:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            $(#[$meta])*
            #[test]
            fn cpu() {
                let $device = lepton::Device::cpu();
                $body
            }

            $(#[$meta])*
            #[test]
            fn gpu() {
                if let Some($device) = super::common::gpu() {
                    $body
                }
            }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use on_every_device;

/// f32 unit roundoff (half an ulp of 1.0).
pub const U32: f64 = 5.96e-8;
/// f16 unit roundoff.
pub const U16: f64 = 4.89e-4;

/// The CPU path, and the GPU when an adapter exists. Without one the GPU part is skipped
/// loudly, or fails when LEPTON_REQUIRE_GPU=1 (as in CI). Kernels are the fixed defaults,
/// never chosen by timing, so results do not depend on the machine's load.
pub fn devices() -> Vec<Device> {
    let mut out = vec![Device::cpu()];
    if let Some(gpu) = gpu() {
        out.push(gpu);
    }
    out
}

pub fn gpu() -> Option<Device> {
    lepton::autotune::set_enabled(false);
    match Device::gpu() {
        Ok(d) => Some(d),
        Err(e) => {
            if std::env::var("LEPTON_REQUIRE_GPU").as_deref() == Ok("1") {
                panic!("LEPTON_REQUIRE_GPU=1 but no GPU adapter: {e}");
            }
            eprintln!("SKIPPED GPU PART: no GPU adapter ({e})");
            None
        }
    }
}

/// Seeded values uniform in [lo, hi).
pub fn data(n: usize, seed: u64, lo: f64, hi: f64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            lo + (hi - lo) * ((s >> 11) as f64 / (1u64 << 53) as f64)
        })
        .collect()
}

pub fn tensor(values: &[f64], shape: &[usize], dtype: DType, device: &Device) -> Tensor {
    match dtype {
        DType::F64 => Tensor::from_vec(values.to_vec(), shape, device),
        DType::F32 => Tensor::from_vec(values.iter().map(|&v| v as f32).collect(), shape, device),
        DType::F16 => Tensor::from_vec(
            values.iter().map(|&v| half::f16::from_f64(v)).collect(),
            shape,
            device,
        ),
        DType::I32 => Tensor::from_vec(values.iter().map(|&v| v as i32).collect(), shape, device),
    }
    .expect("valid test tensor")
}

pub fn values(t: &Tensor) -> Vec<f64> {
    match t.dtype() {
        DType::F64 => t.to_vec::<f64>().expect("read"),
        DType::F32 => t
            .to_vec::<f32>()
            .expect("read")
            .into_iter()
            .map(f64::from)
            .collect(),
        DType::F16 => t
            .to_vec::<half::f16>()
            .expect("read")
            .into_iter()
            .map(f64::from)
            .collect(),
        DType::I32 => t
            .to_vec::<i32>()
            .expect("read")
            .into_iter()
            .map(f64::from)
            .collect(),
    }
}

/// Values rounded to `dtype`, so references start from exactly the inputs the engine sees.
pub fn rounded(values: &[f64], dtype: DType) -> Vec<f64> {
    values
        .iter()
        .map(|&v| match dtype {
            DType::F64 => v,
            DType::F32 => v as f32 as f64,
            DType::F16 => half::f16::from_f64(v).to_f64(),
            DType::I32 => v as i32 as f64,
        })
        .collect()
}

/// |got − want| ≤ atol + rtol·|want| elementwise; NaN matches NaN, ±inf matches itself.
/// A failure names the worst index and the first mismatches.
#[track_caller]
/// Between two `lepton::stats()` readings, no plan built, pipeline created or buffer
/// allocated.
pub fn assert_built_nothing(before: &lepton::Stats, after: &lepton::Stats, what: &str) {
    assert_eq!(after.plans_built, before.plans_built, "plans: {what}");
    assert_eq!(
        after.pipelines_created, before.pipelines_created,
        "pipelines: {what}"
    );
    assert_eq!(
        after.buffers_allocated, before.buffers_allocated,
        "buffers: {what}"
    );
}

pub fn assert_close(got: &[f64], want: &[f64], atol: f64, rtol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let mut bad = Vec::new();
    let mut worst = (0usize, 0.0f64);
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let ok = if w.is_nan() || w.is_infinite() {
            (g.is_nan() && w.is_nan()) || g == w
        } else {
            (g - w).abs() <= atol + rtol * w.abs()
        };
        let excess = if ok {
            0.0
        } else {
            ((g - w).abs() - atol - rtol * w.abs()).max(f64::MIN_POSITIVE)
        };
        if !ok {
            if bad.len() < 5 {
                bad.push(format!("[{i}] got {g} want {w}"));
            }
            if excess > worst.1 || worst.1 == 0.0 {
                worst = (i, excess);
            }
        }
    }
    assert!(
        bad.is_empty(),
        "{what}: mismatches (atol {atol:e}, rtol {rtol:e}); worst at [{}]: got {} want {}; first: {}",
        worst.0,
        got[worst.0],
        want[worst.0],
        bad.join(", ")
    );
}

/// A dense row-major f64 array: the independent reference.
#[derive(Clone, Debug)]
pub struct Nd {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        s[d] = s[d + 1] * shape[d + 1];
    }
    s
}

pub fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        idx[d] = i % shape[d];
        i /= shape[d];
    }
    idx
}

impl Nd {
    pub fn new(shape: &[usize], data: Vec<f64>) -> Nd {
        assert_eq!(shape.iter().product::<usize>(), data.len());
        Nd {
            shape: shape.to_vec(),
            data,
        }
    }

    pub fn at(&self, idx: &[usize]) -> f64 {
        let s = strides(&self.shape);
        self.data[idx.iter().zip(&s).map(|(i, s)| i * s).sum::<usize>()]
    }

    /// The element a broadcast to `shape` reads at `idx`.
    pub fn at_broadcast(&self, idx: &[usize]) -> f64 {
        let lead = idx.len() - self.shape.len();
        let own: Vec<usize> = (0..self.shape.len())
            .map(|d| if self.shape[d] == 1 { 0 } else { idx[lead + d] })
            .collect();
        self.at(&own)
    }

    pub fn map(&self, f: impl Fn(f64) -> f64) -> Nd {
        Nd::new(&self.shape, self.data.iter().map(|&v| f(v)).collect())
    }

    pub fn permute(&self, axes: &[usize]) -> Nd {
        let shape: Vec<usize> = axes.iter().map(|&a| self.shape[a]).collect();
        let n = self.data.len();
        let data = (0..n)
            .map(|i| {
                let idx = unravel(i, &shape);
                let mut src = vec![0; axes.len()];
                for (k, &a) in axes.iter().enumerate() {
                    src[a] = idx[k];
                }
                self.at(&src)
            })
            .collect();
        Nd::new(&shape, data)
    }

    /// Python's a[start:end:step] along `axis` for non-negative, in-range bounds.
    pub fn slice(&self, axis: usize, start: usize, end: usize, step: usize) -> Nd {
        let mut shape = self.shape.clone();
        shape[axis] = if end > start {
            (end - start).div_ceil(step)
        } else {
            0
        };
        let n = shape.iter().product();
        let data = (0..n)
            .map(|i| {
                let mut idx = unravel(i, &shape);
                idx[axis] = start + idx[axis] * step;
                self.at(&idx)
            })
            .collect();
        Nd::new(&shape, data)
    }
}

pub fn broadcast_shape(a: &[usize], b: &[usize]) -> Vec<usize> {
    let r = a.len().max(b.len());
    (0..r)
        .map(|i| {
            let da = if i + a.len() >= r {
                a[i + a.len() - r]
            } else {
                1
            };
            let db = if i + b.len() >= r {
                b[i + b.len() - r]
            } else {
                1
            };
            da.max(db)
        })
        .collect()
}

pub fn zip_nd(a: &Nd, b: &Nd, f: impl Fn(f64, f64) -> f64) -> Nd {
    let shape = broadcast_shape(&a.shape, &b.shape);
    let n = shape.iter().product();
    let data = (0..n)
        .map(|i| {
            let idx = unravel(i, &shape);
            f(a.at_broadcast(&idx), b.at_broadcast(&idx))
        })
        .collect();
    Nd::new(&shape, data)
}

/// erf by its Taylor series (converges for all x; 1e-12 accurate for |x| < 4, where
/// erfc < 1.6e-8 takes over). Independent of the engine's rational approximation.
pub fn erf(x: f64) -> f64 {
    if x.abs() >= 4.0 {
        return x.signum();
    }
    let mut term = x;
    let mut sum = x;
    for n in 1..200 {
        term *= -x * x / n as f64;
        sum += term / (2 * n + 1) as f64;
    }
    sum * 2.0 / std::f64::consts::PI.sqrt()
}

/// A module's gradients against central differences on the CPU path in f64: the loss
/// L = Σ w ⊙ forward(x), for fixed weights w in [0.5, 1.5] and an input of values `x` and
/// shape `shape`, differentiated with respect to the input and to every parameter in
/// `params` (step 1e-6: truncation ~1e-12, rounding ~1e-10·|L|, so 1e-6 absolute plus 1e-5
/// relative).
pub fn gradcheck_module(
    what: &str,
    forward: &dyn Fn(&Tensor) -> lepton::Result<Tensor>,
    (x, shape): (&[f64], &[usize]),
    params: &[(String, lepton::nn::Parameter)],
) {
    let device = Device::cpu();
    let loss = |input: &Tensor| {
        let y = forward(input).unwrap();
        let w = tensor(
            &data(y.numel(), 99, 0.5, 1.5),
            y.shape(),
            DType::F64,
            &device,
        );
        y.mul(&w).unwrap().sum(&[], false).unwrap()
    };
    let input = tensor(x, shape, DType::F64, &device);
    input.set_requires_grad(true);
    let mut leaves = vec![input.clone()];
    leaves.extend(params.iter().map(|(_, p)| p.get()));
    let analytic = lepton::grad(&loss(&input), &leaves.iter().collect::<Vec<_>>()).unwrap();
    let h = 1e-6;
    let difference = |eval: &dyn Fn(f64) -> f64| (eval(h) - eval(-h)) / (2.0 * h);
    let numeric: Vec<f64> = (0..x.len())
        .map(|i| {
            difference(&|d| {
                let mut v = x.to_vec();
                v[i] += d;
                loss(&tensor(&v, shape, DType::F64, &device))
                    .item::<f64>()
                    .unwrap()
            })
        })
        .collect();
    assert_close(
        &values(&analytic[0]),
        &numeric,
        1e-6,
        1e-5,
        &format!("{what}: input"),
    );
    for (k, (name, p)) in params.iter().enumerate() {
        let original = p.get();
        let base = values(&original);
        let numeric: Vec<f64> = (0..base.len())
            .map(|i| {
                difference(&|d| {
                    let mut v = base.clone();
                    v[i] += d;
                    p.set(tensor(&v, original.shape(), DType::F64, &device));
                    loss(&input).item::<f64>().unwrap()
                })
            })
            .collect();
        p.set(original);
        assert_close(
            &values(&analytic[k + 1]),
            &numeric,
            1e-6,
            1e-5,
            &format!("{what}: {name}"),
        );
    }
}

/// Every parameter's values, in the module's order: runs compared bit for bit.
pub fn parameter_values(model: &dyn lepton::nn::Module) -> Vec<Vec<f32>> {
    model
        .parameters()
        .into_iter()
        .map(|(_, p)| p.get().to_vec::<f32>().unwrap())
        .collect()
}

/// Host↔device traffic between two `lepton::stats()` readings: (uploads, bytes uploaded,
/// read-backs, bytes read back).
pub fn transfers(before: &lepton::Stats, after: &lepton::Stats) -> (u64, u64, u64, u64) {
    (
        after.uploads - before.uploads,
        after.bytes_uploaded - before.bytes_uploaded,
        after.read_backs - before.read_backs,
        after.bytes_read_back - before.bytes_read_back,
    )
}

/// Fail unless `device` still computes: after an error it must work on.
pub fn assert_works(device: &Device) {
    let ones = Tensor::ones(&[3], DType::F32, device).and_then(|t| t.to_vec::<f32>());
    assert_eq!(ones.unwrap(), vec![1.0; 3], "{device} works on");
}
