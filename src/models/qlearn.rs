//! Tabular Q-learning on the slippery FrozenLake: a table of action values per cell,
//! learned from ε-greedy episodes with Q(s, a) += α (r + γ max Q(s′) − Q(s, a)), where
//! nothing is bootstrapped past a termination (a hole or the goal) but the value of s′ is
//! past a truncation (the time limit), and judged by its greedy policy's success rate. The
//! table is small and the updates sequential, so it lives on the host; `FrozenLake::
//! optimal_success` is the best any policy can do (0.74).

use crate::counter_rng;
use crate::error::{Error, Result};
use crate::rl::{Env, FrozenLake};

const CELLS: usize = FrozenLake::CELLS;
const ACTIONS: usize = FrozenLake::ACTIONS;

/// How a run learns.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QLearnConfig {
    pub episodes: usize,
    /// The step size α.
    pub lr: f64,
    /// The discount γ.
    pub gamma: f64,
    /// ε falls linearly from `epsilon_start` to `epsilon_end` over this share of the
    /// episodes, then stays.
    pub epsilon_start: f64,
    pub epsilon_end: f64,
    pub explore_share: f64,
}

/// What reaches the target (a greedy success rate ≥ 0.70; tests/qlearn.rs) in well under a
/// second.
pub const DEFAULTS: QLearnConfig = QLearnConfig {
    episodes: 40_000,
    lr: 0.05,
    gamma: 0.99,
    epsilon_start: 1.0,
    epsilon_end: 0.05,
    explore_share: 0.5,
};

impl QLearnConfig {
    /// ε at episode `e`.
    pub fn epsilon(&self, e: usize) -> f64 {
        let span = (self.explore_share * self.episodes as f64).max(1.0);
        let done = (e as f64 / span).min(1.0);
        self.epsilon_start + (self.epsilon_end - self.epsilon_start) * done
    }

    fn check(&self) -> Result<()> {
        let fine = self.lr > 0.0
            && self.lr <= 1.0
            && (0.0..=1.0).contains(&self.gamma)
            && (0.0..=1.0).contains(&self.epsilon_start)
            && (0.0..=1.0).contains(&self.epsilon_end)
            && (0.0..=1.0).contains(&self.explore_share);
        if fine {
            return Ok(());
        }
        Err(Error::invalid(
            "qlearn",
            format!("needs 0 < lr ≤ 1 and gamma, epsilons and share in [0, 1], got {self:?}"),
        ))
    }
}

/// Action values, [cell][action].
#[derive(Clone, Debug, PartialEq)]
pub struct QTable {
    pub values: Vec<[f64; ACTIONS]>,
}

impl Default for QTable {
    fn default() -> QTable {
        QTable {
            values: vec![[0.0; ACTIONS]; CELLS],
        }
    }
}

impl QTable {
    /// The table from a flat [cells × actions] list (a checkpoint's), checked.
    pub fn from_flat(flat: &[f64]) -> Result<QTable> {
        if flat.len() != CELLS * ACTIONS || flat.iter().any(|v| !v.is_finite()) {
            return Err(Error::invalid(
                "qlearn",
                format!(
                    "a table holds {} finite values, got {}",
                    CELLS * ACTIONS,
                    flat.len()
                ),
            ));
        }
        Ok(QTable {
            values: flat
                .chunks(ACTIONS)
                .map(|r| [r[0], r[1], r[2], r[3]])
                .collect(),
        })
    }

    pub fn flat(&self) -> Vec<f64> {
        self.values.iter().flatten().copied().collect()
    }

    /// The greedy action of every cell.
    pub fn policy(&self) -> [usize; CELLS] {
        std::array::from_fn(|cell| self.greedy(cell))
    }

    /// The best action in `cell`, the first on a tie.
    pub fn greedy(&self, cell: usize) -> usize {
        let row = &self.values[cell];
        (0..ACTIONS).fold(0, |b, a| if row[a] > row[b] { a } else { b })
    }
}

/// One episode's outcome while learning.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Episode {
    pub reward: f64,
    /// The mean |TD error| of its updates.
    pub td_error: f64,
}

/// Learn from episodes `from..to` of the run that `config` and `seed` define, updating
/// `q`; each episode's draws (the lake's and ε-greedy's) come from (seed, episode), so a
/// run split by a checkpoint continues exactly as one that was not. `each` sees every
/// episode.
pub fn learn(
    config: &QLearnConfig,
    seed: u64,
    q: &mut QTable,
    (from, to): (usize, usize),
    mut each: impl FnMut(usize, Episode),
) -> Result<()> {
    config.check()?;
    let mut env = FrozenLake::new();
    for e in from..to {
        let episode_seed = stream(seed, e as u64, 0);
        let mut cell = observed(&env.reset(episode_seed));
        let (epsilon, agent, mut draws) = (config.epsilon(e), stream(seed, e as u64, 1), 0u64);
        let mut draw = || {
            draws += 1;
            counter_rng::uniform(agent, draws)
        };
        let (mut reward, mut td, mut updates) = (0.0, 0.0, 0usize);
        loop {
            let action = if draw() < epsilon {
                ((draw() * ACTIONS as f64) as usize).min(ACTIONS - 1)
            } else {
                q.greedy(cell)
            };
            let step = env.step(action)?;
            let next = observed(&step.observation);
            let future = if step.terminated {
                0.0
            } else {
                q.values[next]
                    .iter()
                    .copied()
                    .fold(f64::NEG_INFINITY, f64::max)
            };
            let error = step.reward + config.gamma * future - q.values[cell][action];
            q.values[cell][action] += config.lr * error;
            (reward, td, updates) = (reward + step.reward, td + error.abs(), updates + 1);
            if step.done() {
                break;
            }
            cell = next;
        }
        each(
            e,
            Episode {
                reward,
                td_error: td / updates as f64,
            },
        );
    }
    Ok(())
}

/// The greedy policy's share of `episodes` episodes that reach the goal, each seeded from
/// (seed, its number) in a stream apart from learning's.
pub fn success_rate(q: &QTable, episodes: usize, seed: u64) -> Result<f64> {
    let mut env = FrozenLake::new();
    let mut wins = 0usize;
    for e in 0..episodes {
        let mut cell = observed(&env.reset(stream(seed, e as u64, 2)));
        loop {
            let step = env.step(q.greedy(cell))?;
            if step.reward > 0.0 {
                wins += 1;
            }
            if step.done() {
                break;
            }
            cell = observed(&step.observation);
        }
    }
    Ok(wins as f64 / episodes.max(1) as f64)
}

/// The cell an observation names.
fn observed(observation: &[f32]) -> usize {
    observation[0] as usize
}

/// The seed of episode `e`'s draws of kind `kind` (0 the lake's while learning, 1 the
/// agent's, 2 the lake's in evaluation).
fn stream(seed: u64, e: u64, kind: u64) -> u64 {
    counter_rng::bits(seed ^ (kind << 62), e)
}
