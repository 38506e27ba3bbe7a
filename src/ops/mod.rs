//! What each op means, one folder per op family. In a family's folder `mod.rs` is the
//! family's tensor API (the `Tensor` methods with their shape rules, and the gradient
//! rules); every other file is a kernel: `cpu.rs` the CPU path's plain kernel, `gpu.rs` the
//! description of its GPU dispatches (plain data: only `backend::gpu` touches wgpu), fast
//! paths in files named for what they are. This file routes a plan step to its family's
//! kernels; `op.rs` lists the primitives, `dispatch.rs` describes GPU dispatches.

pub(crate) mod attention;
pub(crate) mod conv;
pub(crate) mod cost;
pub(crate) mod cross_entropy;
pub(crate) mod dispatch;
pub(crate) mod elementwise;
pub(crate) mod gather;
pub(crate) mod integers;
pub(crate) mod layer_norm;
pub(crate) mod masks;
pub(crate) mod matmul;
pub(crate) mod movement;
pub(crate) mod op;
pub(crate) mod params;
pub(crate) mod pool;
pub(crate) mod recurrent;
pub(crate) mod reduce;
pub(crate) mod row_tasks;
pub(crate) mod sample;
pub(crate) mod shader_files;
pub(crate) mod shader_template;
pub(crate) mod softmax;

pub use crate::ops::elementwise::table::{BinaryOp, UnaryOp};
pub use op::ReduceOp;

use crate::error::Result;
use crate::ops::attention::cpu as attention_cpu;
use crate::ops::attention::gpu as attention_gpu;
use crate::ops::conv::cpu as conv_cpu;
use crate::ops::conv::geometry::Product;
use crate::ops::conv::gpu as conv_gpu;
use crate::ops::cross_entropy::cpu as cross_entropy_cpu;
use crate::ops::cross_entropy::gpu as cross_entropy_gpu;
use crate::ops::dispatch::{Lowering, Tuner};
use crate::ops::elementwise::cpu as elementwise_cpu;
use crate::ops::elementwise::fused;
use crate::ops::elementwise::gpu as elementwise_gpu;
use crate::ops::gather::cpu as gather_cpu;
use crate::ops::gather::gpu as gather_gpu;
use crate::ops::layer_norm::cpu as layer_norm_cpu;
use crate::ops::layer_norm::gpu as layer_norm_gpu;
use crate::ops::matmul::cpu as matmul_cpu;
use crate::ops::matmul::gpu as matmul_gpu;
use crate::ops::movement::cpu as movement_cpu;
use crate::ops::movement::gpu as movement_gpu;
use crate::ops::op::{Op, StepDesc};
use crate::ops::pool::cpu as pool_cpu;
use crate::ops::pool::gpu as pool_gpu;
use crate::ops::recurrent::cpu as recurrent_cpu;
use crate::ops::recurrent::gpu as recurrent_gpu;
use crate::ops::reduce::cpu as reduce_cpu;
use crate::ops::reduce::gpu as reduce_gpu;
use crate::ops::sample::cpu as sample_cpu;
use crate::ops::sample::gpu as sample_gpu;
use crate::ops::softmax::cpu as softmax_cpu;
use crate::ops::softmax::gpu as softmax_gpu;
use crate::storage::CpuData;

