//! Recurrent layers in PyTorch's conventions: Elman RNNs (tanh or relu), LSTMs and GRUs,
//! stacked and optionally bidirectional, with PyTorch's parameter names, shapes, gate order
//! (LSTM i, f, g, o; GRU r, z, n with `b_hn` inside the reset product) and initialization
//! (uniform ±1/√hidden). Every timestep's input projection is one matrix product; the time
//! loop of each direction is one scan op (ops/recurrent/), one kernel per timestep for the
//! recurrent product and all the gate arithmetic, forward and backward.
//!
//! `Module::forward` returns the output sequence, so a recurrent layer composes like any
//! other; `forward_with_state` also takes an initial state and returns the final one, for
//! truncated backpropagation through time (detach the state between batches).

use crate::device::Device;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::Tensor;
use crate::nn::{Dropout, Init, Module, Parameter};
pub use crate::ops::recurrent::CellKind;
use crate::ops::recurrent::{scan, Scan};

/// The sizes and options of a recurrent layer, as PyTorch's constructors take them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RecurrentConfig {
    pub input_size: usize,
    pub hidden_size: usize,
    pub num_layers: usize,
    pub bias: bool,
    /// Inputs and outputs [batch, time, features] rather than [time, batch, features].
    pub batch_first: bool,
    /// Dropout on each layer's output but the last, in training.
    pub dropout: f64,
    pub bidirectional: bool,
}

impl RecurrentConfig {
    /// One unidirectional layer with biases, time first, no dropout: PyTorch's defaults.
    pub fn new(input_size: usize, hidden_size: usize) -> RecurrentConfig {
        RecurrentConfig {
            input_size,
            hidden_size,
            num_layers: 1,
            bias: true,
            batch_first: false,
            dropout: 0.0,
            bidirectional: false,
        }
    }

    fn directions(&self) -> usize {
        1 + self.bidirectional as usize
    }
}

/// A recurrent layer's state: h [layers·directions, batch, hidden], and for an LSTM c of
/// the same shape.
#[derive(Clone)]
pub struct RecurrentState {
    pub h: Tensor,
    pub c: Option<Tensor>,
}

impl RecurrentState {
    /// The same state cut from the graph that computed it. Carried into the next batch, it
    /// makes backpropagation through time truncated: the next backward pass stops here.
    pub fn detach(&self) -> RecurrentState {
        RecurrentState {
            h: self.h.detach(),
            c: self.c.as_ref().map(Tensor::detach),
        }
    }
}

/// One direction of one layer: W_ih [gates·hidden, in], W_hh [gates·hidden, hidden] and
/// their biases.
struct Weights {
    ih: Parameter,
    hh: Parameter,
    bias: Option<(Parameter, Parameter)>,
}

/// An RNN, LSTM or GRU (see the module's documentation).
pub struct Recurrent {
    kind: CellKind,
    config: RecurrentConfig,
    /// [layer][direction]
    weights: Vec<Vec<Weights>>,
    dropout: Option<Dropout>,
}

impl Recurrent {
    pub fn new(
        kind: CellKind,
        config: RecurrentConfig,
        seed: u64,
        dtype: DType,
        device: &Device,
    ) -> Result<Recurrent> {
        let c = config;
        if c.input_size == 0 || c.hidden_size == 0 || c.num_layers == 0 {
            return Err(Error::invalid(
                "recurrent",
                format!(
                    "needs positive input_size, hidden_size and num_layers, got {}, {}, {}",
                    c.input_size, c.hidden_size, c.num_layers
                ),
            ));
        }
        if !(0.0..1.0).contains(&c.dropout) {
            return Err(Error::invalid(
                "recurrent",
                format!("dropout must be in [0, 1), got {}", c.dropout),
            ));
        }
        let rows = kind.gates() * c.hidden_size;
        let init = Init::Uniform(1.0 / (c.hidden_size as f64).sqrt());
        let mut next_seed = seed;
        let mut draw = |shape: &[usize]| -> Result<Parameter> {
            next_seed = next_seed.wrapping_add(0x9e37_79b9);
            Ok(Parameter::new(
                init.tensor(shape, next_seed, dtype, device)?,
            ))
        };
        let mut weights = Vec::with_capacity(c.num_layers);
        for layer in 0..c.num_layers {
            let inputs = if layer == 0 {
                c.input_size
            } else {
                c.hidden_size * c.directions()
            };
            let mut directions = Vec::with_capacity(c.directions());
            for _ in 0..c.directions() {
                let ih = draw(&[rows, inputs])?;
                let hh = draw(&[rows, c.hidden_size])?;
                let bias = if c.bias {
                    Some((draw(&[rows])?, draw(&[rows])?))
                } else {
                    None
                };
                directions.push(Weights { ih, hh, bias });
            }
            weights.push(directions);
        }
        let dropout = if c.dropout > 0.0 && c.num_layers > 1 {
            Some(Dropout::new(c.dropout, seed ^ 0xd50f)?)
        } else {
            None
        };
        Ok(Recurrent {
            kind,
            config,
            weights,
            dropout,
        })
    }

    pub fn kind(&self) -> CellKind {
        self.kind
    }

    pub fn config(&self) -> RecurrentConfig {
        self.config
    }

