//! Reverse-mode autodiff over the lazy graph. `grad` adds the backward nodes to the same
//! graph, so the loss, its gradients and whatever uses them (an optimizer's update) realize
//! together as one plan.
//!
//! A tensor is a node seen through a layout, and views are not nodes; so each gradient is
//! kept per node (dense, of the node's shape) and a view's adjoint maps a view-shaped
//! gradient back onto its node: sum over broadcast (stride-0) axes, then place the values
//! at the view's positions in a zero tensor.

mod accumulate;
mod rules;

use std::collections::{HashMap, HashSet};
use std::panic::Location;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::graph::{no_grad, Node, State, Tensor};
use crate::shape::{numel, Layout};

/// Gradients of the one-element `loss` with respect to each of `wrt`, as lazy tensors of
/// their shapes (zeros for one the loss does not depend on). Nothing runs until they are
/// read or realized; realize them together with the loss for one plan.
#[track_caller]
pub fn grad(loss: &Tensor, wrt: &[&Tensor]) -> Result<Vec<Tensor>> {
    let location = Location::caller();
    if loss.numel() != 1 {
        return Err(Error::InvalidArgument {
            op: "grad",
            message: format!(
                "the loss must have one element, it has shape {:?}",
                loss.shape()
            ),
            location,
        });
    }
    for (i, t) in wrt.iter().enumerate() {
        loss.same_device("grad", t)?;
        if !t.requires_grad() {
            return Err(Error::InvalidArgument {
                op: "grad",
                message: format!(
                    "tensor {i} of shape {:?} does not require gradients (mark it with set_requires_grad \
                     before recording the ops that use it)",
                    t.shape()
                ),
                location,
            });
        }
    }
    if !loss.requires_grad() {
        return Err(Error::NoGradient { location });
    }
    no_grad(|| backward(loss, wrt, location))
}

/// Nodes reachable from `root` through edges that carry gradients, inputs before users.
fn topological(
    root: &Arc<Node>,
    wanted: &HashSet<u64>,
    location: &'static Location<'static>,
) -> Result<Vec<Arc<Node>>> {
    let mut order = Vec::new();
    let mut seen = HashSet::new();
    let mut stack: Vec<(Arc<Node>, bool)> = vec![(root.clone(), false)];
    while let Some((node, expanded)) = stack.pop() {
        if expanded {
            order.push(node);
            continue;
        }
        if !seen.insert(node.id) {
            continue;
        }
        let inputs: Vec<Arc<Node>> = match &*node.state() {
            State::Pending { inputs, .. } => inputs
                .iter()
                .filter(|t| !t.detached && t.node.requires_grad())
                .map(|t| t.node.clone())
                .collect(),
            State::Realized(_) => {
                if node.derived && !node.is_grad_leaf() && !wanted.contains(&node.id) {
                    return Err(Error::GraphCut {
                        shape: node.shape.clone(),
                        location,
                    });
                }
                Vec::new()
            }
        };
        stack.push((node, true));
        stack.extend(inputs.into_iter().map(|n| (n, false)));
    }
    Ok(order)
}

