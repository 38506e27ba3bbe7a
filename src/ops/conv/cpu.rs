//! The CPU path of the three convolution products. First the plain kernel: the definition,
//! one multiply-add per (output, tap) in f64, that the fast paths (im2col.rs, winograd/)
//! and the GPU kernels are held to. Then the route among them.

use crate::dtype::Element;
use crate::error::Result;
use crate::ops::conv::geometry::{at, Conv2dSpec, Product};
use crate::ops::conv::im2col;
use crate::ops::conv::winograd;
use crate::ops::op::StepDesc;
use crate::storage::{with_float_dtype, CpuData};

/// `product` by its definition. Every (image n, output channel o, output pixel, channel c
/// of o's group, tap (i, j)) whose tap lands inside the image pairs image[n, c, y, x] with
/// weight[o, c, i, j] and out_grad[n, o, oy, ox]:
/// - forward:     out[n, o, oy, ox]  += image · weight
/// - grad_input:  out[n, c, y, x]    += out_grad · weight
/// - grad_weight: out[o, c, i, j]    += out_grad · image
pub(crate) fn plain<T: Element>(
    product: Product,
    geo: Conv2dSpec,
    step: &StepDesc,
    inputs: &[&[T]],
    out: &mut [T],
) {
    let (xl, wl, gl, d) = product.operands(step);
    let (xi, wi, gi) = product.input_indices();
    let (x, w, g) = (inputs[xi], inputs[wi], inputs[gi]);
    let (cg, og) = (d.c / geo.groups, d.o / geo.groups);
    let mut sums = vec![0.0f64; out.len()];
    for n in 0..d.n {
        for o in 0..d.o {
            let first_channel = o / og * cg;
            for (oy, ox) in (0..d.oh).flat_map(|oy| (0..d.ow).map(move |ox| (oy, ox))) {
                for (c, i, j) in (0..cg)
                    .flat_map(|c| (0..d.kh).flat_map(move |i| (0..d.kw).map(move |j| (c, i, j))))
                {
                    let y = (oy * geo.stride.0 + i * geo.dilation.0).checked_sub(geo.padding.0);
                    let x_ = (ox * geo.stride.1 + j * geo.dilation.1).checked_sub(geo.padding.1);
                    let (Some(y), Some(x_)) = (y, x_) else {
                        continue;
                    };
                    if y >= d.h || x_ >= d.w {
                        continue;
                    }
                    let image = || x[at(xl, [n, first_channel + c, y, x_])].to_f64();
                    let weight = || w[at(wl, [o, c, i, j])].to_f64();
                    let out_grad =
                        || g[at(gl.expect("an output gradient"), [n, o, oy, ox])].to_f64();
                    match product {
                        Product::Forward => {
                            sums[((n * d.o + o) * d.oh + oy) * d.ow + ox] += image() * weight()
                        }
                        Product::GradInput => {
                            sums[((n * d.c + first_channel + c) * d.h + y) * d.w + x_] +=
                                out_grad() * weight()
                        }
                        Product::GradWeight => {
                            sums[((o * cg + c) * d.kh + i) * d.kw + j] += out_grad() * image()
                        }
                    }
                }
            }
        }
    }
    for (o, s) in out.iter_mut().zip(sums) {
        *o = T::from_f64(s);
    }
}

