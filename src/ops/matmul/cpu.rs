//! The CPU path's matrix product. First the plain kernel, the definition that the fast
//! path (gemm_blocks.rs) and the GPU kernels are held to; then the route.

use crate::dtype::Element;
use crate::error::Result;
use crate::ops::matmul::gemm_blocks::{self, batch_offsets};
use crate::ops::op::StepDesc;
use crate::shape::Layout;
use crate::storage::{with_float_dtype, CpuData};

/// C[b] = A[b]·B[b] by its definition: each output the sum, in f64, of its k products,
/// with A [..., m, k] (`x` read through layout `a`) and B [..., k, n] (`y` through `b`),
/// and C dense.
pub(crate) fn plain<T: Element>(a: &Layout, b: &Layout, (x, y): (&[T], &[T]), out: &mut [T]) {
    let r = a.rank();
    let (m, k, n) = (a.shape[r - 2], a.shape[r - 1], b.shape[r - 1]);
    let (a_rows, a_cols) = (a.strides[r - 2], a.strides[r - 1]);
    let (b_rows, b_cols) = (b.strides[r - 2], b.strides[r - 1]);
    for (matrix, (ao, bo)) in batch_offsets(a, b).into_iter().enumerate() {
        for i in 0..m {
            for j in 0..n {
                let sum: f64 = (0..k)
                    .map(|p| {
                        x[ao + i * a_rows + p * a_cols].to_f64()
                            * y[bo + p * b_rows + j * b_cols].to_f64()
                    })
                    .sum();
                out[(matrix * m + i) * n + j] = T::from_f64(sum);
            }
        }
    }
}

/// The same product by the plain kernel or, unless plain kernels were asked for, the fast
/// path: for kernels of other families that need a product inside (recurrent layers).
pub(crate) fn product<T: Element>(a: &Layout, b: &Layout, (x, y): (&[T], &[T]), out: &mut [T]) {
    if crate::autotune::plain_cpu() {
        plain(a, b, (x, y), out);
    } else {
        gemm_blocks::product(a, b, (x, y), out);
    }
}

pub(crate) fn run_cpu(step: &StepDesc, inputs: &[&CpuData], out: &mut CpuData) -> Result<()> {
    let (a, b) = (step.inputs[0].1, step.inputs[1].1);
    with_float_dtype!(step.out_dtype, T => {
        product(a, b, (inputs[0].slice::<T>(), inputs[1].slice::<T>()), out.slice_mut::<T>());
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sum_bounds::{assert_within_sum_bound, signed_values};

    /// The blocked product against the plain kernel on `a` and `b` (any layouts over
    /// dense buffers of their sizes), within the bound of a sum of k products.
    fn check(a: Layout, b: Layout, seed: u64) {
        let r = a.rank();
        let mut out_shape = a.shape.clone();
        out_shape[r - 1] = b.shape[r - 1];
        let k = a.shape[r - 1];
        let values = |l: &Layout, s: u64| -> Vec<f32> { signed_values(l.reach(), s) };
        let (x, y) = (values(&a, seed), values(&b, seed + 1));
        let len: usize = out_shape.iter().product();
        let mut fast = vec![0.0f32; len];
        gemm_blocks::product(&a, &b, (&x, &y), &mut fast);
        let mut want = vec![0.0f32; len];
        plain(&a, &b, (&x, &y), &mut want);
        let abs = |v: &[f32]| v.iter().map(|e| e.abs()).collect::<Vec<_>>();
        let mut scale = vec![0.0f32; len];
        plain(&a, &b, (&abs(&x), &abs(&y)), &mut scale);
        let what = format!("{:?}@{:?}", a.shape, b.shape);
        assert_within_sum_bound(&what, k, (&fast, &want), &scale);
    }

    fn transposed(shape: &[usize]) -> Layout {
        let r = shape.len();
        let mut swapped = shape.to_vec();
        swapped.swap(r - 2, r - 1);
        let mut l = Layout::contiguous(&swapped);
        l.shape.swap(r - 2, r - 1);
        l.strides.swap(r - 2, r - 1);
        l
    }

    #[test]
    fn gemm_blocks_match_the_plain_kernel() {
        // Odd, prime and degenerate sizes, one past the blocks' alignment, both operands
        // transposed, batches (a broadcast one with stride 0), and products large enough
        // to be split among threads.
        let c = |s: &[usize]| Layout::contiguous(s);
        check(c(&[7, 5]), c(&[5, 3]), 1);
        check(c(&[1, 1]), c(&[1, 1]), 2);
        check(c(&[1, 513]), c(&[513, 1]), 3);
        check(transposed(&[17, 33]), transposed(&[33, 29]), 4);
        check(c(&[3, 9, 6]), c(&[3, 6, 11]), 5);
        let mut broadcast = c(&[4, 13]);
        broadcast.shape.insert(0, 3);
        broadcast.strides.insert(0, 0);
        check(broadcast, c(&[3, 13, 8]), 6);
        check(c(&[257, 130]), transposed(&[130, 131]), 7);
        // Outputs small beside k, cut along k where there are threads (a weight's gradient:
        // both operands read transposed), and a ragged last run of k.
        check(transposed(&[2048, 64]), c(&[2048, 48]), 8);
        check(c(&[33, 1999]), transposed(&[1999, 17]), 9);
    }
}
