//! Device buffers, pooled by size class: a buffer whose tensor is dropped goes back to the
//! pool, so a replayed computation allocates nothing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use crate::error::{Error, Result};

static NEXT_BUFFER: AtomicU64 = AtomicU64::new(0);

pub(crate) const STORAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);
/// Kernel parameters: bound as uniform by some kernels, as storage by others.
pub(crate) const PARAMS: wgpu::BufferUsages = STORAGE.union(wgpu::BufferUsages::UNIFORM);
pub(crate) const STAGING: wgpu::BufferUsages =
    wgpu::BufferUsages::MAP_READ.union(wgpu::BufferUsages::COPY_DST);

type Class = (u64, wgpu::BufferUsages);

#[derive(Default)]
struct Free {
    buffers: HashMap<Class, Vec<(u64, wgpu::Buffer)>>,
}

pub(crate) struct Pool {
    device: wgpu::Device,
    queue: wgpu::Queue,
    /// Whether each new buffer is checked for its memory (`holds_memory`).
    check_new: bool,
    free: Arc<Mutex<Free>>,
    max_buffer: u64,
    max_binding: u64,
}

/// A device buffer; dropping it returns it to its pool.
pub(crate) struct GpuBuffer {
    pub id: u64,
    pub size: u64,
    buffer: Option<wgpu::Buffer>,
    usage: wgpu::BufferUsages,
    home: Weak<Mutex<Free>>,
}

impl GpuBuffer {
    pub fn raw(&self) -> &wgpu::Buffer {
        self.buffer.as_ref().expect("present until dropped")
    }

    /// A buffer the host program made, held as the engine's own until dropped, when it
    /// goes back to the host rather than to a pool.
    pub fn foreign(buffer: wgpu::Buffer) -> GpuBuffer {
        let size = buffer.size();
        crate::stats::buffer_allocated(size);
        GpuBuffer {
            id: NEXT_BUFFER.fetch_add(1, Ordering::Relaxed),
            size,
            usage: buffer.usage(),
            buffer: Some(buffer),
            home: Weak::new(),
        }
    }
}

impl Drop for GpuBuffer {
    fn drop(&mut self) {
        let Some(buffer) = self.buffer.take() else {
            return;
        };
        match self.home.upgrade() {
            Some(free) => free
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .buffers
                .entry((self.size, self.usage))
                .or_default()
                .push((self.id, buffer)),
            None => crate::stats::buffer_freed(self.size),
        }
    }
}

/// Round up to a size class: multiples of 256 bytes, then of 1/8 of the next power of two,
/// so at most 12.5% is wasted and similar sizes share buffers.
fn class_size(bytes: u64) -> u64 {
    let bytes = bytes.max(4);
    let step = (bytes.next_power_of_two() / 8).max(256);
    bytes.div_ceil(step) * step
}

impl Pool {
    /// The pool of `device`; `check_new` where the backend does not report a failed
    /// allocation (GL).
    pub fn new(device: wgpu::Device, queue: wgpu::Queue, check_new: bool) -> Pool {
        let limits = device.limits();
        Pool {
            device,
            queue,
            check_new,
            free: Default::default(),
            max_buffer: limits.max_buffer_size,
            max_binding: limits.max_storage_buffer_binding_size,
        }
    }

    /// A storage buffer of at least `bytes`.
    pub fn storage(&self, op: &'static str, bytes: u64) -> Result<Arc<GpuBuffer>> {
        if bytes > self.max_binding {
            return Err(Error::BufferTooLarge {
                op,
                bytes,
                limit: self.max_binding,
                limit_name: "max_storage_buffer_binding_size",
            });
        }
        self.acquire(op, bytes, STORAGE)
    }

    /// A buffer for kernel parameters.
    pub fn params(&self, bytes: u64) -> Result<Arc<GpuBuffer>> {
        self.acquire("plan parameters", bytes, PARAMS)
    }

    /// A buffer the CPU can map to read results back.
    pub fn staging(&self, bytes: u64) -> Result<Arc<GpuBuffer>> {
        self.acquire("read", bytes, STAGING)
    }

