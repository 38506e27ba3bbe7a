//! Fused elementwise kernels: chains of elementwise ops evaluated in one pass, built by the
//! planner (`plan::fuse`) from steps that only feed each other, and several such chains of
//! one shape in one kernel with an output each (an optimizer's new moments and parameter).
//! A later output may use an earlier one's value. Each input is dense or a broadcast
//! scalar. The CPU path runs the expressions block by block through the op tables'
//! functions; the GPU path generates WGSL from the tables' expressions, so one table still
//! defines each op. Intermediates stay in f32 (f64 on the CPU path for f64).

use std::collections::BTreeMap;

use rayon::prelude::*;

mod cpu_program;

use cpu_program::Program;

use crate::dtype::DType;
use crate::error::Result;
use crate::ops::dispatch::{Arg, Dispatch, Lowering, ShaderVariant};
use crate::ops::elementwise::gpu::{set_source, variant, ElementwiseParams, ElementwiseVec4Params};
use crate::ops::elementwise::table::{BinaryOp, UnaryOp};
use crate::ops::op::StepDesc;
use crate::ops::params::Params;
use crate::ops::shader_files::ShaderFile;
use crate::shape::Layout;
use crate::storage::arithmetic::{Compute, Real};
use crate::storage::strided::PARALLEL_THRESHOLD;
use crate::storage::{with_float_dtype, CpuData};

/// The most inputs one fused kernel reads: their offsets fill the four-wide shader's
/// 16-word parameter block after the count and the dense mask.
pub(crate) const MAX_INPUTS: usize = 13;

/// The most outputs one fused kernel writes.
pub(crate) const MAX_OUTPUTS: usize = 4;

/// Binding numbers of inputs and outputs in elementwise.wgsl and elementwise_vec4.wgsl.
const INPUT_BINDINGS: [u32; MAX_INPUTS] = [1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14];
const OUTPUT_BINDINGS: [u32; MAX_OUTPUTS] = [4, 15, 16, 17];

/// The storage buffers in the shaders' output array names.
const OUTPUT_NAMES: [&str; MAX_OUTPUTS] = ["dst", "dst1", "dst2", "dst3"];

/// Elements per block of the CPU interpreter.
const BLOCK: usize = 256;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Expr {
    Input(usize),
    /// The kernel's value j, which comes before this one.
    Value(usize),
    Unary(UnaryOp, Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// cond, then, else
    Where(Box<Expr>, Box<Expr>, Box<Expr>),
}

/// Whether `layout` reads the step's output shape densely, or one value everywhere.
pub(crate) fn dense_or_scalar(layout: &Layout, shape: &[usize]) -> bool {
    is_scalar(layout) || (layout.shape == shape && layout.is_contiguous())
}

fn is_scalar(layout: &Layout) -> bool {
    layout.strides.iter().all(|&s| s == 0)
}

impl Expr {
    /// The expression with input k replaced by `map[k]` (another input, or a value).
    pub fn substitute(&self, map: &[Expr]) -> Expr {
        match self {
            Expr::Input(k) => map[*k].clone(),
            Expr::Value(j) => Expr::Value(*j),
            Expr::Unary(op, a) => Expr::Unary(*op, Box::new(a.substitute(map))),
            Expr::Binary(op, a, b) => Expr::Binary(
                *op,
                Box::new(a.substitute(map)),
                Box::new(b.substitute(map)),
            ),
            Expr::Where(c, a, b) => Expr::Where(
                Box::new(c.substitute(map)),
                Box::new(a.substitute(map)),
                Box::new(b.substitute(map)),
            ),
        }
    }

    /// The number of ops in the expression.
    pub fn ops(&self) -> usize {
        match self {
            Expr::Input(_) | Expr::Value(_) => 0,
            Expr::Unary(_, a) => 1 + a.ops(),
            Expr::Binary(_, a, b) => 1 + a.ops() + b.ops(),
            Expr::Where(c, a, b) => 1 + c.ops() + a.ops() + b.ops(),
        }
    }

    /// WGSL for the expression over values of type `ty`, adding each op's function to `fns`.
    fn emit(&self, ty: &str, fns: &mut BTreeMap<String, String>) -> String {
        match self {
            Expr::Input(k) => format!("v{k}"),
            Expr::Value(j) => format!("o{j}"),
            Expr::Unary(op, a) => {
                let name = format!("un_{}", op.name());
                fns.entry(name.clone()).or_insert_with(|| {
                    format!("fn {name}(x: {ty}) -> {ty} {{ return {}; }}", op.wgsl())
                });
                format!("{name}({})", a.emit(ty, fns))
            }
            Expr::Binary(op, a, b) => {
                let name = format!("bin_{}", op.name());
                fns.entry(name.clone()).or_insert_with(|| {
                    format!(
                        "fn {name}(a: {ty}, b: {ty}) -> {ty} {{ return {}; }}",
                        op.wgsl()
                    )
                });
                format!("{name}({}, {})", a.emit(ty, fns), b.emit(ty, fns))
            }
            Expr::Where(c, a, b) => {
                format!(
                    "select({}, {}, {} != {ty}(0.0))",
                    b.emit(ty, fns),
                    a.emit(ty, fns),
                    c.emit(ty, fns)
                )
            }
        }
    }
}

/// Elementwise expressions of one shape over shared inputs. Each value may read earlier
/// ones; the stored ones are the kernel's outputs, in order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Kernel {
    pub values: Vec<Expr>,
    pub stored: Vec<bool>,
}

