//! Optimizers. A step takes the gradients of the loss, clips them if asked, builds every
//! parameter's update and realizes the loss, the new parameters and the optimizer state as
//! one plan (one submission on a GPU). Values that change from step to step (the scheduled
//! learning rate, bias corrections) enter as a small uploaded tensor, never as constants, so
//! the plan's structure and cache key stay the same from step to step.

/// The builder methods every optimizer shares, over its `core` field.
macro_rules! core_builders {
    ($t:ty) => {
        impl $t {
            /// Follow `schedule` from the base learning rate.
            pub fn schedule(mut self, schedule: $crate::optim::Schedule) -> $t {
                self.core.schedule = schedule;
                self
            }

            /// Scale the gradients so that their joint L2 norm is at most `max_norm`.
            pub fn clip_grad_norm(mut self, max_norm: f64) -> $t {
                self.core.clip_norm = Some(max_norm);
                self
            }
        }
    };
}

mod adam;
mod schedule;
mod sgd;

pub use adam::Adam;
pub use schedule::Schedule;
pub use sgd::Sgd;

use crate::autodiff::grad;
use crate::dtype::Element;
use crate::error::{Error, Result};
use crate::graph::no_grad;
use crate::graph::Tensor;
use crate::nn::Parameter;
use crate::storage::with_float_dtype;

pub trait Optimizer {
    /// One training step on `loss`; returns the loss value.
    fn step(&mut self, loss: &Tensor) -> Result<f64>;

    /// The learning rate the next step uses.
    fn learning_rate(&self) -> f64;

    /// Steps taken so far.
    fn steps(&self) -> u64;

    /// The optimizer's state tensors by name, and its step count, for checkpoints.
    fn state(&self) -> (Vec<(String, Tensor)>, u64);

    /// Restore state saved by [`Optimizer::state`].
    fn load_state(&mut self, tensors: Vec<(String, Tensor)>, steps: u64) -> Result<()>;
}

/// What every optimizer shares: the parameters, the schedule, clipping and the step count.
pub(crate) struct Core {
    /// The trainable parameters.
    pub params: Vec<(String, Parameter)>,
    /// Buffers (running statistics): not trained, but realized with each step.
    pub buffers: Vec<Parameter>,
    pub lr: f64,
    pub schedule: Schedule,
    pub clip_norm: Option<f64>,
    pub steps: u64,
}

impl Core {
    pub fn new(all: Vec<(String, Parameter)>, lr: f64) -> Core {
        let (params, buffers): (Vec<_>, Vec<_>) =
            all.into_iter().partition(|(_, p)| p.is_trainable());
        Core {
            params,
            buffers: buffers.into_iter().map(|(_, b)| b).collect(),
            lr,
            schedule: Schedule::Constant,
            clip_norm: None,
            steps: 0,
        }
    }

    pub fn learning_rate(&self) -> f64 {
        self.schedule.at(self.steps, self.lr)
    }

    /// The learning rate of the next step, once it, the clipping norm and the optimizer's
    /// own hyperparameters (`own`: name, value, whether it is in range) are found fit: a NaN
    /// or negative one would corrupt every parameter at the first step without a word.
    pub fn checked_learning_rate(&self, own: &[(&str, f64, bool)]) -> Result<f64> {
        let lr = self.learning_rate();
        let clip = self.clip_norm.unwrap_or(1.0);
        let shared = [
            ("learning rate", lr, lr >= 0.0),
            ("clip_grad_norm's max_norm", clip, clip > 0.0),
        ];
        for &(name, value, fits) in shared.iter().chain(own) {
            if !(fits && value.is_finite()) {
                return Err(Error::invalid(
                    "optimizer",
                    format!("{name} {value} at step {} is out of range", self.steps),
                ));
            }
        }
        Ok(lr)
    }

