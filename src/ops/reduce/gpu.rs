//! The GPU passes of reductions (reduce.wgsl): whole rows or chunks of long rows, or four
//! neighbouring outputs at a time over leading axes, with further passes folding partial
//! results; weighted by a vector, the same passes make matrix-vector products.

use crate::dtype::DType;
use crate::ops::dispatch::{Arg, Dispatch, Lowering, ShaderVariant, Tuner};
use crate::ops::op::ReduceOp;
use crate::ops::op::StepDesc;
use crate::ops::params::{per_dim, Params};
use crate::ops::row_tasks::{
    choose_lanes, lanes, row_variant, split, RowParams, Rows, BUSY, WORKGROUP,
};
use crate::ops::shader_files::{ShaderFile, RENDERED_TYPES};
use crate::shape::{numel, Layout};

/// The rows of `src` (its trailing `reduced` axes, `n` elements each) for `entry`.
fn rows<'a>(
    src: &'a Layout,
    reduced: usize,
    dtypes: (DType, DType),
    entry: &'static str,
    n: usize,
    subgroup: Option<u32>,
) -> Rows<'a> {
    Rows {
        file: ShaderFile::Reduce,
        entry,
        dtypes,
        src,
        reduced,
        chunk: n.min(CHUNK),
        row_outputs: false,
        weighted: false,
        subgroup,
        wide: false,
    }
}

/// Elements one task of reduce.wgsl folds: longer rows are cut into chunks of this many,
/// whose partial results a further pass folds.
const CHUNK: usize = 16384;

/// The passes of one reduction: the first reads the input; while rows are longer than a
/// chunk, it writes f32 partials that the next pass folds; only the last applies the mean's
/// scale. Positions take at most two passes (rows ≤ 2^28 elements make ≤ 2^14 chunks,
/// which one task of the merge folds).
/// Every pass combines its lanes the way the tuner picks (`choose_lanes`).
pub(crate) fn lower(op: ReduceOp, reduced: usize, step: &StepDesc, tuner: &dyn Tuner) -> Lowering {
    let wide = tuner.wide_loads();
    choose_lanes(step, reduced, tuner, &|subgroup| {
        lower_with(op, reduced, step, subgroup, wide)
    })
}

fn lower_with(
    op: ReduceOp,
    reduced: usize,
    step: &StepDesc,
    subgroup: Option<u32>,
    wide: bool,
) -> Lowering {
    let (in_dtype, layout) = step.inputs[0];
    let n_outer = numel(step.out_shape);
    let n_inner = numel(&layout.shape[layout.rank() - reduced..]);
    let mut lowering = Lowering::default();
    if op.is_arg() {
        let code = op.code();
        if n_inner <= CHUNK {
            let r = rows(
                layout,
                reduced,
                (in_dtype, step.out_dtype),
                "arg",
                n_inner,
                subgroup,
            );
            let d = r.dispatch(
                code,
                1.0,
                |_| {},
                vec![(1, Arg::Input(0)), (3, Arg::Output(0))],
            );
            lowering.dispatches.push(d);
            return lowering;
        }
        let chunks = n_inner.div_ceil(CHUNK);
        lowering.scratch.push((n_outer * chunks * 4) as u64);
        lowering.scratch.push((n_outer * chunks * 4) as u64);
        let first = rows(
            layout,
            reduced,
            (in_dtype, DType::F32),
            "arg_chunks",
            n_inner,
            subgroup,
        );
        lowering.dispatches.push(first.dispatch(
            code,
            1.0,
            |_| {},
            vec![
                (1, Arg::Input(0)),
                (3, Arg::Scratch(0)),
                (4, Arg::Scratch(1)),
            ],
        ));
        let partials = Layout::contiguous(&[n_outer, chunks]);
        let merge = rows(
            &partials,
            1,
            (DType::F32, step.out_dtype),
            "arg_merge",
            chunks,
            subgroup,
        );
        lowering.dispatches.push(merge.dispatch(
            code,
            1.0,
            |_| {},
            vec![
                (1, Arg::Scratch(0)),
                (3, Arg::Output(0)),
                (5, Arg::Scratch(1)),
            ],
        ));
        return lowering;
    }
    let scale = if op == ReduceOp::Mean {
        1.0 / n_inner as f32
    } else {
        1.0
    };
    let dtypes = (in_dtype, step.out_dtype);
    let src = (Arg::Input(0), layout);
    if leads_dense_outputs(layout, reduced) {
        fold_columns(op, src, reduced, dtypes, scale, None)
    } else {
        fold_rows(op, src, reduced, dtypes, scale, None, subgroup, wide)
    }
}

