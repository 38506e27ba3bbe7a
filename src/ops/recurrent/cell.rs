//! What selects a recurrent scan's kernels: the cell, its direction, and the layout of the
//! trace and gradient rows that the cell implies (mod.rs describes both).

/// Which recurrence a layer runs (gate orders are PyTorch's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CellKind {
    /// h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)
    RnnTanh,
    /// The same with relu.
    RnnRelu,
    /// Gates i, f, g, o.
    Lstm,
    /// Gates r, z, n, with `b_hn` inside the reset product.
    Gru,
}

impl CellKind {
    /// Gate blocks stacked in each weight's rows.
    pub(crate) fn gates(self) -> usize {
        match self {
            CellKind::RnnTanh | CellKind::RnnRelu => 1,
            CellKind::Lstm => 4,
            CellKind::Gru => 3,
        }
    }

    /// Blocks of `hidden` per batch row in the trace: RNN h; LSTM h, c, i, f, g, o; GRU h,
    /// r, z, n and the reset product's other factor h W_hnᵀ + b_hn.
    pub(crate) fn trace_blocks(self) -> usize {
        match self {
            CellKind::RnnTanh | CellKind::RnnRelu => 1,
            CellKind::Lstm => 6,
            CellKind::Gru => 5,
        }
    }

    /// The trace's leading blocks that a scan hands out (h, and an LSTM's c): the only ones
    /// whose gradient comes from outside, and so the width of the gradient op's input.
    pub(crate) fn state_blocks(self) -> usize {
        1 + usize::from(self == CellKind::Lstm)
    }

    /// The block of the gradient rows that holds h's gradient; the gate gradients come
    /// before it (for the GRU r, z, n and then n's through the reset product), an LSTM's
    /// c gradient after it.
    pub(crate) fn grad_h_block(self) -> usize {
        match self {
            CellKind::RnnTanh | CellKind::RnnRelu => 1,
            CellKind::Lstm | CellKind::Gru => 4,
        }
    }

    /// Blocks of `hidden` per batch row in the gradient rows.
    pub(crate) fn grad_blocks(self) -> usize {
        self.grad_h_block() + 1 + usize::from(self == CellKind::Lstm)
    }

    /// The gradient block that holds the gradient of the recurrent product's gate block k.
    pub(crate) fn recurrent_grad_block(self, k: usize) -> usize {
        if self == CellKind::Gru && k == 2 {
            3
        } else {
            k
        }
    }

    /// The number recurrent.wgsl's `CELL` switches on.
    pub(crate) fn code(self) -> u32 {
        match self {
            CellKind::RnnTanh => 0,
            CellKind::RnnRelu => 1,
            CellKind::Lstm => 2,
            CellKind::Gru => 3,
        }
    }

    /// The cell of `code` (see `code`); an LSTM for codes past the last.
    pub(crate) const fn from_code(code: u32) -> CellKind {
        match code {
            0 => CellKind::RnnTanh,
            1 => CellKind::RnnRelu,
            3 => CellKind::Gru,
            _ => CellKind::Lstm,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            CellKind::RnnTanh => "rnn_tanh",
            CellKind::RnnRelu => "rnn_relu",
            CellKind::Lstm => "lstm",
            CellKind::Gru => "gru",
        }
    }
}

/// A scan: its cell, and whether it runs from the last timestep to the first (a
/// bidirectional layer's second direction). Either way the trace and the gradient rows
/// keep time order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Scan {
    pub cell: CellKind,
    pub reverse: bool,
}

impl Scan {
    /// The timestep that a scan over `steps` runs k-th (from 0).
    pub(crate) fn time(self, k: usize, steps: usize) -> usize {
        if self.reverse {
            steps - 1 - k
        } else {
            k
        }
    }
}