pub(crate) fn run_cpu(
    product: Product,
    geo: Conv2dSpec,
    step: &StepDesc,
    inputs: &[&CpuData],
    out: &mut CpuData,
) -> Result<()> {
    if crate::autotune::plain_cpu() {
        with_float_dtype!(step.out_dtype, T => {
            let slices: Vec<&[T]> = inputs.iter().map(|data| data.slice::<T>()).collect();
            plain(product, geo, step, &slices, out.slice_mut::<T>());
        });
        return Ok(());
    }
    let (_, _, _, d) = product.operands(step);
    if winograd::applies(product, step.out_dtype, &d, &geo) {
        winograd::run(product, geo, step, inputs, out);
        return Ok(());
    }
    im2col::run(product, geo, step, inputs, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;
    use crate::ops::conv::geometry::out_size;
    use crate::ops::op::Op;
    use crate::shape::Layout;
    use crate::sum_bounds::{assert_within_sum_bound, signed_values};

    /// im2col against the plain kernel for `product` of images [n, c, h, w] and a weight
    /// [o, c/groups, kh, kw], within the bound of a sum of as many products as each output
    /// has terms.
    fn check(
        product: Product,
        (n, c, h, w, o): (usize, usize, usize, usize, usize),
        (kh, kw): (usize, usize),
        geo: Conv2dSpec,
        seed: u64,
    ) {
        let oh = out_size(h, kh, geo.stride.0, geo.padding.0, geo.dilation.0).unwrap();
        let ow = out_size(w, kw, geo.stride.1, geo.padding.1, geo.dilation.1).unwrap();
        let image = [n, c, h, w];
        let weight = [o, c / geo.groups, kh, kw];
        let grad = [n, o, oh, ow];
        let (shapes, out_shape): (Vec<&[usize]>, &[usize]) = match product {
            Product::Forward => (vec![&image, &weight], &grad),
            Product::GradInput => (vec![&grad, &weight, &image], &image),
            Product::GradWeight => (vec![&image, &grad, &weight], &weight),
        };
        let layouts: Vec<Layout> = shapes.iter().map(|s| Layout::contiguous(s)).collect();
        let values: Vec<Vec<f32>> = shapes
            .iter()
            .enumerate()
            .map(|(k, s)| signed_values(s.iter().product(), seed + k as u64))
            .collect();
        let op = Op::Conv2d(geo);
        let step = StepDesc {
            op: &op,
            inputs: layouts.iter().map(|l| (DType::F32, l)).collect(),
            out_dtype: DType::F32,
            out_shape,
        };
        let len: usize = out_shape.iter().product();
        let stored: Vec<CpuData> = values
            .iter()
            .map(|v| CpuData::from_vec(v.clone()))
            .collect();
        let mut fast = CpuData::from_vec(vec![0.0f32; len]);
        im2col::run(
            product,
            geo,
            &step,
            &stored.iter().collect::<Vec<_>>(),
            &mut fast,
        )
        .unwrap();
        let mut want = vec![0.0f32; len];
        plain(
            product,
            geo,
            &step,
            &values.iter().map(|v| &v[..]).collect::<Vec<_>>(),
            &mut want,
        );
        let magnitudes: Vec<Vec<f32>> = values
            .iter()
            .map(|v| v.iter().map(|e| e.abs()).collect())
            .collect();
        let mut scale = vec![0.0f32; len];
        plain(
            product,
            geo,
            &step,
            &magnitudes.iter().map(|v| &v[..]).collect::<Vec<_>>(),
            &mut scale,
        );
        let terms = match product {
            Product::Forward => c / geo.groups * kh * kw,
            Product::GradInput => o / geo.groups * kh * kw,
            Product::GradWeight => n * oh * ow,
        };
        let what = format!("{product:?} by im2col");
        assert_within_sum_bound(&what, terms, (fast.slice::<f32>(), &want), &scale);
    }

    fn spec(stride: usize, padding: usize, dilation: usize, groups: usize) -> Conv2dSpec {
        Conv2dSpec {
            stride: (stride, stride + 1),
            padding: (padding, padding.saturating_sub(1)),
            dilation: (dilation, 1),
            groups,
        }
    }

    #[test]
    fn im2col_matches_the_plain_kernel() {
        // Odd and prime sizes, one pixel, strides, padding, dilation and groups.
        let cases = [
            ((2, 3, 7, 5, 4), (3, 2), spec(1, 1, 1, 1)),
            ((1, 1, 1, 1, 1), (1, 1), spec(1, 0, 1, 1)),
            ((3, 4, 9, 11, 6), (3, 3), spec(2, 1, 2, 2)),
            ((1, 6, 13, 7, 3), (2, 5), spec(3, 2, 1, 3)),
        ];
        for (i, (dims, kernel, geo)) in cases.into_iter().enumerate() {
            for product in [Product::Forward, Product::GradInput, Product::GradWeight] {
                check(product, dims, kernel, geo, 100 * i as u64);
            }
        }
    }
}
