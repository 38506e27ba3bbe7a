//! Learning-rate schedules: the rate for step t (counting from 0) given the base rate.

#[derive(Clone, Debug)]
pub enum Schedule {
    Constant,
    /// Multiply by `gamma` every `every` steps.
    Step {
        every: u64,
        gamma: f64,
    },
    /// Cosine from the base rate down to `min_lr` over `total` steps, then `min_lr`.
    Cosine {
        total: u64,
        min_lr: f64,
    },
    /// Linearly from the base rate down to `min_lr` over `total` steps, then `min_lr`.
    Linear {
        total: u64,
        min_lr: f64,
    },
    /// Rise linearly from base/steps to the base over `steps` steps, then follow `then`
    /// (counting its steps from the end of the warm-up).
    Warmup {
        steps: u64,
        then: Box<Schedule>,
    },
}

impl Schedule {
    pub fn at(&self, t: u64, base: f64) -> f64 {
        match self {
            Schedule::Constant => base,
            Schedule::Step { every, gamma } => base * gamma.powi((t / (*every).max(1)) as i32),
            Schedule::Cosine { total, min_lr } => {
                let progress = (t as f64 / (*total).max(1) as f64).min(1.0);
                min_lr + 0.5 * (base - min_lr) * (1.0 + (std::f64::consts::PI * progress).cos())
            }
            Schedule::Linear { total, min_lr } => {
                let progress = (t as f64 / (*total).max(1) as f64).min(1.0);
                base + (min_lr - base) * progress
            }
            Schedule::Warmup { steps, then } => {
                if t < *steps {
                    base * (t + 1) as f64 / *steps as f64
                } else {
                    then.at(t - steps, base)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Schedule;

    #[test]
    fn schedules_follow_their_formulas() {
        assert_eq!(
            Schedule::Step {
                every: 10,
                gamma: 0.5
            }
            .at(25, 1.0),
            0.25
        );
        let cosine = Schedule::Cosine {
            total: 100,
            min_lr: 0.1,
        };
        assert_eq!(cosine.at(0, 1.0), 1.0);
        assert!((cosine.at(50, 1.0) - 0.55).abs() < 1e-12);
        assert!((cosine.at(100, 1.0) - 0.1).abs() < 1e-12);
        assert!((cosine.at(500, 1.0) - 0.1).abs() < 1e-12);
        let warm = Schedule::Warmup {
            steps: 4,
            then: Box::new(Schedule::Constant),
        };
        assert_eq!([0, 1, 3, 9].map(|t| warm.at(t, 2.0)), [0.5, 1.0, 2.0, 2.0]);
    }
}
