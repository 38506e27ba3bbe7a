//! A pooling window (kernel, stride, padding, dilation) and the taps of it that fall inside
//! the image.

use std::ops::Range;

use crate::ops::conv::geometry::inside;

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

/// For each kernel column j in order, the outputs [lo, hi) whose tap j lands inside a row
/// of the image, and the image column x0 of the first (the others step by the stride).
pub(crate) type ColumnRuns = Vec<(usize, Range<usize>)>;

impl Window {
    /// Offsets of the taps from the first, in window order, for strides (sy, sx).
    pub(crate) fn tap_offsets(&self, (sy, sx): (usize, usize)) -> Vec<usize> {
        let (kh, kw) = self.kernel;
        (0..kh * kw)
            .map(|t| (t / kw) * self.dilation.0 * sy + (t % kw) * self.dilation.1 * sx)
            .collect()
    }

    /// The image positions of output (oy, ox)'s taps that land inside, in window order.
    pub(crate) fn taps_inside(
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

    pub(crate) fn column_runs(&self, w: usize, ow: usize) -> ColumnRuns {
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
    pub(crate) fn row_taps(
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
