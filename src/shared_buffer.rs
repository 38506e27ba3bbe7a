//! Device memory shared with a host program that owns the wgpu device (see
//! [`Device::from_wgpu`]): a realized tensor lends its `wgpu::Buffer`, and a buffer of the
//! host's becomes a tensor, neither with a copy.
//!
//! The rules. The engine and the host submit to the same queue, so submissions run in the
//! order they were made: once [`Tensor::gpu_buffer`] returns, the work that wrote the
//! tensor has been submitted, and any later submission of the host sees its result. A
//! tensor over a host buffer reads the buffer when the tensor (or something computed from
//! it) is realized, not when it is wrapped: the host should not write to it until then.
//! The engine never writes to either: a realized tensor's memory holds its value for good,
//! and a result is always a new buffer. Writing into a lent buffer changes every tensor
//! that shares it (views of the same result), so the host should treat it as read-only.

use std::panic::Location;
use std::sync::Arc;

use crate::backend::gpu::GpuBuffer;
use crate::backend::Buffer;
use crate::device::Device;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::Tensor;
use crate::shape::{check_shape, numel, Layout};

/// The usages a host buffer needs to be a tensor: kernels bind it as storage, and reading
/// it back or copying it to the CPU path copies from it.
pub const TENSOR_USAGES: wgpu::BufferUsages =
    wgpu::BufferUsages::STORAGE.union(wgpu::BufferUsages::COPY_SRC);

/// The fewest bytes a buffer binds to the kernels with: some read 32 bytes at a time (a
/// vector of four 8-byte words), and a binding must hold one.
pub const MIN_TENSOR_BUFFER: u64 = 32;

/// A realized GPU tensor's memory, lent: while this lives the buffer stays allocated and
/// out of the engine's pool, even after every tensor over it is gone.
pub struct SharedBuffer {
    buffer: Arc<GpuBuffer>,
    dtype: DType,
    layout: Layout,
}

impl SharedBuffer {
    /// The whole buffer; the tensor's elements start at [`SharedBuffer::offset`].
    pub fn buffer(&self) -> &wgpu::Buffer {
        self.buffer.raw()
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn shape(&self) -> &[usize] {
        &self.layout.shape
    }

    /// Each axis' stride in elements (row-major for a contiguous tensor).
    pub fn strides(&self) -> &[usize] {
        &self.layout.strides
    }

    pub fn is_contiguous(&self) -> bool {
        self.layout.is_contiguous()
    }

    /// Where the first element starts, in bytes.
    pub fn offset(&self) -> u64 {
        (self.layout.offset * self.dtype.size_in_bytes()) as u64
    }

    /// Bytes from [`SharedBuffer::offset`] to the end of the last element the tensor
    /// reaches (0 for an empty tensor).
    pub fn size(&self) -> u64 {
        if self.layout.shape.contains(&0) {
            return 0;
        }
        let last: usize = self
            .layout
            .shape
            .iter()
            .zip(&self.layout.strides)
            .map(|(&n, &stride)| (n - 1) * stride)
            .sum();
        ((last + 1) * self.dtype.size_in_bytes()) as u64
    }
}

impl Tensor {
    /// Realize this tensor and lend its device memory to the host program, without a copy.
    /// An error for a tensor of the CPU path.
    #[track_caller]
    pub fn gpu_buffer(&self) -> Result<SharedBuffer> {
        if !self.device().is_gpu() {
            return Err(Error::invalid(
                "gpu_buffer",
                format!(
                    "the tensor lives on {}; only a GPU tensor has a wgpu buffer",
                    self.device()
                ),
            ));
        }
        self.realize()?;
        match self.node.realized() {
            Some(Buffer::Gpu(buffer)) => Ok(SharedBuffer {
                buffer,
                dtype: self.dtype(),
                layout: self.layout.clone(),
            }),
            _ => unreachable!("a realized GPU tensor holds a GPU buffer"),
        }
    }

    /// A tensor of `shape` and `dtype` over the host's `buffer`, row-major from its start,
    /// without a copy. The buffer must come from the wgpu device that `device` was made
    /// from ([`Device::from_wgpu`]), have [`TENSOR_USAGES`], hold the elements (their size
    /// rounded up to 4 bytes, as storage bindings are) and at least [`MIN_TENSOR_BUFFER`]
    /// bytes, within the device's largest storage binding.
    #[track_caller]
    pub fn from_wgpu_buffer(
        buffer: wgpu::Buffer,
        shape: &[usize],
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor> {
        check_shape("from_wgpu_buffer", shape)?;
        let Device::Gpu(ctx) = device else {
            return Err(Error::invalid(
                "from_wgpu_buffer",
                "a wgpu buffer becomes a tensor of a GPU device, not of the CPU path",
            ));
        };
        if !buffer.usage().contains(TENSOR_USAGES) {
            return Err(Error::invalid(
                "from_wgpu_buffer",
                format!(
                    "the buffer's usages {:?} lack {:?}; create it with STORAGE | COPY_SRC",
                    buffer.usage(),
                    TENSOR_USAGES - buffer.usage()
                ),
            ));
        }
        let needed = ((numel(shape) * dtype.size_in_bytes()) as u64).next_multiple_of(4);
        if buffer.size() < needed {
            return Err(Error::DataLength {
                op: "from_wgpu_buffer",
                shape: shape.to_vec(),
                expected: numel(shape),
                got: buffer.size() as usize / dtype.size_in_bytes(),
                location: Location::caller(),
            });
        }
        if buffer.size() < MIN_TENSOR_BUFFER {
            return Err(Error::invalid(
                "from_wgpu_buffer",
                format!(
                    "the buffer has {} bytes; kernels bind buffers of at least \
                     {MIN_TENSOR_BUFFER} (some read that many at a time)",
                    buffer.size()
                ),
            ));
        }
        let limit = ctx.limits().max_storage_buffer_binding_size;
        if buffer.size() > limit {
            return Err(Error::BufferTooLarge {
                op: "from_wgpu_buffer",
                bytes: buffer.size(),
                limit,
                limit_name: "max_storage_buffer_binding_size",
            });
        }
        Ok(Tensor::realized(
            Buffer::Gpu(Arc::new(GpuBuffer::foreign(buffer))),
            shape,
            dtype,
            device,
        ))
    }
}
