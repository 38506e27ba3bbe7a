//! CPU results do not depend on the number of threads: long sums add fixed-length parts in
//! order, matrix products split only the output (never K), and a convolution's weight
//! gradient sums runs of images fixed by the batch size.

use lepton::nn::Conv2dSpec;
use lepton::{DType, Device, Tensor};

fn bits(t: &Tensor) -> Vec<u32> {
    t.to_vec::<f32>()
        .unwrap()
        .iter()
        .map(|v| v.to_bits())
        .collect()
}

/// The sum, product and weight gradient, computed on a pool of `threads` threads.
fn results(threads: usize) -> Vec<Vec<u32>> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let cpu = Device::cpu();
        let long = Tensor::rand_normal(&[3_000_017], 0.0, 1.0, 1, DType::F32, &cpu).unwrap();
        let a = Tensor::rand_normal(&[300, 500], 0.0, 1.0, 2, DType::F32, &cpu).unwrap();
        let b = Tensor::rand_normal(&[500, 257], 0.0, 1.0, 3, DType::F32, &cpu).unwrap();
        let x = Tensor::rand_normal(&[13, 8, 12, 12], 0.0, 1.0, 4, DType::F32, &cpu).unwrap();
        let w = Tensor::rand_normal(&[16, 8, 3, 3], 0.0, 1.0, 5, DType::F32, &cpu).unwrap();
        w.set_requires_grad(true);
        let spec = Conv2dSpec {
            padding: (1, 1),
            ..Conv2dSpec::default()
        };
        let loss = x
            .conv2d(&w, None, &spec)
            .unwrap()
            .square()
            .sum(&[], false)
            .unwrap();
        let dw = lepton::grad(&loss, &[&w]).unwrap().remove(0);
        vec![
            bits(&long.sum(&[], false).unwrap()),
            bits(&a.matmul(&b).unwrap()),
            bits(&dw),
        ]
    })
}

#[test]
fn cpu_results_are_the_same_on_one_two_and_three_threads() {
    let one = results(1);
    for threads in [2, 3] {
        let other = results(threads);
        for (k, what) in ["sum", "matmul", "conv2d weight gradient"]
            .iter()
            .enumerate()
        {
            assert!(one[k] == other[k], "{what} on {threads} threads");
        }
    }
}
