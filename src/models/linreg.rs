//! Linear regression: the diabetes set (standardized features, raw target), or the classic
//! toy problem y = 2x; and the closed-form least-squares solution it is measured against.

use crate::data::Dataset;
use crate::device::Device;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::models::{Prepared, Settings, Task};
use crate::nn::{Linear, Module};
use crate::optim::{Adam, Optimizer, Schedule, Sgd};

/// Full-batch Adam with a cosine decay to 0: the diabetes features are ill-conditioned (s1
/// and s2 correlate), so minibatch noise leaves the weights ~1% off along the flat direction
/// in test MSE; full batches settle within 0.001% of the least-squares solution (seeds 0–3).
pub const DEFAULTS: Settings = Settings {
    epochs: 3000,
    batch_size: 512,
    lr: 2.0,
};

/// y = 2x on x = 1, 2, 3 (a model of it must predict 8 and 10 at 4 and 5).
pub const TOY_DEFAULTS: Settings = Settings {
    epochs: 2000,
    batch_size: 3,
    lr: 0.05,
};

pub fn toy_data() -> Dataset {
    Dataset {
        features: vec![1.0, 2.0, 3.0],
        targets: vec![2.0, 4.0, 6.0],
        rows: 3,
        cols: 1,
        classes: None,
    }
}

/// The diabetes set split 80/20 by `seed`, features standardized with the training split's
/// statistics.
pub fn diabetes(seed: u64) -> Result<(Dataset, Dataset)> {
    let (mut train, mut test) = Dataset::diabetes()?.split(0.2, seed);
    let (mean, std) = train.column_stats();
    train.standardize(&mean, &std);
    test.standardize(&mean, &std);
    Ok((train, test))
}

/// The features' means and standard deviations over the training split of `seed`, which
/// [`diabetes`] standardizes with: a saved model keeps them (as the run state
/// [`INPUT_MEAN`] and [`INPUT_STD`]) so that it takes raw features.
pub fn diabetes_stats(seed: u64) -> Result<(Vec<f32>, Vec<f32>)> {
    Ok(Dataset::diabetes()?.split(0.2, seed).0.column_stats())
}

/// The run-state names of a saved model's input statistics.
pub const INPUT_MEAN: &str = "input_mean";
pub const INPUT_STD: &str = "input_std";

pub fn prepare(toy: bool, settings: &Settings, seed: u64, device: &Device) -> Result<Prepared> {
    let (train, test) = if toy {
        (toy_data(), toy_data())
    } else {
        diabetes(seed)?
    };
    let model = Linear::new(train.cols, 1, true, seed, DType::F32, device)?;
    // Plain SGD solves the toy problem as the textbook does; Adam copes with the diabetes
    // target's scale (hundreds) without tuning.
    let optimizer: Box<dyn Optimizer> = if toy {
        Box::new(Sgd::new(model.parameters(), settings.lr))
    } else {
        let schedule = Schedule::Cosine {
            total: settings.steps(train.rows),
            min_lr: 0.0,
        };
        Box::new(Adam::new(model.parameters(), settings.lr).schedule(schedule))
    };
    Ok(Prepared {
        model: Box::new(model),
        optimizer,
        train,
        test,
        task: Task::Regression,
    })
}

/// Weights and intercept minimizing Σ (x·w + b − y)² over `data`, in f64 (normal equations
/// by Cholesky).
pub fn least_squares(data: &Dataset) -> Result<(Vec<f64>, f64)> {
    let d = data.cols + 1;
    let mut a = vec![0.0f64; d * d];
    let mut rhs = vec![0.0f64; d];
    for (row, &y) in data.features.chunks(data.cols).zip(&data.targets) {
        let x: Vec<f64> = row.iter().map(|&v| v as f64).chain([1.0]).collect();
        for i in 0..d {
            rhs[i] += x[i] * y as f64;
            for j in 0..d {
                a[i * d + j] += x[i] * x[j];
            }
        }
    }
    // A = L Lᵀ
    let mut l = vec![0.0f64; d * d];
    for i in 0..d {
        for j in 0..=i {
            let s: f64 = a[i * d + j] - (0..j).map(|k| l[i * d + k] * l[j * d + k]).sum::<f64>();
            if i == j {
                if s <= 0.0 {
                    return Err(Error::Data {
                        what: "least squares".into(),
                        message: "the features are linearly dependent".into(),
                    });
                }
                l[i * d + i] = s.sqrt();
            } else {
                l[i * d + j] = s / l[j * d + j];
            }
        }
    }
    let mut z = vec![0.0f64; d];
    for i in 0..d {
        z[i] = (rhs[i] - (0..i).map(|k| l[i * d + k] * z[k]).sum::<f64>()) / l[i * d + i];
    }
    let mut w = vec![0.0f64; d];
    for i in (0..d).rev() {
        w[i] = (z[i] - (i + 1..d).map(|k| l[k * d + i] * w[k]).sum::<f64>()) / l[i * d + i];
    }
    let b = w.pop().expect("the intercept");
    Ok((w, b))
}

/// Mean squared error of (w, b) on `data`, in f64.
pub fn mse(data: &Dataset, w: &[f64], b: f64) -> f64 {
    let total: f64 = data
        .features
        .chunks(data.cols)
        .zip(&data.targets)
        .map(|(row, &y)| {
            (row.iter().zip(w).map(|(&x, w)| x as f64 * w).sum::<f64>() + b - y as f64).powi(2)
        })
        .sum();
    total / data.rows.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_squares_recovers_an_exact_plane() {
        // y = 3 x0 − 2 x1 + 0.5, exactly.
        let features = vec![0.0f32, 1.0, 1.0, 0.0, 2.0, 3.0, -1.0, 4.0, 0.5, -2.0];
        let targets = features
            .chunks(2)
            .map(|r| 3.0 * r[0] - 2.0 * r[1] + 0.5)
            .collect();
        let data = Dataset {
            features,
            targets,
            rows: 5,
            cols: 2,
            classes: None,
        };
        let (w, b) = least_squares(&data).unwrap();
        assert!((w[0] - 3.0).abs() < 1e-9 && (w[1] + 2.0).abs() < 1e-9 && (b - 0.5).abs() < 1e-9);
        assert!(mse(&data, &w, b) < 1e-15);
    }
}
