//! 2-D convolution over NCHW images as implicit matrix products: the forward product and
//! the two gradient products each read the image through its window arithmetic, with no
//! im2col buffer on the GPU. On the CPU path, each image's columns are gathered once and
//! the products go to `gemm` (cpu.rs), except those of 3×3 filters at unit stride with
//! enough channels, which go through Winograd's F(2×2, 3×3) (winograd/).

use std::panic::Location;

mod cpu;
mod runs;
mod transpose;
mod winograd;

pub(crate) use cpu::run_cpu;

use super::reduce::ReduceOp;
use super::{fold, Arg, Dispatch, Lowering, Op, ShaderFile, ShaderVariant, StepDesc, Tuner};
use crate::autotune::ConvTiles;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::shape::Layout;
use crate::tensor::Tensor;

/// Window geometry: (rows, columns) of stride, zero padding and dilation, and the groups
/// the channels split into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Geometry {
    pub stride: (usize, usize),
    pub padding: (usize, usize),
    pub dilation: (usize, usize),
    pub groups: usize,
}

/// Output size along one axis, or None when the dilated kernel does not fit.
pub(crate) fn out_size(
    size: usize,
    kernel: usize,
    stride: usize,
    pad: usize,
    dilation: usize,
) -> Option<usize> {
    let span = dilation * (kernel - 1) + 1;
    let padded = size + 2 * pad;
    (stride > 0 && kernel > 0 && padded >= span).then(|| (padded - span) / stride + 1)
}

/// Every size a convolution's kernels need.
#[derive(Clone, Copy, Debug)]
struct Dims {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    o: usize,
    oh: usize,
    ow: usize,
    kh: usize,
    kw: usize,
}

impl Dims {
    fn new(image: &[usize], filters: &[usize], out_hw: (usize, usize)) -> Dims {
        Dims {
            n: image[0],
            c: image[1],
            h: image[2],
            w: image[3],
            o: filters[0],
            oh: out_hw.0,
            ow: out_hw.1,
            kh: filters[2],
            kw: filters[3],
        }
    }
}

/// The convolution of `x` [N, C, H, W] with `weight` [O, C/groups, KH, KW]: [N, O, OH, OW].
/// Shapes are checked by the caller (`Tensor::conv2d`).
#[track_caller]
pub(crate) fn conv2d(x: &Tensor, weight: &Tensor, geometry: Geometry) -> Result<Tensor> {
    let device = x.same_device("conv2d", weight)?;
    x.same_dtype("conv2d", weight)?;
    let (h, w) = (x.shape()[2], x.shape()[3]);
    let (kh, kw) = (weight.shape()[2], weight.shape()[3]);
    let g = geometry;
    let sizes = (
        out_size(h, kh, g.stride.0, g.padding.0, g.dilation.0),
        out_size(w, kw, g.stride.1, g.padding.1, g.dilation.1),
    );
    let (Some(oh), Some(ow)) = sizes else {
        return Err(Error::ShapeMismatch {
            op: "conv2d",
            lhs: x.shape().to_vec(),
            rhs: weight.shape().to_vec(),
            why: format!(
                "the kernel (with padding {:?}, dilation {:?}, stride {:?}) does not fit the image",
                g.padding, g.dilation, g.stride
            ),
            location: Location::caller(),
        });
    };
    Ok(Tensor::from_op(
        Op::Conv2d(geometry),
        vec![x.clone(), weight.clone()],
        vec![x.shape()[0], weight.shape()[0], oh, ow],
        x.dtype(),
        device,
    ))
}

/// Gradients of the convolution with respect to its image and its weight, given `g`, the
/// gradient of its output.
pub(crate) fn grad(geometry: Geometry, x: &Tensor, weight: &Tensor, g: &Tensor) -> [Tensor; 2] {
    let dx = Tensor::from_op(
        Op::Conv2dGradInput(geometry),
        vec![g.clone(), weight.clone(), x.clone()],
        x.shape().to_vec(),
        x.dtype(),
        x.device().clone(),
    );
    let dw = Tensor::from_op(
        Op::Conv2dGradWeight(geometry),
        vec![x.clone(), g.clone(), weight.clone()],
        weight.shape().to_vec(),
        weight.dtype(),
        weight.device().clone(),
    );
    [dx, dw]
}

/// Which product a step computes; its inputs are (image, weight), (output gradient, weight,
/// image) and (image, output gradient, weight): the last input of the gradients only gives
/// their shape.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Product {
    Forward = 0,
    GradInput = 1,
    GradWeight = 2,
}

impl Product {
    /// The image's, the weight's and the output gradient's layouts, and the sizes.
    fn operands<'a>(
        self,
        step: &StepDesc<'a>,
    ) -> (&'a Layout, &'a Layout, Option<&'a Layout>, Dims) {
        let i = |k: usize| step.inputs[k].1;
        match self {
            Product::Forward => {
                let d = Dims::new(
                    &i(0).shape,
                    &i(1).shape,
                    (step.out_shape[2], step.out_shape[3]),
                );
                (i(0), i(1), None, d)
            }
            Product::GradInput => {
                let d = Dims::new(&i(2).shape, &i(1).shape, (i(0).shape[2], i(0).shape[3]));
                (i(2), i(1), Some(i(0)), d)
            }
            Product::GradWeight => {
                let d = Dims::new(&i(0).shape, &i(2).shape, (i(1).shape[2], i(1).shape[3]));
                (i(0), i(2), Some(i(1)), d)
            }
        }
    }
}

