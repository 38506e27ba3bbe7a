//! The fuzz targets' bodies (fuzz/fuzz_targets/ includes this file, and
//! tests/fuzz_corpus.rs replays the corpus the fuzzer found through it): the checkpoint
//! loader, the IDX reader and a graph built from the bytes and realized on the CPU path.
//! Each must end bad input in an error; a panic is the bug the fuzzer hunts.
//!
//! The graph: each byte picks an op or one of its arguments, applied to a stack of
//! tensors; shapes, axes and dtypes come from the bytes too, so most ops meet inputs they
//! must refuse. Tensors stay small (at most `MAX_ELEMENTS` elements) so that each input
//! runs in microseconds.

use lepton::data::Dataset;
use lepton::nn::Conv2dSpec;
use lepton::{BinaryOp, DType, Device, Result, Tensor, UnaryOp};

/// Ops per graph, tensors on the stack, and elements per tensor, at most.
const MAX_OPS: usize = 30;
const MAX_STACK: usize = 8;
const MAX_ELEMENTS: usize = 1 << 14;

/// The bytes, read one at a time; zeros once they run out.
struct Bytes<'a>(std::slice::Iter<'a, u8>);

impl Bytes<'_> {
    fn next(&mut self) -> u8 {
        self.0.next().copied().unwrap_or(0)
    }

    /// An axis from −4 to 4: out of range for most tensors now and then.
    fn axis(&mut self) -> isize {
        self.next() as isize % 9 - 4
    }

    /// A shape of rank 0 to 4, sizes 0 to 8.
    fn shape(&mut self) -> Vec<usize> {
        let rank = self.next() as usize % 5;
        (0..rank).map(|_| self.next() as usize % 9).collect()
    }

    fn dtype(&mut self) -> DType {
        [DType::F32, DType::F16, DType::F64, DType::I32][self.next() as usize % 4]
    }
}

/// Whether a result of `shape` stays within the size bound.
fn small(shape: &[usize]) -> bool {
    shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .is_some_and(|n| n <= MAX_ELEMENTS)
}

/// One op from the bytes on the stack's top tensors; None when the stack lacks operands.
fn op(bytes: &mut Bytes, stack: &[Tensor], device: &Device) -> Option<Result<Tensor>> {
    let top = |k: usize| stack.len().checked_sub(k + 1).map(|i| &stack[i]);
    let code = bytes.next() % 16;
    Some(match code {
        0 => {
            let shape = bytes.shape();
            let n: usize = shape.iter().product();
            let values: Vec<f32> = (0..n).map(|i| (i as f32 - 3.0) * 0.5).collect();
            Tensor::from_vec(values, &shape, device).and_then(|t| t.cast(bytes.dtype()))
        }
        1 => Ok(top(0)?.unary(UnaryOp::ALL[bytes.next() as usize % UnaryOp::ALL.len()])),
        2 => top(0)?.binary(
            BinaryOp::ALL[bytes.next() as usize % BinaryOp::ALL.len()],
            top(1)?,
        ),
        3 => {
            let (t, axis, keep) = (top(0)?, [bytes.axis()], bytes.next().is_multiple_of(2));
            match bytes.next() % 6 {
                0 => t.sum(&axis, keep),
                1 => t.mean(&axis, keep),
                2 => t.max(&axis, keep),
                3 => t.min(&axis, keep),
                4 => t.prod(&axis, keep),
                _ => t.argmax(Some(axis[0]), keep),
            }
        }
        4 => top(0)?.matmul(top(1)?),
        5 => {
            let shape: Vec<isize> = bytes.shape().iter().map(|&d| d as isize - 1).collect();
            top(0)?.reshape(&shape)
        }
        6 => top(0)?.transpose(bytes.axis(), bytes.axis()),
        7 => {
            let start = bytes.next() as isize % 12 - 6;
            let end = bytes.next() as isize % 12 - 6;
            top(0)?.slice(bytes.axis(), start, end, bytes.next() as usize % 4)
        }
        8 => {
            let (a, b) = (top(0)?, top(1)?);
            if !small(&[a.numel(), 2]) || !small(&[b.numel(), 2]) {
                return None;
            }
            Tensor::concat(&[a, b], bytes.axis())
        }
        9 => top(0)?.softmax(bytes.axis()),
        10 => top(0)?.cast(bytes.dtype()),
        11 => {
            let shape = bytes.shape();
            top(0)?.broadcast_to(&shape)
        }
        12 => {
            let spec = Conv2dSpec {
                stride: (bytes.next() as usize % 3, 1 + bytes.next() as usize % 2),
                padding: (bytes.next() as usize % 3, bytes.next() as usize % 2),
                dilation: (1 + bytes.next() as usize % 2, 1),
                groups: bytes.next() as usize % 3,
            };
            top(0)?.conv2d(top(1)?, None, &spec)
        }
        13 => top(0)?.index_select(bytes.axis(), top(1)?),
        14 => top(0)?.where_cond(top(1)?, top(2)?),
        _ => top(0)?.max_pool2d(
            (bytes.next() as usize % 4, 1 + bytes.next() as usize % 3),
            &Conv2dSpec::default(),
        ),
    })
}

/// A checkpoint's bytes, loaded onto the CPU path.
pub fn checkpoint(data: &[u8]) {
    let _ = lepton::checkpoint::load_bytes(data, &Device::cpu());
}

/// Two IDX files: the first byte says where the images' bytes end and the labels' begin.
pub fn idx(data: &[u8]) {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let (images, labels) = rest.split_at((split as usize * rest.len()) / 255);
    let _ = Dataset::from_idx_bytes(images, labels);
}

/// The graph `data` describes, realized on the CPU path.
pub fn graph(data: &[u8]) {
    let device = Device::cpu();
    let mut bytes = Bytes(data.iter());
    let mut stack: Vec<Tensor> = Vec::new();
    for _ in 0..MAX_OPS.min(data.len()) {
        let Some(Ok(t)) = op(&mut bytes, &stack, &device) else {
            continue;
        };
        if !small(t.shape()) {
            continue;
        }
        if stack.len() == MAX_STACK {
            stack.remove(0);
        }
        stack.push(t);
    }
    for t in &stack {
        // An error here (an op the CPU path refuses at run time) is an answer too.
        let _ = t.realize();
    }
}
