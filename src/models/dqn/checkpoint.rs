//! A DQN run's checkpoint: both networks, Adam's state, the replay buffer, the
//! environments mid-episode and the step count, so that a resumed run continues exactly as
//! the run would have gone on (every random draw is indexed by a step or gradient-step
//! count, so no generator state needs saving).

use std::collections::HashMap;
use std::path::Path;

use super::{Dqn, DqnConfig, WIDTH};
use crate::checkpoint::save_run;
use crate::device::Device;
use crate::error::Result;
use crate::graph::Tensor;
use crate::models::{environment_state, run_field, run_metadata, RunState};
use crate::rl::{ReplayBatch, ReplayBuffer};

const FAMILY: &str = "dqn";

impl Dqn {
    /// Save the run with `metadata` beside its own (family, seed, settings, steps).
    pub fn save(&self, path: &Path, mut metadata: HashMap<String, String>) -> Result<()> {
        let cpu = Device::cpu();
        let replay = self.buffer.stored().clone();
        let n = replay.actions.len();
        let mut state = vec![
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
        ];
        state.extend(environment_state(&self.envs.snapshot(), &self.returns)?);
        metadata.extend(run_metadata(
            FAMILY,
            self.seed,
            &format!("{:?}", self.config),
        ));
        metadata.extend([
            ("steps".to_string(), self.steps.to_string()),
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
        let (metadata, mut state) = RunState::load(
            path,
            (&dqn.networks, &mut dqn.optimizer),
            device,
            (FAMILY, seed, &format!("{config:?}")),
        )?;
        let steps: usize = run_field(path, &metadata, "steps")?;
        let next: usize = run_field(path, &metadata, "replay_next")?;
        let replay = ReplayBatch {
            observations: state.take("replay.observations")?,
            actions: state.take("replay.actions")?,
            rewards: state.take("replay.rewards")?,
            next_observations: state.take("replay.next_observations")?,
            terminated: state.take("replay.terminated")?,
        };
        dqn.buffer = ReplayBuffer::restore(config.buffer_capacity, WIDTH, replay, next)
            .map_err(|e| state.error(e))?;
        dqn.returns = state.restore_environments(&mut dqn.envs)?;
        dqn.steps = steps;
        Ok((dqn, metadata))
    }
}