/// Offset of element `idx` of a strided 4-D view.
pub(crate) fn at(l: &Layout, idx: [usize; 4]) -> usize {
    l.offset
        + idx
            .iter()
            .zip(&l.strides)
            .map(|(i, s)| i * s)
            .sum::<usize>()
}

/// The outputs [lo, hi) along an axis of `outputs` whose tap `k` lands inside `size`:
/// 0 ≤ o·stride + k·dilation − pad < size.
pub(crate) fn inside(
    size: usize,
    outputs: usize,
    k: usize,
    stride: usize,
    dilation: usize,
    pad: usize,
) -> (usize, usize) {
    let shift = k * dilation;
    let lo = pad.saturating_sub(shift).div_ceil(stride);
    let hi = (size + pad)
        .saturating_sub(shift)
        .div_ceil(stride)
        .min(outputs);
    (lo, hi)
}

/// The generated body of conv_gemm.wgsl for `tm`×`tn` blocks of 4×4: each k step takes
/// four reduced indices, stepped by carrying.
fn blocks(tm: usize, tn: usize) -> String {
    let mut setup: Vec<String> = (0..tn)
        .map(|j| format!("let cols{j} = columns(blk, n0 + {}u);", 4 * j))
        .collect();
    setup.push("var k = k_first(first);".into());
    super::matmul::tile_body(
        (tm, tn),
        &setup,
        "for (var k0 = 0u; k0 < p(36); k0 += 4u) {",
        &[
            "let k1 = k_next(k);",
            "let k2 = k_next(k1);",
            "let k3 = k_next(k2);",
            "let q = Quad(k, k1, k2, k3);",
            "k = k_next(k3);",
        ],
        &|i| format!("a_block(blk, m0 + {}u, q)", 4 * i),
        &|j| format!("b_block(blk, q, cols{j})"),
    )
}

/// Blocks of 4×4 per invocation along a side of `size`: as many as the side fills, up to
/// 4 (register tiles measured fastest that large on lavapipe; see src/ops/matmul.rs).
fn blocks_along(size: usize) -> usize {
    match size {
        s if s >= 128 => 4,
        s if s >= 64 => 2,
        _ => 1,
    }
}

/// The shader variant of `product` with `tm`×`tn` blocks, writing C four at a time when its
/// rows are whole quads, and with the unit-stride form of the image's gradient.
pub(crate) fn variant(
    product: Product,
    (input, output): (DType, DType),
    (tm, tn): (usize, usize),
    rows_of_quads: bool,
    unit_stride: bool,
) -> ShaderVariant {
    ShaderVariant {
        file: if rows_of_quads {
            ShaderFile::ConvVec4
        } else {
            ShaderFile::Conv
        },
        entry: "conv",
        input,
        output,
        expr: Some(blocks(tm, tn)),
        consts: vec![
            ("PRODUCT", product as u32),
            ("UNIT_STRIDE", unit_stride as u32),
            ("TM", tm as u32),
            ("TN", tn as u32),
        ],
    }
}

/// The product's rows, columns and reduced length per block, and the blocks, before the
/// weight's gradient splits its images (`Split`).
fn sizes(product: Product, geo: Geometry, step: &StepDesc) -> (usize, usize, usize, usize) {
    let (_, _, _, d) = product.operands(step);
    let groups = geo.groups;
    let (cg, og) = (d.c / groups, d.o / groups);
    match product {
        Product::Forward => (og, d.oh * d.ow, cg * d.kh * d.kw, d.n * groups),
        Product::GradInput => (cg, d.h * d.w, og * d.kh * d.kw, d.n * groups),
        Product::GradWeight => (og, cg * d.kh * d.kw, d.n * d.oh * d.ow, groups),
    }
}

/// Workgroups the weight's gradient aims for. Its product, O × C·KH·KW per group, covers
/// few tiles while its reduction runs over every image's pixels: 32→64 channels at 3×3 make
/// 3 workgroups, which leave most of a GPU idle (and one of lavapipe's two cores half the
/// time). Splitting the images among blocks gives each a share of the reduction.
const SPLIT_WORKGROUPS: usize = 64;

/// How the weight's gradient divides its images: `parts` blocks of `images` each (the last
/// may have fewer), whose partial products a column sum adds. One part for the other
/// products.
struct Split {
    parts: usize,
    images: usize,
}

impl Split {
    fn new(product: Product, n: usize, workgroups: usize) -> Split {
        let wanted = match product {
            Product::GradWeight if workgroups > 0 => (SPLIT_WORKGROUPS / workgroups)
                .clamp(1, n.max(1))
                .min(fold::COLUMN_CHUNK),
            _ => 1,
        };
        let images = n.div_ceil(wanted).max(1);
        Split {
            parts: n.div_ceil(images).max(1),
            images,
        }
    }
}

