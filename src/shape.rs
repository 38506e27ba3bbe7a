//! Layouts: how a tensor's logical shape maps onto the elements of its buffer.
//! Movement ops (reshape, permute, expand, slice) only change a layout; no data moves.

use std::panic::Location;

use crate::error::{Error, Result};

/// Kernels index with at most this many dimensions (the shaders' fixed arrays).
pub const MAX_RANK: usize = 8;

pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// Row-major strides of a dense tensor of `shape`.
pub fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![0; shape.len()];
    let mut acc = 1;
    for d in (0..shape.len()).rev() {
        strides[d] = acc;
        acc *= shape[d];
    }
    strides
}

/// A strided view: element `[i0, i1, ...]` lives at `offset + Σ i_d * strides[d]` in the buffer.
/// Strides are non-negative; a broadcast dimension has stride 0.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Layout {
    pub shape: Vec<usize>,
    pub strides: Vec<usize>,
    pub offset: usize,
}

impl Layout {
    pub fn contiguous(shape: &[usize]) -> Self {
        Layout {
            shape: shape.to_vec(),
            strides: contiguous_strides(shape),
            offset: 0,
        }
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    pub fn numel(&self) -> usize {
        numel(&self.shape)
    }

    /// Elements a buffer must hold for this view: one past its farthest element (at least
    /// one past the offset).
    pub fn reach(&self) -> usize {
        let last: usize = self
            .shape
            .iter()
            .zip(&self.strides)
            .map(|(&n, &s)| n.saturating_sub(1) * s)
            .sum();
        self.offset + last + 1
    }

    /// Whether the elements sit densely in row-major order (from `offset` on).
    pub fn is_contiguous(&self) -> bool {
        let mut expected = 1;
        for d in (0..self.rank()).rev() {
            if self.shape[d] != 1 && self.strides[d] != expected {
                return false;
            }
            expected *= self.shape[d];
        }
        true
    }

    pub fn permute(&self, axes: &[usize]) -> Layout {
        Layout {
            shape: axes.iter().map(|&a| self.shape[a]).collect(),
            strides: axes.iter().map(|&a| self.strides[a]).collect(),
            offset: self.offset,
        }
    }

    /// The same elements seen with `shape`, if strides can express it (None: a copy is needed).
    pub fn reshape(&self, shape: &[usize]) -> Option<Layout> {
        debug_assert_eq!(numel(shape), self.numel());
        if self.is_contiguous() || self.numel() <= 1 {
            return Some(Layout {
                shape: shape.to_vec(),
                strides: contiguous_strides(shape),
                offset: self.offset,
            });
        }
        view_strides(&self.shape, &self.strides, shape).map(|strides| Layout {
            shape: shape.to_vec(),
            strides,
            offset: self.offset,
        })
    }

    /// Broadcast to `shape` (NumPy rules; the caller has checked compatibility).
    pub fn expand(&self, shape: &[usize]) -> Layout {
        let lead = shape.len() - self.rank();
        let mut strides = vec![0; shape.len()];
        for d in 0..self.rank() {
            strides[lead + d] = if self.shape[d] == 1 && shape[lead + d] != 1 {
                0
            } else {
                self.strides[d]
            };
        }
        Layout {
            shape: shape.to_vec(),
            strides,
            offset: self.offset,
        }
    }

    /// Elements `start, start+step, ...` (`len` of them) along `axis`.
    pub fn slice(&self, axis: usize, start: usize, len: usize, step: usize) -> Layout {
        let mut out = self.clone();
        if len > 0 {
            out.offset += start * self.strides[axis];
        }
        out.shape[axis] = len;
        out.strides[axis] *= step;
        out
    }

    /// Merge adjacent dimensions that every layout in `layouts` walks contiguously, and drop
    /// size-1 dimensions: fewer, longer dimensions make strided loops cheaper.
    /// All layouts must share one shape; returns the merged shape and each layout's strides.
    pub fn coalesce(layouts: &[&Layout]) -> (Vec<usize>, Vec<Vec<usize>>) {
        let shape = &layouts[0].shape;
        let mut out_shape: Vec<usize> = Vec::new();
        let mut out_strides: Vec<Vec<usize>> = vec![Vec::new(); layouts.len()];
        for (d, &size) in shape.iter().enumerate() {
            if size == 1 {
                continue;
            }
            let mergeable = !out_shape.is_empty()
                && layouts.iter().enumerate().all(|(i, l)| {
                    *out_strides[i].last().expect("non-empty") == l.strides[d] * size
                });
            if mergeable {
                *out_shape.last_mut().expect("non-empty") *= size;
                for (i, l) in layouts.iter().enumerate() {
                    *out_strides[i].last_mut().expect("non-empty") = l.strides[d];
                }
            } else {
                out_shape.push(size);
                for (i, l) in layouts.iter().enumerate() {
                    out_strides[i].push(l.strides[d]);
                }
            }
        }
        (out_shape, out_strides)
    }
}

/// Strides for viewing (`old_shape`, `old_strides`) as `new_shape` without a copy, where
/// possible: each run of old dimensions that is contiguous in memory may be split or merged
/// freely. This is the rule PyTorch's `view` follows.
fn view_strides(
    old_shape: &[usize],
    old_strides: &[usize],
    new_shape: &[usize],
) -> Option<Vec<usize>> {
    let mut new_strides = vec![0; new_shape.len()];
    let mut view_d = new_shape.len() as isize - 1;
    let mut chunk_base = *old_strides.last()?;
    let mut tensor_numel = 1;
    let mut view_numel = 1;
    for tensor_d in (0..old_shape.len()).rev() {
        tensor_numel *= old_shape[tensor_d];
        let chunk_ends = tensor_d == 0
            || (old_shape[tensor_d - 1] != 1
                && old_strides[tensor_d - 1] != tensor_numel * chunk_base);
        if chunk_ends {
            while view_d >= 0 && (view_numel < tensor_numel || new_shape[view_d as usize] == 1) {
                new_strides[view_d as usize] = view_numel * chunk_base;
                view_numel *= new_shape[view_d as usize];
                view_d -= 1;
            }
            if view_numel != tensor_numel {
                return None;
            }
            if tensor_d > 0 {
                chunk_base = old_strides[tensor_d - 1];
                tensor_numel = 1;
                view_numel = 1;
            }
        }
    }
    (view_d == -1).then_some(new_strides)
}

/// NumPy broadcasting of two shapes.
#[track_caller]
pub fn broadcast_shapes(op: &'static str, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for i in 0..rank {
        let da = if i < rank - a.len() {
            1
        } else {
            a[i - (rank - a.len())]
        };
        let db = if i < rank - b.len() {
            1
        } else {
            b[i - (rank - b.len())]
        };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => {
                return Err(Error::ShapeMismatch {
                    op,
                    lhs: a.to_vec(),
                    rhs: b.to_vec(),
                    why: format!("dimension {i} of the broadcast shape: {da} vs {db}"),
                    location: Location::caller(),
                })
            }
        };
    }
    check_shape(op, &out)?;
    Ok(out)
}

