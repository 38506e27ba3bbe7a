//! `lepton bench --compare FILE`: each kernel's median against a saved run's, and a failure
//! when one is slower by more than the threshold and more than its own spread.

use std::fmt::Write;
use std::path::Path;

use anyhow::Context;
use serde_json::Value;

/// One kernel of a saved or fresh run.
pub struct Timed {
    pub name: String,
    pub shape: String,
    pub samples_us: Vec<f64>,
}

impl Timed {
    pub fn median_us(&self) -> f64 {
        let mut s = self.samples_us.clone();
        s.sort_by(f64::total_cmp);
        s[s.len() / 2]
    }

    /// (max − min) / median.
    pub fn spread(&self) -> f64 {
        let lo = self
            .samples_us
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min);
        let hi = self.samples_us.iter().copied().fold(0.0, f64::max);
        (hi - lo) / self.median_us().max(f64::MIN_POSITIVE)
    }
}

/// The device and kernels of a file written by `--json` or `--save-baseline`.
pub fn load(path: &Path) -> anyhow::Result<(String, Vec<Timed>)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let doc: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a bench file (JSON)", path.display()))?;
    anyhow::ensure!(
        doc["schema"] == "lepton-bench/1",
        "{} is not a lepton-bench/1 file (schema {})",
        path.display(),
        doc["schema"]
    );
    let device = doc["device"].as_str().unwrap_or_default().to_string();
    let kernels = doc["kernels"]
        .as_array()
        .with_context(|| format!("{}: no kernels", path.display()))?
        .iter()
        .map(|k| {
            let samples: Option<Vec<f64>> = k["samples_us"]
                .as_array()
                .and_then(|s| s.iter().map(Value::as_f64).collect());
            Some(Timed {
                name: k["name"].as_str()?.to_string(),
                shape: k["shape"].as_str()?.to_string(),
                samples_us: samples.filter(|s| !s.is_empty())?,
            })
        })
        .collect::<Option<Vec<_>>>()
        .with_context(|| {
            format!(
                "{}: a kernel without name, shape or samples",
                path.display()
            )
        })?;
    Ok((device, kernels))
}

/// The comparison's lines, and the kernels that got slower by more than `threshold` (a
/// fraction) and more than the larger of the two runs' spreads.
pub fn compare(base: &[Timed], now: &[Timed], threshold: f64) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut slower = Vec::new();
    let _ = writeln!(
        out,
        "{:<13} {:<34} {:>11} {:>11} {:>8}",
        "kernel", "shape", "before µs", "now µs", "change"
    );
    for k in now {
        let Some(b) = base.iter().find(|b| b.name == k.name && b.shape == k.shape) else {
            let _ = writeln!(out, "{:<13} {:<34} (not in the baseline)", k.name, k.shape);
            continue;
        };
        let change = k.median_us() / b.median_us() - 1.0;
        let noise = k.spread().max(b.spread());
        let verdict = if change > threshold && change > noise {
            slower.push(format!("{} {}", k.name, k.shape));
            "  SLOWER"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{:<13} {:<34} {:>11.1} {:>11.1} {:>+7.1}%{verdict}",
            k.name,
            k.shape,
            b.median_us(),
            k.median_us(),
            100.0 * change
        );
    }
    (out, slower)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timed(name: &str, samples: &[f64]) -> Timed {
        Timed {
            name: name.into(),
            shape: "s".into(),
            samples_us: samples.to_vec(),
        }
    }

    #[test]
    fn only_a_slowdown_past_the_threshold_and_the_spread_fails() {
        let base = [
            timed("a", &[100.0, 101.0, 99.0]),
            timed("b", &[100.0, 100.0, 100.0]),
        ];
        let now = [
            // 10% slower, tight spreads: fails at 5%.
            timed("a", &[110.0, 110.5, 109.5]),
            // 10% slower but spread over 40%: noise.
            timed("b", &[110.0, 90.0, 130.0]),
            timed("c", &[1.0]),
        ];
        let (text, slower) = compare(&base, &now, 0.05);
        assert_eq!(slower, ["a s"]);
        assert!(text.contains("(not in the baseline)"), "{text}");
        assert!(compare(&base, &now, 0.2).1.is_empty());
    }
}
