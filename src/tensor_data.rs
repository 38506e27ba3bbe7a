//! Creating tensors from data and reading them back: what starts and ends a computation.
//! Reading runs whatever is pending (see [`crate::realize`]).

use std::panic::Location;
use std::sync::Arc;

use crate::counter_rng;
use crate::device::Device;
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::graph::{Node, Tensor};
use crate::realize;
use crate::shape::{check_shape, numel};
use crate::storage::{with_dtype, with_room, CpuData};

impl Tensor {
    /// A tensor from `data` laid out row-major in `shape`.
    #[track_caller]
    pub fn from_vec<T: Element>(data: Vec<T>, shape: &[usize], device: &Device) -> Result<Tensor> {
        check_shape("from_vec", shape)?;
        if data.len() != numel(shape) {
            return Err(Error::DataLength {
                op: "from_vec",
                shape: shape.to_vec(),
                expected: numel(shape),
                got: data.len(),
                location: Location::caller(),
            });
        }
        let buffer = device.upload(CpuData::from_vec(data))?;
        Ok(Tensor::realized(buffer, shape, T::DTYPE, device))
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
        if !(low.is_finite() && high.is_finite() && low <= high) {
            return Err(Error::invalid(
                "rand_uniform",
                format!("needs finite bounds low ≤ high, got [{low}, {high})"),
            ));
        }
        let values =
            (0..numel(shape) as u64).map(|i| low + (high - low) * counter_rng::uniform(seed, i));
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
        if !(mean.is_finite() && std.is_finite() && std >= 0.0) {
            return Err(Error::invalid(
                "rand_normal",
                format!("needs a finite mean and std ≥ 0, got mean {mean}, std {std}"),
            ));
        }
        let values = (0..numel(shape) as u64).map(|i| mean + std * counter_rng::normal(seed, i));
        Tensor::from_f64s(values, shape, dtype, device)
    }

    #[track_caller]
    fn from_f64s(
        values: impl Iterator<Item = f64>,
        shape: &[usize],
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor> {
        check_shape("from_values", shape)?;
        with_dtype!(dtype, T => {
            let mut data = with_room::<T>(numel(shape), "a new tensor's values")?;
            data.extend(values.map(T::from_f64));
            Tensor::from_vec(data, shape, device)
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
        realize::realize(&[self])
    }
}
