//! Matrix products: 2-D, batched, with NumPy's broadcasting of batch dimensions and its
//! promotion of 1-D operands. Operands are read through their strides (a transpose is free).

use std::panic::Location;

use rayon::prelude::*;

use super::{padded, Arg, Dispatch, Lowering, Op, ShaderFile, ShaderVariant, StepDesc};
use crate::backend::cpu::strided::offsets;
use crate::backend::cpu::CpuData;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::shape::{broadcast_shapes, numel, Layout};
use crate::tensor::Tensor;

impl Tensor {
    /// `self @ rhs` as NumPy's `matmul`: [..., M, K] @ [..., K, N] -> [..., M, N]; a 1-D
    /// left operand is a row vector and a 1-D right operand a column vector, their unit
    /// dimension removed from the result.
    #[track_caller]
    pub fn matmul(&self, rhs: &Tensor) -> Result<Tensor> {
        let device = self.same_device("matmul", rhs)?;
        self.same_dtype("matmul", rhs)?;
        let mismatch = |why: String| Error::ShapeMismatch {
            op: "matmul",
            lhs: self.shape().to_vec(),
            rhs: rhs.shape().to_vec(),
            why,
            location: Location::caller(),
        };
        if self.rank() == 0 || rhs.rank() == 0 {
            return Err(mismatch("both operands need at least one dimension".into()));
        }
        let a = if self.rank() == 1 {
            self.unsqueeze(0)?
        } else {
            self.clone()
        };
        let b = if rhs.rank() == 1 {
            rhs.unsqueeze(1)?
        } else {
            rhs.clone()
        };
        let (m, k) = (a.shape()[a.rank() - 2], a.shape()[a.rank() - 1]);
        let (k2, n) = (b.shape()[b.rank() - 2], b.shape()[b.rank() - 1]);
        if k != k2 {
            return Err(mismatch(format!("inner dimensions differ: {k} vs {k2}")));
        }
        let batch = broadcast_shapes(
            "matmul",
            &a.shape()[..a.rank() - 2],
            &b.shape()[..b.rank() - 2],
        )
        .map_err(|e| match e {
            Error::ShapeMismatch { why, .. } => mismatch(format!("batch dimensions: {why}")),
            other => other,
        })?;
        let with = |tail: [usize; 2]| -> Vec<usize> { batch.iter().copied().chain(tail).collect() };
        let inputs = vec![a.expand_view(&with([m, k])), b.expand_view(&with([k, n]))];
        let out = Tensor::from_op(Op::Matmul, inputs, with([m, n]), self.dtype(), device);
        let mut shape = batch.clone();
        if self.rank() > 1 {
            shape.push(m);
        }
        if rhs.rank() > 1 {
            shape.push(n);
        }
        out.reshape_usize(&shape)
    }
}

/// Gradients of `a @ b` for the upstream `g`: dA = G Bᵀ and dB = Aᵀ G. Each is computed in
/// its operand's memory order: for a transposed operand (a weight used as Wᵀ) the product
/// is formed transposed and returned as a transposed view, so the gradient reaches the
/// weight's buffer with no copy.
pub(crate) fn grad(a: &Tensor, b: &Tensor, g: &Tensor) -> Result<(Tensor, Tensor)> {
    let column_major = |t: &Tensor| {
        let r = t.rank();
        t.strides()[r - 2] < t.strides()[r - 1]
    };
    let da = if column_major(a) {
        b.matmul(&g.t()?)?.t()?
    } else {
        g.matmul(&b.t()?)?
    };
    let db = if column_major(b) {
        g.t()?.matmul(a)?.t()?
    } else {
        a.t()?.matmul(g)?
    };
    Ok((da, db))
}

/// Batch offsets of the two operands, one pair per matrix of the output.
fn batch_offsets(a: &Layout, b: &Layout) -> Vec<(usize, usize)> {
    let r = a.rank() - 2;
    let batch = |l: &Layout| Layout {
        shape: l.shape[..r].to_vec(),
        strides: l.strides[..r].to_vec(),
        offset: l.offset,
    };
    offsets(&batch(a)).zip(offsets(&batch(b))).collect()
}

