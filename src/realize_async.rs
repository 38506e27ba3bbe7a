//! Results without blocking the thread: `to_vec_async` and `realize_async` submit their work
//! at once and return futures that an async program awaits, ready when the device has
//! finished; nothing in them blocks the thread that polls them. On the CPU path the work
//! runs on the calling thread when the future is made, and the future is ready at once. A
//! plan with steps that fall back to the CPU (f64, or f16 without SHADER_F16) waits for the
//! GPU at each crossing while the future is made.

use std::future::Future;
use std::panic::Location;
use std::pin::Pin;

use crate::backend::Buffer;
use crate::device::Device;
use crate::dtype::Element;
use crate::error::{Error, Result};
use crate::graph::Tensor;

type Bytes = Pin<Box<dyn Future<Output = Result<Vec<u8>>> + Send>>;

impl Tensor {
    /// [`Tensor::to_vec`] as a future: the elements in row-major order.
    #[track_caller]
    pub fn to_vec_async<T: Element>(
        &self,
    ) -> impl Future<Output = Result<Vec<T>>> + Send + 'static {
        let submitted = self.submit_read::<T>(Location::caller());
        async move {
            match submitted? {
                Ok(values) => Ok(values),
                Err(bytes) => Ok(bytemuck::pod_collect_to_vec(&bytes.await?)),
            }
        }
    }

    /// [`Tensor::realize`] as a future, ready once the device has computed the tensor.
    pub fn realize_async(&self) -> impl Future<Output = Result<()>> + Send + 'static {
        realize_async(&[self])
    }

    /// The values at once (the CPU path), or the future bytes of a copy submitted now.
    fn submit_read<T: Element>(
        &self,
        location: &'static Location<'static>,
    ) -> Result<std::result::Result<Vec<T>, Bytes>> {
        if T::DTYPE != self.dtype() {
            return Err(Error::DtypeMismatch {
                op: "to_vec_async",
                lhs: self.dtype(),
                rhs: T::DTYPE,
                location,
            });
        }
        let Device::Gpu(ctx) = self.device() else {
            return self.to_vec::<T>().map(Ok);
        };
        let dense = self.contiguous();
        dense.realize()?;
        let Some(Buffer::Gpu(buffer)) = dense.node.realized() else {
            unreachable!("a realized GPU tensor holds a GPU buffer")
        };
        let size = self.dtype().size_in_bytes() as u64;
        let start = dense.layout.offset as u64 * size;
        let range = start..start + dense.numel() as u64 * size;
        Ok(Err(Box::pin(ctx.read_async(&buffer, range)?)))
    }
}

/// [`crate::realize`] as a future: the tensors' work is submitted at once, and the future is
/// ready once every device they live on has finished it.
pub fn realize_async(tensors: &[&Tensor]) -> impl Future<Output = Result<()>> + Send + 'static {
    let submitted = crate::realize::realize(tensors).and_then(|()| {
        let mut devices: Vec<&Device> = Vec::new();
        for t in tensors {
            if !devices.contains(&t.device()) {
                devices.push(t.device());
            }
        }
        devices
            .into_iter()
            .filter_map(|d| match d {
                Device::Gpu(ctx) => Some(ctx.work_done()),
                Device::Cpu => None,
            })
            .collect::<Result<Vec<_>>>()
    });
    async move {
        for finished in submitted? {
            finished.await?;
        }
        Ok(())
    }
}
