//! How a node's gradient is assembled from the gradients of the views its consumers read.
//! In general each view's gradient is placed at the view's positions in a zero tensor of
//! the node's shape and the results are added. When the views are slices of the node along
//! one axis (a recurrent layer's timesteps, an LSTM's four gates, attention's q, k and v),
//! their gradients are instead joined by one concat, zeros filling the gaps: one kernel
//! instead of one place per slice and their sum, and work in the node's size rather than in
//! its size times the number of slices.

use crate::error::Result;
use crate::graph::Tensor;
use crate::shape::{contiguous_strides, numel, Layout};

/// The gradient of a node of `base` shape from (view gradient, view layout) pieces.
pub(super) fn combine(pieces: Vec<(Tensor, Layout)>, base: &[usize]) -> Result<Tensor> {
    if pieces.len() > 1 {
        if let Some(joined) = join_slices(&pieces, base)? {
            return Ok(joined);
        }
    }
    let mut total: Option<Tensor> = None;
    for (g, layout) in pieces {
        let placed = super::unview(&g, &layout, base)?;
        total = Some(match total {
            Some(sum) => sum.add(&placed)?,
            None => placed,
        });
    }
    Ok(total.expect("a node with a gradient has at least one piece"))
}

/// The gradient of the first `kept` values of every row (along the last axis) of a dense
/// node of `base` shape: the pieces' views moved onto rows that hold only those values,
/// then combined, so a recurrent scan's trace, most of which no consumer reads, costs its
/// handed-out blocks alone. A piece that reads past them (no public API hands one out)
/// gets the whole gradient, cut to the kept columns.
pub(super) fn combine_columns(
    pieces: Vec<(Tensor, Layout)>,
    base: &[usize],
    kept: usize,
) -> Result<Tensor> {
    let width = base.last().copied().unwrap_or(0);
    if kept >= width {
        return combine(pieces, base);
    }
    let mut narrowed_base = base.to_vec();
    narrowed_base[base.len() - 1] = kept;
    let narrowed: Option<Vec<(Tensor, Layout)>> = pieces
        .iter()
        .map(|(g, layout)| Some((g.clone(), narrow(layout, width, kept)?)))
        .collect();
    match narrowed {
        Some(pieces) => combine(pieces, &narrowed_base),
        None => Ok(combine(pieces, base)?
            .slice(-1, 0, kept as isize, 1)?
            .contiguous()),
    }
}

/// `layout`, a view of a dense node with rows of `width` values, as the same view of the
/// node cut to each row's first `kept` values, if it reads only those: each stride is
/// whole rows (a multiple of `width`, rescaled) or within a row, and the view's reach
/// within a row stays below `kept`.
fn narrow(layout: &Layout, width: usize, kept: usize) -> Option<Layout> {
    let mut reach = layout.offset % width;
    let mut strides = Vec::with_capacity(layout.rank());
    for (&n, &s) in layout.shape.iter().zip(&layout.strides) {
        strides.push(if n <= 1 {
            0
        } else if s % width == 0 {
            s / width * kept
        } else if s < width {
            reach += (n - 1) * s;
            s
        } else {
            return None;
        });
    }
    (reach < kept).then(|| Layout {
        shape: layout.shape.clone(),
        strides,
        offset: layout.offset / width * kept + layout.offset % width,
    })
}

/// The axis and the starting index along it of `layout`, if it is a unit-step slice of a
/// dense node of `base` shape, whole along every other axis.
fn slice_of(layout: &Layout, base: &[usize], dense: &[usize]) -> Option<(usize, usize)> {
    if layout.rank() != base.len() || layout.strides != dense {
        return None;
    }
    let mut narrowed = (0..base.len()).filter(|&d| layout.shape[d] != base[d]);
    let axis = narrowed.next()?;
    if narrowed.next().is_some() || dense[axis] == 0 || !layout.offset.is_multiple_of(dense[axis]) {
        return None;
    }
    Some((axis, layout.offset / dense[axis]))
}