    fn acquire(
        &self,
        op: &'static str,
        bytes: u64,
        usage: wgpu::BufferUsages,
    ) -> Result<Arc<GpuBuffer>> {
        if bytes > self.max_buffer {
            return Err(Error::BufferTooLarge {
                op,
                bytes,
                limit: self.max_buffer,
                limit_name: "max_buffer_size",
            });
        }
        let mut size = class_size(bytes);
        if size > self.max_buffer {
            size = bytes.div_ceil(4) * 4;
        }
        let reused = self
            .free
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .buffers
            .get_mut(&(size, usage))
            .and_then(Vec::pop);
        let (id, buffer) = match reused {
            Some(found) => found,
            None => (
                NEXT_BUFFER.fetch_add(1, Ordering::Relaxed),
                self.create(op, size, usage)?,
            ),
        };
        Ok(Arc::new(GpuBuffer {
            id,
            size,
            buffer: Some(buffer),
            usage,
            home: Arc::downgrade(&self.free),
        }))
    }

    fn create(
        &self,
        op: &'static str,
        size: u64,
        usage: wgpu::BufferUsages,
    ) -> Result<wgpu::Buffer> {
        let attempt = || {
            let scope = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
            let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(op),
                size,
                usage,
                mapped_at_creation: false,
            });
            match pollster::block_on(scope.pop()) {
                None if !self.check_new || self.holds_memory(&buffer, size, usage) => Some(buffer),
                _ => None,
            }
        };
        // On failure, give the pooled buffers back to the driver and try once more.
        let buffer = attempt().or_else(|| {
            self.trim();
            attempt()
        });
        let buffer = buffer.ok_or_else(|| Error::OutOfMemory {
            bytes: size,
            context: format!("a GPU buffer for {op}"),
        })?;
        crate::stats::buffer_allocated(size);
        Ok(buffer)
    }

    /// Whether a new `buffer` has its memory: a word written at its end reads back. wgpu's
    /// GL backend does not report the driver's GL_OUT_OF_MEMORY, so a buffer past the
    /// device's memory comes back without storage, and what is written to it is lost (seen
    /// on llvmpipe's GL, where such buffers read as another buffer's data). The word is
    /// zeroed again after, as wgpu gives new buffers.
    fn holds_memory(&self, buffer: &wgpu::Buffer, size: u64, usage: wgpu::BufferUsages) -> bool {
        let at = size - 4;
        let mark = 0x5eed_0001u32 ^ (NEXT_BUFFER.load(Ordering::Relaxed) as u32).rotate_left(8);
        self.queue.write_buffer(buffer, at, &mark.to_le_bytes());
        // Where the word lies in a buffer that maps it: a mapping starts at a multiple of 8.
        let (readable, from, end) = if usage.contains(wgpu::BufferUsages::MAP_READ) {
            self.queue.submit([]);
            (buffer.clone(), at / 8 * 8, size)
        } else {
            let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("allocation check"),
                size: 8,
                usage: STAGING,
                mapped_at_creation: false,
            });
            let mut encoder = self.device.create_command_encoder(&Default::default());
            encoder.copy_buffer_to_buffer(buffer, at, &staging, 4, 4);
            self.queue.submit([encoder.finish()]);
            (staging, 0, 8)
        };
        let (sender, mapped) = std::sync::mpsc::channel();
        let slice = readable.slice(from..end);
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = sender.send(r);
        });
        let read = self
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .ok()
            .and_then(|_| mapped.recv().ok()?.ok())
            .and_then(|_| {
                let view = slice.get_mapped_range().ok()?;
                Some(u32::from_le_bytes(view[view.len() - 4..].try_into().ok()?))
            });
        readable.unmap();
        self.queue.write_buffer(buffer, at, &[0; 4]);
        read == Some(mark)
    }

    /// Release every pooled buffer.
    pub fn trim(&self) {
        let drained =
            std::mem::take(&mut self.free.lock().unwrap_or_else(|e| e.into_inner()).buffers);
        for ((size, _), list) in drained {
            for (_, buffer) in list {
                buffer.destroy();
                crate::stats::buffer_freed(size);
            }
        }
    }
}
