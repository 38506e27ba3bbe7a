//! Convolutions as implicit matrix products on register tiles (conv_gemm.wgsl): the image
//! is gathered through the window arithmetic, with no im2col buffer.

use crate::autotune::ConvTiles;
use crate::dtype::DType;
use crate::ops::conv::geometry::{Conv2dSpec, Product};
use crate::ops::dispatch::{Arg, Dispatch, Lowering, ShaderVariant, Tuner};
use crate::ops::op::ReduceOp;
use crate::ops::op::StepDesc;
use crate::ops::params::{kernel_params, per_dim, Params};
use crate::ops::shader_files::{ShaderFile, RENDERED_TYPES};
use crate::shape::Layout;

kernel_params! {
    /// conv_gemm.wgsl's `Params`: each view's strides (the image's along n, c, y, x; the
    /// weight's along o, c, i, j; the output gradient's along n, o, y, x) and offset, the
    /// geometry, and the product's tiles, sizes and images per split.
    pub(crate) struct ConvParams {
        image_strides: [u32; 4],
        weight_strides: [u32; 4],
        grad_strides: [u32; 4],
        n: u32,
        c: u32,
        h: u32,
        w: u32,
        o: u32,
        oh: u32,
        ow: u32,
        kh: u32,
        kw: u32,
        stride_y: u32,
        stride_x: u32,
        pad_y: u32,
        pad_x: u32,
        dilation_y: u32,
        dilation_x: u32,
        groups: u32,
        image_offset: u32,
        weight_offset: u32,
        grad_offset: u32,
        tiles_r: u32,
        tiles_c: u32,
        blocks: u32,
        rows: u32,
        cols: u32,
        k: u32,
        images_per_split: u32,
        _pad: [u32; 2],
    }
}

/// The generated body of conv_gemm.wgsl for `tm`×`tn` blocks of 4×4: each k step takes
/// four reduced indices, stepped by carrying.
fn blocks(tm: usize, tn: usize) -> String {
    let mut setup: Vec<String> = (0..tn)
        .map(|j| format!("let cols{j} = columns(blk, n0 + {}u);", 4 * j))
        .collect();
    setup.push("var k = k_first(first);".into());
    crate::ops::matmul::gpu::tile_body(
        (tm, tn),
        &setup,
        "for (var k0 = 0u; k0 < p.k; k0 += 4u) {",
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
    ShaderVariant::new(ShaderFile::Conv, "conv", (input, output))
        .with("PRODUCT", product as u32)
        .with("UNIT_STRIDE", unit_stride as u32)
        .with("TM", tm)
        .with("TN", tn)
        .switch("VEC4", rows_of_quads)
        .with("BLOCKS", blocks(tm, tn))
}

/// The product's rows, columns and reduced length per block, and the blocks, before the
/// weight's gradient splits its images (`Split`).
pub(crate) fn sizes(
    product: Product,
    geo: Conv2dSpec,
    step: &StepDesc,
) -> (usize, usize, usize, usize) {
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
                .min(crate::ops::reduce::gpu::COLUMN_CHUNK),
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
    geo: Conv2dSpec,
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

fn lower_with(product: Product, geo: Conv2dSpec, step: &StepDesc, tiles: ConvTiles) -> Lowering {
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
    let view = |l: &Layout| (l.offset as u32, per_dim(&l.strides)[0]);
    let u = |v: usize| v as u32;
    let mut params = ConvParams {
        n: u(d.n),
        c: u(d.c),
        h: u(d.h),
        w: u(d.w),
        o: u(d.o),
        oh: u(d.oh),
        ow: u(d.ow),
        kh: u(d.kh),
        kw: u(d.kw),
        stride_y: u(geo.stride.0),
        stride_x: u(geo.stride.1),
        pad_y: u(geo.padding.0),
        pad_x: u(geo.padding.1),
        dilation_y: u(geo.dilation.0),
        dilation_x: u(geo.dilation.1),
        groups: u(groups),
        tiles_r: u(tiles_r),
        tiles_c: u(tiles_c),
        blocks: u(blocks),
        rows: u(rows),
        cols: u(cols),
        k: u(k),
        images_per_split: u(split.images),
        ..Default::default()
    };
    (params.image_offset, params.image_strides) = view(xl);
    (params.weight_offset, params.weight_strides) = view(wl);
    if let Some(g) = gl {
        (params.grad_offset, params.grad_strides) = view(g);
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
        params: Params::of(&params),
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
    let sum = crate::ops::reduce::gpu::fold_columns(
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

/// The catalog's variants of conv_gemm.wgsl (src/shaders.rs): each product in small and
/// large tiles, four-wide and not, at unit stride and not.
pub(crate) fn every_variant() -> Vec<ShaderVariant> {
    let mut out = Vec::new();
    for t in RENDERED_TYPES {
        for product in [Product::Forward, Product::GradInput, Product::GradWeight] {
            for (blocks, quads, unit) in [
                ((1, 1), false, false),
                ((2, 4), true, true),
                ((4, 4), true, false),
            ] {
                out.push(variant(product, (t, t), blocks, quads, unit));
            }
        }
    }
    out
}
