//! Reading device buffers back: a copy into a mappable buffer, then its bytes, either
//! waited for (blocking the thread) or delivered as a future that needs no blocked thread
//! of the caller's, like waiting for the queue's work to finish.
//!
//! A wgpu callback (a mapping, finished work) fires while the device is polled. Native
//! backends are polled by nobody else, so an awaited callback is driven by a helper thread
//! that waits on the device until the work submitted before it is done.

use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use crate::backend::gpu::buffer_pool::GpuBuffer;
use crate::backend::gpu::context::GpuContext;
use crate::error::{Error, Result};

/// A copy into a mappable buffer, recorded but maybe not yet submitted.
pub(crate) struct Staged {
    staging: Arc<GpuBuffer>,
    skip: usize,
    len: usize,
}

impl GpuContext {
    /// The bytes `range` of `buffer`, waited for.
    pub(crate) fn read(&self, buffer: &GpuBuffer, range: Range<u64>) -> Result<Vec<u8>> {
        self.submit_read(buffer, range)?.finish(self)
    }

    /// The bytes `range` of `buffer`, as a future; the copy is submitted at once.
    pub(crate) fn read_async(
        &self,
        buffer: &GpuBuffer,
        range: Range<u64>,
    ) -> Result<impl Future<Output = Result<Vec<u8>>> + Send + 'static> {
        let staged = self.submit_read(buffer, range)?;
        let ctx = self.me.upgrade().ok_or_else(|| Error::DeviceLost {
            reason: "the device's context is gone".into(),
        })?;
        Ok(staged.finish_async(ctx))
    }

    /// A future that is ready once the work submitted so far has finished.
    pub(crate) fn work_done(&self) -> Result<impl Future<Output = Result<()>> + Send + 'static> {
        let ctx = self.me.upgrade().ok_or_else(|| Error::DeviceLost {
            reason: "the device's context is gone".into(),
        })?;
        let (done, finished) = completion();
        self.queue.on_submitted_work_done(move || done.complete(()));
        drive(&self.device);
        Ok(async move {
            match finished.await {
                Some(()) => ctx.check_alive(),
                None => Err(never_completed(&ctx)),
            }
        })
    }

    fn submit_read(&self, buffer: &GpuBuffer, range: Range<u64>) -> Result<Staged> {
        self.scoped("read", || {
            let mut encoder = self.device.create_command_encoder(&Default::default());
            let staged = self.stage(&mut encoder, buffer, range)?;
            self.queue.submit([encoder.finish()]);
            crate::stats::submitted();
            Ok(staged)
        })
    }

    /// Record a copy of `range` of `buffer` into a mappable buffer.
    pub(crate) fn stage(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        buffer: &GpuBuffer,
        range: Range<u64>,
    ) -> Result<Staged> {
        // Copies move whole 4-byte words.
        let start = range.start / 4 * 4;
        let end = range.end.div_ceil(4) * 4;
        let staging = self.pool.staging((end - start).max(4))?;
        if end > start {
            encoder.copy_buffer_to_buffer(buffer.raw(), start, staging.raw(), 0, end - start);
        }
        Ok(Staged {
            staging,
            skip: (range.start - start) as usize,
            len: (range.end - range.start) as usize,
        })
    }
}

impl Staged {
    /// Wait for the copy (submitted by the caller) and return the bytes.
    pub(crate) fn finish(self, ctx: &GpuContext) -> Result<Vec<u8>> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.staging
            .raw()
            .slice(..)
            .map_async(wgpu::MapMode::Read, move |r| {
                let _ = tx.send(r);
            });
        ctx.synchronize()?;
        self.bytes(ctx, rx.recv().ok())
    }

    /// The bytes, once the copy (submitted by the caller) is done, as a future.
    fn finish_async(self, ctx: Arc<GpuContext>) -> impl Future<Output = Result<Vec<u8>>> {
        let (done, mapped) = completion();
        self.staging
            .raw()
            .slice(..)
            .map_async(wgpu::MapMode::Read, move |r| done.complete(r));
        drive(&ctx.device);
        async move {
            let mapped = mapped.await;
            ctx.check_alive()?;
            self.bytes(&ctx, mapped)
        }
    }

    /// The staged bytes, given how the mapping ended (None: it never did).
    fn bytes(
        self,
        ctx: &GpuContext,
        mapped: Option<std::result::Result<(), wgpu::BufferAsyncError>>,
    ) -> Result<Vec<u8>> {
        ctx.check_alive()?;
        mapped
            .ok_or_else(|| never_completed(ctx))?
            .map_err(|e| Error::Gpu {
                context: "mapping a read-back buffer".into(),
                message: e.to_string(),
            })?;
        let bytes = {
            let view = self
                .staging
                .raw()
                .slice(..)
                .get_mapped_range()
                .map_err(|e| Error::Gpu {
                    context: "reading a mapped buffer".into(),
                    message: e.to_string(),
                })?;
            view[self.skip..self.skip + self.len].to_vec()
        };
        self.staging.raw().unmap();
        crate::stats::read_back(bytes.len());
        Ok(bytes)
    }
}

fn never_completed(ctx: &GpuContext) -> Error {
    ctx.check_alive().err().unwrap_or(Error::DeviceLost {
        reason: "a callback of the device never came".into(),
    })
}

/// Let the device's callbacks fire once the work submitted so far is done, without
/// blocking the caller: a helper thread waits on the device (or, where no thread can be
/// started, this one does).
fn drive(device: &wgpu::Device) {
    let waiting = device.clone();
    let started = std::thread::Builder::new()
        .name("lepton-device-wait".into())
        .spawn(move || {
            let _ = waiting.poll(wgpu::PollType::wait_indefinitely());
        });
    if started.is_err() {
        let _ = device.poll(wgpu::PollType::wait_indefinitely());
    }
}

struct Slot<T> {
    value: Option<T>,
    /// The completer is gone, with or without a value.
    closed: bool,
    waker: Option<Waker>,
}

/// A value a callback delivers later: `None` if the callback was dropped without one.
struct Completion<T> {
    slot: Arc<Mutex<Slot<T>>>,
}

struct Completer<T> {
    slot: Arc<Mutex<Slot<T>>>,
}

fn completion<T>() -> (Completer<T>, Completion<T>) {
    let slot = Arc::new(Mutex::new(Slot {
        value: None,
        closed: false,
        waker: None,
    }));
    (Completer { slot: slot.clone() }, Completion { slot })
}

impl<T> Completer<T> {
    fn complete(self, value: T) {
        self.slot.lock().unwrap_or_else(|e| e.into_inner()).value = Some(value);
    }
}

impl<T> Drop for Completer<T> {
    fn drop(&mut self) {
        let waker = {
            let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
            slot.closed = true;
            slot.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> Future for Completion<T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        if slot.closed {
            return Poll::Ready(slot.value.take());
        }
        slot.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}
