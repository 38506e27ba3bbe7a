//! The CPU path's own peaks (`profile::Peaks`), measured on the rayon pool the kernels run
//! on: a streaming copy between two buffers of 128 MiB (past the caches), a streaming sum
//! of one, register-resident chains of fused
//! multiply-adds on every thread (AVX-512 or AVX2 with FMA where the processor has them,
//! found at run time; plain `mul_add` elsewhere; each thread's rate timed on its own and
//! summed), and an empty parallel loop. Each is the best of a few runs after one to warm
//! up.

use std::hint::black_box;
use std::time::Instant;

use rayon::prelude::*;

use crate::profile::Peaks;

const COPY_FLOATS: usize = 32 << 20;
const RUNS: usize = 5;
/// Iterations of the eight chains per thread.
const ITERATIONS: usize = 1 << 21;

/// The best time of `work`, seconds.
fn best(mut work: impl FnMut()) -> f64 {
    let mut best = f64::INFINITY;
    for run in 0..=RUNS {
        let started = Instant::now();
        work();
        if run > 0 {
            best = best.min(started.elapsed().as_secs_f64());
        }
    }
    best
}

/// Eight independent chains of `ITERATIONS` fused multiply-adds of vectors as wide as the
/// processor offers; returns their sum and the FLOP done.
fn chains(seed: f32) -> (f32, f64) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the processor has AVX-512F, checked just above.
            return (unsafe { x86::chains_avx512(seed) }, 16.0);
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the processor has AVX2 and FMA, checked just above.
            return (unsafe { x86::chains_avx2(seed) }, 8.0);
        }
    }
    let mut a = [seed; 8];
    for _ in 0..ITERATIONS {
        for v in &mut a {
            *v = v.mul_add(0.9999, 0.0001);
        }
    }
    (a.iter().sum(), 1.0)
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx512f")]
    pub(super) fn chains_avx512(seed: f32) -> f32 {
        let (m, s) = (_mm512_set1_ps(0.9999), _mm512_set1_ps(0.0001));
        let mut a = [_mm512_set1_ps(seed); 8];
        for _ in 0..super::ITERATIONS {
            for v in &mut a {
                *v = _mm512_fmadd_ps(*v, m, s);
            }
        }
        a.iter().map(|&v| _mm512_reduce_add_ps(v)).sum()
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) fn chains_avx2(seed: f32) -> f32 {
        let (m, s) = (_mm256_set1_ps(0.9999), _mm256_set1_ps(0.0001));
        let mut a = [_mm256_set1_ps(seed); 8];
        for _ in 0..super::ITERATIONS {
            for v in &mut a {
                *v = _mm256_fmadd_ps(*v, m, s);
            }
        }
        let mut lanes = [0.0f32; 8];
        for v in a {
            let mut out = [0.0f32; 8];
            // SAFETY: `out` holds the eight floats the store writes.
            unsafe { _mm256_storeu_ps(out.as_mut_ptr(), v) };
            for (l, o) in lanes.iter_mut().zip(out) {
                *l += o;
            }
        }
        lanes.iter().sum()
    }
}

/// The sum of `values` in sixteen lanes, which the compiler keeps in vector registers.
fn sum16(values: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 16];
    let mut blocks = values.chunks_exact(16);
    for block in &mut blocks {
        for (l, v) in lanes.iter_mut().zip(block) {
            *l += v;
        }
    }
    lanes.iter().sum::<f32>() + blocks.remainder().iter().sum::<f32>()
}

/// Measure the CPU path's peaks on the current rayon pool.
pub(crate) fn measure() -> Peaks {
    let threads = rayon::current_num_threads();
    let src = vec![1.0f32; COPY_FLOATS];
    let mut dst = vec![0.0f32; COPY_FLOATS];
    let chunk = COPY_FLOATS.div_ceil(threads * 4);
    let copy = best(|| {
        dst.par_chunks_mut(chunk)
            .zip(src.par_chunks(chunk))
            .for_each(|(d, s)| d.copy_from_slice(s));
        black_box(&dst);
    });
    let read = best(|| {
        let total: f32 = src.par_chunks(chunk).map(sum16).sum();
        black_box(total);
    });
    // Each thread's own rate, summed: the pool may run two tasks one after the other on
    // one thread when the other is slow to wake, which is not what the cores can do.
    let mut flop_per_s: f64 = 0.0;
    for _ in 0..=RUNS {
        let rates: Vec<f64> = (0..threads)
            .into_par_iter()
            .map(|t| {
                let started = Instant::now();
                let (sum, lanes) = chains(black_box(t as f32));
                black_box(sum);
                ITERATIONS as f64 * 8.0 * lanes * 2.0 / started.elapsed().as_secs_f64()
            })
            .collect();
        flop_per_s = flop_per_s.max(rates.iter().sum());
    }
    let empty = best(|| (0..threads).into_par_iter().for_each(|t| _ = black_box(t)));
    Peaks {
        copy_bytes_per_s: 2.0 * (COPY_FLOATS * 4) as f64 / copy,
        read_bytes_per_s: (COPY_FLOATS * 4) as f64 / read,
        flop_per_s,
        empty_s: empty,
    }
}
