//! Plans: a realization's pending subgraph in topological order, as steps over numbered
//! buffer locations. An intermediate's slot is reused as soon as its last reader has run.
//! Plans depend only on the graph's structure, shapes, layouts and dtypes, so they are
//! cached under exactly that key.

mod fuse;
mod split;

pub(crate) use split::{Place, Split, Stage, Value};

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::dtype::DType;
use crate::ops::op::Op;
use crate::ops::op::StepDesc;
use crate::shape::{numel, Layout};

/// Where a step reads or writes: a realized input, a reusable slot, or a result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Loc {
    Leaf(usize),
    Slot(usize),
    Output(usize),
}

/// The source of a step input in the structural key: a leaf, or an output of an earlier
/// step (recorded steps have one; fused kernels may have several).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Src {
    Leaf(usize),
    Step(usize, usize),
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
    /// The most buffers (inputs and outputs) one fused kernel may bind on the device.
    pub bindings: usize,
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
    /// One per output of the op.
    pub outs: Vec<Loc>,
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

    /// The bytes of each output.
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
    /// Every dtype a step reads or writes, once each.
    pub dtypes: Vec<DType>,
}

static NEXT_PLAN: AtomicU64 = AtomicU64::new(0);

impl Plan {
    /// The plan of `key`: its elementwise chains fused, then slots assigned.
    pub fn build(key: &PlanKey) -> Plan {
        let (steps, targets) = fuse::fuse(key);
        Plan::from_steps(&key.leaves, &steps, &targets)
    }

    /// Assign slots to `steps` (in order) whose results at `targets` (step, output) are kept.
    fn from_steps(leaves: &[DType], steps: &[KeyStep], targets: &[(usize, usize)]) -> Plan {
        let mut last_use: HashMap<(usize, usize), usize> = HashMap::new();
        for (i, step) in steps.iter().enumerate() {
            for (src, _) in &step.inputs {
                if let Src::Step(j, k) = src {
                    last_use.insert((*j, *k), i);
                }
            }
        }
        let output_of: HashMap<(usize, usize), usize> =
            targets.iter().enumerate().map(|(o, &t)| (t, o)).collect();
        let mut slots: Vec<u64> = Vec::new();
        let mut free: Vec<usize> = Vec::new();
        let mut locs: Vec<Vec<Loc>> = Vec::with_capacity(steps.len());
        let mut planned = Vec::with_capacity(steps.len());
        for (i, ks) in steps.iter().enumerate() {
            let bytes = (numel(&ks.shape) * ks.dtype.size_in_bytes()) as u64;
            // Every output is placed before any input's slot is freed: a step never writes
            // a buffer it reads.
            let outs: Vec<Loc> = (0..ks.op.outputs())
                .map(|k| match output_of.get(&(i, k)) {
                    Some(&o) => Loc::Output(o),
                    None => Loc::Slot(take_slot(&mut slots, &mut free, bytes)),
                })
                .collect();
            let inputs: Vec<(Loc, DType, Layout)> = ks
                .inputs
                .iter()
                .map(|(src, layout)| match *src {
                    Src::Leaf(l) => (Loc::Leaf(l), leaves[l], layout.clone()),
                    Src::Step(j, k) => (locs[j][k], steps[j].dtype, layout.clone()),
                })
                .collect();
            // Slots whose last reader is this step are free for the steps after it.
            for (src, _) in &ks.inputs {
                if let Src::Step(j, k) = *src {
                    if let Loc::Slot(s) = locs[j][k] {
                        if last_use.get(&(j, k)) == Some(&i) && !free.contains(&s) {
                            free.push(s);
                        }
                    }
                }
            }
            locs.push(outs.clone());
            planned.push(PlanStep {
                op: ks.op.clone(),
                dtype: ks.dtype,
                shape: ks.shape.clone(),
                inputs,
                outs,
            });
        }
        let mut dtypes: Vec<DType> = Vec::new();
        for step in &planned {
            for d in step.inputs.iter().map(|i| i.1).chain([step.dtype]) {
                if !dtypes.contains(&d) {
                    dtypes.push(d);
                }
            }
        }
        crate::stats::plan_built();
        Plan {
            dtypes,
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
            steps.push(step(Src::Step(i - 1, 0)));
        }
        PlanKey {
            bindings: 16,
            leaves: vec![DType::F32],
            steps,
            targets: vec![len - 1],
        }
    }

    #[test]
    fn a_chain_ping_pongs_between_two_slots() {
        let key = chain(6);
        let targets: Vec<(usize, usize)> = key.targets.iter().map(|&t| (t, 0)).collect();
        let plan = Plan::from_steps(&key.leaves, &key.steps, &targets);
        assert_eq!(plan.slots.len(), 2);
        assert_eq!(plan.steps[5].outs, [Loc::Output(0)]);
        for w in plan.steps.windows(2) {
            assert_ne!(
                w[0].outs, w[1].outs,
                "a step never writes the slot it reads"
            );
        }
    }

