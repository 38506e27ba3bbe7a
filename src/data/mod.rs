//! Data sets and batching: the small real sets shipped in `data/` (embedded, so nothing is
//! read or downloaded at run time), MNIST-format (IDX) files, seeded splits and shuffles;
//! character corpora for language models (text.rs).

mod idx;
mod text;

pub use text::{consecutive_windows, random_windows, CharCorpus, Windows};

use std::io::Read;

use crate::device::Device;
use crate::error::{Error, Result};
use crate::graph::Tensor;

/// Rows of features with one target each (a class index, held here as a float, or a
/// value).
#[derive(Clone, Debug)]
pub struct Dataset {
    /// Row-major, `rows × cols`.
    pub features: Vec<f32>,
    pub targets: Vec<f32>,
    pub rows: usize,
    pub cols: usize,
    /// The number of classes, for classification sets.
    pub classes: Option<usize>,
}

fn gunzip(what: &str, bytes: &[u8]) -> Result<String> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut text)
        .map_err(|e| Error::Data {
            what: what.into(),
            message: e.to_string(),
        })?;
    Ok(text)
}

fn numbers(what: &str, line: &str, sep: &[char]) -> Result<Vec<f32>> {
    line.split(sep)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.trim()
                .parse::<f64>()
                .map(|v| v as f32)
                .map_err(|e| Error::Data {
                    what: what.into(),
                    message: format!("{e} in {line:?}"),
                })
        })
        .collect()
}

/// Rows whose last column is the target.
fn labelled(what: &str, text: &str, skip: usize, classes: Option<usize>) -> Result<Dataset> {
    let mut features = Vec::new();
    let mut targets = Vec::new();
    let mut cols = None;
    for line in text.lines().skip(skip).filter(|l| !l.trim().is_empty()) {
        let mut row = numbers(what, line, &[','])?;
        let target = row.pop().ok_or_else(|| Error::Data {
            what: what.into(),
            message: "an empty row".into(),
        })?;
        if *cols.get_or_insert(row.len()) != row.len() {
            return Err(Error::Data {
                what: what.into(),
                message: format!(
                    "rows of different lengths ({} and {})",
                    cols.unwrap_or(0),
                    row.len()
                ),
            });
        }
        features.extend(row);
        targets.push(target);
    }
    Ok(Dataset {
        rows: targets.len(),
        cols: cols.unwrap_or(0),
        features,
        targets,
        classes,
    })
}

/// Where Debian's `dataset-fashion-mnist` package puts Fashion-MNIST.
pub const FASHION_MNIST: &str = "/usr/share/datasets/fashion-mnist";

impl Dataset {
    /// scikit-learn's digits: 1797 8×8 images (pixels 0..16), classes 0..9.
    pub fn digits() -> Result<Dataset> {
        let text = gunzip("digits", include_bytes!("../../data/digits.csv.gz"))?;
        labelled("digits", &text, 0, Some(10))
    }

    /// scikit-learn's iris: 150 rows of 4 measurements, classes 0..2.
    pub fn iris() -> Result<Dataset> {
        labelled("iris", include_str!("../../data/iris.csv"), 1, Some(3))
    }

    /// The diabetes regression set (Efron et al. 2004): 442 rows of 10 raw features, and a
    /// disease-progression target.
    pub fn diabetes() -> Result<Dataset> {
        let data = gunzip(
            "diabetes",
            include_bytes!("../../data/diabetes_data_raw.csv.gz"),
        )?;
        let target = gunzip(
            "diabetes",
            include_bytes!("../../data/diabetes_target.csv.gz"),
        )?;
        let mut features = Vec::new();
        for line in data.lines().filter(|l| !l.trim().is_empty()) {
            features.extend(numbers("diabetes", line, &[' '])?);
        }
        let mut targets = Vec::new();
        for line in target.lines().filter(|l| !l.trim().is_empty()) {
            targets.extend(numbers("diabetes", line, &[' '])?);
        }
        if features.len() != targets.len() * 10 {
            return Err(Error::Data {
                what: "diabetes".into(),
                message: format!(
                    "{} feature values for {} targets",
                    features.len(),
                    targets.len()
                ),
            });
        }
        Ok(Dataset {
            rows: targets.len(),
            cols: 10,
            features,
            targets,
            classes: None,
        })
    }

    /// An MNIST-format pair of files: images (IDX u8, [n, h, w]) and labels (IDX u8, [n]).
    /// Pixels are kept as 0..255.
    pub fn from_idx(images: &std::path::Path, labels: &std::path::Path) -> Result<Dataset> {
        idx::load(images, labels)
    }

    /// The training and test sets of an MNIST-style directory: `train-images-idx3-ubyte`,
    /// `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`, each
    /// gzipped (`.gz`) or not. Pixels are kept as 0..255.
    pub fn idx_set(dir: &std::path::Path) -> Result<(Dataset, Dataset)> {
        idx::load_set(dir)
    }

    /// Fashion-MNIST (Xiao, Rasul and Vollgraf 2017, MIT licence) where Debian's
    /// `dataset-fashion-mnist` installs it, [`FASHION_MNIST`]: 60,000 training and 10,000 test
    /// images of 28×28. Never downloaded: when absent, the error says how to install it.
    pub fn fashion_mnist() -> Result<(Dataset, Dataset)> {
        let dir = std::path::Path::new(FASHION_MNIST);
        if !dir.is_dir() {
            return Err(Error::Data {
                what: "fashion-mnist".into(),
                message: format!(
                    "not installed: {FASHION_MNIST} is missing. On Debian or Ubuntu, `apt-get install dataset-fashion-mnist` installs it there; elsewhere, give --data the directory that holds its four IDX files"
                ),
            });
        }
        idx::load_set(dir)
    }

