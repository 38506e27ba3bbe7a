//! How the row kernels are launched (shaders/rows.wgsl, rendered before reduce.wgsl and
//! softmax.wgsl). A row is the trailing `reduced` axes of a strided input; a task is a row,
//! or a chunk of a long one; `lanes` invocations share a task.

use crate::autotune::RowLanes;
use crate::dtype::DType;
use crate::ops::dispatch::{Arg, Dispatch, Lowering, ShaderVariant, Tuner};
use crate::ops::op::StepDesc;
use crate::ops::params::{kernel_params, per_dim, Params};
use crate::ops::shader_files::ShaderFile;
use crate::shape::{numel, Layout};

kernel_params! {
    /// rows.wgsl's `Params`, which reduce.wgsl and softmax.wgsl read. In `reduce_columns`,
    /// `rows` counts the outputs and `row_length` the rows folded into each.
    pub(crate) struct RowParams {
        outer_shape: [[u32; 4]; 2],
        outer_strides: [[u32; 4]; 2],
        inner_shape: [[u32; 4]; 2],
        inner_strides: [[u32; 4]; 2],
        rows: u32,
        row_length: u32,
        /// Exactly 1, where a shader compiler must not fold arithmetic.
        one: f32,
        src_offset: u32,
        outer_rank: u32,
        inner_rank: u32,
        /// Elements per task.
        chunk: u32,
        tasks_per_row: u32,
        /// Applied to results.
        scale: f32,
        weights_offset: u32,
        weights_stride: u32,
        targets_offset: u32,
        targets_stride: u32,
        smoothing: f32,
        incoming_offset: u32,
        incoming_stride: u32,
        /// Layer normalization's ε (layer_norm.wgsl).
        epsilon: f32,
        _pad: [u32; 3],
    }
}

/// The row kernels' workgroup size.
pub(crate) const WORKGROUP: usize = 64;

/// Invocations (or tasks) that keep a device busy, for choosing how work splits.
pub(crate) const BUSY: usize = 4096;

/// A strided input as the layout of its rows' first elements (the leading axes), and the
/// layout of one row's elements (the trailing `reduced` axes, coalesced, from offset 0).
pub(crate) fn split(input: &Layout, reduced: usize) -> (Layout, Layout) {
    let k = input.rank() - reduced;
    let outer = Layout {
        shape: input.shape[..k].to_vec(),
        strides: input.strides[..k].to_vec(),
        offset: input.offset,
    };
    let inner = Layout {
        shape: input.shape[k..].to_vec(),
        strides: input.strides[k..].to_vec(),
        offset: 0,
    };
    let (shape, strides) = Layout::coalesce(&[&inner]);
    let inner = Layout {
        shape,
        strides: strides.into_iter().next().unwrap_or_default(),
        offset: 0,
    };
    (outer, inner)
}

/// Invocations that share one task: as few as keep `BUSY` invocations at work, since the
/// lanes' combining tree costs barriers (dear on lavapipe), and never so many that a lane
/// gets fewer than 64 elements. One lane per row of 4096×4096 measured 1.8× faster than 64
/// for softmax.
pub(crate) fn lanes(tasks: usize, per_task: usize) -> usize {
    let wanted = BUSY.div_ceil(tasks.max(1)).next_power_of_two();
    let worthwhile = 1 << (per_task / 64).max(1).ilog2();
    wanted.min(worthwhile).min(WORKGROUP)
}

/// A row kernel's variant: `file` (reduce.wgsl or softmax.wgsl) after rows.wgsl, with
/// `lanes` invocations to a task that combine in subgroups of `subgroup` when given, and
/// reading rows four (`quads`) or eight (`octets`) elements a load. The caller adds the
/// family's own names.
pub(crate) fn row_variant(
    file: ShaderFile,
    entry: &'static str,
    dtypes: (DType, DType),
    lanes: usize,
    subgroup: Option<u32>,
    (quads, octets): (bool, bool),
) -> ShaderVariant {
    ShaderVariant::new(file, entry, dtypes)
        .with("LANES", lanes)
        .switch("SUBGROUPS", subgroup.is_some())
        .with("SUBGROUP_SIZE", subgroup.unwrap_or(1))
        .switch("VEC4", quads || octets)
        .switch("WIDE", octets)
}

/// Which rows a dispatch covers and what it writes.
pub(crate) struct Rows<'a> {
    pub file: ShaderFile,
    pub entry: &'static str,
    pub dtypes: (DType, DType),
    pub src: &'a Layout,
    pub reduced: usize,
    /// Elements per task: the row length for one task per row.
    pub chunk: usize,
    /// Whether the entry writes outputs shaped like the rows (to `dst`), rather than one
    /// value per task (to `results`).
    pub row_outputs: bool,
    /// For reduce.wgsl: whether elements are multiplied by a vector first (a dot product).
    pub weighted: bool,
    /// The device's subgroup size, to combine with subgroup operations when a task has at
    /// least that many lanes (see `choose_lanes`); None combines in workgroup memory.
    pub subgroup: Option<u32>,
    /// Whether the device reads f32 rows eight elements a load (`Tuner::wide_loads`): then
    /// reduce.wgsl's `reduce` does, where they are dense and start at multiples of 8 (the
    /// only entry with an eight-wide form).
    pub wide: bool,
}