/// Describe `step` as GPU dispatches.
pub(crate) fn lower(step: &StepDesc, tuner: &dyn Tuner) -> Lowering {
    match step.op {
        Op::Unary(_)
        | Op::Binary(_)
        | Op::Where
        | Op::Cast
        | Op::Copy
        | Op::Fill(_)
        | Op::Random => elementwise_gpu::lower(step),
        Op::Reduce { op, reduced } => reduce_gpu::lower(*op, *reduced, step, tuner),
        Op::Softmax(kind) => softmax_gpu::lower(*kind, step, tuner),
        Op::LayerNorm(eps) => layer_norm_gpu::lower(*eps, false, step, tuner),
        Op::LayerNormGrad(eps) => layer_norm_gpu::lower(*eps, true, step, tuner),
        Op::CrossEntropy(eps) => cross_entropy_gpu::lower(*eps, false, step, tuner),
        Op::CrossEntropyGrad(eps) => cross_entropy_gpu::lower(*eps, true, step, tuner),
        Op::Conv2d(g) => conv_gpu::lower(Product::Forward, *g, step, tuner),
        Op::Conv2dGradInput(g) => conv_gpu::lower(Product::GradInput, *g, step, tuner),
        Op::Conv2dGradWeight(g) => conv_gpu::lower(Product::GradWeight, *g, step, tuner),
        Op::Pool2d(kind, window) => pool_gpu::lower(*kind, *window, false, step),
        Op::Pool2dGrad(kind, window) => pool_gpu::lower(*kind, *window, true, step),
        Op::Matmul => matmul_gpu::lower(step, tuner),
        Op::Fused(kernel) => fused::lower(kernel, step),
        Op::Gather { axis } => gather_gpu::lower(*axis, false, step),
        Op::ScatterAdd { axis } => gather_gpu::lower(*axis, true, step),
        Op::Multinomial => sample_gpu::lower(step),
        Op::Recurrent(scan) => recurrent_gpu::lower(*scan, false, step),
        Op::RecurrentGrad(scan) => recurrent_gpu::lower(*scan, true, step),
        Op::Attention(spec) => attention_gpu::lower(*spec, step),
        Op::Concat { axis } => movement_gpu::lower_concat(*axis, step),
        Op::Place { region, value } => movement_gpu::lower_place(region, *value, step),
    }
}

/// Run `step` on the CPU, writing `outs` (dense, already sized to the output; one per
/// output of the op).
pub(crate) fn run_cpu(step: &StepDesc, inputs: &[&CpuData], outs: &mut [CpuData]) -> Result<()> {
    integers::check(step)?;
    if let Op::Fused(kernel) = step.op {
        return fused::run_cpu(kernel, step, inputs, outs);
    }
    let out = &mut outs[0];
    match step.op {
        Op::Unary(_)
        | Op::Binary(_)
        | Op::Where
        | Op::Cast
        | Op::Copy
        | Op::Fill(_)
        | Op::Random => elementwise_cpu::run_cpu(step, inputs, out),
        Op::Reduce { op, reduced } => reduce_cpu::run_cpu(*op, *reduced, step, inputs, out),
        Op::Softmax(kind) => softmax_cpu::run_cpu(*kind, step, inputs, out),
        Op::LayerNorm(eps) => layer_norm_cpu::run_cpu(*eps, false, step, inputs, out),
        Op::LayerNormGrad(eps) => layer_norm_cpu::run_cpu(*eps, true, step, inputs, out),
        Op::CrossEntropy(eps) => cross_entropy_cpu::run_cpu(*eps, false, step, inputs, out),
        Op::CrossEntropyGrad(eps) => cross_entropy_cpu::run_cpu(*eps, true, step, inputs, out),
        Op::Conv2d(g) => conv_cpu::run_cpu(Product::Forward, *g, step, inputs, out),
        Op::Conv2dGradInput(g) => conv_cpu::run_cpu(Product::GradInput, *g, step, inputs, out),
        Op::Conv2dGradWeight(g) => conv_cpu::run_cpu(Product::GradWeight, *g, step, inputs, out),
        Op::Pool2d(kind, window) => pool_cpu::run_cpu(*kind, *window, false, step, inputs, out),
        Op::Pool2dGrad(kind, window) => pool_cpu::run_cpu(*kind, *window, true, step, inputs, out),
        Op::Matmul => matmul_cpu::run_cpu(step, inputs, out),
        Op::Fused(_) => unreachable!("fused kernels are run above"),
        Op::Gather { axis } => gather_cpu::run_gather_cpu(*axis, step, inputs, out),
        Op::ScatterAdd { axis } => gather_cpu::run_scatter_add_cpu(*axis, step, inputs, out),
        Op::Multinomial => sample_cpu::run_multinomial_cpu(step, inputs, out),
        Op::Recurrent(scan) => recurrent_cpu::run_scan_cpu(*scan, step, inputs, out),
        Op::RecurrentGrad(scan) => recurrent_cpu::run_scan_grad_cpu(*scan, step, inputs, out),
        Op::Attention(spec) => attention_cpu::run_attention_cpu(*spec, step, inputs, out),
        Op::Concat { axis } => movement_cpu::run_concat_cpu(*axis, step, inputs, out),
        Op::Place { region, value } => {
            movement_cpu::run_place_cpu(region, *value, step, inputs, out)
        }
    }
}
