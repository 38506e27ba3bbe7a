//! Matrix products as GPU dispatches: the candidate kernels, their problem classes for the
//! autotuner, and matrix-vector products on kernels of their own.

use crate::autotune::MatmulKernel;
use crate::dtype::DType;
use crate::ops::dispatch::{Arg, Dispatch, Lowering, ShaderVariant, Tuner};
use crate::ops::op::ReduceOp;
use crate::ops::op::StepDesc;
use crate::ops::params::{kernel_params, per_dim, Params};
use crate::ops::reduce::gpu::{fold_columns, fold_rows, leads_dense_outputs, Weights};
use crate::ops::shader_files::{ShaderFile, RENDERED_TYPES};
use crate::shape::{numel, Layout};

kernel_params! {
    /// The `Params` of matmul.wgsl, matmul_blocked.wgsl and matmul_shared.wgsl: the batch
    /// dimensions' shape and each operand's strides along them, the product's sizes, its
    /// tiles, and each operand's offset (in vectors of 4 for matmul_blocked.wgsl) and matrix
    /// strides.
    pub(crate) struct MatmulParams {
        batch_shape: [[u32; 4]; 2],
        a_batch_strides: [[u32; 4]; 2],
        b_batch_strides: [[u32; 4]; 2],
        m: u32,
        n: u32,
        k: u32,
        batch: u32,
        tiles_m: u32,
        tiles_n: u32,
        a_offset: u32,
        b_offset: u32,
        a_row_stride: u32,
        a_col_stride: u32,
        b_row_stride: u32,
        b_col_stride: u32,
        batch_rank: u32,
        _pad: [u32; 3],
    }
}

/// matmul.wgsl's and matmul_shared.wgsl's output tile edges (8×8 invocations of 4×4, and
/// 16×16 of 4×4).
const STRIDED_TILE: usize = 32;

const SHARED_TILE: usize = 64;

/// For the register-tile kernel: whether an operand [.., rows, cols] can be read four
/// elements at a time along its contiguous axis, and whether that axis is `cols` (else
/// `rows`). Every vector must start at a multiple of 4 elements.
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

/// (M, K, N, batch count) of a product step.
fn dims(step: &StepDesc) -> (usize, usize, usize, usize) {
    let (a, b) = (step.inputs[0].1, step.inputs[1].1);
    let r = a.rank();
    (
        a.shape[r - 2],
        a.shape[r - 1],
        b.shape[r - 1],
        numel(&a.shape[..r - 2]),
    )
}

/// Whether the register-tile kernel can read A along k (else m) and B along k (else n),
/// if it can run this step at all.
fn register_layouts(step: &StepDesc) -> Option<(bool, bool)> {
    let (a, b) = (step.inputs[0].1, step.inputs[1].1);
    let (m, k, n, _) = dims(step);
    let a_axis = vector_axis(a, m, k).filter(|&along_k| along_k || k % 4 == 0);
    let b_axis = vector_axis(b, k, n)
        .map(|along_n| !along_n)
        .filter(|&along_k| along_k || k % 4 == 0);
    match (a_axis, b_axis) {
        (Some(a_k), Some(b_k)) if k % 4 == 0 => Some((a_k, b_k)),
        _ => None,
    }
}

/// The kernels that can run this product on a device with subgroups of `subgroup` lanes,
/// the default first: register tiles as large as the output fills (they measured fastest
/// on lavapipe at every size: 16×16 per invocation reached 24.8 GFLOP/s at 1024, 8×8 16.3),
/// sharing A's loads through subgroup shuffles where subgroups come in multiples of 8 lanes
/// (26 -> 30 GFLOP/s at 1024 and 2048 on lavapipe), else the strided kernel.
pub(crate) fn candidates(step: &StepDesc, subgroup: Option<u32>) -> Vec<MatmulKernel> {
    let (m, _, n, _) = dims(step);
    let mut out = Vec::new();
    if register_layouts(step).is_some() {
        let side = m.min(n);
        let t = if side >= 128 {
            4
        } else if side >= 64 {
            2
        } else {
            1
        };
        let shuffles = subgroup.is_some_and(|s| s % 8 == 0);
        let default = if shuffles {
            MatmulKernel::Shuffled { tm: t, tn: t }
        } else {
            MatmulKernel::Registers { tm: t, tn: t }
        };
        out.push(default);
        out.extend(MatmulKernel::ALL.into_iter().filter(|&k| {
            k != default
                && match k {
                    MatmulKernel::Registers { .. } => true,
                    MatmulKernel::Shuffled { .. } => shuffles,
                    _ => false,
                }
        }));
    }
    out.push(MatmulKernel::Strided);
    out.push(MatmulKernel::Shared);
    out
}

