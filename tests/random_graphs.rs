//! Random graphs, CPU against GPU (#18). A seeded generator builds graphs of 2 to 30 ops
//! (elementwise ops with and without broadcasting, reductions, softmax, matrix products,
//! convolutions and pooling, views, copies, gathers and index selects at i32 positions,
//! casts through f16) on shapes whose sizes
//! include 1 and primes, realizes each graph's last value on both devices and compares the
//! two within a bound carried through the graph. Each value holds a bound on its magnitude
//! and one on how far the devices' values may be apart: an op passes its inputs' difference
//! on through its Lipschitz constant on its domain (first order), and adds its own error on
//! each device (for the GPU's builtins, WGSL's accuracy rules as tests/elementwise.rs
//! derives them; sums and products, their worst-case rounding). Realizing the same graph
//! again gives the same bits from the plan already cached.
//!
//! Each graph's seed is printed on failure: `LEPTON_GRAPH_SEED=s` replays graph s alone;
//! `LEPTON_GRAPHS=n` runs n graphs instead of the default.

mod common;

use common::splitmix::Rng;
use common::{gpu, U16, U32};
use lepton::nn::Conv2dSpec;
use lepton::{BinaryOp, DType, Device, Result, Tensor, UnaryOp};

/// Graphs per run: 500 take some 20 s on the software device.
const GRAPHS: u64 = 500;
/// Sizes an axis draws from: 1, small primes, powers of two and one past.
const SIZES: [usize; 10] = [1, 2, 3, 4, 5, 7, 8, 13, 16, 17];
/// Past this magnitude the next op is a squashing one (tanh or sigmoid).
const LARGE: f64 = 1e4;

/// One value of the graph on both devices, and the bounds its comparison uses.
#[derive(Clone)]
struct Value {
    cpu: Tensor,
    gpu: Tensor,
    /// Bound on |x|.
    magnitude: f64,
    /// Bound on |cpu − gpu|.
    error: f64,
}

impl Value {
    fn shape(&self) -> Vec<usize> {
        self.cpu.shape().to_vec()
    }

    fn rank(&self) -> usize {
        self.cpu.rank()
    }
}

struct Graph {
    rng: Rng,
    devices: [Device; 2],
    values: Vec<Value>,
    /// What each op was, for the failure message.
    log: Vec<String>,
    /// Ops applied so far.
    ops: usize,
}

/// A unary op's derivative bound on [−m, m], its output's magnitude, and its own absolute
/// error on both devices together for an output of magnitude `out`; None outside the
/// domain its error bound holds on.
fn unary_bounds(op: UnaryOp, m: f64) -> Option<(f64, f64, f64)> {
    // The CPU path's f32 libm functions are within a few ulp of their value.
    let libm = |out: f64| 1e-7 + 4.0 * U32 * out;
    Some(match op {
        UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Relu => (1.0, m, 0.0),
        UnaryOp::Square => (2.0 * m, m * m, 2.0 * U32 * m * m),
        UnaryOp::Tanh => (1.0, m.min(1.0), 1e-6 + 2e-6 * m.min(1.0) + libm(1.0)),
        UnaryOp::Sigmoid => (0.25, 1.0, 1e-7 + 3.2e-6 + libm(1.0)),
        UnaryOp::Sin if m <= std::f64::consts::PI => (1.0, 1.0, 4.9e-4 + libm(1.0)),
        UnaryOp::Exp if m <= 10.0 => (m.exp(), m.exp(), 2.8e-6 * m.exp() + libm(m.exp())),
        UnaryOp::Gelu if m <= 4.0 => (1.13, m, 2e-6 + 3e-6 * m + 4e-7 + 4.0 * U32 * m),
        UnaryOp::Silu if m <= 10.0 => (1.1, m, 1e-7 + 3.2e-6 * m + libm(m)),
        _ => return None,
    })
}

const UNARY: [UnaryOp; 10] = [
    UnaryOp::Neg,
    UnaryOp::Abs,
    UnaryOp::Relu,
    UnaryOp::Square,
    UnaryOp::Tanh,
    UnaryOp::Sigmoid,
    UnaryOp::Sin,
    UnaryOp::Exp,
    UnaryOp::Gelu,
    UnaryOp::Silu,
];

