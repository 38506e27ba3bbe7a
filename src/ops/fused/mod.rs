//! Fused elementwise kernels: a chain of elementwise ops evaluated in one pass, built by
//! the planner (`plan::fuse`) from steps that only feed each other. Each input is dense or a
//! broadcast scalar. The CPU path interprets the expression block by block through the op
//! tables' functions; the GPU path generates WGSL from the tables' expressions, so one table
//! still defines each op. Intermediates stay in f32 (f64 on the CPU path for f64).

use std::collections::BTreeMap;

use rayon::prelude::*;

mod program;

use program::Program;

use super::elementwise::variant;
use super::real::{Compute, Real};
use super::{Arg, BinaryOp, Dispatch, Lowering, ShaderFile, ShaderVariant, StepDesc, UnaryOp};
use crate::backend::cpu::strided::PARALLEL_THRESHOLD;
use crate::backend::cpu::{with_dtype, CpuData};
use crate::dtype::DType;
use crate::error::Result;
use crate::shape::Layout;

/// The most inputs one fused kernel reads: with the output, 8 storage bindings, WebGPU's
/// guaranteed minimum per shader stage (the parameters are a uniform binding).
pub(crate) const MAX_INPUTS: usize = 7;

/// Binding numbers of inputs 0..7 in elementwise.wgsl and elementwise_vec4.wgsl.
const BINDINGS: [u32; MAX_INPUTS] = [1, 2, 3, 5, 6, 7, 8];

/// Elements per block of the CPU interpreter.
const BLOCK: usize = 256;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Expr {
    Input(usize),
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
    /// Renumber inputs through `map`.
    pub fn remap(&self, map: &[usize]) -> Expr {
        match self {
            Expr::Input(k) => Expr::Input(map[*k]),
            Expr::Unary(op, a) => Expr::Unary(*op, Box::new(a.remap(map))),
            Expr::Binary(op, a, b) => {
                Expr::Binary(*op, Box::new(a.remap(map)), Box::new(b.remap(map)))
            }
            Expr::Where(c, a, b) => Expr::Where(
                Box::new(c.remap(map)),
                Box::new(a.remap(map)),
                Box::new(b.remap(map)),
            ),
        }
    }

    /// The number of ops in the expression.
    pub fn ops(&self) -> usize {
        match self {
            Expr::Input(_) => 0,
            Expr::Unary(_, a) => 1 + a.ops(),
            Expr::Binary(_, a, b) => 1 + a.ops() + b.ops(),
            Expr::Where(c, a, b) => 1 + c.ops() + a.ops() + b.ops(),
        }
    }

    /// WGSL for the expression over values of type `ty`, adding each op's function to `fns`.
    fn emit(&self, ty: &str, fns: &mut BTreeMap<String, String>) -> String {
        match self {
            Expr::Input(k) => format!("v{k}"),
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

    /// The generated `fused_op` of the elementwise shaders, with the functions it calls.
    fn wgsl(&self, inputs: usize, ty: &str) -> String {
        let mut fns = BTreeMap::new();
        let body = self.emit(ty, &mut fns);
        let loads: String = (0..inputs)
            .map(|k| format!("    let v{k} = in{k}(i);\n"))
            .collect();
        let helpers: Vec<String> = fns.into_values().collect();
        format!(
            "{}\nfn fused_op(i: u32) -> {ty} {{\n{loads}    return {body};\n}}",
            helpers.join("\n")
        )
    }
}

/// The shader variant that evaluates `expr` over `inputs` inputs, four at a time or one.
pub(crate) fn shader(
    expr: &Expr,
    inputs: usize,
    vectors: bool,
    input: DType,
    output: DType,
) -> ShaderVariant {
    let code = expr.wgsl(inputs, if vectors { "vec4<f32>" } else { "f32" });
    let file = if vectors {
        ShaderFile::ElementwiseVec4
    } else {
        ShaderFile::Elementwise
    };
    ShaderVariant {
        file,
        ..variant("fused", input, output, Some(&code))
    }
}

/// An expression that uses every table row, every input and `where`: rendering it covers
/// all the code fusion can generate.
pub(crate) fn every_op() -> Expr {
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
    Expr::Where(
        Box::new(e),
        Box::new(Expr::Input(MAX_INPUTS - 1)),
        Box::new(Expr::Input(1)),
    )
}

// inputs: dense [out shape] or broadcast scalars -> out: dense
pub(crate) fn run_cpu(
    expr: &Expr,
    step: &StepDesc,
    inputs: &[&CpuData],
    out: &mut CpuData,
) -> Result<()> {
    let program = Program::compile(expr);
    with_dtype!(step.out_dtype, T => {
        type C = <T as Compute>::C;
        let sources: Vec<(&[T], bool)> = inputs
            .iter()
            .zip(&step.inputs)
            .map(|(data, (_, layout))| (&data.slice::<T>()[layout.offset..], !is_scalar(layout)))
            .collect();
        // One task's pass over its part. A scalar's block is filled once; a dense input is
        // read in place, or converted block by block where its type is not the compute type.
        let run = |start: usize, dst: &mut [T]| {
            let mut blocks: Vec<Vec<C>> = sources
                .iter()
                .map(|(data, dense)| match dense {
                    false => vec![data[0].load(); BLOCK],
                    true if T::as_compute(data).is_none() => vec![C::k(0.0); BLOCK],
                    true => Vec::new(),
                })
                .collect();
            let mut regs = vec![vec![C::k(0.0); BLOCK]; program.registers()];
            for (b, block) in dst.chunks_mut(BLOCK).enumerate() {
                let (first, n) = (start + b * BLOCK, block.len());
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
                let result = program.run(n, &input, &mut regs);
                let values = program::read(result, n, &input, &regs);
                block.iter_mut().zip(values).for_each(|(o, r)| *o = T::store(*r));
            }
        };
        let dst = out.slice_mut::<T>();
        if dst.len() < PARALLEL_THRESHOLD {
            run(0, dst);
        } else {
            let chunk = 16 * BLOCK;
            dst.par_chunks_mut(chunk).enumerate().for_each(|(c, part)| run(c * chunk, part));
        }
    });
    Ok(())
}

pub(crate) fn lower(expr: &Expr, step: &StepDesc) -> Lowering {
    let n: usize = step.out_shape.iter().product();
    let dense: Vec<bool> = step.inputs.iter().map(|(_, l)| !is_scalar(l)).collect();
    // Four at a time when every dense input starts on a multiple of 4.
    let vectors = step
        .inputs
        .iter()
        .zip(&dense)
        .all(|((_, l), d)| !d || l.offset % 4 == 0);
    let count = if vectors { n.div_ceil(4) } else { n };
    // The parameter block's size in each shader: 4 vectors, or 13 in the one-at-a-time file.
    let mut params = vec![0u32; if vectors { 16 } else { 52 }];
    params[0] = count as u32;
    for (k, ((_, l), d)) in step.inputs.iter().zip(&dense).enumerate() {
        params[1] |= (*d as u32) << k;
        params[2 + k] = if *d && vectors {
            l.offset / 4
        } else {
            l.offset
        } as u32;
    }
    let input = step.inputs.first().map_or(step.out_dtype, |(d, _)| *d);
    let mut bindings: Vec<(u32, Arg)> = (0..step.inputs.len())
        .map(|k| (BINDINGS[k], Arg::Input(k)))
        .collect();
    bindings.push((4, Arg::Output));
    Lowering::of(vec![Dispatch {
        variant: shader(expr, step.inputs.len(), vectors, input, step.out_dtype),
        params,
        bindings,
        workgroups: count.div_ceil(256) as u32,
    }])
}