impl Kernel {
    /// A kernel of one stored value.
    pub fn single(expr: Expr) -> Kernel {
        Kernel {
            values: vec![expr],
            stored: vec![true],
        }
    }

    pub fn outputs(&self) -> usize {
        self.stored.iter().filter(|&&s| s).count()
    }

    /// The generated `fused_store` of the elementwise shaders, with the functions it calls:
    /// it evaluates each output over values of type `ty` and stores it as `store` does.
    fn wgsl(&self, inputs: usize, ty: &str, store: &str) -> String {
        let mut fns = BTreeMap::new();
        let mut body: String = (0..inputs)
            .map(|k| format!("    let v{k} = in{k}(i);\n"))
            .collect();
        let mut stored = 0;
        for (j, e) in self.values.iter().enumerate() {
            body += &format!("    let o{j} = {};\n", e.emit(ty, &mut fns));
            if self.stored[j] {
                body += &format!("    {}[i] = {store}(o{j});\n", OUTPUT_NAMES[stored]);
                stored += 1;
            }
        }
        let helpers: Vec<String> = fns.into_values().collect();
        format!(
            "{}\nfn fused_store(i: u32) {{\n{body}}}",
            helpers.join("\n")
        )
    }
}

/// The shader variant that evaluates `kernel` over `inputs` inputs, four at a time or one.
pub(crate) fn shader(
    kernel: &Kernel,
    inputs: usize,
    vectors: bool,
    input: DType,
    output: DType,
) -> ShaderVariant {
    let (code, file) = if vectors {
        (
            kernel.wgsl(inputs, "vec4<f32>", "vec4<TO>"),
            ShaderFile::ElementwiseVec4,
        )
    } else {
        (kernel.wgsl(inputs, "f32", "TO"), ShaderFile::Elementwise)
    };
    ShaderVariant {
        file,
        ..variant("fused", input, output, Some(&code))
    }
}

/// A kernel that uses every table row, every input, every output, `where`, earlier values
/// and a value not stored: rendering it covers all the code fusion can generate.
pub(crate) fn every_op() -> Kernel {
    let mut e = Expr::Input(0);
    for &op in UnaryOp::ALL {
        e = Expr::Unary(op, Box::new(e));
    }
    for (i, &op) in BinaryOp::ALL.iter().enumerate() {
        e = Expr::Binary(
            op,
            Box::new(e),
            Box::new(Expr::Input(1 + i % (MAX_INPUTS - 2))),
        );
    }
    let first = Expr::Where(
        Box::new(e),
        Box::new(Expr::Input(MAX_INPUTS - 1)),
        Box::new(Expr::Input(1)),
    );
    let mut values = vec![first];
    for j in 1..=MAX_OUTPUTS {
        values.push(Expr::Binary(
            BinaryOp::Mul,
            Box::new(Expr::Value(j - 1)),
            Box::new(Expr::Input(j)),
        ));
    }
    let mut stored = vec![true; MAX_OUTPUTS + 1];
    stored[1] = false;
    Kernel { values, stored }
}

/// A worker's input blocks and registers (`run_cpu`).
type Scratch<C> = (Vec<Vec<C>>, Vec<Vec<C>>);

