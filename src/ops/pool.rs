//! Max and average pooling over NCHW images, forward and backward, one kernel each.
//! The max keeps the first of equal maxima in window order, and NaN wins (as PyTorch), so
//! its gradient goes to exactly one element per window. The backward kernels gather (one
//! invocation per image element) rather than scatter, so no atomics are needed: an element
//! finds the windows that read it, and for the max, whether it is their first maximum.

use std::ops::Range;
use std::panic::Location;

use rayon::prelude::*;

use super::conv::{at, inside, out_size};
use super::real::{Compute, Real};
use super::{Arg, Dispatch, Lowering, Op, ShaderFile, ShaderVariant, StepDesc};
use crate::backend::cpu::strided::PARALLEL_THRESHOLD;
use crate::backend::cpu::{with_dtype, CpuData};
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::nn::Conv2dSpec;
use crate::shape::Layout;
use crate::tensor::Tensor;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum PoolKind {
    Max = 0,
    /// The window's sum over its size: padding counts as zeros (PyTorch's default).
    Average = 1,
}

/// A pooling window: (rows, columns) of kernel, stride, padding and dilation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Window {
    pub kernel: (usize, usize),
    pub stride: (usize, usize),
    pub padding: (usize, usize),
    pub dilation: (usize, usize),
}

impl PoolKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            PoolKind::Max => "max_pool2d",
            PoolKind::Average => "avg_pool2d",
        }
    }
}

impl Tensor {
    /// Max over each window of an [N, C, H, W] image; padding never wins. Ties go to the
    /// first in window order and NaN propagates, as in PyTorch.
    #[track_caller]
    pub fn max_pool2d(&self, kernel: (usize, usize), spec: &Conv2dSpec) -> Result<Tensor> {
        self.pool(PoolKind::Max, kernel, spec)
    }

    /// Mean over each window, padding counted as zeros (PyTorch's default).
    #[track_caller]
    pub fn avg_pool2d(&self, kernel: (usize, usize), spec: &Conv2dSpec) -> Result<Tensor> {
        self.pool(PoolKind::Average, kernel, spec)
    }

    /// Mean over the spatial axes: [N, C, H, W] -> [N, C, 1, 1].
    #[track_caller]
    pub fn adaptive_avg_pool2d_1x1(&self) -> Result<Tensor> {
        if self.rank() != 4 {
            return Err(Error::invalid(
                "adaptive_avg_pool2d",
                format!("expects [N, C, H, W] input, got {:?}", self.shape()),
            ));
        }
        self.mean(&[2, 3], true)
    }

    #[track_caller]
    fn pool(&self, kind: PoolKind, kernel: (usize, usize), spec: &Conv2dSpec) -> Result<Tensor> {
        let op = kind.name();
        if self.rank() != 4 {
            return Err(Error::invalid(
                op,
                format!("expects [N, C, H, W] input, got {:?}", self.shape()),
            ));
        }
        if spec.groups != 1 {
            return Err(Error::invalid(op, "pooling has no groups; pass groups = 1"));
        }
        let window = Window {
            kernel,
            stride: spec.stride,
            padding: spec.padding,
            dilation: spec.dilation,
        };
        // PyTorch's rule: it keeps every window touching the image.
        if 2 * spec.padding.0 > kernel.0 || 2 * spec.padding.1 > kernel.1 {
            return Err(Error::invalid(
                op,
                format!(
                    "padding {:?} exceeds half the kernel {kernel:?}",
                    spec.padding
                ),
            ));
        }
        let (h, w) = (self.shape()[2], self.shape()[3]);
        let sizes = (
            out_size(h, kernel.0, spec.stride.0, spec.padding.0, spec.dilation.0),
            out_size(w, kernel.1, spec.stride.1, spec.padding.1, spec.dilation.1),
        );
        let (Some(oh), Some(ow)) = sizes else {
            return Err(Error::ShapeMismatch {
                op,
                lhs: self.shape().to_vec(),
                rhs: vec![kernel.0, kernel.1],
                why: format!(
                    "the kernel (with padding {:?}, dilation {:?}, stride {:?}) does not fit the image",
                    spec.padding, spec.dilation, spec.stride
                ),
                location: Location::caller(),
            });
        };
        Ok(Tensor::from_op(
            Op::Pool2d(kind, window),
            vec![self.clone()],
            vec![self.shape()[0], self.shape()[1], oh, ow],
            self.dtype(),
            self.device().clone(),
        ))
    }
}

