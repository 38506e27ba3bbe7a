//! The convolution products through im2col: each image's columns (its window taps as a
//! [C/groups·KH·KW, OH·OW] matrix) gathered once and multiplied by `gemm`. The CPU path's
//! fast path for every shape; cpu.rs holds it to the plain kernel.

use std::ops::Range;

use rayon::prelude::*;

use crate::dtype::Element;
use crate::error::Result;
use crate::ops::conv::geometry::{at, inside, Conv2dSpec, Dims, Product, WEIGHT_PARTS};
use crate::ops::conv::per_thread::per_thread;
use crate::ops::op::StepDesc;
use crate::shape::Layout;
use crate::storage::strided::dense;
use crate::storage::{with_float_dtype, CpuData};

/// Visit every run of one window row that lies inside the image: for channel c (within
/// the group), image row y and the window's first column x, the run of outputs [lo, hi)
/// whose taps read x, x + stride, …, and where that run sits in the columns [K, P].
fn window_rows(
    d: &Dims,
    geo: &Conv2dSpec,
    mut visit: impl FnMut(usize, usize, usize, Range<usize>, usize),
) {
    let cg = d.c / geo.groups;
    let p = d.oh * d.ow;
    for c in 0..cg {
        for i in 0..d.kh {
            for j in 0..d.kw {
                let row = ((c * d.kh + i) * d.kw + j) * p;
                let (lo, hi) = inside(d.w, d.ow, j, geo.stride.1, geo.dilation.1, geo.padding.1);
                if lo >= hi {
                    continue;
                }
                let first_x = lo * geo.stride.1 + j * geo.dilation.1 - geo.padding.1;
                let (ylo, yhi) = inside(d.h, d.oh, i, geo.stride.0, geo.dilation.0, geo.padding.0);
                for oy in ylo..yhi {
                    let y = oy * geo.stride.0 + i * geo.dilation.0 - geo.padding.0;
                    visit(c, y, first_x, lo..hi, row + oy * d.ow);
                }
            }
        }
    }
}

/// Write the columns of image `n`, group `grp` into `col`: [K, P] row-major with
/// K = (c, i, j) over C/groups channels and the kernel window, P = (oy, ox). Only positions
/// where the window lies inside the image are written, the same ones for every image, so a
/// buffer zeroed once serves image after image (the rest stay zero). Each run is one strided
/// copy (a plain one for stride 1 over a dense row).
fn fill_columns<T: Element>(
    col: &mut [T],
    x: &[T],
    xl: &Layout,
    (d, geo): (&Dims, &Conv2dSpec),
    n: usize,
    grp: usize,
) {
    let cg = d.c / geo.groups;
    let step = geo.stride.1 * xl.strides[3];
    window_rows(d, geo, |c, y, first_x, run, at| {
        let start = self::at(xl, [n, grp * cg + c, y, first_x]);
        let dst = &mut col[at + run.start..at + run.end];
        if step == 1 {
            dst.copy_from_slice(&x[start..start + dst.len()]);
        } else {
            for (k, v) in dst.iter_mut().enumerate() {
                *v = x[start + k * step];
            }
        }
    });
}

/// c (m×n, row-major) = [c +] a·b, with a m×k (or k×m when `a_t`) and b k×n, dense.
#[allow(clippy::too_many_arguments)]
fn gemm_into<T: Element>(
    (m, n, k): (usize, usize, usize),
    c: &mut [T],
    accumulate: bool,
    a: &[T],
    a_t: bool,
    b: &[T],
    b_t: bool,
    threads: gemm::Parallelism,
) {
    if m * n == 0 {
        return;
    }
    let (a_cs, a_rs) = if a_t {
        (m as isize, 1)
    } else {
        (1, k as isize)
    };
    let (b_cs, b_rs) = if b_t {
        (k as isize, 1)
    } else {
        (1, n as isize)
    };
    assert!(c.len() >= m * n && a.len() >= m * k && b.len() >= k * n);
    // SAFETY: the assertion above bounds every index gemm forms for these dense layouts.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            T::from_f64(1.0),
            T::from_f64(1.0),
            false,
            false,
            false,
            threads,
        )
    }
}

