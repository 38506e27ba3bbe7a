//! The lazy graph: a tensor is a handle to a node; a node is either pending (an op over
//! input tensors) or realized (a buffer). Nodes always own a dense buffer of their shape.

mod no_grad;
mod tensor;

pub use no_grad::no_grad;
pub use tensor::Tensor;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::backend::Buffer;
use crate::device::Device;
use crate::dtype::DType;
use crate::ops::op::Op;

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

pub(crate) struct Node {
    pub id: u64,
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub device: Device,
    /// Whether gradients flow into this node (an input of it requires them, or it was marked).
    requires_grad: AtomicBool,
    /// Marked by the user as something to differentiate with respect to: its gradient is
    /// wanted even after it is realized.
    grad_leaf: AtomicBool,
    /// Created by an op (not from user data): once realized, its history is gone.
    pub derived: bool,
    state: Mutex<State>,
}

pub(crate) enum State {
    Pending { op: Op, inputs: Vec<Tensor> },
    Realized(Buffer),
}

impl Node {
    pub fn new(
        state: State,
        shape: Vec<usize>,
        dtype: DType,
        device: Device,
        requires_grad: bool,
    ) -> Arc<Node> {
        let derived = matches!(state, State::Pending { .. });
        Arc::new(Node {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            dtype,
            shape,
            device,
            requires_grad: AtomicBool::new(requires_grad),
            grad_leaf: AtomicBool::new(false),
            derived,
            state: Mutex::new(state),
        })
    }

    pub fn requires_grad(&self) -> bool {
        self.requires_grad.load(Ordering::Relaxed)
    }

    pub fn is_grad_leaf(&self) -> bool {
        self.grad_leaf.load(Ordering::Relaxed)
    }

    /// Mark (or unmark) this node as a tensor gradients are taken with respect to.
    pub fn set_grad_leaf(&self, on: bool) {
        self.grad_leaf.store(on, Ordering::Relaxed);
        self.requires_grad.store(on, Ordering::Relaxed);
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means another thread panicked mid-update of this node;
        // states are replaced whole, so the value is still consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn realized(&self) -> Option<Buffer> {
        match &*self.state() {
            State::Realized(b) => Some(b.clone()),
            State::Pending { .. } => None,
        }
    }

    pub fn set_realized(&self, buffer: Buffer) {
        let old = std::mem::replace(&mut *self.state(), State::Realized(buffer));
        drop(old);
    }
}

impl Drop for Node {
    // Long chains (an RNN unrolled over thousands of steps) would overflow the stack if
    // dropped recursively, so inputs are unlinked with an explicit stack.
    fn drop(&mut self) {
        let take = |state: &mut State| match state {
            State::Pending { inputs, .. } => std::mem::take(inputs),
            State::Realized(_) => Vec::new(),
        };
        let mut stack = take(self.state.get_mut().unwrap_or_else(|e| e.into_inner()));
        while let Some(t) = stack.pop() {
            if let Ok(mut node) = Arc::try_unwrap(t.node) {
                stack.extend(take(
                    node.state.get_mut().unwrap_or_else(|e| e.into_inner()),
                ));
            }
        }
    }
}
