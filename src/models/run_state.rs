//! What the reinforcement-learning families share in their checkpoints: the metadata that
//! ties a checkpoint to its family, seed and settings, numbers kept in the metadata, and
//! the run's state tensors taken by name.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;

use crate::checkpoint::{load_run, NamedTensors};
use crate::device::Device;
use crate::dtype::Element;
use crate::error::{Error, Result};
use crate::graph::Tensor;
use crate::nn::Module;
use crate::optim::Optimizer;
use crate::rl::{Resumable, VecEnv, VecSnapshot};

fn err(path: &Path, message: impl Into<String>) -> Error {
    Error::Checkpoint {
        path: path.display().to_string(),
        message: message.into(),
    }
}

/// The metadata that [`check_run`] reads.
pub(crate) fn run_metadata(family: &str, seed: u64, config: &str) -> [(String, String); 3] {
    [
        ("family".to_string(), family.to_string()),
        ("seed".to_string(), seed.to_string()),
        ("config".to_string(), config.to_string()),
    ]
}

/// Refuse a checkpoint of another family, seed or settings (`config` is their Debug form).
pub(crate) fn check_run(
    path: &Path,
    metadata: &HashMap<String, String>,
    family: &str,
    seed: u64,
    config: &str,
) -> Result<()> {
    let field = |key: &str| metadata.get(key).map(String::as_str);
    if field("family") != Some(family) {
        return Err(err(path, format!("not a {family} checkpoint")));
    }
    if field("seed") != Some(seed.to_string().as_str()) {
        return Err(err(
            path,
            format!("trained with seed {:?}, not {seed}", field("seed")),
        ));
    }
    if field("config") != Some(config) {
        return Err(err(
            path,
            format!("trained with settings {:?}, not {config}", field("config")),
        ));
    }
    Ok(())
}

/// A number kept in a checkpoint's metadata.
pub(crate) fn run_field<T: FromStr>(
    path: &Path,
    metadata: &HashMap<String, String>,
    key: &str,
) -> Result<T> {
    let value = metadata.get(key);
    value
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| err(path, format!("{key} is {value:?}, not a number")))
}

/// A checkpoint's run state, taken tensor by tensor with errors that name the file.
pub(crate) struct RunState<'a> {
    tensors: NamedTensors,
    path: &'a Path,
}

impl RunState<'_> {
    /// Load what `save_run` wrote at `path` into `model` and `optimizer`, refusing a
    /// checkpoint of another family, seed or settings ([`check_run`]); the metadata and the
    /// run's state tensors.
    pub fn load<'a>(
        path: &'a Path,
        (model, optimizer): (&dyn Module, &mut dyn Optimizer),
        device: &Device,
        (family, seed, config): (&str, u64, &str),
    ) -> Result<(HashMap<String, String>, RunState<'a>)> {
        let (metadata, tensors) = load_run(path, model, Some(optimizer), device)?;
        check_run(path, &metadata, family, seed, config)?;
        Ok((metadata, RunState { tensors, path }))
    }

    pub fn take<T: Element>(&mut self, name: &str) -> Result<Vec<T>> {
        let k = self
            .tensors
            .iter()
            .position(|(n, _)| n == name)
            .ok_or_else(|| self.error(format!("missing tensor run.{name}")))?;
        let (_, t) = self.tensors.swap_remove(k);
        if t.dtype() != T::DTYPE {
            return Err(self.error(format!("run.{name} is {}, not {}", t.dtype(), T::DTYPE)));
        }
        t.to_vec()
    }

    /// Every remaining tensor whose name starts with `prefix`, by the rest of its name.
    pub fn take_prefixed(&mut self, prefix: &str) -> NamedTensors {
        let (taken, kept) = std::mem::take(&mut self.tensors)
            .into_iter()
            .partition(|(n, _)| n.starts_with(prefix));
        self.tensors = kept;
        taken
            .into_iter()
            .map(|(n, t): (String, Tensor)| (n[prefix.len()..].to_string(), t))
            .collect()
    }

    /// Return `envs` to what [`environment_state`] saved; each environment's return so far.
    pub fn restore_environments<E: Resumable>(&mut self, envs: &mut VecEnv<E>) -> Result<Vec<f64>> {
        let (snapshot, returns) = self.take_environments(envs.len())?;
        envs.restore(&snapshot).map_err(|e| self.error(e))?;
        Ok(returns)
    }

    /// What [`environment_state`] saved, for a batch of `count` environments: the
    /// snapshot and each environment's return so far.
    fn take_environments(&mut self, count: usize) -> Result<(VecSnapshot, Vec<f64>)> {
        let episodes: Vec<f64> = self.take("envs.episodes")?;
        let states: Vec<f64> = self.take("envs.states")?;
        let returns: Vec<f64> = self.take("envs.returns")?;
        let fine = count > 0
            && states.len().is_multiple_of(count)
            && returns.len() == count
            && episodes.len() == 1
            && episodes[0].fract() == 0.0
            && episodes[0] >= 0.0;
        if !fine {
            return Err(self.error(format!(
                "the state of {} environments, {} returns and episodes {episodes:?} for {count} environments",
                states.len(), returns.len()
            )));
        }
        let snapshot = VecSnapshot {
            episodes: episodes[0] as u64,
            envs: states
                .chunks(states.len() / count)
                .map(<[f64]>::to_vec)
                .collect(),
            observations: self.take("envs.observations")?,
        };
        Ok((snapshot, returns))
    }

    /// An error about this checkpoint.
    pub fn error(&self, message: impl ToString) -> Error {
        err(self.path, message.to_string())
    }
}

/// A batch of environments mid-episode and each one's return so far, as run-state tensors
/// on the host.
pub(crate) fn environment_state(envs: &VecSnapshot, returns: &[f64]) -> Result<NamedTensors> {
    let cpu = Device::cpu();
    let n = envs.envs.len();
    let per_env = envs.envs.first().map_or(0, Vec::len);
    let width = envs.observations.len() / n.max(1);
    Ok(vec![
        (
            "envs.episodes".to_string(),
            Tensor::from_vec(vec![envs.episodes as f64], &[1], &cpu)?,
        ),
        (
            "envs.states".to_string(),
            Tensor::from_vec(envs.envs.concat(), &[n, per_env], &cpu)?,
        ),
        (
            "envs.observations".to_string(),
            Tensor::from_vec(envs.observations.clone(), &[n, width], &cpu)?,
        ),
        (
            "envs.returns".to_string(),
            Tensor::from_vec(returns.to_vec(), &[returns.len()], &cpu)?,
        ),
    ])
}
