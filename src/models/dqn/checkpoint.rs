//! A DQN run's checkpoint: both networks, Adam's state, the replay buffer, the
//! environments mid-episode and the step count, so that a resumed run continues exactly as
//! the run would have gone on (every random draw is indexed by a step or gradient-step
//! count, so no generator state needs saving).

use std::collections::HashMap;
use std::path::Path;

use super::{Dqn, DqnConfig, WIDTH};
use crate::checkpoint::{load_run, save_run, NamedTensors};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::graph::Tensor;
use crate::rl::{ReplayBatch, ReplayBuffer, VecSnapshot};

const FAMILY: &str = "dqn";

fn err(path: &Path, message: impl Into<String>) -> Error {
    Error::Checkpoint {
        path: path.display().to_string(),
        message: message.into(),
    }
}

impl Dqn {
    /// Save the run with `metadata` beside its own (family, seed, settings, steps).
    pub fn save(&self, path: &Path, mut metadata: HashMap<String, String>) -> Result<()> {
        let cpu = Device::cpu();
        let replay = self.buffer.stored().clone();
        let n = replay.actions.len();
        let envs = self.envs.snapshot();
        let per_env = envs.envs.first().map_or(0, Vec::len);
        let state = vec![
            (
                "replay.observations".to_string(),
                Tensor::from_vec(replay.observations, &[n, WIDTH], &cpu)?,
            ),
            (
                "replay.actions".to_string(),
                Tensor::from_vec(replay.actions, &[n], &cpu)?,
            ),
            (
                "replay.rewards".to_string(),
                Tensor::from_vec(replay.rewards, &[n], &cpu)?,
            ),
            (
                "replay.next_observations".to_string(),
                Tensor::from_vec(replay.next_observations, &[n, WIDTH], &cpu)?,
            ),
            (
                "replay.terminated".to_string(),
                Tensor::from_vec(replay.terminated, &[n], &cpu)?,
            ),
            (
                "envs.states".to_string(),
                Tensor::from_vec(envs.envs.concat(), &[envs.envs.len(), per_env], &cpu)?,
            ),
            (
                "envs.observations".to_string(),
                Tensor::from_vec(envs.observations, &[envs.envs.len(), WIDTH], &cpu)?,
            ),
            (
                "envs.returns".to_string(),
                Tensor::from_vec(self.returns.clone(), &[self.returns.len()], &cpu)?,
            ),
        ];
        metadata.extend([
            ("family".to_string(), FAMILY.to_string()),
            ("seed".to_string(), self.seed.to_string()),
            ("config".to_string(), format!("{:?}", self.config)),
            ("steps".to_string(), self.steps.to_string()),
            ("episodes".to_string(), envs.episodes.to_string()),
            (
                "replay_next".to_string(),
                self.buffer.next_slot().to_string(),
            ),
        ]);
        save_run(
            path,
            &self.networks,
            Some(&self.optimizer),
            &state,
            metadata,
        )
    }

    /// The run saved at `path`, which must have been started with the same `config` and
    /// `seed`; its metadata comes back too.
    pub fn resume(
        config: DqnConfig,
        seed: u64,
        path: &Path,
        device: &Device,
    ) -> Result<(Dqn, HashMap<String, String>)> {
        let mut dqn = Dqn::new(config, seed, device)?;
        let (metadata, state) = load_run(path, &dqn.networks, Some(&mut dqn.optimizer), device)?;
        let field = |key: &str| metadata.get(key).map(String::as_str);
        if field("family") != Some(FAMILY) {
            return Err(err(path, "not a dqn checkpoint"));
        }
        if field("seed") != Some(seed.to_string().as_str()) {
            return Err(err(
                path,
                format!("trained with seed {:?}, not {seed}", field("seed")),
            ));
        }
        if field("config") != Some(format!("{config:?}").as_str()) {
            return Err(err(
                path,
                format!(
                    "trained with settings {:?}, not {config:?}",
                    field("config")
                ),
            ));
        }
        let count = |key: &str| {
            field(key)
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| err(path, format!("{key} is {:?}, not a count", field(key))))
        };
        let steps = count("steps")? as usize;
        let episodes = count("episodes")?;
        let mut state = Named(state, path);
        let replay = ReplayBatch {
            observations: state.take("replay.observations")?,
            actions: state.take("replay.actions")?,
            rewards: state.take("replay.rewards")?,
            next_observations: state.take("replay.next_observations")?,
            terminated: state.take("replay.terminated")?,
        };
        let next = count("replay_next")? as usize;
        dqn.buffer = ReplayBuffer::restore(config.buffer_capacity, WIDTH, replay, next)
            .map_err(|e| err(path, e.to_string()))?;
        let states: Vec<f64> = state.take("envs.states")?;
        let per_env = states.len() / config.envs;
        let snapshot = VecSnapshot {
            episodes,
            envs: states.chunks(per_env.max(1)).map(<[f64]>::to_vec).collect(),
            observations: state.take("envs.observations")?,
        };
        dqn.envs
            .restore(&snapshot)
            .map_err(|e| err(path, e.to_string()))?;
        let returns: Vec<f64> = state.take("envs.returns")?;
        if returns.len() != config.envs {
            return Err(err(path, format!("{} episode returns", returns.len())));
        }
        dqn.returns = returns;
        dqn.steps = steps;
        Ok((dqn, metadata))
    }
}

/// A checkpoint's run state, taken tensor by tensor with errors that name the file.
struct Named<'a>(NamedTensors, &'a Path);

impl Named<'_> {
    fn take<T: crate::dtype::Element>(&mut self, name: &str) -> Result<Vec<T>> {
        let k = self
            .0
            .iter()
            .position(|(n, _)| n == name)
            .ok_or_else(|| err(self.1, format!("missing tensor run.{name}")))?;
        let (_, t) = self.0.swap_remove(k);
        if t.dtype() != T::DTYPE {
            return Err(err(
                self.1,
                format!("run.{name} is {}, not {}", t.dtype(), T::DTYPE),
            ));
        }
        t.to_vec()
    }
}