/// The class of problems that share a tuned choice: dtype, operand layouts, and each of
/// M, K, N and the batch count rounded up to a power of two.
pub(crate) fn problem_class(step: &StepDesc) -> String {
    let (m, k, n, batch) = dims(step);
    let layouts = register_layouts(step).map_or("strided".to_string(), |(a_k, b_k)| {
        format!(
            "a{}b{}",
            if a_k { "k" } else { "m" },
            if b_k { "k" } else { "n" }
        )
    });
    let p2 = |v: usize| v.max(1).next_power_of_two();
    format!(
        "{} {layouts} m{} k{} n{} b{}",
        step.out_dtype,
        p2(m),
        p2(k),
        p2(n),
        p2(batch)
    )
}

/// The generated body of a register-tile kernel (matmul_blocked.wgsl, conv_gemm.wgsl) for
/// `tm`×`tn` blocks of 4×4: named accumulators (they stay in registers, where an array of
/// them did not), then `setup`, the k loop headed by `head` whose iterations start with
/// `step`, the loads `a(i)` and `b(j)` of A's i-th and B's j-th blocks, and the stores.
pub(crate) fn tile_body(
    (tm, tn): (usize, usize),
    setup: &[String],
    head: &str,
    step: &[&str],
    a: &dyn Fn(usize) -> String,
    b: &dyn Fn(usize) -> String,
) -> String {
    let mut code: Vec<String> = Vec::new();
    for i in 0..tm {
        for j in 0..tn {
            code.push(format!("    var c{i}{j} = mat4x4<f32>();"));
        }
    }
    code.extend(setup.iter().map(|l| format!("    {l}")));
    code.push(format!("    {head}"));
    code.extend(step.iter().map(|l| format!("        {l}")));
    code.extend((0..tm).map(|i| format!("        let a{i} = {};", a(i))));
    code.extend((0..tn).map(|j| format!("        let b{j} = {};", b(j))));
    for i in 0..tm {
        for j in 0..tn {
            code.push(format!("        c{i}{j} += a{i} * b{j};"));
        }
    }
    code.push("    }".into());
    for i in 0..tm {
        for j in 0..tn {
            code.push(format!(
                "    store(c{i}{j}, c_base, m0 + {}u, n0 + {}u, c_size());",
                4 * i,
                4 * j
            ));
        }
    }
    code.join("\n")
}

/// The generated body of matmul_blocked.wgsl for `tm`×`tn` blocks.
fn register_blocks(tm: usize, tn: usize) -> String {
    tile_body(
        (tm, tn),
        &[],
        "for (var k0 = 0u; k0 < params.k; k0 += 4u) {",
        &[],
        &|i| format!("a_block(a_base, m0 + {}u, k0)", 4 * i),
        &|j| format!("b_block(b_base, k0, n0 + {}u)", 4 * j),
    )
}