/// Whether the kept axes of a row-last input coalesce into one dense run of at least four
/// outputs (fewer would leave most of each four-wide read unused): then `fold_columns`.
pub(crate) fn leads_dense_outputs(layout: &Layout, reduced: usize) -> bool {
    let (outer, inner) = split(layout, reduced);
    let (kept_shape, kept_strides) = Layout::coalesce(&[&outer]);
    kept_shape.len() == 1 && kept_strides[0][0] == 1 && kept_shape[0] >= 4 && inner.numel() > 1
}

/// A vector that multiplies the reduced elements before they are summed, making the sum a
/// matrix-vector product: its buffer, and its offset and stride along the reduced elements.
pub(crate) struct Weights {
    pub arg: Arg,
    pub offset: usize,
    pub stride: usize,
}

impl Weights {
    /// The first pass's constant DOT, the weights' offset and stride, and their binding;
    /// later passes fold sums.
    fn first_pass(weights: &Option<Weights>, src: Arg) -> (bool, (u32, u32), (u32, Arg)) {
        match weights {
            Some(w) => (true, (w.offset as u32, w.stride as u32), (8, w.arg)),
            // The binding must be there for the pipeline; the kernel never reads it.
            None => (false, (0, 0), (8, src)),
        }
    }
}

/// Fold the trailing `reduced` axes of `layout` (the view of `source`) into the output, one
/// value per row: tasks of whole rows, or of chunks whose f32 partials further passes fold; only the
/// last pass applies `scale`. `wide`: see `Rows::wide`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn fold_rows(
    op: ReduceOp,
    (source, layout): (Arg, &Layout),
    reduced: usize,
    (in_dtype, out_dtype): (DType, DType),
    scale: f32,
    weights: Option<Weights>,
    subgroup: Option<u32>,
    wide: bool,
) -> Lowering {
    let (outer, inner) = split(layout, reduced);
    let n_outer = outer.numel();
    let mut lowering = Lowering::default();
    let mut src = layout.clone();
    let mut src_reduced = reduced;
    let mut from = source;
    let mut input = in_dtype;
    let mut remaining = inner.numel();
    let mut weights = weights;
    loop {
        let last = remaining <= CHUNK;
        let (to, output, pass_scale) = if last {
            (Arg::Output(0), out_dtype, scale)
        } else {
            let partials = n_outer * remaining.div_ceil(CHUNK);
            lowering.scratch.push((partials * 4) as u64);
            (Arg::Scratch(lowering.scratch.len() - 1), DType::F32, 1.0)
        };
        let (weighted, along, vector) = Weights::first_pass(&weights, from);
        let mut pass = rows(
            &src,
            src_reduced,
            (input, output),
            "reduce",
            remaining,
            subgroup,
        );
        pass.weighted = weighted;
        pass.wide = wide;
        lowering.dispatches.push(pass.dispatch(
            op.code(),
            pass_scale,
            |p| (p.weights_offset, p.weights_stride) = along,
            vec![(1, from), (3, to), vector],
        ));
        if last {
            return lowering;
        }
        let chunks = remaining.div_ceil(CHUNK);
        src = Layout::contiguous(&[n_outer, chunks]);
        src_reduced = 1;
        from = to;
        input = DType::F32;
        remaining = chunks;
        weights = None;
    }
}

/// Reduced rows one task of `reduce_columns` folds. Short chunks keep a workgroup's rows in
/// cache: column sums of 4096×4096 on lavapipe ran at 3.2 GiB/s with 64, 2.9 with 256, 2.0
/// with 1024 and 1.5 with 4096.
pub(crate) const COLUMN_CHUNK: usize = 64;

/// Quads of neighbouring outputs one task of `reduce_columns` folds: as many as still leave
/// `BUSY` tasks, up to 8. On lavapipe, column sums of 4096×4096 ran at 3.1 GiB/s with one
/// quad and 6.6 with eight, interleaved (wider runs of each row per invocation; an earlier
/// form of the kernel ran 16 slower than 8); smaller reductions keep one quad and their
/// parallelism.
fn column_quads(outputs: usize, chunks: usize) -> usize {
    [8, 4, 2]
        .into_iter()
        .find(|&q| outputs.div_ceil(4 * q) * chunks >= BUSY)
        .unwrap_or(1)
}