    /// The output sequence ([time, batch, directions·hidden], or batch first) and the final
    /// state, from `state` or zeros.
    #[track_caller]
    pub fn forward_with_state(
        &self,
        x: &Tensor,
        state: Option<&RecurrentState>,
    ) -> Result<(Tensor, RecurrentState)> {
        let c = &self.config;
        if x.rank() != 3 || x.shape()[2] != c.input_size {
            return Err(Error::invalid(
                "recurrent",
                format!(
                    "expects input [{}, {}, {}], got {:?}",
                    if c.batch_first { "batch" } else { "time" },
                    if c.batch_first { "time" } else { "batch" },
                    c.input_size,
                    x.shape()
                ),
            ));
        }
        let mut sequence = if c.batch_first {
            x.transpose(0, 1)?
        } else {
            x.clone()
        };
        let batch = sequence.shape()[1];
        let cells = c.num_layers * c.directions();
        let zeros = || Tensor::zeros(&[cells, batch, c.hidden_size], x.dtype(), x.device());
        let h0 = match state {
            Some(s) => s.h.clone(),
            None => zeros()?,
        };
        let c0 = match (self.kind, state.and_then(|s| s.c.clone())) {
            (CellKind::Lstm, Some(c0)) => Some(c0),
            (CellKind::Lstm, None) => Some(zeros()?),
            _ => None,
        };
        self.check_state(&h0, c0.as_ref(), batch)?;
        let (mut last_h, mut last_c) = (Vec::new(), Vec::new());
        for (layer, directions) in self.weights.iter().enumerate() {
            if layer > 0 {
                if let Some(dropout) = &self.dropout {
                    sequence = dropout.forward(&sequence)?;
                }
            }
            let mut outputs = Vec::with_capacity(directions.len());
            for (direction, w) in directions.iter().enumerate() {
                let cell = layer * c.directions() + direction;
                let start = (
                    h0.slice(0, cell as isize, cell as isize + 1, 1)?
                        .squeeze(0)?,
                    match &c0 {
                        Some(c0) => Some(
                            c0.slice(0, cell as isize, cell as isize + 1, 1)?
                                .squeeze(0)?,
                        ),
                        None => None,
                    },
                );
                let (out, (h, cn)) = self.run_direction(&sequence, w, start, direction == 1)?;
                outputs.push(out);
                last_h.push(h);
                last_c.extend(cn);
            }
            sequence = Tensor::concat(&outputs.iter().collect::<Vec<_>>(), 2)?;
        }
        let output = if c.batch_first {
            sequence.transpose(0, 1)?
        } else {
            sequence
        };
        let stack = |ts: &[Tensor]| Tensor::stack(&ts.iter().collect::<Vec<_>>(), 0);
        let final_state = RecurrentState {
            h: stack(&last_h)?,
            c: if last_c.is_empty() {
                None
            } else {
                Some(stack(&last_c)?)
            },
        };
        Ok((output, final_state))
    }

    #[track_caller]
    fn check_state(&self, h: &Tensor, c: Option<&Tensor>, batch: usize) -> Result<()> {
        let want = [
            self.config.num_layers * self.config.directions(),
            batch,
            self.config.hidden_size,
        ];
        for t in std::iter::once(h).chain(c) {
            if t.shape() != want {
                return Err(Error::invalid(
                    "recurrent",
                    format!("the state must be {want:?}, got {:?}", t.shape()),
                ));
            }
        }
        Ok(())
    }

    /// One direction of one layer over `sequence` [time, batch, in]: its outputs [time,
    /// batch, hidden] and its last state.
    fn run_direction(
        &self,
        sequence: &Tensor,
        w: &Weights,
        (h, c): (Tensor, Option<Tensor>),
        reverse: bool,
    ) -> Result<(Tensor, (Tensor, Option<Tensor>))> {
        // Every timestep's input projection as one product: [time, batch, gates·hidden].
        let mut projected = sequence.matmul(&w.ih.get().t()?)?;
        // The scan adds its bias to every gate: b_ih joins it there, except for a GRU, whose
        // n gate adds b_hn inside the reset product and b_in outside it.
        let bias = match &w.bias {
            Some((b_ih, b_hh)) if self.kind == CellKind::Gru => {
                projected = projected.add(&b_ih.get())?;
                b_hh.get()
            }
            Some((b_ih, b_hh)) => b_ih.get().add(&b_hh.get())?,
            None => Tensor::zeros(
                &[w.hh.get().shape()[0]],
                sequence.dtype(),
                sequence.device(),
            )?,
        };
        let spec = Scan {
            cell: self.kind,
            reverse,
        };
        let run = scan(spec, &projected, (&w.hh.get(), &bias), &h, c.as_ref())?;
        Ok((run.outputs, (run.h, run.c)))
    }
}

impl Module for Recurrent {
    /// The output sequence, from a zero state.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.forward_with_state(x, None)?.0)
    }

    /// PyTorch's names: `weight_ih_l{k}`, `weight_hh_l{k}`, `bias_ih_l{k}`, `bias_hh_l{k}`,
    /// with `_reverse` for the second direction.
    fn parameters(&self) -> Vec<(String, Parameter)> {
        let mut out = Vec::new();
        for (layer, directions) in self.weights.iter().enumerate() {
            for (direction, w) in directions.iter().enumerate() {
                let suffix = format!("l{layer}{}", if direction == 1 { "_reverse" } else { "" });
                out.push((format!("weight_ih_{suffix}"), w.ih.clone()));
                out.push((format!("weight_hh_{suffix}"), w.hh.clone()));
                if let Some((b_ih, b_hh)) = &w.bias {
                    out.push((format!("bias_ih_{suffix}"), b_ih.clone()));
                    out.push((format!("bias_hh_{suffix}"), b_hh.clone()));
                }
            }
        }
        if let Some(dropout) = &self.dropout {
            out.extend(crate::nn::prefixed("dropout", dropout.parameters()));
        }
        out
    }

    fn set_training(&mut self, training: bool) {
        if let Some(dropout) = &mut self.dropout {
            dropout.set_training(training);
        }
    }
}