/// The generated body of matmul_blocked.wgsl's subgroup form for `tm`×`tn` blocks: while
/// 32 of K remain, lane i of each eight loads A's blocks for k0 + 4i and each lane takes the
/// eight lanes' blocks in turn by shuffles (the eight share their rows of A: one row of the
/// 8×8 layout); the last K % 32 as in `register_blocks`.
fn shuffled_blocks(tm: usize, tn: usize) -> String {
    let mut chunks = vec![
        "let eights = params.k / 32u * 32u;".to_string(),
        "let first = sid & ~7u;".into(),
        "var k0 = 0u;".into(),
        "for (; k0 < eights; k0 += 32u) {".into(),
    ];
    for i in 0..tm {
        chunks.push(format!(
            "    let s{i} = a_block(a_base, m0 + {}u, k0 + 4u * (sid % 8u));",
            4 * i
        ));
    }
    for lane in 0..8 {
        for i in 0..tm {
            let column = |c: usize| format!("subgroupShuffle(s{i}[{c}], first | {lane}u)");
            chunks.push(format!(
                "    let a{i}_{lane} = mat4x4<f32>({}, {}, {}, {});",
                column(0),
                column(1),
                column(2),
                column(3)
            ));
        }
        for j in 0..tn {
            chunks.push(format!(
                "    let b{j}_{lane} = b_block(b_base, k0 + {}u, n0 + {}u);",
                4 * lane,
                4 * j
            ));
        }
        for i in 0..tm {
            for j in 0..tn {
                chunks.push(format!("    c{i}{j} += a{i}_{lane} * b{j}_{lane};"));
            }
        }
    }
    chunks.push("}".into());
    tile_body(
        (tm, tn),
        &chunks,
        "for (; k0 < params.k; k0 += 4u) {",
        &[],
        &|i| format!("a_block(a_base, m0 + {}u, k0)", 4 * i),
        &|j| format!("b_block(b_base, k0, n0 + {}u)", 4 * j),
    )
}

/// The shader variant of `kernel` for operands of `dtype`, with A read along k (else m)
/// and B along k (else n) where the kernel reads vectors, and C written four at a time
/// when its rows are whole quads (N a multiple of 4).
pub(crate) fn variant(
    kernel: MatmulKernel,
    (input, output): (DType, DType),
    (a_k, b_k): (bool, bool),
    rows_of_quads: bool,
) -> ShaderVariant {
    let dtypes = (input, output);
    match kernel {
        MatmulKernel::Registers { tm, tn } | MatmulKernel::Shuffled { tm, tn } => {
            let shuffled = matches!(kernel, MatmulKernel::Shuffled { .. });
            let (tm, tn) = (tm as usize, tn as usize);
            let body = if shuffled {
                shuffled_blocks(tm, tn)
            } else {
                register_blocks(tm, tn)
            };
            ShaderVariant::new(ShaderFile::MatmulBlocked, "matmul", dtypes)
                .with("A_ALONG_K", a_k as u32)
                .with("B_ALONG_K", b_k as u32)
                .with("TM", tm)
                .with("TN", tn)
                .switch("SUBGROUPS", shuffled)
                .switch("VEC4", rows_of_quads)
                .with("BLOCKS", body)
        }
        MatmulKernel::Shared => ShaderVariant::new(ShaderFile::MatmulShared, "matmul", dtypes),
        MatmulKernel::Strided => ShaderVariant::new(ShaderFile::Matmul, "matmul", dtypes),
    }
}

/// The dispatch of `step` on `kernel`, which must be one of its candidates.
pub(crate) fn lower_with(step: &StepDesc, kernel: MatmulKernel) -> Lowering {
    let ((dtype, a), (_, b)) = (step.inputs[0], step.inputs[1]);
    let r = a.rank();
    let (m, k, n, batch) = dims(step);
    let layouts = register_layouts(step);
    let (tile_m, tile_n) = match kernel {
        MatmulKernel::Registers { tm, tn } | MatmulKernel::Shuffled { tm, tn } => {
            (32 * tm as usize, 32 * tn as usize)
        }
        MatmulKernel::Shared => (SHARED_TILE, SHARED_TILE),
        MatmulKernel::Strided => (STRIDED_TILE, STRIDED_TILE),
    };
    let vectors = matches!(
        kernel,
        MatmulKernel::Registers { .. } | MatmulKernel::Shuffled { .. }
    );
    let (tiles_m, tiles_n) = (m.div_ceil(tile_m), n.div_ceil(tile_n));
    let (a_offset, b_offset) = if vectors {
        (a.offset / 4, b.offset / 4)
    } else {
        (a.offset, b.offset)
    };
    let params = MatmulParams {
        batch_shape: per_dim(&a.shape[..r - 2]),
        a_batch_strides: per_dim(&a.strides[..r - 2]),
        b_batch_strides: per_dim(&b.strides[..r - 2]),
        m: m as u32,
        n: n as u32,
        k: k as u32,
        batch: batch as u32,
        tiles_m: tiles_m as u32,
        tiles_n: tiles_n as u32,
        a_offset: a_offset as u32,
        b_offset: b_offset as u32,
        a_row_stride: a.strides[r - 2] as u32,
        a_col_stride: a.strides[r - 1] as u32,
        b_row_stride: b.strides[r - 2] as u32,
        b_col_stride: b.strides[r - 1] as u32,
        batch_rank: (r - 2) as u32,
        ..Default::default()
    };
    let workgroups = if m * n == 0 {
        0
    } else {
        batch * tiles_m * tiles_n
    };
    Lowering::of(vec![Dispatch {
        variant: variant(
            kernel,
            (dtype, step.out_dtype),
            layouts.unwrap_or_default(),
            n.is_multiple_of(4),
        ),
        params: Params::of(&params),
        bindings: vec![(1, Arg::Input(0)), (2, Arg::Input(1)), (3, Arg::Output(0))],
        workgroups: workgroups as u32,
    }])
}

