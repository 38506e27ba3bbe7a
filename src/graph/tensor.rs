//! `Tensor`: a handle to a node of the graph, seen through a layout. The graph's edges are
//! tensors, so this is the graph's own type; what users call on it (creation, reading,
//! the ops) is added by the layers above.

use std::panic::Location;
use std::sync::Arc;

use crate::device::Device;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::no_grad::grad_enabled;
use crate::graph::{Buffer, Node, State};
use crate::ops::op::Op;
use crate::shape::Layout;

/// An n-dimensional array on a device. Ops only record; `to_vec`, `item` or `realize` run
/// what is pending. Cloning is cheap (a handle).
#[derive(Clone)]
pub struct Tensor {
    pub(crate) node: Arc<Node>,
    pub(crate) layout: Layout,
    /// Gradients do not flow back through this handle (see [`Tensor::detach`]).
    pub(crate) detached: bool,
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Tensor({:?}, {}, {})",
            self.shape(),
            self.dtype(),
            self.device()
        )
    }
}

impl Tensor {
    pub fn shape(&self) -> &[usize] {
        &self.layout.shape
    }

    pub fn rank(&self) -> usize {
        self.layout.rank()
    }

    pub fn numel(&self) -> usize {
        self.layout.numel()
    }

    pub fn dtype(&self) -> DType {
        self.node.dtype
    }

    pub fn device(&self) -> &Device {
        &self.node.device
    }

    /// Strides (in elements) of this view of its buffer.
    pub fn strides(&self) -> &[usize] {
        &self.layout.strides
    }

    /// A 0-dimensional constant for use inside expressions: its buffer is created once per
    /// device, dtype and value, so it costs no kernel launch.
    #[track_caller]
    pub(crate) fn constant(value: f64, dtype: DType, device: &Device) -> Result<Tensor> {
        Ok(Tensor::realized(
            device.constant(dtype, value)?,
            &[],
            dtype,
            device,
        ))
    }

    /// A contiguous tensor of `shape` whose value is `buffer` on `device`.
    pub(crate) fn realized(
        buffer: Buffer,
        shape: &[usize],
        dtype: DType,
        device: &Device,
    ) -> Tensor {
        let node = Node::new(
            State::Realized(buffer),
            shape.to_vec(),
            dtype,
            device.clone(),
            false,
        );
        Tensor {
            node,
            layout: Layout::contiguous(shape),
            detached: false,
        }
    }

    /// Record `op` over `inputs`. Inside [`super::no_grad`] the inputs are recorded detached,
    /// so no gradient flows back through the new node.
    pub(crate) fn from_op(
        op: Op,
        mut inputs: Vec<Tensor>,
        shape: Vec<usize>,
        dtype: DType,
        device: Device,
    ) -> Tensor {
        if !grad_enabled() {
            inputs.iter_mut().for_each(|t| t.detached = true);
        }
        let requires_grad =
            dtype.is_float() && inputs.iter().any(|t| !t.detached && t.node.requires_grad());
        let layout = Layout::contiguous(&shape);
        Tensor {
            node: Node::new(
                State::Pending { op, inputs },
                shape,
                dtype,
                device,
                requires_grad,
            ),
            layout,
            detached: false,
        }
    }

    /// The whole dense output of `node`.
    pub(crate) fn of_node(node: Arc<Node>) -> Tensor {
        let layout = Layout::contiguous(&node.shape);
        Tensor {
            node,
            layout,
            detached: false,
        }
    }

    pub(crate) fn view(&self, layout: Layout) -> Tensor {
        Tensor {
            node: self.node.clone(),
            layout,
            detached: self.detached,
        }
    }

    /// The same values, with gradients stopped: nothing computed from the result passes
    /// gradients back into this tensor's history.
    pub fn detach(&self) -> Tensor {
        Tensor {
            detached: true,
            ..self.clone()
        }
    }

    /// Whether gradients flow into this tensor.
    pub fn requires_grad(&self) -> bool {
        !self.detached && self.node.requires_grad()
    }

    /// Mark this tensor as one to take gradients with respect to (a parameter). Ops recorded
    /// afterwards from it require gradients; ops recorded before are unaffected.
    pub fn set_requires_grad(&self, on: bool) {
        self.node.set_grad_leaf(on);
    }

    #[track_caller]
    pub(crate) fn same_device(&self, op: &'static str, other: &Tensor) -> Result<Device> {
        if self.device() != other.device() {
            return Err(Error::DeviceMismatch {
                op,
                lhs: self.device().to_string(),
                rhs: other.device().to_string(),
                location: Location::caller(),
            });
        }
        Ok(self.device().clone())
    }
}