impl Rows<'_> {
    /// The dispatch, with the entry's operation (reduce.wgsl's OP, softmax.wgsl's LOG), the
    /// scale on its results, `operands` setting the parameters of the entry's other
    /// operands (weights, targets), and its bindings.
    pub(crate) fn dispatch(
        &self,
        op: u32,
        scale: f32,
        operands: impl FnOnce(&mut RowParams),
        bindings: Vec<(u32, Arg)>,
    ) -> Dispatch {
        let (outer, inner) = split(self.src, self.reduced);
        let (outer_shape, outer_strides) = Layout::coalesce(&[&outer]);
        let rows = numel(&outer_shape);
        let n = inner.numel();
        let chunk = self.chunk.max(1);
        let per_row = n.div_ceil(chunk).max(1);
        let mut params = RowParams {
            rows: rows as u32,
            row_length: n as u32,
            one: 1.0,
            src_offset: self.src.offset as u32,
            outer_rank: outer_shape.len() as u32,
            inner_rank: inner.rank() as u32,
            chunk: chunk as u32,
            tasks_per_row: per_row as u32,
            scale,
            outer_shape: per_dim(&outer_shape),
            outer_strides: per_dim(outer_strides.first().map_or(&[][..], |s| s)),
            inner_shape: per_dim(&inner.shape),
            inner_strides: per_dim(&inner.strides),
            ..Default::default()
        };
        operands(&mut params);
        // Dense rows that start on multiples of 4 are read four elements at a time, and
        // written so when they are whole quads.
        let dense = inner.rank() == 0 || (inner.rank() == 1 && inner.strides[0] == 1);
        let aligned = outer_strides
            .first()
            .is_none_or(|s| s.iter().all(|v| v % 4 == 0))
            && self.src.offset.is_multiple_of(4)
            && (chunk == n || chunk.is_multiple_of(4));
        let vectors = dense && aligned && (!self.row_outputs || n.is_multiple_of(4));
        let eight = vectors
            && self.wide
            && self.entry == "reduce"
            && self.dtypes.0 == DType::F32
            && outer_strides
                .first()
                .is_none_or(|s| s.iter().all(|v| v % 8 == 0))
            && self.src.offset.is_multiple_of(8)
            && (chunk == n || chunk.is_multiple_of(8));
        let tasks = rows * per_row;
        let lanes = lanes(tasks, chunk.min(n));
        let size = self.subgroup.filter(|&s| lanes >= s as usize);
        Dispatch {
            variant: {
                let variant = row_variant(
                    self.file,
                    self.entry,
                    self.dtypes,
                    lanes,
                    size,
                    (vectors, eight),
                );
                match self.file {
                    ShaderFile::Reduce => variant
                        .with("OP", op)
                        .with("DOT", self.weighted as u32)
                        .with("COLUMN_QUADS", 1),
                    ShaderFile::Softmax => variant.with("LOG", op),
                    _ => variant,
                }
            },
            params: Params::of(&params),
            bindings,
            workgroups: tasks.div_ceil(WORKGROUP / lanes) as u32,
        }
    }
}

/// The lowering of a row kernel's step, by `lower(subgroup)`: where the device allows, with
/// lanes that combine in subgroups first (Some(size), the default), else in workgroup
/// memory (None); the tuner may pick either for the class. The two differ only where a task
/// has a subgroup's worth of lanes; elsewhere there is nothing to choose. `reduced`
/// trailing axes of input 0 make the rows.
pub(crate) fn choose_lanes(
    step: &StepDesc,
    reduced: usize,
    tuner: &dyn Tuner,
    lower: &dyn Fn(Option<u32>) -> Lowering,
) -> Lowering {
    let Some(size) = tuner.subgroup_size() else {
        return lower(None);
    };
    let (grouped, plain) = (lower(Some(size)), lower(None));
    let variants = |l: &Lowering| {
        l.dispatches
            .iter()
            .map(|d| d.variant.clone())
            .collect::<Vec<_>>()
    };
    if variants(&grouped) == variants(&plain) {
        return plain;
    }
    let (dtype, layout) = step.inputs[0];
    let (outer, inner) = split(layout, reduced);
    let p2 = |v: usize| v.max(1).next_power_of_two();
    let class = format!(
        "{} {dtype} rows{} len{}",
        step.op.name(),
        p2(outer.numel()),
        p2(inner.numel())
    );
    let candidates = [RowLanes::Subgroup, RowLanes::Workgroup];
    let names: Vec<String> = candidates.iter().map(|l| l.name().to_string()).collect();
    let pinned = crate::autotune::pinned()
        .rows
        .and_then(|l| candidates.iter().position(|&c| c == l));
    let subgroup = |i: usize| (candidates[i] == RowLanes::Subgroup).then_some(size);
    match tuner.choose(step, &class, &names, pinned, &|i| lower(subgroup(i))) {
        0 => grouped,
        _ => plain,
    }
}