pub(crate) fn lower(step: &StepDesc, tuner: &dyn Tuner) -> Lowering {
    if let Some(lowering) = lower_vector_product(step) {
        return lowering;
    }
    let candidates = candidates(step, tuner.subgroup_size());
    let names: Vec<String> = candidates.iter().map(|k| k.name()).collect();
    let pinned = crate::autotune::pinned()
        .matmul
        .and_then(|k| candidates.iter().position(|&c| c == k));
    let lower = |i: usize| lower_with(step, candidates[i]);
    let chosen = tuner.choose(step, &problem_class(step), &names, pinned, &lower);
    lower_with(step, candidates[chosen])
}

/// Matrix-vector (N = 1) and vector-matrix (M = 1) products of one matrix: sums along K of
/// the matrix weighted by the vector, on the reduction kernels (rows, or four neighbouring
/// outputs at a time when the outputs are contiguous), which read each matrix element once.
/// Batched ones take the matrix kernels.
fn lower_vector_product(step: &StepDesc) -> Option<Lowering> {
    let (m, k, n, batch) = dims(step);
    if batch != 1 || k < 2 || (m != 1 && n != 1) {
        return None;
    }
    let ((dtype, a), (_, b)) = (step.inputs[0], step.inputs[1]);
    let r = a.rank();
    // out[i] = Σ_k A[i, k] x[k] (N = 1), or out[j] = Σ_k x[k] B[k, j] (M = 1): which input
    // is the matrix, seen as [outputs, K], and the vector's stride along K.
    let (mat, vec, outputs, strides, x_stride) = if n == 1 {
        (
            0,
            1,
            m,
            [a.strides[r - 2], a.strides[r - 1]],
            b.strides[r - 2],
        )
    } else {
        (
            1,
            0,
            n,
            [b.strides[r - 1], b.strides[r - 2]],
            a.strides[r - 1],
        )
    };
    let matrix = Layout {
        shape: vec![outputs, k],
        strides: strides.to_vec(),
        offset: step.inputs[mat].1.offset,
    };
    let vector = Weights {
        arg: Arg::Input(vec),
        offset: step.inputs[vec].1.offset,
        stride: x_stride,
    };
    let dtypes = (dtype, step.out_dtype);
    let source = (Arg::Input(mat), &matrix);
    Some(if leads_dense_outputs(&matrix, 1) {
        fold_columns(ReduceOp::Sum, source, 1, dtypes, 1.0, Some(vector))
    } else {
        fold_rows(
            ReduceOp::Sum,
            source,
            1,
            dtypes,
            1.0,
            Some(vector),
            None,
            false,
        )
    })
}

/// The catalog's variants of the product kernels (src/shaders.rs): every kernel in every
/// layout, four-wide and not.
pub(crate) fn every_variant() -> Vec<ShaderVariant> {
    let mut out = Vec::new();
    for t in RENDERED_TYPES {
        for kernel in MatmulKernel::ALL {
            for layouts in [(false, false), (false, true), (true, false), (true, true)] {
                for quads in [false, true] {
                    out.push(variant(kernel, (t, t), layouts, quads));
                }
            }
        }
    }
    out
}
