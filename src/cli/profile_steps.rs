//! What one profiled step is for each family `lepton train` knows, built with the model,
//! optimizer, data and defaults that `train` uses: one optimizer step on a batch for the
//! supervised families, the character model and the VAE; a step of each network for the
//! GAN; one update (its rollout included) for the policy-gradient agents; one training
//! round of DQN.

use anyhow::Context;
use lepton::data::{random_windows, CharCorpus};
use lepton::models::dqn::{self, Dqn, DqnConfig};
use lepton::models::gan::Gan;
use lepton::models::policy_gradient::{
    A2c, A2cConfig, Agent, Ppo, PpoConfig, Reinforce, ReinforceConfig, A2C_DEFAULTS, PPO_DEFAULTS,
    REINFORCE_DEFAULTS,
};
use lepton::models::vae::{self, Vae};
use lepton::models::{charlm::CharLm, Prepared};
use lepton::nn::Module;
use lepton::optim::{Adam, Optimizer};
use lepton::Device;

use crate::cli::profile::ProfileArgs;
use crate::cli::supervised::Choice;
use crate::cli::train::Family;
use crate::cli::{charlm, gan};

/// A family's training step, ready to run again and again.
pub struct Workload {
    /// What one step does, for the report's header.
    pub what: String,
    /// One step; it reads a loss back, so it ends when the device's work does.
    pub step: Box<dyn FnMut() -> lepton::Result<()>>,
}