const BINARY: [BinaryOp; 5] = [
    BinaryOp::Add,
    BinaryOp::Sub,
    BinaryOp::Mul,
    BinaryOp::Maximum,
    BinaryOp::Minimum,
];

impl Graph {
    fn new(seed: u64, devices: [Device; 2]) -> Graph {
        let mut graph = Graph {
            rng: Rng(seed),
            devices,
            values: Vec::new(),
            log: Vec::new(),
            ops: 0,
        };
        let rank = graph.rng.pick(&[1, 2, 2, 3, 4]);
        let shape: Vec<usize> = (0..rank).map(|_| graph.rng.pick(&SIZES)).collect();
        let first = graph.leaf(&shape);
        graph.values.push(first);
        graph
    }

    /// A new input of `shape`, values uniform in [−1, 1), the same on both devices.
    fn leaf(&mut self, shape: &[usize]) -> Value {
        let n: usize = shape.iter().product();
        let host: Vec<f32> = (0..n).map(|_| self.rng.signed_unit() as f32).collect();
        self.log.push(format!("leaf {shape:?}"));
        let [cpu, gpu] = self
            .devices
            .clone()
            .map(|d| Tensor::from_vec(host.clone(), shape, &d).expect("a leaf"));
        Value {
            cpu,
            gpu,
            magnitude: 1.0,
            error: 0.0,
        }
    }

    /// `f` on both devices' tensors of `inputs`.
    fn on_both(&self, inputs: &[&Value], f: impl Fn(&[&Tensor]) -> Result<Tensor>) -> [Tensor; 2] {
        let cpu: Vec<&Tensor> = inputs.iter().map(|v| &v.cpu).collect();
        let gpu: Vec<&Tensor> = inputs.iter().map(|v| &v.gpu).collect();
        let what = self.log.last().cloned().unwrap_or_default();
        [cpu, gpu].map(|ts| f(&ts).unwrap_or_else(|e| panic!("{what}: {e}")))
    }

    fn push(&mut self, [cpu, gpu]: [Tensor; 2], magnitude: f64, error: f64) {
        self.ops += 1;
        self.values.push(Value {
            cpu,
            gpu,
            magnitude,
            error,
        });
    }

    /// One more op, on one of the last three values.
    fn grow(&mut self) {
        let at = self.values.len() - 1 - self.rng.below(self.values.len().min(3));
        let v = self.values[at].clone();
        if v.magnitude > LARGE {
            let squash = self.rng.pick(&[UnaryOp::Tanh, UnaryOp::Sigmoid]);
            return self.unary(&v, squash);
        }
        match self.rng.below(12) {
            0..=2 => {
                let op = self.rng.pick(&UNARY);
                self.unary(&v, op)
            }
            3..=4 => self.binary(&v),
            5 => self.reduce(&v),
            6 => self.softmax(&v),
            7 => self.matmul(&v),
            8 => self.convolve(&v),
            9 => self.cast(&v),
            _ => self.movement(&v),
        }
    }

    fn unary(&mut self, v: &Value, op: UnaryOp) {
        // Outside its domain, an op whose bound holds everywhere.
        let (op, (lipschitz, magnitude, own)) = match unary_bounds(op, v.magnitude) {
            Some(bounds) => (op, bounds),
            None => (
                UnaryOp::Tanh,
                unary_bounds(UnaryOp::Tanh, v.magnitude).expect("tanh's bound holds everywhere"),
            ),
        };
        self.log.push(format!("{op:?}"));
        let out = self.on_both(&[v], |t| Ok(t[0].unary(op)));
        self.push(out, magnitude, lipschitz * v.error + own);
    }