/// The pieces joined along their axis, if all are slices along one axis (pieces over the
/// same slice added first) that do not overlap.
fn join_slices(pieces: &[(Tensor, Layout)], base: &[usize]) -> Result<Option<Tensor>> {
    if numel(base) == 0 {
        return Ok(None);
    }
    let dense = contiguous_strides(base);
    let mut axis = None;
    let mut spans: Vec<(usize, usize, Tensor)> = Vec::with_capacity(pieces.len());
    for (g, layout) in pieces {
        let Some((d, start)) = slice_of(layout, base, &dense) else {
            return Ok(None);
        };
        if *axis.get_or_insert(d) != d {
            return Ok(None);
        }
        spans.push((start, layout.shape[d], g.clone()));
    }
    let Some(axis) = axis else {
        return Ok(None);
    };
    spans.sort_by_key(|(start, len, _)| (*start, *len));
    let mut merged: Vec<(usize, usize, Tensor)> = Vec::with_capacity(spans.len());
    for (start, len, g) in spans {
        match merged.last_mut() {
            Some((s, l, sum)) if *s == start && *l == len => *sum = sum.add(&g)?,
            Some((s, l, _)) if start < *s + *l => return Ok(None),
            _ => merged.push((start, len, g)),
        }
    }
    let (dtype, device) = (merged[0].2.dtype(), merged[0].2.device().clone());
    let zeros = |len: usize| {
        let mut shape = base.to_vec();
        shape[axis] = len;
        Tensor::zeros(&shape, dtype, &device)
    };
    let mut parts = Vec::with_capacity(2 * merged.len() + 1);
    let mut at = 0;
    for (start, len, g) in merged {
        if start > at {
            parts.push(zeros(start - at)?);
        }
        parts.push(g);
        at = start + len;
    }
    if at < base[axis] {
        parts.push(zeros(base[axis] - at)?);
    }
    Tensor::concat(&parts.iter().collect::<Vec<_>>(), axis as isize).map(Some)
}

#[cfg(test)]
mod tests {
    use super::narrow;
    use crate::shape::Layout;

    fn layout(shape: &[usize], strides: &[usize], offset: usize) -> Layout {
        Layout {
            shape: shape.to_vec(),
            strides: strides.to_vec(),
            offset,
        }
    }

    /// Views of a [3, 2, 12] node (rows of 12) narrowed to rows of 8.
    #[test]
    fn views_within_the_kept_columns_move_onto_the_narrow_rows() {
        // The first block of every row; the same, batch first; timestep 2's second block.
        assert_eq!(
            narrow(&layout(&[3, 2, 4], &[24, 12, 1], 0), 12, 8),
            Some(layout(&[3, 2, 4], &[16, 8, 1], 0))
        );
        assert_eq!(
            narrow(&layout(&[2, 3, 4], &[12, 24, 1], 0), 12, 8),
            Some(layout(&[2, 3, 4], &[8, 16, 1], 0))
        );
        assert_eq!(
            narrow(&layout(&[2, 4], &[12, 1], 52), 12, 8),
            Some(layout(&[2, 4], &[8, 1], 36))
        );
        // Broadcast and size-1 axes.
        assert_eq!(
            narrow(&layout(&[1, 5, 8], &[7, 0, 1], 12), 12, 8),
            Some(layout(&[1, 5, 8], &[0, 0, 1], 8))
        );
    }

    #[test]
    fn views_past_the_kept_columns_do_not_narrow() {
        // The third block; a block that runs one past; a stride across rows that is not
        // whole rows.
        assert_eq!(narrow(&layout(&[3, 2, 4], &[24, 12, 1], 8), 12, 8), None);
        assert_eq!(narrow(&layout(&[2, 5], &[12, 1], 4), 12, 8), None);
        assert_eq!(narrow(&layout(&[3, 2], &[13, 1], 0), 12, 8), None);
    }
}
