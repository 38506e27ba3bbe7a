//! Stochastic gradient descent with momentum, Nesterov momentum and weight decay, as
//! PyTorch defines them: g ← g + λp; v ← μv + g (v = g on the first step);
//! g ← g + μv (Nesterov) or v; p ← p − η g.

use crate::error::Result;
use crate::graph::no_grad;
use crate::graph::Tensor;
use crate::nn::Parameter;
use crate::optim::{Core, Optimizer};

pub struct Sgd {
    core: Core,
    momentum: f64,
    nesterov: bool,
    weight_decay: f64,
    velocity: Vec<Option<Tensor>>,
}

impl Sgd {
    pub fn new(params: Vec<(String, Parameter)>, lr: f64) -> Sgd {
        let core = Core::new(params, lr);
        let n = core.params.len();
        Sgd {
            core,
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.0,
            velocity: vec![None; n],
        }
    }

    pub fn momentum(mut self, momentum: f64, nesterov: bool) -> Sgd {
        self.momentum = momentum;
        self.nesterov = nesterov;
        self
    }

    pub fn weight_decay(mut self, weight_decay: f64) -> Sgd {
        self.weight_decay = weight_decay;
        self
    }
}

core_builders!(Sgd);

impl Optimizer for Sgd {
    fn step(&mut self, loss: &Tensor) -> Result<f64> {
        let lr = self.core.checked_learning_rate(&[
            (
                if self.nesterov {
                    "momentum (Nesterov's needs one above 0)"
                } else {
                    "momentum"
                },
                self.momentum,
                self.momentum > 0.0 || (self.momentum == 0.0 && !self.nesterov),
            ),
            ("weight_decay", self.weight_decay, self.weight_decay >= 0.0),
        ])?;
        let (values, grads) = self.core.gradients(loss)?;
        let (params, velocity) = no_grad(|| -> Result<(Vec<Tensor>, Vec<Option<Tensor>>)> {
            let mut params = Vec::new();
            let mut velocity = Vec::new();
            let scalars = self.core.scalars(&[lr])?;
            for ((p, g), v) in values.iter().zip(&grads).zip(&self.velocity) {
                let [eta] = Core::for_param(&scalars, p)?
                    .try_into()
                    .expect("one scalar");
                let mut g = g.clone();
                if self.weight_decay != 0.0 {
                    g = g.add(&p.mul_scalar(self.weight_decay)?)?;
                }
                let mut new_v = None;
                if self.momentum != 0.0 {
                    let v = match v {
                        Some(v) => v.mul_scalar(self.momentum)?.add(&g)?,
                        None => g.clone(),
                    };
                    g = if self.nesterov {
                        g.add(&v.mul_scalar(self.momentum)?)?
                    } else {
                        v.clone()
                    };
                    new_v = Some(v);
                }
                params.push(p.sub(&g.mul(&eta)?)?);
                velocity.push(new_v);
            }
            Ok((params, velocity))
        })?;
        let state: Vec<&Tensor> = velocity.iter().flatten().collect();
        let value = self.core.finish(loss, params, &state)?;
        self.velocity = velocity;
        Ok(value)
    }

    fn learning_rate(&self) -> f64 {
        self.core.learning_rate()
    }

    fn steps(&self) -> u64 {
        self.core.steps
    }

    fn state(&self) -> (Vec<(String, Tensor)>, u64) {
        let tensors = self
            .core
            .params
            .iter()
            .zip(&self.velocity)
            .filter_map(|((name, _), v)| {
                v.as_ref().map(|v| (format!("{name}.momentum"), v.clone()))
            })
            .collect();
        (tensors, self.core.steps)
    }

    fn load_state(&mut self, tensors: Vec<(String, Tensor)>, steps: u64) -> Result<()> {
        let mut velocity = vec![None; self.core.params.len()];
        for (name, t) in tensors {
            let (i, _) = self.core.state_slot(&name, &t, &["momentum"])?;
            velocity[i] = Some(t);
        }
        self.velocity = velocity;
        self.core.steps = steps;
        Ok(())
    }
}