/// The step's dispatch with the tiles the tuner chooses: by default as large as the
/// product's sides fill (`blocks_along`).
pub(crate) fn lower(
    product: Product,
    geo: Geometry,
    step: &StepDesc,
    tuner: &dyn Tuner,
) -> Lowering {
    let (rows, cols, k, blocks) = sizes(product, geo, step);
    let default = ConvTiles {
        tm: blocks_along(rows) as u8,
        tn: blocks_along(cols) as u8,
    };
    let mut candidates = vec![default];
    candidates.extend(ConvTiles::all().into_iter().filter(|&t| t != default));
    let names: Vec<String> = candidates.iter().map(|t| t.name()).collect();
    let pinned = crate::autotune::pinned()
        .conv
        .and_then(|t| candidates.iter().position(|&c| c == t));
    let p2 = |v: usize| v.max(1).next_power_of_two();
    let class = format!(
        "conv{} {} rows{} cols{} k{} blocks{}",
        product as u32,
        step.out_dtype,
        p2(rows),
        p2(cols),
        p2(k),
        p2(blocks)
    );
    let lower = |i: usize| lower_with(product, geo, step, candidates[i]);
    let chosen = tuner.choose(step, &class, &names, pinned, &lower);
    lower_with(product, geo, step, candidates[chosen])
}

fn lower_with(product: Product, geo: Geometry, step: &StepDesc, tiles: ConvTiles) -> Lowering {
    let (xl, wl, gl, d) = product.operands(step);
    let groups = geo.groups;
    let (rows, cols, k, blocks) = sizes(product, geo, step);
    let (tm, tn) = (tiles.tm as usize, tiles.tn as usize);
    let (tiles_r, tiles_c) = (rows.div_ceil(32 * tm), cols.div_ceil(32 * tn));
    let split = Split::new(product, d.n, blocks * tiles_r * tiles_c);
    let (k, blocks) = if product == Product::GradWeight {
        (split.images * d.oh * d.ow, blocks * split.parts)
    } else {
        (k, blocks)
    };
    let mut params = vec![0u32; 48];
    let head = [
        d.n,
        d.c,
        d.h,
        d.w,
        d.o,
        d.oh,
        d.ow,
        d.kh,
        d.kw,
        geo.stride.0,
        geo.stride.1,
        geo.padding.0,
        geo.padding.1,
        geo.dilation.0,
        geo.dilation.1,
        groups,
    ];
    for (slot, v) in params.iter_mut().zip(head) {
        *slot = v as u32;
    }
    let mut put = |at: usize, l: &Layout| {
        params[at] = l.offset as u32;
        for (s, v) in params[at + 1..at + 5].iter_mut().zip(&l.strides) {
            *s = *v as u32;
        }
    };
    put(16, xl);
    put(21, wl);
    if let Some(g) = gl {
        put(26, g);
    }
    for (slot, v) in
        params[31..38]
            .iter_mut()
            .zip([tiles_r, tiles_c, blocks, rows, cols, k, split.images])
    {
        *slot = v as u32;
    }
    // Every binding is in the kernel's layout; the forward product never reads the output
    // gradient's, which holds the image instead.
    let (image, weight, out_grad) = match product {
        Product::Forward => (0, 1, 0),
        Product::GradInput => (2, 1, 0),
        Product::GradWeight => (0, 2, 1),
    };
    let (to, out_dtype) = if split.parts > 1 {
        (Arg::Scratch(0), DType::F32)
    } else {
        (Arg::Output(0), step.out_dtype)
    };
    let bindings = vec![
        (1, Arg::Input(image)),
        (2, Arg::Input(weight)),
        (3, to),
        (4, Arg::Input(out_grad)),
    ];
    let workgroups = if rows * cols == 0 {
        0
    } else {
        blocks * tiles_r * tiles_c
    };
    let product_pass = Dispatch {
        variant: variant(
            product,
            (step.inputs[0].0, out_dtype),
            (tm, tn),
            cols.is_multiple_of(4),
            geo.stride == (1, 1),
        ),
        params,
        bindings,
        workgroups: workgroups as u32,
    };
    if split.parts == 1 {
        return Lowering::of(vec![product_pass]);
    }
    // The parts' products [parts, O·cols] summed over parts: a column sum of one pass
    // (parts ≤ its chunk), so it needs no scratch of its own.
    let outputs = d.o * cols;
    let partials = Layout {
        shape: vec![outputs, split.parts],
        strides: vec![1, outputs],
        offset: 0,
    };
    let sum = fold::fold_columns(
        ReduceOp::Sum,
        (Arg::Scratch(0), &partials),
        1,
        (DType::F32, step.out_dtype),
        1.0,
        None,
    );
    debug_assert!(sum.scratch.is_empty());
    let mut dispatches = vec![product_pass];
    dispatches.extend(sum.dispatches);
    Lowering {
        dispatches,
        scratch: vec![(split.parts * outputs * 4) as u64],
    }
}
