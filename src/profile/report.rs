//! A profile's kernels grouped into rows, as PyTorch's `key_averages()` table groups them.

use crate::profile::{Event, Profile, Track};

/// What a row of the table stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupBy {
    /// One row per kernel (GPU shader entry point, or CPU kernel) and track.
    Kernel,
    /// One row per op of the plan's steps and track, summing a step's dispatches.
    Op,
}

/// One row of the table: every call of one kernel or op on one track.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub name: String,
    pub track: Track,
    pub calls: usize,
    pub total_us: f64,
    pub min_us: f64,
    pub max_us: f64,
    pub flop: u64,
    pub bytes: u64,
}

impl Row {
    pub fn mean_us(&self) -> f64 {
        self.total_us / self.calls.max(1) as f64
    }

    /// FLOP per second over the row's time, in GFLOP/s.
    pub fn gflops(&self) -> f64 {
        self.flop as f64 / self.total_us.max(f64::MIN_POSITIVE) / 1e3
    }

    /// Bytes per second over the row's time, in GB/s.
    pub fn gbps(&self) -> f64 {
        self.bytes as f64 / self.total_us.max(f64::MIN_POSITIVE) / 1e3
    }

    fn add(&mut self, e: &Event) {
        self.calls += 1;
        self.total_us += e.duration_us;
        self.min_us = self.min_us.min(e.duration_us);
        self.max_us = self.max_us.max(e.duration_us);
        self.flop += e.flop;
        self.bytes += e.bytes;
    }
}

impl Profile {
    /// The kernels grouped by `by`, the longest total first.
    pub fn table(&self, by: GroupBy) -> Vec<Row> {
        let mut rows: Vec<Row> = Vec::new();
        for e in self.kernels() {
            let name = match by {
                GroupBy::Kernel => e.name.as_str(),
                GroupBy::Op => e.op,
            };
            let row = match rows
                .iter_mut()
                .position(|r| r.name == name && r.track == e.track)
            {
                Some(i) => &mut rows[i],
                None => {
                    rows.push(Row {
                        name: name.to_string(),
                        track: e.track,
                        calls: 0,
                        total_us: 0.0,
                        min_us: f64::INFINITY,
                        max_us: 0.0,
                        flop: 0,
                        bytes: 0,
                    });
                    rows.last_mut().expect("just pushed")
                }
            };
            row.add(e);
        }
        // A step's later dispatches carry no cost and add no call to its op's row.
        if by == GroupBy::Op {
            for row in &mut rows {
                row.calls = self
                    .kernels()
                    .filter(|e| e.op == row.name && e.track == row.track && e.first_of_step)
                    .count();
            }
        }
        rows.sort_by(|a, b| b.total_us.total_cmp(&a.total_us));
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel(name: &str, op: &'static str, us: f64, flop: u64, first: bool) -> Event {
        Event {
            track: Track::Gpu,
            name: name.into(),
            op,
            shapes: String::new(),
            start_us: 0.0,
            duration_us: us,
            flop,
            bytes: if first { 8 } else { 0 },
            workgroups: if first { 1 } else { 0 },
            first_of_step: first,
        }
    }

    #[test]
    fn rows_sum_their_calls_and_sort_by_total() {
        let profile = Profile {
            started_us: 0.0,
            finished_us: 100.0,
            steps: 1,
            events: vec![
                kernel("gemm", "matmul", 10.0, 1000, true),
                kernel("split_k_sum", "matmul", 2.0, 0, false),
                kernel("gemm", "matmul", 14.0, 1000, true),
                kernel("exp", "exp", 30.0, 50, true),
            ],
            timestamp_pair_us: None,
        };
        let ops = profile.table(GroupBy::Op);
        assert_eq!(ops[0].name, "exp");
        assert_eq!(
            (ops[1].calls, ops[1].total_us, ops[1].flop),
            (2, 26.0, 2000)
        );
        let kernels = profile.table(GroupBy::Kernel);
        let gemm = kernels.iter().find(|r| r.name == "gemm").unwrap();
        assert_eq!((gemm.calls, gemm.min_us, gemm.max_us), (2, 10.0, 14.0));
        assert_eq!(gemm.mean_us(), 12.0);
        assert!((gemm.gflops() - 2000.0 / 24.0 / 1e3).abs() < 1e-12);
    }
}