/// The gradient with respect to the image `x`, given the pooled `y` and its gradient `g`.
pub(crate) fn grad(kind: PoolKind, window: Window, x: &Tensor, y: &Tensor, g: &Tensor) -> Tensor {
    let mut inputs = vec![g.clone(), x.clone()];
    if kind == PoolKind::Max {
        inputs.push(y.clone());
    }
    Tensor::from_op(
        Op::Pool2dGrad(kind, window),
        inputs,
        x.shape().to_vec(),
        x.dtype(),
        x.device().clone(),
    )
}

/// Run `plane(scratch, b, out)` for each (image, channel) plane b of a dense output, in
/// parallel when there is enough work; each task makes its scratch (`init`) once.
fn for_planes<T: Element, S: Send>(
    dst: &mut [T],
    len: usize,
    work: usize,
    init: impl Fn() -> S + Sync + Send,
    plane: impl Fn(&mut S, usize, &mut [T]) + Sync,
) {
    if len == 0 {
        return;
    }
    if work >= PARALLEL_THRESHOLD {
        dst.par_chunks_mut(len)
            .enumerate()
            .for_each_init(&init, |s, (b, out)| plane(s, b, out));
    } else {
        let mut s = init();
        dst.chunks_mut(len)
            .enumerate()
            .for_each(|(b, out)| plane(&mut s, b, out));
    }
}

/// For each kernel column j in order, the outputs [lo, hi) whose tap j lands inside a row
/// of the image, and the image column x0 of the first (the others step by the stride).
type ColumnRuns = Vec<(usize, Range<usize>)>;

impl Window {
    /// Offsets of the taps from the first, in window order, for strides (sy, sx).
    fn tap_offsets(&self, (sy, sx): (usize, usize)) -> Vec<usize> {
        let (kh, kw) = self.kernel;
        (0..kh * kw)
            .map(|t| (t / kw) * self.dilation.0 * sy + (t % kw) * self.dilation.1 * sx)
            .collect()
    }

    /// The image positions of output (oy, ox)'s taps that land inside, in window order.
    fn taps_inside(
        &self,
        (h, w): (usize, usize),
        (oy, ox): (usize, usize),
    ) -> impl Iterator<Item = (usize, usize)> + '_ {
        let kw = self.kernel.1;
        (0..self.kernel.0 * kw).filter_map(move |t| {
            let y = (oy * self.stride.0 + t / kw * self.dilation.0).checked_sub(self.padding.0)?;
            let x = (ox * self.stride.1 + t % kw * self.dilation.1).checked_sub(self.padding.1)?;
            (y < h && x < w).then_some((y, x))
        })
    }

    fn column_runs(&self, w: usize, ow: usize) -> ColumnRuns {
        let (s, d, p) = (self.stride.1, self.dilation.1, self.padding.1);
        (0..self.kernel.1)
            .filter_map(|j| {
                let (lo, hi) = inside(w, ow, j, s, d, p);
                (lo < hi).then(|| (lo * s + j * d - p, lo..hi))
            })
            .collect()
    }

    /// Visit the taps of output row `oy` that land inside an image of `h` rows, in window
    /// order: for each tap (i, j), its image row y, and its column run (see `ColumnRuns`).
    fn row_taps(
        &self,
        columns: &ColumnRuns,
        h: usize,
        oy: usize,
        mut visit: impl FnMut(usize, usize, Range<usize>),
    ) {
        for i in 0..self.kernel.0 {
            let y = (oy * self.stride.0 + i * self.dilation.0).checked_sub(self.padding.0);
            if let Some(y) = y.filter(|&y| y < h) {
                for (x0, run) in columns {
                    visit(y, *x0, run.clone());
                }
            }
        }
    }
}

/// Whether the max's position moves from m's to v's: a larger value, or the first NaN.
fn beats(v: f64, m: f64) -> bool {
    v > m || (v.is_nan() && !m.is_nan())
}

/// No tap seen yet.
const NONE: usize = usize::MAX;

