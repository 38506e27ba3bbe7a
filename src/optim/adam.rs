//! Adam and AdamW, as PyTorch defines them: m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²;
//! p ← p − η·(m/(1−β₁ᵗ)) / (sqrt(v/(1−β₂ᵗ)) + ε). Adam adds weight decay to the gradient
//! (g ← g + λp); AdamW decays the parameter directly (p ← p − ηλp) before the update.

use crate::error::{Error, Result};
use crate::graph::no_grad;
use crate::graph::Tensor;
use crate::nn::Parameter;
use crate::optim::{Core, Optimizer};

/// First and second moment estimates of one parameter (none before its first step).
type Moments = Option<(Tensor, Tensor)>;

pub struct Adam {
    core: Core,
    betas: (f64, f64),
    eps: f64,
    weight_decay: f64,
    decoupled: bool,
    moments: Vec<Moments>,
}

impl Adam {
    /// Adam with PyTorch's defaults: betas (0.9, 0.999), eps 1e-8, no weight decay.
    pub fn new(params: Vec<(String, Parameter)>, lr: f64) -> Adam {
        let core = Core::new(params, lr);
        let n = core.params.len();
        Adam {
            core,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
            moments: vec![None; n],
        }
    }

    /// AdamW with PyTorch's defaults (weight decay 0.01).
    pub fn adamw(params: Vec<(String, Parameter)>, lr: f64) -> Adam {
        Adam {
            weight_decay: 0.01,
            decoupled: true,
            ..Adam::new(params, lr)
        }
    }

    pub fn betas(mut self, beta1: f64, beta2: f64) -> Adam {
        self.betas = (beta1, beta2);
        self
    }

    pub fn eps(mut self, eps: f64) -> Adam {
        self.eps = eps;
        self
    }

    pub fn weight_decay(mut self, weight_decay: f64) -> Adam {
        self.weight_decay = weight_decay;
        self
    }
}

core_builders!(Adam);

impl Optimizer for Adam {
    fn step(&mut self, loss: &Tensor) -> Result<f64> {
        let (b1, b2) = self.betas;
        let lr = self.core.checked_learning_rate(&[
            ("beta1", b1, (0.0..1.0).contains(&b1)),
            ("beta2", b2, (0.0..1.0).contains(&b2)),
            ("eps", self.eps, self.eps >= 0.0),
            ("weight_decay", self.weight_decay, self.weight_decay >= 0.0),
        ])?;
        let (values, grads) = self.core.gradients(loss)?;
        let t = (self.core.steps + 1) as i32;
        let corrections = [lr, 1.0 / (1.0 - b1.powi(t)), 1.0 / (1.0 - b2.powi(t))];
        let (params, moments) = no_grad(|| -> Result<(Vec<Tensor>, Vec<Moments>)> {
            let mut params = Vec::new();
            let mut moments = Vec::new();
            let scalars = self.core.scalars(&corrections)?;
            for ((p, g), state) in values.iter().zip(&grads).zip(&self.moments) {
                let [eta, c1, c2] = Core::for_param(&scalars, p)?
                    .try_into()
                    .expect("three scalars");
                let mut g = g.clone();
                let mut p = p.clone();
                if self.weight_decay != 0.0 {
                    if self.decoupled {
                        p = p.sub(&p.mul(&eta)?.mul_scalar(self.weight_decay)?)?;
                    } else {
                        g = g.add(&p.mul_scalar(self.weight_decay)?)?;
                    }
                }
                let (m, v) = match state {
                    Some((m, v)) => (
                        m.mul_scalar(b1)?.add(&g.mul_scalar(1.0 - b1)?)?,
                        v.mul_scalar(b2)?.add(&g.square().mul_scalar(1.0 - b2)?)?,
                    ),
                    None => (g.mul_scalar(1.0 - b1)?, g.square().mul_scalar(1.0 - b2)?),
                };
                let denom = v.mul(&c2)?.sqrt().add_scalar(self.eps)?;
                params.push(p.sub(&m.mul(&c1)?.div(&denom)?.mul(&eta)?)?);
                moments.push(Some((m, v)));
            }
            Ok((params, moments))
        })?;
        let state: Vec<&Tensor> = moments.iter().flatten().flat_map(|(m, v)| [m, v]).collect();
        let value = self.core.finish(loss, params, &state)?;
        self.moments = moments;
        Ok(value)
    }

    fn learning_rate(&self) -> f64 {
        self.core.learning_rate()
    }

    fn steps(&self) -> u64 {
        self.core.steps
    }

    fn state(&self) -> (Vec<(String, Tensor)>, u64) {
        let mut tensors = Vec::new();
        for ((name, _), state) in self.core.params.iter().zip(&self.moments) {
            if let Some((m, v)) = state {
                tensors.push((format!("{name}.exp_avg"), m.clone()));
                tensors.push((format!("{name}.exp_avg_sq"), v.clone()));
            }
        }
        (tensors, self.core.steps)
    }

    fn load_state(&mut self, tensors: Vec<(String, Tensor)>, steps: u64) -> Result<()> {
        let mut found: Vec<(Option<Tensor>, Option<Tensor>)> =
            vec![(None, None); self.core.params.len()];
        for (name, t) in tensors {
            match self
                .core
                .state_slot(&name, &t, &["exp_avg", "exp_avg_sq"])?
            {
                (i, 0) => found[i].0 = Some(t),
                (i, _) => found[i].1 = Some(t),
            }
        }
        let mut moments = Vec::new();
        for ((name, _), pair) in self.core.params.iter().zip(found) {
            moments.push(match pair {
                (Some(m), Some(v)) => Some((m, v)),
                (None, None) => None,
                _ => {
                    return Err(Error::invalid(
                        "load_state",
                        format!("{name}: exp_avg and exp_avg_sq must come together"),
                    ))
                }
            });
        }
        self.moments = moments;
        self.core.steps = steps;
        Ok(())
    }
}
