//! CartPole-v1 exactly as Gymnasium 1.x defines it: a pole hinged on a cart that the agent
//! pushes left or right with a force of 10 N; explicit Euler steps of 20 ms (positions move
//! with the old velocities); the state in f64 and observations as f32; the episode
//! terminates when the cart leaves ±2.4 or the pole tilts past 12°, with reward 1 on every
//! step including that one, and is truncated after 500 steps. `reset` draws each state
//! value uniformly in ±0.05. The arithmetic follows Gymnasium's expression by expression,
//! so trajectories match its to the last bits (tests/rl_envs.rs holds them to its own).

use crate::counter_rng;
use crate::error::{Error, Result};
use crate::rl::{Env, Resumable, Space, Step};

const GRAVITY: f64 = 9.8;
const MASS_CART: f64 = 1.0;
const MASS_POLE: f64 = 0.1;
const TOTAL_MASS: f64 = MASS_POLE + MASS_CART;
/// Half the pole's length.
const LENGTH: f64 = 0.5;
const POLE_MASS_LENGTH: f64 = MASS_POLE * LENGTH;
const FORCE: f64 = 10.0;
const TAU: f64 = 0.02;
const X_LIMIT: f64 = 2.4;

/// 12°, in the order Gymnasium computes it.
fn theta_limit() -> f64 {
    12.0 * 2.0 * std::f64::consts::PI / 360.0
}

/// Cart position and velocity, pole angle (0 upright) and angular velocity.
pub type CartPoleState = [f64; 4];

#[derive(Clone, Debug, Default)]
pub struct CartPole {
    state: CartPoleState,
    steps: usize,
    /// Whether an episode is under way (reset and not yet over).
    running: bool,
}

impl CartPole {
    /// Steps before truncation (CartPole-v1's time limit).
    pub const MAX_STEPS: usize = 500;

    pub fn new() -> CartPole {
        CartPole::default()
    }

    /// Start an episode from `state` instead of a random one (what tests and replays use).
    pub fn reset_to(&mut self, state: CartPoleState) -> Vec<f32> {
        (self.state, self.steps, self.running) = (state, 0, true);
        self.observation()
    }

    pub fn state(&self) -> CartPoleState {
        self.state
    }

    fn observation(&self) -> Vec<f32> {
        self.state.iter().map(|&v| v as f32).collect()
    }
}

impl Env for CartPole {
    /// 0 pushes left, 1 right.
    type Action = usize;

    fn observation_space(&self) -> Space {
        let high = [
            2.0 * X_LIMIT,
            f64::INFINITY,
            2.0 * theta_limit(),
            f64::INFINITY,
        ];
        Space::Box {
            low: high.iter().map(|&v| -v as f32).collect(),
            high: high.iter().map(|&v| v as f32).collect(),
        }
    }

    fn action_space(&self) -> Space {
        Space::Discrete(2)
    }

    fn reset(&mut self, seed: u64) -> Vec<f32> {
        let state = std::array::from_fn(|i| -0.05 + 0.1 * counter_rng::uniform(seed, i as u64));
        self.reset_to(state)
    }

    fn step(&mut self, action: usize) -> Result<Step> {
        if action > 1 {
            return Err(Error::invalid(
                "cartpole",
                format!("action {action} is not 0 or 1"),
            ));
        }
        if !self.running {
            return Err(Error::invalid(
                "cartpole",
                "step before reset or after the episode ended",
            ));
        }
        let [x, x_dot, theta, theta_dot] = self.state;
        let force = if action == 1 { FORCE } else { -FORCE };
        let (cos, sin) = (theta.cos(), theta.sin());
        let temp = (force + POLE_MASS_LENGTH * (theta_dot * theta_dot) * sin) / TOTAL_MASS;
        let theta_acc = (GRAVITY * sin - cos * temp)
            / (LENGTH * (4.0 / 3.0 - MASS_POLE * (cos * cos) / TOTAL_MASS));
        let x_acc = temp - POLE_MASS_LENGTH * theta_acc * cos / TOTAL_MASS;
        self.state = [
            x + TAU * x_dot,
            x_dot + TAU * x_acc,
            theta + TAU * theta_dot,
            theta_dot + TAU * theta_acc,
        ];
        self.steps += 1;
        let [x, _, theta, _] = self.state;
        let limit = theta_limit();
        let terminated = !(-X_LIMIT..=X_LIMIT).contains(&x) || !(-limit..=limit).contains(&theta);
        // Gymnasium's time limit truncates on the last step even when it also terminates.
        let truncated = self.steps >= CartPole::MAX_STEPS;
        self.running = !(terminated || truncated);
        Ok(Step {
            observation: self.observation(),
            reward: 1.0,
            terminated,
            truncated,
        })
    }
}

impl Resumable for CartPole {
    /// x, ẋ, θ, θ̇, the steps taken in the episode, and 1 while it runs.
    fn snapshot(&self) -> Vec<f64> {
        let mut s = self.state.to_vec();
        s.extend([self.steps as f64, f64::from(u8::from(self.running))]);
        s
    }

    fn restore(&mut self, state: &[f64]) -> Result<()> {
        let fine = state.len() == 6
            && state[..4].iter().all(|v| v.is_finite())
            && state[4].fract() == 0.0
            && (0.0..=CartPole::MAX_STEPS as f64).contains(&state[4])
            && (state[5] == 0.0 || state[5] == 1.0);
        if !fine {
            return Err(Error::invalid(
                "cartpole",
                format!("{state:?} is not a snapshot of a CartPole"),
            ));
        }
        self.state = std::array::from_fn(|i| state[i]);
        (self.steps, self.running) = (state[4] as usize, state[5] == 1.0);
        Ok(())
    }
}