fn backward(
    loss: &Tensor,
    wrt: &[&Tensor],
    location: &'static Location<'static>,
) -> Result<Vec<Tensor>> {
    let wanted: HashSet<u64> = wrt.iter().map(|t| t.node.id).collect();
    let order = topological(&loss.node, &wanted, location)?;
    // Each node's gradient as the (gradient, layout) of every view of it that received one,
    // assembled when the node is reached (accumulate.rs).
    let mut pieces: HashMap<u64, Vec<(Tensor, Layout)>> = HashMap::new();
    let seed = Tensor::constant(1.0, loss.dtype(), loss.device())?.reshape_usize(loss.shape())?;
    pieces.insert(loss.node.id, vec![(seed, loss.layout.clone())]);
    let mut grads: HashMap<u64, Tensor> = HashMap::new();
    for node in order.iter().rev() {
        let Some(parts) = pieces.remove(&node.id) else {
            continue;
        };
        let pending = match &*node.state() {
            State::Pending { op, inputs } => Some((op.clone(), inputs.clone())),
            State::Realized(_) => None,
        };
        let columns = pending
            .as_ref()
            .and_then(|(op, _)| rules::gradient_columns(op, &node.shape));
        let g = match columns {
            Some(kept) if !wanted.contains(&node.id) => {
                accumulate::combine_columns(parts, &node.shape, kept)?
            }
            // A node asked for keeps its whole gradient, for the caller.
            _ => {
                let whole = accumulate::combine(parts, &node.shape)?;
                grads.insert(node.id, whole.clone());
                match columns {
                    Some(kept) => whole.slice(-1, 0, kept as isize, 1)?.contiguous(),
                    None => whole,
                }
            }
        };
        let Some((op, inputs)) = pending else {
            continue;
        };
        let y = Tensor::of_node(node.clone());
        let input_grads = rules::backward(&op, &inputs, &y, &g)?;
        for (input, input_grad) in inputs.iter().zip(input_grads) {
            let Some(gi) = input_grad else { continue };
            if input.detached || !input.node.requires_grad() {
                continue;
            }
            pieces
                .entry(input.node.id)
                .or_default()
                .push((gi, input.layout.clone()));
        }
    }
    wrt.iter()
        .map(|t| {
            let g = match (grads.remove(&t.node.id), pieces.remove(&t.node.id)) {
                (Some(g), _) => g,
                (None, Some(parts)) => accumulate::combine(parts, &t.node.shape)?,
                (None, None) => return Tensor::zeros(t.shape(), t.dtype(), t.device()),
            };
            grads.insert(t.node.id, g.clone());
            view_through(&g, &t.layout)
        })
        .collect()
}

/// The adjoint of viewing a node of `base` shape through `layout`: a gradient of the view's
/// shape becomes one of the node's shape.
fn unview(g: &Tensor, layout: &Layout, base: &[usize]) -> Result<Tensor> {
    let broadcast: Vec<isize> = (0..layout.rank())
        .filter(|&d| layout.strides[d] == 0 && layout.shape[d] > 1)
        .map(|d| d as isize)
        .collect();
    let mut region = layout.clone();
    let g = if broadcast.is_empty() {
        g.clone()
    } else {
        for &d in &broadcast {
            region.shape[d as usize] = 1;
        }
        g.sum(&broadcast, true)?
    };
    if region.offset == 0 && region.numel() == numel(base) {
        // A permutation of the whole node (a transpose, say): its adjoint is the inverse
        // permutation, a view again, with nothing copied.
        if let Some(order) = dense_order(&region) {
            let axes: Vec<isize> = order.iter().map(|&d| d as isize).collect();
            return g.permute(&axes)?.reshape_usize(base);
        }
    }
    Ok(g.place(region, base.to_vec(), 0.0))
}

/// The order of axes that makes `layout` dense row-major, if one does (size-1 axes are
/// placed where they stand).
fn dense_order(layout: &Layout) -> Option<Vec<usize>> {
    let mut order: Vec<usize> = (0..layout.rank()).collect();
    order.sort_by_key(|&d| {
        (
            std::cmp::Reverse(if layout.shape[d] == 1 {
                usize::MAX
            } else {
                layout.strides[d]
            }),
            d,
        )
    });
    layout.permute(&order).is_contiguous().then_some(order)
}

/// `layout` (a view of a node) applied to `g`, a gradient of that node's shape.
pub(crate) fn view_through(g: &Tensor, layout: &Layout) -> Result<Tensor> {
    // The whole node, row-major: the gradient as it is, whatever its own layout.
    if layout.offset == 0 && layout.is_contiguous() && layout.numel() == g.numel() {
        return g.reshape_usize(&layout.shape);
    }
    let dense = g.contiguous();
    let offset = dense.layout.offset;
    Ok(dense.view(Layout {
        shape: layout.shape.clone(),
        strides: layout.strides.clone(),
        offset: layout.offset + offset,
    }))
}
