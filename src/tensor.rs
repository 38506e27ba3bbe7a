//! `Tensor`: a lazy handle to a node of the graph, seen through a layout.

use std::panic::Location;
use std::sync::Arc;

use crate::backend::cpu::CpuData;
use crate::device::Device;
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::graph::{Node, State};
use crate::ops::Op;
use crate::plan::realize;
use crate::shape::{check_rank, numel, Layout};

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

    /// A tensor from `data` laid out row-major in `shape`.
    #[track_caller]
    pub fn from_vec<T: Element>(data: Vec<T>, shape: &[usize], device: &Device) -> Result<Tensor> {
        check_rank("from_vec", shape)?;
        if data.len() != numel(shape) {
            return Err(Error::DataLength {
                op: "from_vec",
                shape: shape.to_vec(),
                expected: numel(shape),
                got: data.len(),
                location: Location::caller(),
            });
        }
        device.check_dtype("from_vec", T::DTYPE)?;
        let buffer = device.upload(CpuData::from_vec(data))?;
        let node = Node::new(
            State::Realized(buffer),
            shape.to_vec(),
            T::DTYPE,
            device.clone(),
            false,
        );
        Ok(Tensor {
            node,
            layout: Layout::contiguous(shape),
            detached: false,
        })
    }

    /// A 0-dimensional constant for use inside expressions: its buffer is created once per
    /// device, dtype and value, so it costs no kernel launch.
    #[track_caller]
    pub(crate) fn constant(value: f64, dtype: DType, device: &Device) -> Result<Tensor> {
        device.check_dtype("constant", dtype)?;
        let node = Node::new(
            State::Realized(device.constant(dtype, value)?),
            Vec::new(),
            dtype,
            device.clone(),
            false,
        );
        Ok(Tensor {
            node,
            layout: Layout::contiguous(&[]),
            detached: false,
        })
    }

    /// A tensor from a slice, copied.
    #[track_caller]
    pub fn from_slice<T: Element>(data: &[T], shape: &[usize], device: &Device) -> Result<Tensor> {
        Tensor::from_vec(data.to_vec(), shape, device)
    }

    /// A 0-dimensional tensor holding `value`.
    #[track_caller]
    pub fn scalar<T: Element>(value: T, device: &Device) -> Result<Tensor> {
        Tensor::from_vec(vec![value], &[], device)
    }

    /// `start, start + step, ...` below `end`, as NumPy's `arange`.
    #[track_caller]
    pub fn arange(
        start: f64,
        end: f64,
        step: f64,
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor> {
        if step == 0.0 || !step.is_finite() || !start.is_finite() || !end.is_finite() {
            return Err(Error::invalid(
                "arange",
                format!("needs finite bounds and a nonzero step, got {start}..{end} step {step}"),
            ));
        }
        let n = ((end - start) / step).ceil().max(0.0) as usize;
        Tensor::from_f64s((0..n).map(|i| start + i as f64 * step), &[n], dtype, device)
    }

    /// Uniform samples in [low, high), reproducible from `seed` on every device.
    #[track_caller]
    pub fn rand_uniform(
        shape: &[usize],
        low: f64,
        high: f64,
        seed: u64,
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor> {
        let values =
            (0..numel(shape) as u64).map(|i| low + (high - low) * crate::random::uniform(seed, i));
        Tensor::from_f64s(values, shape, dtype, device)
    }

    /// Normal samples with the given mean and standard deviation, reproducible from `seed`.
    #[track_caller]
    pub fn rand_normal(
        shape: &[usize],
        mean: f64,
        std: f64,
        seed: u64,
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor> {
        let values = (0..numel(shape) as u64).map(|i| mean + std * crate::random::normal(seed, i));
        Tensor::from_f64s(values, shape, dtype, device)
    }

    #[track_caller]
    fn from_f64s(
        values: impl Iterator<Item = f64>,
        shape: &[usize],
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor> {
        crate::backend::cpu::with_dtype!(dtype, T => {
            Tensor::from_vec(values.map(T::from_f64).collect::<Vec<T>>(), shape, device)
        })
    }

    /// The elements in row-major order, running whatever is pending.
    #[track_caller]
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        if T::DTYPE != self.dtype() {
            return Err(Error::DtypeMismatch {
                op: "to_vec",
                lhs: self.dtype(),
                rhs: T::DTYPE,
                location: Location::caller(),
            });
        }
        self.to_vec_with(&[])
    }

    /// `to_vec`, realizing `also` (tensors on the same device) in the same plan.
    pub(crate) fn to_vec_with<T: Element>(&self, also: &[&Tensor]) -> Result<Vec<T>> {
        let dense = self.contiguous();
        let start = dense.layout.offset;
        let others: Vec<Arc<Node>> = also.iter().map(|t| t.node.clone()).collect();
        let bytes = realize::read(&dense.node, start, dense.numel(), &others)?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    /// The single element of a one-element tensor.
    #[track_caller]
    pub fn item<T: Element>(&self) -> Result<T> {
        if self.numel() != 1 {
            return Err(Error::invalid(
                "item",
                format!(
                    "needs exactly one element, the tensor has shape {:?}",
                    self.shape()
                ),
            ));
        }
        Ok(self.to_vec::<T>()?[0])
    }

    /// Run what this tensor depends on, keeping the result on the device.
    pub fn realize(&self) -> Result<()> {
        crate::realize(&[self])
    }

    /// Record `op` over `inputs`. Inside [`crate::no_grad`] the inputs are recorded detached,
    /// so no gradient flows back through the new node.
    pub(crate) fn from_op(
        op: Op,
        mut inputs: Vec<Tensor>,
        shape: Vec<usize>,
        dtype: DType,
        device: Device,
    ) -> Tensor {
        if !crate::autodiff::grad_enabled() {
            inputs.iter_mut().for_each(|t| t.detached = true);
        }
        let requires_grad = inputs.iter().any(|t| !t.detached && t.node.requires_grad());
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