    /// Current parameter values and the (clipped) gradients of `loss` with respect to them.
    pub fn gradients(&self, loss: &Tensor) -> Result<(Vec<Tensor>, Vec<Tensor>)> {
        let values: Vec<Tensor> = self.params.iter().map(|(_, p)| p.get()).collect();
        let refs: Vec<&Tensor> = values.iter().collect();
        let grads = grad(loss, &refs)?;
        let grads = match self.clip_norm {
            Some(max) => no_grad(|| clip_global_norm(&grads, max))?,
            None => grads,
        };
        Ok((values, grads))
    }

    /// Index of the parameter whose state tensor `name` is (`{param}.{suffix}`), checking that
    /// the tensor has the parameter's shape and dtype.
    pub fn state_slot(&self, name: &str, t: &Tensor, suffixes: &[&str]) -> Result<(usize, usize)> {
        for (i, (param, p)) in self.params.iter().enumerate() {
            for (k, suffix) in suffixes.iter().enumerate() {
                if name == format!("{param}.{suffix}") {
                    let value = p.get();
                    if value.shape() != t.shape() || value.dtype() != t.dtype() {
                        return Err(Error::invalid(
                            "load_state",
                            format!(
                                "{name} is {:?} {}, its parameter {:?} {}",
                                t.shape(),
                                t.dtype(),
                                value.shape(),
                                value.dtype()
                            ),
                        ));
                    }
                    return Ok((i, k));
                }
            }
        }
        Err(Error::invalid(
            "load_state",
            format!("unexpected optimizer tensor {name}"),
        ))
    }

    /// Per-step scalars as views of one uploaded tensor (in the first parameter's dtype),
    /// each of shape [1]; `for_param` casts them to another parameter's dtype if needed.
    pub fn scalars(&self, values: &[f64]) -> Result<Vec<Tensor>> {
        let Some((_, first)) = self.params.first() else {
            return Ok(Vec::new());
        };
        let first = first.get();
        let all = with_float_dtype!(first.dtype(), T => {
            Tensor::from_vec(values.iter().map(|&v| T::from_f64(v)).collect::<Vec<T>>(), &[values.len()], first.device())
        })?;
        (0..values.len())
            .map(|i| all.slice(0, i as isize, i as isize + 1, 1))
            .collect()
    }

    /// `scalars` in the dtype of `p`.
    pub fn for_param(scalars: &[Tensor], p: &Tensor) -> Result<Vec<Tensor>> {
        scalars.iter().map(|s| s.cast(p.dtype())).collect()
    }

    /// Realize the loss with the new parameters and state, install the parameters and count
    /// the step; returns the loss value.
    pub fn finish(&mut self, loss: &Tensor, params: Vec<Tensor>, state: &[&Tensor]) -> Result<f64> {
        let buffers: Vec<Tensor> = self.buffers.iter().map(Parameter::get).collect();
        let mut also: Vec<&Tensor> = params.iter().chain(&buffers).collect();
        also.extend_from_slice(state);
        let value = with_float_dtype!(loss.dtype(), T => loss.to_vec_with::<T>(&also)?[0].to_f64());
        for ((_, p), new) in self.params.iter().zip(params) {
            p.set(new);
        }
        self.steps += 1;
        Ok(value)
    }
}

/// Scale `grads` so that their joint L2 norm is at most `max_norm`.
pub fn clip_global_norm(grads: &[Tensor], max_norm: f64) -> Result<Vec<Tensor>> {
    let Some(first) = grads.first() else {
        return Ok(Vec::new());
    };
    let mut total = first.square().sum(&[], false)?;
    for g in &grads[1..] {
        total = total.add(&g.square().sum(&[], false)?)?;
    }
    let norm = total.sqrt();
    let one = Tensor::constant(1.0, first.dtype(), first.device())?;
    let scale = norm
        .add_scalar(1e-6)?
        .recip()
        .mul_scalar(max_norm)?
        .minimum(&one)?;
    grads.iter().map(|g| g.mul(&scale)).collect()
}