// a: [batch..., m, k], b: [batch..., k, n] -> out: [batch..., m, n] dense
pub(crate) fn run_cpu(step: &StepDesc, inputs: &[&CpuData], out: &mut CpuData) -> Result<()> {
    let (a, b) = (step.inputs[0].1, step.inputs[1].1);
    let r = a.rank();
    let (m, k, n) = (a.shape[r - 2], a.shape[r - 1], b.shape[r - 1]);
    let pairs = batch_offsets(a, b);
    let per_matrix = m * n;
    if per_matrix == 0 {
        return Ok(());
    }
    let small = m * n * k < 64 * 64 * 64;
    let parallel_batches = pairs.len() > 1 && small;
    let threads = if parallel_batches {
        gemm::Parallelism::None
    } else {
        gemm::Parallelism::Rayon(0)
    };
    macro_rules! run {
        ($variant:ident, $t:ty, $zero:expr, $one:expr) => {{
            let (CpuData::$variant(x), CpuData::$variant(y), CpuData::$variant(dst)) =
                (inputs[0], inputs[1], out)
            else {
                unreachable!("matmul operands share the output dtype")
            };
            let one_matrix = |(c, &(ao, bo)): (&mut [$t], &(usize, usize))| {
                // SAFETY: every index gemm forms is inside x, y and c: the layouts were
                // built from these buffers' shapes, and c is an m×n dense block.
                unsafe {
                    gemm::gemm(
                        m,
                        n,
                        k,
                        c.as_mut_ptr(),
                        1,
                        n as isize,
                        false,
                        x.as_ptr().add(ao),
                        a.strides[r - 1] as isize,
                        a.strides[r - 2] as isize,
                        y.as_ptr().add(bo),
                        b.strides[r - 1] as isize,
                        b.strides[r - 2] as isize,
                        $zero,
                        $one,
                        false,
                        false,
                        false,
                        threads,
                    )
                }
            };
            if parallel_batches {
                dst.par_chunks_mut(per_matrix)
                    .zip(pairs.par_iter())
                    .for_each(one_matrix);
            } else {
                dst.chunks_mut(per_matrix)
                    .zip(pairs.iter())
                    .for_each(one_matrix);
            }
        }};
    }
    match step.out_dtype {
        DType::F16 => run!(F16, half::f16, half::f16::ZERO, half::f16::ONE),
        DType::F32 => run!(F32, f32, 0.0, 1.0),
        DType::F64 => run!(F64, f64, 0.0, 1.0),
    }
    Ok(())
}

/// Output tile edges: matmul.wgsl covers 32×32 per workgroup (8×8 invocations of 4×4),
/// matmul_blocked.wgsl 64×64 (8×8 invocations of 8×8).
const TILE: usize = 32;
const BLOCKED_TILE: usize = 64;

/// For the blocked kernel: whether an operand [.., rows, cols] can be read four elements at a
/// time along its contiguous axis, and whether that axis is `cols` (else `rows`). Every
/// vector must start at a multiple of 4 elements.
fn vector_axis(l: &Layout, rows: usize, cols: usize) -> Option<bool> {
    let r = l.rank();
    let (rs, cs) = (l.strides[r - 2], l.strides[r - 1]);
    let aligned = l.offset.is_multiple_of(4) && l.strides[..r - 2].iter().all(|s| s % 4 == 0);
    if !aligned {
        return None;
    }
    if (cs == 1 || cols == 1) && cols.is_multiple_of(4) && (rs % 4 == 0 || rows == 1) {
        Some(true)
    } else if (rs == 1 || rows == 1) && rows.is_multiple_of(4) && (cs % 4 == 0 || cols == 1) {
        Some(false)
    } else {
        None
    }
}

pub(crate) fn lower(step: &StepDesc) -> Lowering {
    let ((dtype, a), (_, b)) = (step.inputs[0], step.inputs[1]);
    let r = a.rank();
    let (m, k, n) = (a.shape[r - 2], a.shape[r - 1], b.shape[r - 1]);
    let batch = numel(&a.shape[..r - 2]);
    // The blocked kernel vectorizes A along k (row-major) or m, and B along k or n.
    let a_axis = vector_axis(a, m, k).filter(|&along_k| along_k || k % 4 == 0);
    let b_axis = vector_axis(b, k, n)
        .map(|along_n| !along_n)
        .filter(|&along_k| along_k || k % 4 == 0);
    let blocked = match (a_axis, b_axis) {
        (Some(a_k), Some(b_k)) if k % 4 == 0 => Some((a_k, b_k)),
        _ => None,
    };
    let tile = if blocked.is_some() {
        BLOCKED_TILE
    } else {
        TILE
    };
    let (tiles_m, tiles_n) = (m.div_ceil(tile), n.div_ceil(tile));
    let mut params = vec![0u32; 40];
    let (a_off, b_off) = if blocked.is_some() {
        (a.offset / 4, b.offset / 4)
    } else {
        (a.offset, b.offset)
    };
    let flags = blocked.map_or(0, |(a_k, b_k)| a_k as usize | (b_k as usize) << 1);
    let head = [
        m,
        n,
        k,
        batch,
        tiles_m,
        tiles_n,
        a_off,
        b_off,
        a.strides[r - 2],
        a.strides[r - 1],
        b.strides[r - 2],
        b.strides[r - 1],
        r - 2,
        flags,
    ];
    for (p, v) in params.iter_mut().zip(head) {
        *p = v as u32;
    }
    params[16..24].copy_from_slice(&padded(&a.shape[..r - 2]));
    params[24..32].copy_from_slice(&padded(&a.strides[..r - 2]));
    params[32..40].copy_from_slice(&padded(&b.strides[..r - 2]));
    let workgroups = if m * n == 0 {
        0
    } else {
        batch * tiles_m * tiles_n
    };
    Lowering::of(vec![Dispatch {
        variant: ShaderVariant {
            file: if blocked.is_some() {
                ShaderFile::MatmulBlocked
            } else {
                ShaderFile::Matmul
            },
            entry: "matmul",
            input: dtype,
            output: step.out_dtype,
            expr: None,
            consts: Vec::new(),
        },
        params,
        bindings: vec![(1, Arg::Input(0)), (2, Arg::Input(1)), (3, Arg::Output)],
        workgroups: workgroups as u32,
    }])
}