/// The first maximum of each window of output row `oy` of plane (n, c), with its image
/// position (y·W + x; NONE for a window wholly in the padding), into `best`.
fn row_argmax<T: Element>(
    (window, columns): (&Window, &ColumnRuns),
    (x, xl): (&[T], &Layout),
    (n, c): (usize, usize),
    oy: usize,
    best: &mut [(f64, usize)],
) {
    let (h, w) = (xl.shape[2], xl.shape[3]);
    best.fill((f64::NEG_INFINITY, NONE));
    let step = window.stride.1 * xl.strides[3];
    window.row_taps(columns, h, oy, |y, x0, run| {
        let base = at(xl, [n, c, y, x0]);
        for (k, ox) in run.enumerate() {
            let v = x[base + k * step].to_f64();
            let slot = &mut best[ox];
            if slot.1 == NONE || beats(v, slot.0) {
                *slot = (v, y * w + x0 + k * window.stride.1);
            }
        }
    });
}

/// Pool plane (n, c) into `out` [OH, `ow`], in the storage type's arithmetic (as the GPU):
/// each window's max (NaN wins), or its mean. Windows wholly inside the image read their
/// taps at fixed offsets from the first; the others check each tap.
fn pool_plane<T: Compute>(
    kind: PoolKind,
    window: &Window,
    (x, xl): (&[T], &Layout),
    (n, c): (usize, usize),
    (offsets, ow): (&[usize], usize),
    out: &mut [T],
) {
    let (h, w) = (xl.shape[2], xl.shape[3]);
    let (sy, sx) = (xl.strides[2], xl.strides[3]);
    let plane = at(xl, [n, c, 0, 0]);
    let span = (
        (window.kernel.0 - 1) * window.dilation.0 + 1,
        (window.kernel.1 - 1) * window.dilation.1 + 1,
    );
    let taps = <T::C as Real>::k(1.0 / offsets.len() as f64);
    let fold = |values: &mut dyn Iterator<Item = T::C>| match kind {
        // For the value alone any NaN may win (all give NaN); the check that it is the
        // first, which positions need (`beats`), made this loop 2.6× slower.
        PoolKind::Max => values.fold(<T::C as Real>::neg_infinity(), |m, v| {
            #[allow(clippy::eq_op)]
            let wins = v > m || v != v;
            if wins {
                v
            } else {
                m
            }
        }),
        PoolKind::Average => values.fold(<T::C as Real>::k(0.0), |a, v| a + v) * taps,
    };
    for (oy, row) in out.chunks_mut(ow.max(1)).enumerate() {
        let y0 = (oy * window.stride.0).checked_sub(window.padding.0);
        let rows_inside = y0.is_some_and(|y| y + span.0 <= h);
        for (ox, o) in row.iter_mut().enumerate() {
            let x0 = (ox * window.stride.1).checked_sub(window.padding.1);
            let value = match (y0, x0) {
                (Some(y), Some(z)) if rows_inside && z + span.1 <= w => {
                    let first = plane + y * sy + z * sx;
                    fold(&mut offsets.iter().map(|d| x[first + d].load()))
                }
                _ => fold(
                    &mut window
                        .taps_inside((h, w), (oy, ox))
                        .map(|(y, z)| x[plane + y * sy + z * sx].load()),
                ),
            };
            *o = T::store(value);
        }
    }
}