/// The workload of `args.family` on `device`.
pub fn workload(args: &ProfileArgs, device: &Device) -> anyhow::Result<Workload> {
    anyhow::ensure!(
        args.arch.is_none() || matches!(args.family, Family::Charlm),
        "only charlm takes --arch"
    );
    anyhow::ensure!(
        args.data.is_none() || matches!(args.family, Family::Mlp | Family::Cnn | Family::Gan),
        "only mlp, cnn and gan take --data"
    );
    // Enough planned work that no run's schedule ends inside the steps `profile` takes:
    // the warm-up, one more, then the steps unprofiled, timed whole and profiled.
    let updates = args.warmup + 1 + 3 * args.steps;
    let device = device.clone();
    let seed = args.seed;
    Ok(match args.family {
        Family::Linreg | Family::Mlp | Family::Cnn | Family::Rnn | Family::Lstm | Family::Gru => {
            supervised(args, &device)?
        }
        Family::Charlm => {
            let arch = args
                .arch
                .context("charlm needs --arch lstm, gru or transformer")?;
            let corpus = CharCorpus::tiny_shakespeare()?;
            let recipe = charlm::recipe(arch, corpus.vocab.len());
            let batch = args.batch_size.unwrap_or(recipe.batch_size);
            let context = recipe.config.context;
            let model = CharLm::new(recipe.config, seed, &device)?;
            let mut optimizer =
                charlm::optimizer(&model, recipe.lr, recipe.iterations.max(updates));
            let train = corpus.split(0.1).0.to_vec();
            let mut n = 0;
            Workload {
                what: format!(
                    "{} optimizer step on {batch} windows of {context} characters",
                    recipe.config.arch.name()
                ),
                step: Box::new(move || {
                    let (x, y) =
                        random_windows(&train, batch, context, seed, n)?.tensors(&device)?;
                    n += 1;
                    optimizer.step(&model.loss(&x, &y)?).map(drop)
                }),
            }
        }
        Family::Vae => {
            let (train, _) = vae::binarized_digits(seed)?;
            let batch = args.batch_size.unwrap_or(vae::DEFAULTS.batch_size);
            let model = Vae::new(seed, &device)?;
            let mut optimizer = Adam::new(model.parameters(), vae::DEFAULTS.lr);
            let batches = train.batches(batch, Some((seed, 0)));
            Workload {
                what: format!("optimizer step on the negative ELBO of {batch} digits"),
                step: Box::new(move || {
                    let draw = optimizer.steps();
                    let (x, _) = batches[draw as usize % batches.len()].tensors(&device)?;
                    let loss = model.negative_elbo(&x, seed, draw)?.mean(&[], false)?;
                    optimizer.step(&loss).map(drop)
                }),
            }
        }
        Family::Gan => {
            let target = gan::target(args.data.as_deref())?;
            let defaults = target.defaults();
            let config = lepton::models::gan::GanConfig {
                steps: defaults.steps.max(updates),
                batch_size: args.batch_size.unwrap_or(defaults.batch_size),
                ..defaults
            };
            let mut gan = Gan::new(config, seed, &device)?;
            Workload {
                what: format!(
                    "discriminator step and generator step on batches of {}",
                    config.batch_size
                ),
                step: Box::new(move || gan.step().map(drop)),
            }
        }
        Family::Dqn => {
            let defaults = dqn::DEFAULTS;
            let config = DqnConfig {
                env_steps: defaults.env_steps.max(updates * defaults.train_every),
                batch_size: args.batch_size.unwrap_or(defaults.batch_size),
                ..defaults
            };
            let mut agent = Dqn::new(config, seed, &device)?;
            Workload {
                what: format!(
                    "training round: {} environment steps (ε-greedy, {} environments), then {} \
                     gradient steps on replayed batches of {} (none before step {})",
                    config.train_every,
                    config.envs,
                    config.gradient_steps,
                    config.batch_size,
                    config.learning_starts
                ),
                step: Box::new(move || agent.run(agent.steps() + config.train_every).map(drop)),
            }
        }
        Family::Reinforce => {
            let config = ReinforceConfig {
                episodes: REINFORCE_DEFAULTS.episodes.max(updates * 4),
                batch_episodes: args.batch_size.unwrap_or(REINFORCE_DEFAULTS.batch_episodes),
                ..REINFORCE_DEFAULTS
            };
            agent(
                Reinforce::new(config, seed, &device)?,
                format!(
                    "update: {} CartPole episodes, then one gradient step",
                    config.batch_episodes
                ),
            )
        }
        Family::A2c => {
            no_batch_size(args)?;
            let per_update = A2C_DEFAULTS.envs * A2C_DEFAULTS.n_steps;
            let config = A2cConfig {
                env_steps: A2C_DEFAULTS.env_steps.max(updates * per_update),
                ..A2C_DEFAULTS
            };
            agent(
                A2c::new(config, seed, &device)?,
                format!(
                    "update: {} environments × {} steps, then one gradient step",
                    config.envs, config.n_steps
                ),
            )
        }
        Family::Ppo => {
            no_batch_size(args)?;
            let per_update = PPO_DEFAULTS.envs * PPO_DEFAULTS.n_steps;
            let config = PpoConfig {
                env_steps: PPO_DEFAULTS.env_steps.max(updates * per_update),
                ..PPO_DEFAULTS
            };
            agent(
                Ppo::new(config, seed, &device)?,
                format!(
                    "update: {} environments × {} steps, then {} epochs of {} minibatches",
                    config.envs, config.n_steps, config.epochs, config.minibatches
                ),
            )
        }
        Family::Qlearn => anyhow::bail!(
            "qlearn is tabular: its updates are host arithmetic on a 16×4 table and run no \
             kernels, so there is nothing for the profiler to time"
        ),
    })
}

/// An epoch-trained family: one optimizer step on the next batch of its training set.
fn supervised(args: &ProfileArgs, device: &Device) -> anyhow::Result<Workload> {
    let choice = Choice {
        family: args.family,
        toy: false,
        data: args.data.as_deref(),
        seed: args.seed,
    };
    let mut settings = choice.defaults();
    settings.batch_size = args.batch_size.unwrap_or(settings.batch_size);
    let Prepared {
        model,
        mut optimizer,
        train,
        task,
        ..
    } = choice.prepare(&settings, device)?;
    let batches = train.batches(settings.batch_size, Some((args.seed, 0)));
    let device = device.clone();
    let mut n = 0;
    Ok(Workload {
        what: format!("optimizer step on a batch of {}", settings.batch_size),
        step: Box::new(move || {
            let (x, y) = batches[n % batches.len()].tensors(&device)?;
            n += 1;
            optimizer
                .step(&task.loss(&model.forward(&x)?, &y)?)
                .map(drop)
        }),
    })
}

fn agent(mut agent: impl Agent + 'static, what: String) -> Workload {
    Workload {
        what,
        step: Box::new(move || agent.update().map(drop)),
    }
}

fn no_batch_size(args: &ProfileArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.batch_size.is_none(),
        "{:?}'s batch is its rollout; it takes no --batch-size",
        args.family
    );
    Ok(())
}
