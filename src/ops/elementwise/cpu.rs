//! The CPU path's elementwise kernels: every input read through its layout.

use crate::autotune::plain_cpu;
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::ops::elementwise::fused::{self, Expr, Kernel};
use crate::ops::op::Op;
use crate::ops::op::StepDesc;
use crate::shape::Layout;
use crate::storage::strided::{map_n, PARALLEL_THRESHOLD};
use crate::storage::transpose::copy_transposing;
use crate::storage::{with_dtype, with_float_dtype, CpuData};

/// Where a cast to i32 saturates: at the largest i32 that the source type holds, as WGSL
/// defines its conversions (f32 and f16: 2^31 − 128), so the devices agree.
fn largest_i32_in(from: DType) -> f64 {
    match from {
        DType::F64 | DType::I32 => i32::MAX as f64,
        DType::F16 | DType::F32 => (i32::MAX as f32).next_down() as f64,
    }
}

pub(crate) fn run_cpu(step: &StepDesc, inputs: &[&CpuData], out: &mut CpuData) -> Result<()> {
    let ins: Vec<&Layout> = step.inputs.iter().map(|(_, l)| *l).collect();
    // A lone op over dense inputs runs as a one-op fused kernel: the same table function
    // per element, but block by block in a loop built for AVX2, where `map_n`'s generic
    // loop is not (GELU alone took 8.6% of the GPT step). `LEPTON_CPU_KERNELS=plain`
    // keeps the plain loop below, the definition.
    let dense = !plain_cpu()
        && ins
            .iter()
            .all(|l| fused::dense_or_scalar(l, step.out_shape));
    let lone = match step.op {
        Op::Unary(op) => Some(Expr::Unary(*op, Box::new(Expr::Input(0)))),
        Op::Binary(op) if step.out_dtype.is_float() => Some(Expr::Binary(
            *op,
            Box::new(Expr::Input(0)),
            Box::new(Expr::Input(1)),
        )),
        _ => None,
    };
    if let (true, Some(expr)) = (dense, lone) {
        return fused::run_cpu(
            &Kernel::single(expr),
            step,
            inputs,
            std::slice::from_mut(out),
        );
    }
    match step.op {
        Op::Unary(op) => with_float_dtype!(step.out_dtype, T => {
            op.map_cpu::<T>((inputs[0].slice(), ins[0]), out.slice_mut())
        }),
        Op::Binary(op) if step.out_dtype == DType::I32 => {
            // `binary` admits i32 only into comparisons; a plan that slips past is refused.
            if op.comparison().is_none() {
                return Err(Error::integer_arithmetic(op.name()));
            }
            let (a, b) = (inputs[0].slice::<i32>(), inputs[1].slice::<i32>());
            map_n(
                [(a, ins[0]), (b, ins[1])],
                out.slice_mut::<i32>(),
                |[x, y]| i32::from(op.compare(x, y) == Some(true)),
            )
        }
        Op::Binary(op) => with_float_dtype!(step.out_dtype, T => {
            op.map_cpu::<T>((inputs[0].slice(), ins[0]), (inputs[1].slice(), ins[1]), out.slice_mut())
        }),
        Op::Where => with_float_dtype!(step.out_dtype, T => map_n(
            [(inputs[0].slice::<T>(), ins[0]), (inputs[1].slice(), ins[1]), (inputs[2].slice(), ins[2])],
            out.slice_mut::<T>(),
            |[c, a, b]| if c.to_f64() != 0.0 { a } else { b },
        )),
        Op::Copy => with_dtype!(step.out_dtype, T => {
            let (src, dst) = (inputs[0].slice::<T>(), out.slice_mut::<T>());
            // The tiles run on one thread: where `map_n` would split the copy across
            // several, it keeps it (W_hh's 64k-element transposes: 68 µs in tiles against
            // 86 µs element by element on one thread, so about 43 on two).
            let one_thread = dst.len() < PARALLEL_THRESHOLD || rayon::current_num_threads() == 1;
            if !(one_thread
                && copy_transposing(src, ins[0], dst, &Layout::contiguous(&ins[0].shape)))
            {
                map_n([(src, ins[0])], dst, |[v]| v)
            }
        }),
        Op::Cast if step.out_dtype == DType::I32 => with_float_dtype!(step.inputs[0].0, I => {
            let top = largest_i32_in(I::DTYPE);
            map_n([(inputs[0].slice::<I>(), ins[0])], out.slice_mut::<i32>(), |[v]| {
                v.to_f64().clamp(i32::MIN as f64, top) as i32
            })
        }),
        Op::Cast => with_dtype!(step.inputs[0].0, I => with_dtype!(step.out_dtype, O => {
            map_n([(inputs[0].slice::<I>(), ins[0])], out.slice_mut::<O>(), |[v]| O::from_f64(v.to_f64()))
        })),
        Op::Fill(bits) => with_dtype!(step.out_dtype, T => {
            out.slice_mut::<T>().fill(T::from_f64(f64::from_bits(*bits)))
        }),
        Op::Random => with_dtype!(step.inputs[0].0, S => with_float_dtype!(step.out_dtype, T => {
            let seed = inputs[0].slice::<S>()[ins[0].offset].to_f64() as u32;
            out.slice_mut::<T>().iter_mut().enumerate().for_each(|(i, o)| *o = T::from_f64(super::random::hashed_uniform(seed, i as u32)));
        })),
        _ => unreachable!("not an elementwise op: {:?}", step.op),
    }
    Ok(())
}
