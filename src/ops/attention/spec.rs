//! What selects a fused attention kernel (mod.rs describes the three passes).

/// Which of the three attention kernels a step runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Pass {
    /// Inputs q, k, v (and the mask); output [.., Tq, dv + 1]: O and log Σ exp.
    Forward,
    /// Inputs q, k, v, dO, lse, δ (and the mask); output dq [.., Tq, d].
    GradQ,
    /// The same inputs; output [.., Tk, d + dv]: dk and dv.
    GradKv,
}

/// What selects an attention kernel: its pass, whether later keys are hidden (PyTorch's
/// `is_causal`, the top-left triangle when Tq ≠ Tk), and whether an additive mask is the
/// last input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Attention {
    pub pass: Pass,
    pub causal: bool,
    pub masked: bool,
}

impl Attention {
    pub(crate) fn name(self) -> &'static str {
        match self.pass {
            Pass::Forward => "attention",
            Pass::GradQ => "attention_grad_q",
            Pass::GradKv => "attention_grad_kv",
        }
    }
}