pub(crate) fn run_cpu(
    kind: PoolKind,
    window: Window,
    backward: bool,
    step: &StepDesc,
    inputs: &[&CpuData],
    out: &mut CpuData,
) -> Result<()> {
    let taps = (window.kernel.0 * window.kernel.1) as f64;
    let image = usize::from(backward);
    let xl = step.inputs[image].1;
    let (c, h, w) = (xl.shape[1], xl.shape[2], xl.shape[3]);
    let (oh, ow) = if backward {
        (step.inputs[0].1.shape[2], step.inputs[0].1.shape[3])
    } else {
        (step.out_shape[2], step.out_shape[3])
    };
    let work = xl.numel() * window.kernel.0 * window.kernel.1;
    let columns = window.column_runs(w, ow);
    with_dtype!(step.out_dtype, T => {
        let dst = out.slice_mut::<T>();
        let x = inputs[image].slice::<T>();
        if backward {
            let (g, gl) = (inputs[0].slice::<T>(), step.inputs[0].1);
            let init = || (vec![0.0f64; h * w], vec![(0.0, NONE); ow]);
            for_planes(dst, h * w, work, init, |(sum, best), b, plane| {
                let (n, ch) = (b / c, b % c);
                sum.fill(0.0);
                for oy in 0..oh {
                    let g_at = |ox: usize| g[at(gl, [n, ch, oy, ox])].to_f64();
                    match kind {
                        PoolKind::Max => {
                            row_argmax((&window, &columns), (x, xl), (n, ch), oy, best);
                            for (ox, &(_, at)) in best.iter().enumerate() {
                                if at != NONE {
                                    sum[at] += g_at(ox);
                                }
                            }
                        }
                        PoolKind::Average => window.row_taps(&columns, h, oy, |y, x0, run| {
                            for (k, ox) in run.enumerate() {
                                sum[y * w + x0 + k * window.stride.1] += g_at(ox) / taps;
                            }
                        }),
                    }
                }
                plane.iter_mut().zip(sum.iter()).for_each(|(o, s)| *o = T::from_f64(*s));
            });
        } else {
            let offsets = window.tap_offsets((xl.strides[2], xl.strides[3]));
            for_planes(dst, oh * ow, work, || (), |_, b, plane| {
                pool_plane(kind, &window, (x, xl), (b / c, b % c), (&offsets, ow), plane);
            });
        }
    });
    Ok(())
}

/// The shader variant of `kind`'s kernel for `window` over images of `c` channels of
/// `image` (rows, columns), pooled to `pooled`: every size is a constant of the variant.
pub(crate) fn variant(
    kind: PoolKind,
    backward: bool,
    (input, output): (DType, DType),
    window: Window,
    c: usize,
    image: (usize, usize),
    pooled: (usize, usize),
) -> ShaderVariant {
    let sizes = [
        ("AVERAGE", kind as usize),
        ("C", c),
        ("H", image.0),
        ("W", image.1),
        ("OH", pooled.0),
        ("OW", pooled.1),
        ("KH", window.kernel.0),
        ("KW", window.kernel.1),
        ("SH", window.stride.0),
        ("SW", window.stride.1),
        ("PH", window.padding.0),
        ("PW", window.padding.1),
        ("DH", window.dilation.0),
        ("DW", window.dilation.1),
    ];
    ShaderVariant {
        file: ShaderFile::Pool,
        entry: if backward { "pool_grad" } else { "pool" },
        input,
        output,
        expr: None,
        consts: sizes.iter().map(|&(name, v)| (name, v as u32)).collect(),
    }
}

/// Invocations per workgroup in pool.wgsl.
const WORKGROUP: usize = 256;

pub(crate) fn lower(kind: PoolKind, window: Window, backward: bool, step: &StepDesc) -> Lowering {
    // Forward: inputs (image). Backward: (output gradient, image[, pooled]).
    let image = step.inputs[usize::from(backward)].1;
    let pooled = if backward {
        &step.inputs[0].1.shape
    } else {
        step.out_shape
    };
    let elements: usize = step.out_shape.iter().product();
    let mut params = vec![0u32; 16];
    params[0] = elements as u32;
    let mut put = |at: usize, l: &Layout| {
        params[at] = l.offset as u32;
        for (s, v) in params[at + 1..at + 5].iter_mut().zip(&l.strides) {
            *s = *v as u32;
        }
    };
    put(1, image);
    // The gradient's bindings are all in its layout; the average's never reads `pooled`,
    // which holds input 0.
    let bindings = if backward {
        put(11, step.inputs[0].1);
        let pooled = match kind {
            PoolKind::Max => {
                put(6, step.inputs[2].1);
                2
            }
            PoolKind::Average => 0,
        };
        vec![
            (1, Arg::Input(1)),
            (2, Arg::Input(pooled)),
            (3, Arg::Input(0)),
            (4, Arg::Output(0)),
        ]
    } else {
        vec![(1, Arg::Input(0)), (4, Arg::Output(0))]
    };
    Lowering::of(vec![Dispatch {
        variant: variant(
            kind,
            backward,
            (step.inputs[0].0, step.out_dtype),
            window,
            image.shape[1],
            (image.shape[2], image.shape[3]),
            (pooled[2], pooled[3]),
        ),
        params,
        bindings,
        workgroups: elements.div_ceil(WORKGROUP) as u32,
    }])
}
