//! FrozenLake-v1, 4×4 and slippery, as Gymnasium defines it: the map `SFFF/FHFH/FFFH/HFFG`,
//! actions left, down, right, up; on ice the agent moves as intended with probability 1/3
//! and to either side of it with 1/3 each (off the board it stays put); a hole or the goal
//! ends the episode, the goal with reward 1; the episode is truncated after 100 steps. The
//! observation is the cell's index (row · 4 + column) as one f32. `transitions` gives the
//! model, from which `optimal_success` computes the best success rate any policy reaches:
//! the oracle that tabular learners are held to.

use crate::counter_rng;
use crate::error::{Error, Result};
use crate::rl::{Env, Space, Step};

const MAP: [&[u8; 4]; 4] = [b"SFFF", b"FHFH", b"FFFH", b"HFFG"];
const SIDE: usize = 4;
const CELLS: usize = FrozenLake::CELLS;
const ACTIONS: usize = FrozenLake::ACTIONS;

/// One outcome of an action: its probability, the cell reached, the reward, and whether
/// the episode ends there.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Move {
    pub probability: f64,
    pub cell: usize,
    pub reward: f64,
    pub terminal: bool,
}

fn letter(cell: usize) -> u8 {
    MAP[cell / SIDE][cell % SIDE]
}

/// The cell next to `cell` in direction `action` (0 left, 1 down, 2 right, 3 up), or the
/// cell itself at the board's edge.
fn neighbour(cell: usize, action: usize) -> usize {
    let (row, col) = (cell / SIDE, cell % SIDE);
    let (row, col) = match action {
        0 => (row, col.saturating_sub(1)),
        1 => ((row + 1).min(SIDE - 1), col),
        2 => (row, (col + 1).min(SIDE - 1)),
        _ => (row.saturating_sub(1), col),
    };
    row * SIDE + col
}

#[derive(Clone, Debug, Default)]
pub struct FrozenLake {
    cell: usize,
    steps: usize,
    running: bool,
    seed: u64,
    draws: u64,
}

impl FrozenLake {
    pub const CELLS: usize = SIDE * SIDE;
    pub const ACTIONS: usize = 4;
    /// Steps before truncation (FrozenLake-v1's time limit).
    pub const MAX_STEPS: usize = 100;

    pub fn new() -> FrozenLake {
        FrozenLake::default()
    }

    /// The outcomes of `action` in `cell`, in Gymnasium's order (the move to the left of
    /// the intended one, the intended one, the one to its right). A hole or the goal
    /// keeps the agent in place with nothing more to gain.
    pub fn transitions(cell: usize, action: usize) -> Vec<Move> {
        if matches!(letter(cell), b'G' | b'H') {
            return vec![Move {
                probability: 1.0,
                cell,
                reward: 0.0,
                terminal: true,
            }];
        }
        [(action + 3) % 4, action, (action + 1) % 4]
            .iter()
            .map(|&direction| {
                let next = neighbour(cell, direction);
                Move {
                    probability: 1.0 / 3.0,
                    cell: next,
                    reward: if letter(next) == b'G' { 1.0 } else { 0.0 },
                    terminal: matches!(letter(next), b'G' | b'H'),
                }
            })
            .collect()
    }

    /// The highest probability of reaching the goal from the start within `horizon` steps
    /// over all policies, by dynamic programming over the model, with an optimal policy
    /// for each number of steps left (`policy[h][cell]` with h + 1 steps left).
    pub fn optimal_success(horizon: usize) -> (f64, Vec<[usize; CELLS]>) {
        let mut value = [0.0f64; CELLS];
        let mut policy = Vec::with_capacity(horizon);
        for _ in 0..horizon {
            let mut next = [0.0; CELLS];
            let mut best = [0; CELLS];
            for cell in 0..CELLS {
                let worth = |action: usize| -> f64 {
                    FrozenLake::transitions(cell, action)
                        .iter()
                        .map(|m| {
                            m.probability
                                * (m.reward + if m.terminal { 0.0 } else { value[m.cell] })
                        })
                        .sum()
                };
                best[cell] = (0..ACTIONS).fold(0, |b, a| if worth(a) > worth(b) { a } else { b });
                next[cell] = worth(best[cell]);
            }
            value = next;
            policy.push(best);
        }
        (value[0], policy)
    }

    /// The exact probability that `policy` (an action per cell) reaches the goal from the
    /// start within `horizon` steps: the model's expectation, free of sampling noise.
    pub fn policy_success(policy: &[usize; CELLS], horizon: usize) -> f64 {
        let mut value = [0.0f64; CELLS];
        for _ in 0..horizon {
            value = std::array::from_fn(|cell| {
                FrozenLake::transitions(cell, policy[cell])
                    .iter()
                    .map(|m| {
                        m.probability * (m.reward + if m.terminal { 0.0 } else { value[m.cell] })
                    })
                    .sum()
            });
        }
        value[0]
    }

    /// The agent's cell.
    pub fn cell(&self) -> usize {
        self.cell
    }
}

impl Env for FrozenLake {
    /// 0 left, 1 down, 2 right, 3 up.
    type Action = usize;

    fn observation_space(&self) -> Space {
        Space::Discrete(CELLS)
    }

    fn action_space(&self) -> Space {
        Space::Discrete(ACTIONS)
    }

    fn reset(&mut self, seed: u64) -> Vec<f32> {
        *self = FrozenLake {
            running: true,
            seed,
            ..FrozenLake::default()
        };
        vec![0.0]
    }

    fn step(&mut self, action: usize) -> Result<Step> {
        if action >= ACTIONS {
            return Err(Error::invalid(
                "frozen_lake",
                format!("action {action} is not in 0..4"),
            ));
        }
        if !self.running {
            return Err(Error::invalid(
                "frozen_lake",
                "step before reset or after the episode ended",
            ));
        }
        // Gymnasium's categorical draw: the first outcome whose running sum passes u.
        let u = counter_rng::uniform(self.seed, self.draws);
        self.draws += 1;
        let moves = FrozenLake::transitions(self.cell, action);
        let mut total = 0.0;
        let taken = moves
            .iter()
            .find(|m| {
                total += m.probability;
                total > u
            })
            .unwrap_or(&moves[moves.len() - 1]);
        self.cell = taken.cell;
        self.steps += 1;
        let truncated = self.steps >= FrozenLake::MAX_STEPS;
        self.running = !(taken.terminal || truncated);
        Ok(Step {
            observation: vec![self.cell as f32],
            reward: taken.reward,
            terminated: taken.terminal,
            truncated,
        })
    }
}
