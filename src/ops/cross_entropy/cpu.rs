//! The CPU path's cross-entropy and its gradient, row by row in f64 (dense f32 and f16 rows
//! with softmax's fast exponentials).

use crate::dtype::{DType, Element};
use crate::error::Result;
use crate::ops::op::StepDesc;
use crate::ops::softmax::cpu::{for_rows, row_layout, row_stats};
use crate::ops::softmax::dense_rows::with_exponentials;
use crate::storage::{with_float_dtype, CpuData};

/// The row's class, if the target names one of `n`.
fn class(target: i32, n: usize) -> Option<usize> {
    usize::try_from(target).ok().filter(|&c| c < n)
}

pub(crate) fn run_cpu(
    smoothing: u64,
    backward: bool,
    step: &StepDesc,
    inputs: &[&CpuData],
    out: &mut CpuData,
) -> Result<()> {
    let eps = f64::from_bits(smoothing);
    let (outer, n, stride) = row_layout(step.inputs[0].1);
    let t_layout = step.inputs[1].1;
    let width = if backward { n } else { 1 };
    with_float_dtype!(step.out_dtype, T => {
        let src = inputs[0].slice::<T>();
        let targets = inputs[1].slice::<i32>();
        let incoming = backward.then(|| (inputs[2].slice::<T>(), step.inputs[2].1));
        // Dense f32 and f16 rows take softmax's fast rows (a vectorized exp within 2 ulp);
        // f64 data, the tests' reference, keeps libm.
        let fast = stride == 1 && T::DTYPE != DType::F64 && !crate::autotune::plain_cpu();
        for_rows(&outer, n, width, out.slice_mut::<T>(), |r, base, dst: &mut [T]| {
            let x = |i: usize| src[base + i * stride].to_f64();
            let target = targets[t_layout.offset + r * t_layout.strides[0]];
            let row = Row { x: &x, n, target, eps, g: incoming.map(|(g, l)| g[l.offset + r * l.strides[0]].to_f64()) };
            if fast {
                with_exponentials(&src[base..base + n], |m, s, e| row.write(m, s, |i| e[i], dst));
            } else {
                let (m, s) = row_stats(x, n);
                row.write(m, s, |i| (x(i) - m).exp(), dst);
            }
        });
    });
    Ok(())
}

/// One row of logits, its target, the label smoothing and, for the gradient, the row's
/// incoming loss gradient.
struct Row<'a> {
    x: &'a dyn Fn(usize) -> f64,
    n: usize,
    target: i32,
    eps: f64,
    g: Option<f64>,
}

impl Row<'_> {
    /// The row's loss, or its gradient, from its maximum `m`, Σ exp(x − m) `s` and each
    /// exp(x − m) `e(i)`.
    fn write<T: Element>(&self, m: f64, s: f64, e: impl Fn(usize) -> f64, dst: &mut [T]) {
        let (x, n, eps) = (self.x, self.n, self.eps);
        let Some(c) = class(self.target, n) else {
            dst.iter_mut().for_each(|o| *o = T::from_f64(f64::NAN));
            return;
        };
        let spread = eps / n as f64;
        match self.g {
            None => {
                let total: f64 = if eps == 0.0 { 0.0 } else { (0..n).map(x).sum() };
                let picked = (1.0 - eps) * x(c) + spread * total;
                dst[0] = T::from_f64(m + s.ln() - picked);
            }
            Some(g) => {
                for (i, o) in dst.iter_mut().enumerate() {
                    let w = spread + if i == c { 1.0 - eps } else { 0.0 };
                    *o = T::from_f64(g * (e(i) / s - w));
                }
            }
        }
    }
}