/// Reductions over leading axes of an input whose kept axes coalesce into one dense run
/// (see `leads_dense_outputs`): passes of `reduce_columns`, each folding chunks of rows into
/// [chunks, outputs] partials; only the last applies `scale`.
pub(crate) fn fold_columns(
    op: ReduceOp,
    (source, layout): (Arg, &Layout),
    reduced: usize,
    (in_dtype, out_dtype): (DType, DType),
    scale: f32,
    weights: Option<Weights>,
) -> Lowering {
    let outputs = split(layout, reduced).0.numel();
    let mut lowering = Lowering::default();
    let (_, mut inner) = split(layout, reduced);
    let mut offset = layout.offset;
    let mut weights = weights;
    let mut from = source;
    let mut input = in_dtype;
    loop {
        let rows = inner.numel();
        let chunks = rows.div_ceil(COLUMN_CHUNK);
        let last = chunks == 1;
        let (to, output, pass_scale) = if last {
            (Arg::Output(0), out_dtype, scale)
        } else {
            lowering.scratch.push((chunks * outputs * 4) as u64);
            (Arg::Scratch(lowering.scratch.len() - 1), DType::F32, 1.0)
        };
        let (weighted, along, vector) = Weights::first_pass(&weights, from);
        let params = RowParams {
            rows: outputs as u32,
            row_length: rows as u32,
            one: 1.0,
            src_offset: offset as u32,
            inner_rank: inner.rank() as u32,
            chunk: COLUMN_CHUNK as u32,
            tasks_per_row: chunks as u32,
            scale: pass_scale,
            weights_offset: along.0,
            weights_stride: along.1,
            inner_shape: per_dim(&inner.shape),
            inner_strides: per_dim(&inner.strides),
            ..Default::default()
        };
        // Four neighbouring outputs are one aligned read when every row starts on a
        // multiple of 4 and the outputs fill whole quads.
        let vectors = offset.is_multiple_of(4)
            && outputs.is_multiple_of(4)
            && inner.strides.iter().all(|s| s % 4 == 0);
        let quads = column_quads(outputs, chunks);
        let tasks = outputs.div_ceil(4 * quads) * chunks;
        let lanes = lanes(tasks, rows.min(COLUMN_CHUNK));
        lowering.dispatches.push(Dispatch {
            variant: row_variant(
                ShaderFile::Reduce,
                "reduce_columns",
                (input, output),
                lanes,
                None,
                (vectors, false),
            )
            .with("OP", op.code())
            .with("DOT", weighted as u32)
            .with("COLUMN_QUADS", quads),
            params: Params::of(&params),
            bindings: vec![(1, from), (3, to), vector],
            workgroups: tasks.div_ceil(WORKGROUP / lanes) as u32,
        });
        if last {
            return lowering;
        }
        inner = Layout {
            shape: vec![chunks],
            strides: vec![outputs],
            offset: 0,
        };
        offset = 0;
        from = to;
        input = DType::F32;
        weights = None;
    }
}

/// The catalog's variants of reduce.wgsl (src/shaders.rs): each entry point in each load
/// width, with and without subgroups.
pub(crate) fn every_variant() -> Vec<ShaderVariant> {
    let mut out = Vec::new();
    for t in RENDERED_TYPES {
        out.extend(variants_of(t));
    }
    out
}

fn variants_of(t: DType) -> Vec<ShaderVariant> {
    let mut out = Vec::new();
    for o in RENDERED_TYPES {
        // Positions are i32; the chunked search keeps its partial values in f32.
        let entries = [
            ("reduce", (t, o)),
            ("reduce_columns", (t, o)),
            ("arg", (t, DType::I32)),
            ("arg_chunks", (t, DType::F32)),
            ("arg_merge", (DType::F32, DType::I32)),
        ];
        for quads in [false, true] {
            for (entry, dtypes) in entries {
                // (lanes, subgroup size, op, dot)
                for (lanes, size, op, dot) in [
                    (1, None, 0, 0),
                    (64, None, 1, 0),
                    (8, None, 0, 1),
                    (8, None, 3, 0),
                    (32, Some(8), 0, 1),
                    (64, Some(32), 1, 0),
                    (8, Some(8), 2, 0),
                    (16, Some(8), 3, 0),
                ] {
                    // Column reductions also fold eight quads a task.
                    let column_quads: &[u32] = if entry == "reduce_columns" {
                        &[1, 8]
                    } else {
                        &[1]
                    };
                    for &q in column_quads {
                        out.push(
                            row_variant(
                                ShaderFile::Reduce,
                                entry,
                                dtypes,
                                lanes,
                                size,
                                (quads, false),
                            )
                            .with("OP", op)
                            .with("DOT", dot)
                            .with("COLUMN_QUADS", q),
                        );
                    }
                }
            }
        }
        // Row sums of f32 eight elements a load.
        if t == DType::F32 {
            for (lanes, size, op, dot) in [(1, None, 0, 0), (64, None, 1, 1), (32, Some(8), 3, 0)] {
                out.push(
                    row_variant(
                        ShaderFile::Reduce,
                        "reduce",
                        (t, o),
                        lanes,
                        size,
                        (true, true),
                    )
                    .with("OP", op)
                    .with("DOT", dot)
                    .with("COLUMN_QUADS", 1),
                );
            }
        }
    }
    out
}