/// Write `product` of the step's operands to `out` (dense) by im2col and `gemm`.
pub(crate) fn run(
    product: Product,
    geo: Conv2dSpec,
    step: &StepDesc,
    inputs: &[&CpuData],
    out: &mut CpuData,
) -> Result<()> {
    let (xl, wl, gl, d) = product.operands(step);
    let groups = geo.groups;
    let (cg, og) = (d.c / groups, d.o / groups);
    let k = cg * d.kh * d.kw;
    let p = d.oh * d.ow;
    let (xi, wi, gi) = product.input_indices();
    with_float_dtype!(step.out_dtype, T => {
        let x = inputs[xi].slice::<T>();
        let weights = dense(inputs[wi].slice::<T>(), wl);
        let dst = out.slice_mut::<T>();
        match product {
            Product::Forward => {
                // One block per (image, group): [O/groups, P] = W_g · columns.
                // Each thread keeps one column buffer for all its images: a fresh one per image
                // cost its zeroing and page faults, 12% of the 32×32×16×16 case.
                let fresh = || vec![T::from_f64(0.0); k * p];
                per_thread(dst, og * p, fresh, |col, b, out| {
                    let (n, grp) = (b / groups, b % groups);
                    fill_columns(col, x, xl, (&d, &geo), n, grp);
                    let wg = &weights[grp * og * k..(grp + 1) * og * k];
                    gemm_into((og, p, k), out, false, wg, false, col, false, gemm::Parallelism::None);
                });
            }
            Product::GradInput => {
                let gy = dense(inputs[gi].slice::<T>(), gl.expect("an output gradient"));
                // One block per (image, group): [C/groups, H, W], scattered from
                // columns' gradient W_gᵀ · G.
                let fresh = || vec![T::from_f64(0.0); k * p];
                per_thread(dst, cg * d.h * d.w, fresh, |col, b, out| {
                    let (n, grp) = (b / groups, b % groups);
                    let wg = &weights[grp * og * k..(grp + 1) * og * k];
                    let g = &gy[(n * d.o + grp * og) * p..(n * d.o + (grp + 1) * og) * p];
                    gemm_into((k, p, og), col, false, wg, true, g, false, gemm::Parallelism::None);
                    out.iter_mut().for_each(|v| *v = T::from_f64(0.0));
                    scatter(col, out, &d, &geo);
                });
            }
            Product::GradWeight => {
                let gy = dense(inputs[gi].slice::<T>(), gl.expect("an output gradient"));
                // Per group, [O/groups, K] = Σ_n G_n · columns_nᵀ. The images are cut into
                // `parts` runs summed side by side, then added in run order: the sum's order
                // depends on the batch size only, so results do not change with the threads.
                let parts = d.n.clamp(1, WEIGHT_PARTS);
                let per = d.n.div_ceil(parts);
                let size = (og * k).max(1);
                let mut partial = vec![T::from_f64(0.0); groups * parts * size];
                partial.par_chunks_mut(size).enumerate().for_each(|(t, out)| {
                    let (grp, part) = (t / parts, t % parts);
                    let mut col = vec![T::from_f64(0.0); k * p];
                    for n in part * per..((part + 1) * per).min(d.n) {
                        fill_columns(&mut col, x, xl, (&d, &geo), n, grp);
                        let g = &gy[(n * d.o + grp * og) * p..(n * d.o + (grp + 1) * og) * p];
                        gemm_into((og, k, p), out, true, g, false, &col, true, gemm::Parallelism::None);
                    }
                });
                for (grp, out) in dst.chunks_mut(size).enumerate() {
                    for (i, v) in out.iter_mut().enumerate() {
                        let runs = (0..parts).map(|part| partial[(grp * parts + part) * size + i]);
                        *v = T::from_f64(runs.fold(0.0, |acc, r| acc + r.to_f64()));
                    }
                }
            }
        }
    });
    Ok(())
}

/// Add columns [K, P] back into their image positions [C/groups, H, W] (the adjoint of
/// `columns`).
fn scatter<T: Element>(col: &[T], out: &mut [T], d: &Dims, geo: &Conv2dSpec) {
    window_rows(d, geo, |c, y, first_x, run, at| {
        let line = (c * d.h + y) * d.w + first_x;
        let from = &col[at + run.start..at + run.end];
        let add = |to: &mut T, v: &T| *to = T::from_f64(to.to_f64() + v.to_f64());
        if geo.stride.1 == 1 {
            // A plain run, which the compiler vectorizes.
            out[line..line + from.len()]
                .iter_mut()
                .zip(from)
                .for_each(|(to, v)| add(to, v));
        } else {
            let to = out[line..].iter_mut().step_by(geo.stride.1);
            to.zip(from).for_each(|(to, v)| add(to, v));
        }
    });
}