    #[test]
    fn an_elementwise_chain_fuses_into_one_step() {
        let plan = Plan::build(&chain(6));
        assert_eq!(plan.steps.len(), 1);
        assert!(matches!(&plan.steps[0].op, Op::Fused(k) if k.values[0].ops() == 6));
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
                (Src::Step(1, 0), Layout::contiguous(&[4])),
                (Src::Step(2, 0), Layout::contiguous(&[4])),
            ],
        });
        key.targets = vec![3, 0];
        let plan = Plan::build(&key);
        // Steps 2 and 3 fuse as a chain; then steps 0, 1 and that chain are one kernel. Step 0
        // is kept, so stored; step 1 is read only inside the kernel, so not.
        assert_eq!(plan.steps.len(), 1);
        let Op::Fused(kernel) = &plan.steps[0].op else {
            panic!("one fused kernel: {:?}", plan.steps[0].op);
        };
        assert_eq!(kernel.stored, [true, false, true]);
        assert_eq!(plan.steps[0].outs, [Loc::Output(1), Loc::Output(0)]);
        assert_eq!(plan.outputs, 2);
    }

    fn step(op: Op, inputs: &[Src], shape: &[usize]) -> KeyStep {
        KeyStep {
            op,
            dtype: DType::F32,
            shape: shape.to_vec(),
            inputs: inputs
                .iter()
                .map(|&s| {
                    let scalar = matches!(s, Src::Leaf(l) if l >= 4);
                    let layout = Layout::contiguous(if scalar { &[] } else { shape });
                    (s, layout.expand(shape))
                })
                .collect(),
        }
    }

    /// Adam's shape of update: leaves m, g, v, p (dense) and scalars 4..7; steps
    /// m′ = m·b₁ + g·c₁, v′ = v·b₂ + g²·c₂, p′ = p − m′/√v′, all kept; `between` puts a
    /// sum of m′ before p′.
    fn adam(bindings: usize, between: bool) -> PlanKey {
        use crate::ops::{BinaryOp::*, UnaryOp::*};
        let s = [64, 3];
        let mut steps = vec![
            step(Op::Binary(Mul), &[Src::Leaf(0), Src::Leaf(4)], &s),
            step(Op::Binary(Mul), &[Src::Leaf(1), Src::Leaf(5)], &s),
            step(Op::Binary(Add), &[Src::Step(0, 0), Src::Step(1, 0)], &s),
            step(Op::Binary(Mul), &[Src::Leaf(2), Src::Leaf(6)], &s),
            step(Op::Unary(Square), &[Src::Leaf(1)], &s),
            step(Op::Binary(Mul), &[Src::Step(4, 0), Src::Leaf(7)], &s),
            step(Op::Binary(Add), &[Src::Step(3, 0), Src::Step(5, 0)], &s),
        ];
        if between {
            steps.push(KeyStep {
                op: Op::Reduce {
                    op: crate::ops::op::ReduceOp::Sum,
                    reduced: 2,
                },
                dtype: DType::F32,
                shape: vec![],
                inputs: vec![(Src::Step(2, 0), Layout::contiguous(&s))],
            });
        }
        let sqrt = steps.len();
        steps.push(step(Op::Unary(Sqrt), &[Src::Step(6, 0)], &s));
        steps.push(step(
            Op::Binary(Div),
            &[Src::Step(2, 0), Src::Step(sqrt, 0)],
            &s,
        ));
        steps.push(step(
            Op::Binary(Sub),
            &[Src::Leaf(3), Src::Step(sqrt + 1, 0)],
            &s,
        ));
        let mut targets = vec![2, 6, sqrt + 2];
        if between {
            targets.push(7);
        }
        PlanKey {
            bindings,
            leaves: vec![DType::F32; 8],
            steps,
            targets,
        }
    }

    #[test]
    fn an_update_with_kept_moments_is_one_kernel_with_three_outputs() {
        let plan = Plan::build(&adam(16, false));
        assert_eq!(
            plan.steps.len(),
            1,
            "{:?}",
            plan.steps.iter().map(|s| &s.op).collect::<Vec<_>>()
        );
        assert_eq!(plan.steps[0].op.outputs(), 3);
        assert_eq!(plan.steps[0].inputs.len(), 8, "each leaf bound once");
        let outs = &plan.steps[0].outs;
        assert_eq!(outs, &[Loc::Output(0), Loc::Output(1), Loc::Output(2)]);
    }

    #[test]
    fn kernels_stay_apart_where_bindings_run_short_or_a_reader_comes_between() {
        // WebGPU's minimum, 8 storage buffers, cannot hold all 8 inputs and 3 outputs: m′
        // and v′ together would bind 9; v′ and p′ bind 6 inputs and 2 outputs.
        let plan = Plan::build(&adam(8, false));
        let ops: Vec<usize> = plan.steps.iter().map(|s| s.op.outputs()).collect();
        assert_eq!(ops, [1, 2]);
        assert!(plan
            .steps
            .iter()
            .all(|s| s.inputs.len() + s.outs.len() <= 8));
        // The sum reads m′ before p′ runs, so the moments' kernel cannot wait for p′.
        let plan = Plan::build(&adam(16, true));
        let ops: Vec<usize> = plan.steps.iter().map(|s| s.op.outputs()).collect();
        assert_eq!(
            ops,
            [2, 1, 1],
            "{:?}",
            plan.steps.iter().map(|s| &s.op).collect::<Vec<_>>()
        );
    }
}