    /// With a new input of the same shape, or one that broadcasts over some axes.
    fn binary(&mut self, v: &Value) {
        let op = self.rng.pick(&BINARY);
        let mut shape = v.shape();
        for size in shape.iter_mut() {
            if self.rng.below(3) == 0 {
                *size = 1;
            }
        }
        let other = self.leaf(&shape);
        self.log.push(format!("{op:?} with {shape:?}"));
        let out = self.on_both(&[v, &other], |t| t[0].binary(op, t[1]));
        let (m1, m2) = (v.magnitude, other.magnitude);
        let (magnitude, error) = match op {
            BinaryOp::Add | BinaryOp::Sub => (m1 + m2, v.error + 2.0 * U32 * (m1 + m2)),
            BinaryOp::Mul => (m1 * m2, m2 * v.error + 2.0 * U32 * m1 * m2),
            _ => (m1.max(m2), v.error),
        };
        self.push(out, magnitude, error);
    }

    fn reduce(&mut self, v: &Value) {
        if v.rank() < 2 {
            return self.movement(v);
        }
        let axis = self.rng.below(v.rank());
        let (n, keep) = (v.shape()[axis] as f64, self.rng.below(2) == 0);
        let kind = self.rng.below(3);
        self.log
            .push(format!("{} over axis {axis}", ["sum", "mean", "max"][kind]));
        let a = [axis as isize];
        let out = self.on_both(&[v], |t| match kind {
            0 => t[0].sum(&a, keep),
            1 => t[0].mean(&a, keep),
            _ => t[0].max(&a, keep),
        });
        // Each device's sum is within n·u of Σ|x| (f32 worst case; the CPU's is closer).
        let (m, e) = (v.magnitude, v.error);
        let (magnitude, error) = match kind {
            0 => (n * m, n * e + 2.0 * n * U32 * n * m),
            1 => (m, e + 2.0 * (n + 1.0) * U32 * m),
            _ => (m, e),
        };
        self.push(out, magnitude, error);
    }

    /// Along the last axis. Its Jacobian's rows sum to 2·s(1 − s) ≤ 1/2 in absolute value;
    /// each device's exp of arguments down to −2m is within (3 + 4m) ulp (WGSL), the sum
    /// within n ulp and the division within 2.5.
    fn softmax(&mut self, v: &Value) {
        let n = *v.shape().last().expect("a rank ≥ 1 value") as f64;
        self.log.push("softmax".into());
        let out = self.on_both(&[v], |t| t[0].softmax(-1));
        let own = 2.0 * U32 * (3.0 + 4.0 * v.magnitude + n + 2.5) + 4.0 * U32;
        self.push(out, 1.0, 0.5 * v.error + own);
    }

    /// With a new right operand: [.., m, k]·[.., k, n] (a vector first becomes a row).
    /// Each device's dot products are within k·u of Σ|a||b| ≤ k·m1·m2.
    fn matmul(&mut self, v: &Value) {
        let v = if v.rank() == 1 {
            self.log.push("as a row".into());
            let row = self.on_both(&[v], |t| t[0].unsqueeze(0));
            self.push(row, v.magnitude, v.error);
            self.values.last().expect("the row").clone()
        } else {
            v.clone()
        };
        let mut shape = v.shape();
        let k = shape[shape.len() - 1];
        shape[v.rank() - 2] = k;
        shape[v.rank() - 1] = self.rng.pick(&SIZES);
        let right = self.leaf(&shape);
        self.log.push(format!("matmul with {shape:?}"));
        let out = self.on_both(&[&v, &right], |t| t[0].matmul(t[1]));
        let k = k as f64;
        let magnitude = k * v.magnitude;
        self.push(out, magnitude, k * v.error + 2.0 * k * U32 * magnitude);
    }