/// Resolve a possibly negative axis against `rank`.
#[track_caller]
pub fn normalize_axis(op: &'static str, axis: isize, rank: usize) -> Result<usize> {
    let resolved = if axis < 0 { axis + rank as isize } else { axis };
    if resolved < 0 || resolved >= rank as isize {
        return Err(Error::AxisOutOfRange {
            op,
            axis,
            rank,
            location: Location::caller(),
        });
    }
    Ok(resolved as usize)
}

/// `shape` is one a tensor can have: at most `MAX_RANK` axes, and an element count whose
/// bytes fit in a `usize` (or none), so that no size computed from it wraps.
#[track_caller]
pub fn check_shape(op: &'static str, shape: &[usize]) -> Result<()> {
    if shape.len() > MAX_RANK {
        return Err(Error::invalid(
            op,
            format!(
                "rank {} exceeds the supported {MAX_RANK} dimensions (shape {shape:?})",
                shape.len()
            ),
        ));
    }
    // Its bytes in the widest dtype (8) must be countable too. An empty shape holds none.
    let bytes = shape.iter().try_fold(8usize, |n, &d| n.checked_mul(d));
    if bytes.is_none() && !shape.contains(&0) {
        return Err(Error::invalid(
            op,
            format!("shape {shape:?} holds more elements than memory can address"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reshape_of_transposed_needs_copy_but_split_does_not() {
        let base = Layout::contiguous(&[4, 6]);
        let t = base.permute(&[1, 0]);
        assert!(t.reshape(&[24]).is_none());
        let split = t.reshape(&[2, 3, 4]).expect("splitting one dim is a view");
        assert_eq!(split.strides, vec![3, 1, 6]);
    }

    #[test]
    fn sliced_rows_merge_only_inside_rows() {
        let base = Layout::contiguous(&[4, 6]).slice(0, 0, 2, 2);
        assert_eq!(base.strides, vec![12, 1]);
        assert!(base.reshape(&[12]).is_none());
        assert_eq!(
            base.reshape(&[2, 2, 3]).expect("view").strides,
            vec![12, 3, 1]
        );
    }

    #[test]
    fn coalesce_merges_dense_runs() {
        let a = Layout::contiguous(&[2, 3, 4]);
        let b = Layout::contiguous(&[3, 4]).expand(&[2, 3, 4]);
        let (shape, strides) = Layout::coalesce(&[&a, &b]);
        assert_eq!(shape, vec![2, 12]);
        assert_eq!(strides, vec![vec![12, 1], vec![0, 1]]);
    }
}