// inputs: dense [out shape] or broadcast scalars -> outs: dense, one per expression
pub(crate) fn run_cpu(
    kernel: &Kernel,
    step: &StepDesc,
    inputs: &[&CpuData],
    outs: &mut [CpuData],
) -> Result<()> {
    let program = Program::compile(kernel);
    with_float_dtype!(step.out_dtype, T => {
        type C = <T as Compute>::C;
        let sources: Vec<(&[T], bool)> = inputs
            .iter()
            .zip(&step.inputs)
            .map(|(data, (_, layout))| (&data.slice::<T>()[layout.offset..], !is_scalar(layout)))
            .collect();
        // A worker's blocks: each scalar's filled once; for each dense input whose type is
        // not the compute type, one it is converted into block by block (others are read in
        // place); and the program's registers. Made once per piece of work rayon splits off
        // (a few per worker), not per task: a step's kernels run thousands of tasks.
        let scratch = || -> Scratch<C> {
            let blocks = sources
                .iter()
                .map(|(data, dense)| match dense {
                    false => vec![data[0].load(); BLOCK],
                    true if T::as_compute(data).is_none() => vec![C::k(0.0); BLOCK],
                    true => Vec::new(),
                })
                .collect();
            (blocks, vec![vec![C::k(0.0); BLOCK]; program.registers()])
        };
        // One task's pass over its part of every output.
        let run = |(blocks, regs): &mut Scratch<C>, start: usize, mut dsts: Vec<&mut [T]>| {
            let len = dsts[0].len();
            for from in (0..len).step_by(BLOCK) {
                let (first, n) = (start + from, BLOCK.min(len - from));
                for (buf, (data, dense)) in blocks.iter_mut().zip(&sources) {
                    if *dense && !buf.is_empty() {
                        let src = &data[first..first + n];
                        buf[..n].iter_mut().zip(src).for_each(|(l, v)| *l = v.load());
                    }
                }
                let input = |k: usize| -> &[C] {
                    let (data, dense) = sources[k];
                    match T::as_compute(&data[first.min(data.len())..]) {
                        Some(values) if dense => values,
                        _ => &blocks[k],
                    }
                };
                program.run(n, &input, regs);
                let results = program.results().iter().zip(&kernel.stored).filter(|(_, s)| **s);
                for (dst, (&result, _)) in dsts.iter_mut().zip(results) {
                    let values = cpu_program::read(result, n, &input, regs);
                    dst[from..from + n].iter_mut().zip(values).for_each(|(o, r)| *o = T::store(*r));
                }
            }
        };
        let dsts: Vec<&mut [T]> = outs.iter_mut().map(|o| o.slice_mut::<T>()).collect();
        let len = dsts[0].len();
        if len < PARALLEL_THRESHOLD {
            run(&mut scratch(), 0, dsts);
        } else {
            // Task c takes the c-th chunk of every output.
            let chunk = 16 * BLOCK;
            let mut tasks: Vec<Vec<&mut [T]>> = (0..len.div_ceil(chunk)).map(|_| Vec::new()).collect();
            for dst in dsts {
                for (task, part) in tasks.iter_mut().zip(dst.chunks_mut(chunk)) {
                    task.push(part);
                }
            }
            tasks
                .into_par_iter()
                .enumerate()
                .for_each_init(scratch, |s, (c, parts)| run(s, c * chunk, parts));
        }
    });
    Ok(())
}

pub(crate) fn lower(kernel: &Kernel, step: &StepDesc) -> Lowering {
    let n: usize = step.out_shape.iter().product();
    let dense: Vec<bool> = step.inputs.iter().map(|(_, l)| !is_scalar(l)).collect();
    // Four at a time when every dense input starts on a multiple of 4.
    let vectors = step
        .inputs
        .iter()
        .zip(&dense)
        .all(|((_, l), d)| !d || l.offset % 4 == 0);
    let count = if vectors { n.div_ceil(4) } else { n };
    let (mut offsets, mut mask) = ([[0u32; 4]; 4], 0u32);
    for (k, ((_, l), d)) in step.inputs.iter().zip(&dense).enumerate() {
        let offset = if *d && vectors {
            l.offset / 4
        } else {
            l.offset
        };
        set_source(&mut offsets, &mut mask, k, (offset, *d));
    }
    let params = if vectors {
        Params::of(&ElementwiseVec4Params {
            offsets,
            count: count as u32,
            dense: mask,
            ..Default::default()
        })
    } else {
        Params::of(&ElementwiseParams {
            offsets,
            count: count as u32,
            dense: mask,
            ..Default::default()
        })
    };
    let input = step.inputs.first().map_or(step.out_dtype, |(d, _)| *d);
    let bindings: Vec<(u32, Arg)> = (0..step.inputs.len())
        .map(|k| (INPUT_BINDINGS[k], Arg::Input(k)))
        .chain((0..kernel.outputs()).map(|j| (OUTPUT_BINDINGS[j], Arg::Output(j))))
        .collect();
    Lowering::of(vec![Dispatch {
        variant: shader(kernel, step.inputs.len(), vectors, input, step.out_dtype),
        params,
        bindings,
        workgroups: count.div_ceil(256) as u32,
    }])
}