    /// A rank-4 value [N, C, H, W] through a convolution with a new weight (3 output
    /// channels, kernel up to 3×3 within the padded image, stride 1 or 2, padding 0 or 1),
    /// or through 2×2 max pooling; other values become one such image first.
    fn convolve(&mut self, v: &Value) {
        let v = if v.rank() == 4 {
            v.clone()
        } else {
            let n = v.cpu.numel();
            let image = [1, 1, 1, n];
            self.log.push(format!("as an image {image:?}"));
            let reshaped = self.on_both(&[v], |t| t[0].reshape(&image.map(|s| s as isize)));
            self.push(reshaped, v.magnitude, v.error);
            self.values.last().expect("the image").clone()
        };
        let [_, c, h, w] = v.shape()[..] else {
            unreachable!("a rank-4 value")
        };
        let pad = self.rng.below(2);
        let spec = Conv2dSpec {
            stride: (1 + self.rng.below(2), 1 + self.rng.below(2)),
            padding: (pad, pad),
            ..Conv2dSpec::default()
        };
        if self.rng.below(4) == 0 && h >= 2 && w >= 2 {
            self.log.push("max pool 2×2".into());
            let out = self.on_both(&[&v], |t| {
                t[0].max_pool2d(
                    (2, 2),
                    &Conv2dSpec {
                        stride: (2, 2),
                        ..Conv2dSpec::default()
                    },
                )
            });
            return self.push(out, v.magnitude, v.error);
        }
        let kernel = (
            1 + self.rng.below(3.min(h + 2 * pad)),
            1 + self.rng.below(3.min(w + 2 * pad)),
        );
        let weight = self.leaf(&[3, c, kernel.0, kernel.1]);
        self.log.push(format!("conv2d {kernel:?} {spec:?}"));
        let out = self.on_both(&[&v, &weight], |t| t[0].conv2d(t[1], None, &spec));
        let k = (c * kernel.0 * kernel.1) as f64;
        let magnitude = k * v.magnitude;
        self.push(out, magnitude, k * v.error + 2.0 * k * U32 * magnitude);
    }

    /// Through f16 and back. WGSL lets a conversion to f16 take either neighbour of a value
    /// it cannot hold, so the devices may be an f16 ulp apart on top of their inputs'
    /// difference.
    fn cast(&mut self, v: &Value) {
        self.log.push("through f16".into());
        let out = self.on_both(&[v], |t| t[0].cast(DType::F16)?.cast(DType::F32));
        self.push(out, v.magnitude, v.error + 2.0 * U16 * v.magnitude);
    }

    /// A transpose, a stepped slice, a reshape, a concat with a new input, a gather or an
    /// index_select at i32 positions, a broadcast of a size-1 axis, or a copy: the values
    /// move, so the bounds stay.
    fn movement(&mut self, v: &Value) {
        let shape = v.shape();
        let rank = v.rank();
        let axis = self.rng.below(rank);
        let (out, magnitude) = match self.rng.below(8) {
            0 if rank >= 2 => {
                let other = (axis + 1 + self.rng.below(rank - 1)) % rank;
                self.log.push(format!("transpose {axis} {other}"));
                (
                    self.on_both(&[v], |t| t[0].transpose(axis as isize, other as isize)),
                    v.magnitude,
                )
            }
            1 => {
                let size = shape[axis];
                let start = self.rng.below(size);
                let end = start + 1 + self.rng.below(size - start);
                let step = 1 + self.rng.below(2);
                self.log
                    .push(format!("slice {axis} {start}..{end} by {step}"));
                let out = self.on_both(&[v], |t| {
                    t[0].slice(axis as isize, start as isize, end as isize, step)
                });
                (out, v.magnitude)
            }
            2 => {
                self.log.push("flatten".into());
                (self.on_both(&[v], |t| t[0].reshape(&[-1])), v.magnitude)
            }
            3 => {
                let mut other_shape = shape.clone();
                other_shape[axis] = self.rng.pick(&SIZES);
                let other = self.leaf(&other_shape);
                self.log.push(format!("concat along {axis}"));
                let out = self.on_both(&[v, &other], |t| {
                    Tensor::concat(&[t[0], t[1]], axis as isize)
                });
                (out, v.magnitude.max(other.magnitude))
            }
            5 | 6 => {
                // Positions along the axis in i32, the same on both devices: index_select's
                // list of slices, or gather's index of at most the input's shape.
                let size = shape[axis];
                let gather = self.rng.below(2) == 0;
                let index_shape: Vec<usize> = if gather {
                    shape.iter().map(|&s| 1 + self.rng.below(s)).collect()
                } else {
                    vec![self.rng.pick(&SIZES)]
                };
                let n: usize = index_shape.iter().product();
                let positions: Vec<i32> = (0..n).map(|_| self.rng.below(size) as i32).collect();
                let [cpu, gpu] = self.devices.clone().map(|d| {
                    Tensor::from_vec(positions.clone(), &index_shape, &d).expect("positions")
                });
                let kind = if gather { "gather" } else { "index_select" };
                self.log
                    .push(format!("{kind} along {axis} at {index_shape:?}"));
                let a = axis as isize;
                let out = [(&v.cpu, &cpu), (&v.gpu, &gpu)].map(|(t, at)| {
                    let r = if gather {
                        t.gather(a, at)
                    } else {
                        t.index_select(a, at)
                    };
                    r.unwrap_or_else(|e| panic!("{kind}: {e}"))
                });
                (out, v.magnitude)
            }
            4 if shape.contains(&1) => {
                let to: Vec<usize> = shape
                    .iter()
                    .map(|&s| if s == 1 { self.rng.pick(&SIZES) } else { s })
                    .collect();
                self.log.push(format!("broadcast to {to:?}"));
                (self.on_both(&[v], |t| t[0].broadcast_to(&to)), v.magnitude)
            }
            _ => {
                self.log.push("contiguous".into());
                (self.on_both(&[v], |t| Ok(t[0].contiguous())), v.magnitude)
            }
        };
        self.push(out, magnitude, v.error);
    }
}