    /// `from_idx` of the two files' bytes, already in memory.
    pub fn from_idx_bytes(images: &[u8], labels: &[u8]) -> Result<Dataset> {
        idx::from_bytes(images, labels)
    }

    /// Rows `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Dataset {
        let mut features = Vec::with_capacity(indices.len() * self.cols);
        for &i in indices {
            features.extend_from_slice(&self.features[i * self.cols..(i + 1) * self.cols]);
        }
        Dataset {
            features,
            targets: indices.iter().map(|&i| self.targets[i]).collect(),
            rows: indices.len(),
            cols: self.cols,
            classes: self.classes,
        }
    }

    /// A seeded random split into (train, test) with `test_fraction` of the rows in test.
    pub fn split(&self, test_fraction: f64, seed: u64) -> (Dataset, Dataset) {
        let order = permutation(self.rows, seed);
        let test = ((self.rows as f64) * test_fraction).round() as usize;
        (self.select(&order[test..]), self.select(&order[..test]))
    }

    /// Per-column mean and standard deviation (population), to standardize with.
    pub fn column_stats(&self) -> (Vec<f32>, Vec<f32>) {
        let n = self.rows.max(1) as f64;
        let mut mean = vec![0.0f64; self.cols];
        let mut var = vec![0.0f64; self.cols];
        for row in self.features.chunks(self.cols.max(1)) {
            row.iter()
                .enumerate()
                .for_each(|(j, &v)| mean[j] += v as f64 / n);
        }
        for row in self.features.chunks(self.cols.max(1)) {
            row.iter()
                .enumerate()
                .for_each(|(j, &v)| var[j] += (v as f64 - mean[j]).powi(2) / n);
        }
        (
            mean.iter().map(|&m| m as f32).collect(),
            var.iter().map(|&v| (v.sqrt().max(1e-12)) as f32).collect(),
        )
    }

    /// (x − mean) / std per column.
    pub fn standardize(&mut self, mean: &[f32], std: &[f32]) {
        for row in self.features.chunks_mut(self.cols.max(1)) {
            row.iter_mut()
                .enumerate()
                .for_each(|(j, v)| *v = (*v - mean[j]) / std[j]);
        }
    }

    /// Multiply every feature by `factor`.
    pub fn scale(&mut self, factor: f32) {
        self.features.iter_mut().for_each(|v| *v *= factor);
    }

    /// Features [rows, cols] as f32, and targets [rows]: i32 class indices for a
    /// classification set, f32 values otherwise.
    pub fn tensors(&self, device: &Device) -> Result<(Tensor, Tensor)> {
        let features = Tensor::from_slice(&self.features, &[self.rows, self.cols], device)?;
        let targets = match self.classes {
            Some(_) => {
                let labels: Vec<i32> = self.targets.iter().map(|&t| t as i32).collect();
                Tensor::from_vec(labels, &[self.rows], device)?
            }
            None => Tensor::from_slice(&self.targets, &[self.rows], device)?,
        };
        Ok((features, targets))
    }

    /// The batches of one epoch: shuffled by (seed, epoch) when `shuffle` is set, the last
    /// one smaller when the rows do not divide evenly.
    pub fn batches(&self, batch_size: usize, shuffle: Option<(u64, u64)>) -> Vec<Dataset> {
        let order = match shuffle {
            Some((seed, epoch)) => {
                permutation(self.rows, seed ^ epoch.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            }
            None => (0..self.rows).collect(),
        };
        order
            .chunks(batch_size.max(1))
            .map(|rows| self.select(rows))
            .collect()
    }
}

/// A seeded Fisher–Yates permutation of 0..n.
fn permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (crate::counter_rng::uniform(seed, i as u64) * (i + 1) as f64) as usize;
        order.swap(i, j.min(i));
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_sets_have_their_documented_sizes() {
        let d = Dataset::digits().unwrap();
        assert_eq!((d.rows, d.cols, d.classes), (1797, 64, Some(10)));
        assert!(d.features.iter().all(|&v| (0.0..=16.0).contains(&v)));
        assert!(d
            .targets
            .iter()
            .all(|&t| (0.0..10.0).contains(&t) && t.fract() == 0.0));
        let i = Dataset::iris().unwrap();
        assert_eq!((i.rows, i.cols), (150, 4));
        let b = Dataset::diabetes().unwrap();
        assert_eq!((b.rows, b.cols), (442, 10));
        assert_eq!((b.features[0], b.targets[0]), (59.0, 151.0));
    }

    #[test]
    fn splits_and_batches_cover_every_row_once() {
        let d = Dataset::iris().unwrap();
        let (train, test) = d.split(0.2, 5);
        assert_eq!((train.rows, test.rows), (120, 30));
        let batches = train.batches(32, Some((1, 0)));
        assert_eq!(
            batches.iter().map(|b| b.rows).collect::<Vec<_>>(),
            [32, 32, 32, 24]
        );
        let mut seen: Vec<f32> = batches.iter().flat_map(|b| b.features.clone()).collect();
        let mut all = train.features.clone();
        seen.sort_by(f32::total_cmp);
        all.sort_by(f32::total_cmp);
        assert_eq!(seen, all);
        assert_ne!(
            train.batches(32, Some((1, 0)))[0].targets,
            train.batches(32, Some((1, 1)))[0].targets
        );
        assert_eq!(
            train.batches(32, Some((1, 1)))[0].targets,
            train.batches(32, Some((1, 1)))[0].targets
        );
    }
}
