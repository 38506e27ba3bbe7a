//! Plans: a realization's pending subgraph in topological order, as steps over numbered
//! buffer locations. An intermediate's slot is reused as soon as its last reader has run.
//! Plans depend only on the graph's structure, shapes, layouts and dtypes, so they are
//! cached under exactly that key.

mod fuse;
pub(crate) mod realize;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::dtype::DType;
use crate::ops::{Op, StepDesc};
use crate::shape::{numel, Layout};

/// Where a step reads or writes: a realized input, a reusable slot, or a result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Loc {
    Leaf(usize),
    Slot(usize),
    Output(usize),
}

/// The source of a step input in the structural key: a leaf, or an earlier step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Src {
    Leaf(usize),
    Step(usize),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct KeyStep {
    pub op: Op,
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub inputs: Vec<(Src, Layout)>,
}

/// Everything a plan depends on, and nothing else.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct PlanKey {
    pub leaves: Vec<DType>,
    pub steps: Vec<KeyStep>,
    /// The steps whose results are kept (handed to their nodes).
    pub targets: Vec<usize>,
}

pub(crate) struct PlanStep {
    pub op: Op,
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub inputs: Vec<(Loc, DType, Layout)>,
    pub out: Loc,
}

impl PlanStep {
    pub fn desc(&self) -> StepDesc<'_> {
        StepDesc {
            op: &self.op,
            inputs: self.inputs.iter().map(|(_, d, l)| (*d, l)).collect(),
            out_dtype: self.dtype,
            out_shape: &self.shape,
        }
    }

    pub fn out_bytes(&self) -> u64 {
        (numel(&self.shape) * self.dtype.size_in_bytes()) as u64
    }
}

pub(crate) struct Plan {
    pub id: u64,
    pub steps: Vec<PlanStep>,
    /// Bytes each slot must hold.
    pub slots: Vec<u64>,
    pub outputs: usize,
}

static NEXT_PLAN: AtomicU64 = AtomicU64::new(0);

impl Plan {
    /// The plan of `key`: its elementwise chains fused, then slots assigned.
    pub fn build(key: &PlanKey) -> Plan {
        let (steps, targets) = fuse::fuse(key);
        Plan::from_steps(&key.leaves, &steps, &targets)
    }

    /// Assign slots to `steps` (in order) whose results at `targets` are kept.
    fn from_steps(leaves: &[DType], steps: &[KeyStep], targets: &[usize]) -> Plan {
        let n = steps.len();
        let mut last_use = vec![None; n];
        for (i, step) in steps.iter().enumerate() {
            for (src, _) in &step.inputs {
                if let Src::Step(j) = src {
                    last_use[*j] = Some(i);
                }
            }
        }
        let mut output_of = HashMap::new();
        for (o, &t) in targets.iter().enumerate() {
            output_of.insert(t, o);
        }
        let mut slots: Vec<u64> = Vec::new();
        let mut free: Vec<usize> = Vec::new();
        let mut locs: Vec<Loc> = Vec::with_capacity(n);
        let mut planned = Vec::with_capacity(n);
        for (i, ks) in steps.iter().enumerate() {
            let bytes = (numel(&ks.shape) * ks.dtype.size_in_bytes()) as u64;
            let out = match output_of.get(&i) {
                Some(&o) => Loc::Output(o),
                None => Loc::Slot(take_slot(&mut slots, &mut free, bytes)),
            };
            locs.push(out);
            let inputs: Vec<(Loc, DType, Layout)> = ks
                .inputs
                .iter()
                .map(|(src, layout)| match *src {
                    Src::Leaf(l) => (Loc::Leaf(l), leaves[l], layout.clone()),
                    Src::Step(j) => (locs[j], steps[j].dtype, layout.clone()),
                })
                .collect();
            // Slots whose last reader is this step are free for the steps after it.
            for (src, _) in &ks.inputs {
                if let Src::Step(j) = *src {
                    if let Loc::Slot(s) = locs[j] {
                        if last_use[j] == Some(i) && !free.contains(&s) {
                            free.push(s);
                        }
                    }
                }
            }
            planned.push(PlanStep {
                op: ks.op.clone(),
                dtype: ks.dtype,
                shape: ks.shape.clone(),
                inputs,
                out,
            });
        }
        crate::stats::plan_built();
        Plan {
            id: NEXT_PLAN.fetch_add(1, Ordering::Relaxed),
            steps: planned,
            slots,
            outputs: targets.len(),
        }
    }
}

/// The smallest free slot that holds `bytes`, else a new one.
fn take_slot(slots: &mut Vec<u64>, free: &mut Vec<usize>, bytes: u64) -> usize {
    let best = free
        .iter()
        .enumerate()
        .filter(|(_, &s)| slots[s] >= bytes)
        .min_by_key(|(_, &s)| slots[s])
        .map(|(i, _)| i);
    match best {
        Some(i) => free.swap_remove(i),
        None => {
            slots.push(bytes);
            slots.len() - 1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::UnaryOp;

    fn chain(len: usize) -> PlanKey {
        let step = |input: Src| KeyStep {
            op: Op::Unary(UnaryOp::Exp),
            dtype: DType::F32,
            shape: vec![4],
            inputs: vec![(input, Layout::contiguous(&[4]))],
        };
        let mut steps = vec![step(Src::Leaf(0))];
        for i in 1..len {
            steps.push(step(Src::Step(i - 1)));
        }
        PlanKey {
            leaves: vec![DType::F32],
            steps,
            targets: vec![len - 1],
        }
    }

    #[test]
    fn a_chain_ping_pongs_between_two_slots() {
        let key = chain(6);
        let plan = Plan::from_steps(&key.leaves, &key.steps, &key.targets);
        assert_eq!(plan.slots.len(), 2);
        assert_eq!(plan.steps[5].out, Loc::Output(0));
        for w in plan.steps.windows(2) {
            assert_ne!(w[0].out, w[1].out, "a step never writes the slot it reads");
        }
    }

    #[test]
    fn an_elementwise_chain_fuses_into_one_step() {
        let plan = Plan::build(&chain(6));
        assert_eq!(plan.steps.len(), 1);
        assert!(matches!(&plan.steps[0].op, Op::Fused(e) if e.ops() == 6));
        assert!(plan.slots.is_empty());
    }

    #[test]
    fn shared_and_kept_results_are_not_fused_away() {
        let mut key = chain(3);
        // Step 1 is read twice (by step 2 and step 3) and step 0 is kept as a result.
        key.steps.push(KeyStep {
            op: Op::Binary(crate::ops::BinaryOp::Add),
            dtype: DType::F32,
            shape: vec![4],
            inputs: vec![
                (Src::Step(1), Layout::contiguous(&[4])),
                (Src::Step(2), Layout::contiguous(&[4])),
            ],
        });
        key.targets = vec![3, 0];
        let plan = Plan::build(&key);
        assert_eq!(
            plan.steps.len(),
            3,
            "step 0 (kept), step 1 (shared), steps 2 and 3 fused"
        );
        assert_eq!(plan.outputs, 2);
    }
}