/// Graph `seed` on `devices` (CPU first), grown to its op count, and its last value.
fn build(seed: u64, devices: &[Device; 2]) -> Graph {
    let mut graph = Graph::new(seed, devices.clone());
    let ops = 2 + graph.rng.below(29);
    while graph.ops < ops {
        graph.grow();
    }
    graph
}

fn host(t: &Tensor) -> Vec<f32> {
    t.to_vec::<f32>().expect("a realized f32 value")
}

/// Graph `seed`: the devices agree within its bound, and the graph built again realizes
/// to the same bits from the cached plan. Returns the largest difference as a share of
/// the bound, or a failure's description.
fn check(seed: u64, devices: &[Device; 2]) -> std::result::Result<f64, String> {
    let graph = build(seed, devices);
    let last = graph.values.last().expect("a value");
    let (cpu, gpu) = (host(&last.cpu), host(&last.gpu));
    let story = || format!("graph {seed}: {}", graph.log.join(" → "));
    let worst = cpu
        .iter()
        .zip(&gpu)
        .map(|(c, g)| (*c as f64 - *g as f64).abs())
        .fold(0.0, f64::max);
    if cpu.len() != gpu.len() || worst.is_nan() || worst > last.error {
        return Err(format!(
            "{}: |cpu − gpu| reached {worst:e}, bound {:e}",
            story(),
            last.error
        ));
    }
    let again = build(seed, devices);
    let before = lepton::stats();
    let replayed = again.values.last().expect("a value");
    let (cpu2, gpu2) = (host(&replayed.cpu), host(&replayed.gpu));
    let built = lepton::stats().plans_built - before.plans_built;
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    if bits(&cpu) != bits(&cpu2) || bits(&gpu) != bits(&gpu2) || built != 0 {
        return Err(format!(
            "{}: a second realization differs or built {built} plans",
            story()
        ));
    }
    Ok(if last.error > 0.0 {
        worst / last.error
    } else {
        0.0
    })
}

#[test]
fn random_graphs_agree_across_devices_and_replay_bit_for_bit() {
    let Some(gpu) = gpu() else { return };
    let devices = [Device::cpu(), gpu];
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    let seeds: Vec<u64> = match env("LEPTON_GRAPH_SEED") {
        Some(seed) => vec![seed],
        None => (0..env("LEPTON_GRAPHS").unwrap_or(GRAPHS)).collect(),
    };
    let (mut failures, mut tightest) = (Vec::new(), 0f64);
    for &seed in &seeds {
        match check(seed, &devices) {
            Ok(share) => tightest = tightest.max(share),
            Err(failure) => failures.push(failure),
        }
    }
    println!(
        "{} random graphs, {} disagreed; the closest came to {:.1}% of its bound",
        seeds.len(),
        failures.len(),
        100.0 * tightest
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
