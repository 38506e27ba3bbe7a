//! Elementwise fusion: a step that only feeds one elementwise consumer, read whole and
//! dense, is folded into it, so a chain like Adam's update (a dozen ops) runs as one kernel
//! with one pass over memory. Fused kernels read each input dense or as a broadcast scalar,
//! and at most `MAX_INPUTS` of them.

use super::{KeyStep, PlanKey, Src};
use crate::ops::fused::{dense_or_scalar, Expr, MAX_INPUTS};
use crate::ops::Op;
use crate::shape::Layout;

/// An elementwise step as an expression over its own inputs.
struct Group {
    expr: Expr,
    inputs: Vec<(Src, Layout)>,
}

fn fusable(step: &KeyStep) -> bool {
    matches!(step.op, Op::Unary(_) | Op::Binary(_) | Op::Where)
        && step
            .inputs
            .iter()
            .all(|(_, l)| dense_or_scalar(l, &step.shape))
}

/// Index of `input` in `inputs`, appending it if new.
fn index_of(inputs: &mut Vec<(Src, Layout)>, input: &(Src, Layout)) -> usize {
    inputs.iter().position(|i| i == input).unwrap_or_else(|| {
        inputs.push(input.clone());
        inputs.len() - 1
    })
}

/// The key's steps with elementwise chains fused, and the targets renumbered.
pub(crate) fn fuse(key: &PlanKey) -> (Vec<KeyStep>, Vec<usize>) {
    let n = key.steps.len();
    let mut uses = vec![0usize; n];
    for step in &key.steps {
        for (src, _) in &step.inputs {
            if let Src::Step(j) = src {
                uses[*j] += 1;
            }
        }
    }
    let mut target = vec![false; n];
    key.targets.iter().for_each(|&t| target[t] = true);
    let mut groups: Vec<Option<Group>> = Vec::with_capacity(n);
    let mut absorbed = vec![false; n];
    for step in &key.steps {
        if !fusable(step) {
            groups.push(None);
            continue;
        }
        let mut inputs: Vec<(Src, Layout)> = Vec::new();
        let mut operands = Vec::new();
        let mut taken = Vec::new();
        for input in &step.inputs {
            let inlined = match input {
                (Src::Step(j), layout) => {
                    let producer = &key.steps[*j];
                    let whole = *layout == Layout::contiguous(&producer.shape)
                        && producer.shape == step.shape;
                    match &groups[*j] {
                        Some(g)
                            if whole
                                && uses[*j] == 1
                                && !target[*j]
                                && producer.dtype == step.dtype =>
                        {
                            let mut merged = inputs.clone();
                            let map: Vec<usize> = g
                                .inputs
                                .iter()
                                .map(|inp| index_of(&mut merged, inp))
                                .collect();
                            (merged.len() <= MAX_INPUTS).then(|| {
                                inputs = merged;
                                taken.push(*j);
                                g.expr.remap(&map)
                            })
                        }
                        _ => None,
                    }
                }
                _ => None,
            };
            operands.push(inlined.unwrap_or_else(|| Expr::Input(index_of(&mut inputs, input))));
        }
        let mut ops = operands.into_iter().map(Box::new);
        let mut next = || ops.next().expect("one operand per input");
        let expr = match &step.op {
            Op::Unary(op) => Expr::Unary(*op, next()),
            Op::Binary(op) => Expr::Binary(*op, next(), next()),
            Op::Where => Expr::Where(next(), next(), next()),
            _ => unreachable!("fusable steps are elementwise"),
        };
        // Absorb the producers only if the group fits in one kernel; else they stay steps.
        if inputs.len() > MAX_INPUTS {
            groups.push(None);
        } else {
            taken.iter().for_each(|&j| absorbed[j] = true);
            groups.push(Some(Group { expr, inputs }));
        }
    }
    let mut renumber = vec![usize::MAX; n];
    let mut steps = Vec::new();
    for (i, step) in key.steps.iter().enumerate() {
        if absorbed[i] {
            continue;
        }
        renumber[i] = steps.len();
        let remap = |inputs: &[(Src, Layout)]| -> Vec<(Src, Layout)> {
            inputs
                .iter()
                .map(|(src, l)| match src {
                    Src::Step(j) => (Src::Step(renumber[*j]), l.clone()),
                    leaf => (*leaf, l.clone()),
                })
                .collect()
        };
        steps.push(match &groups[i] {
            Some(g) if g.expr.ops() > 1 => KeyStep {
                op: Op::Fused(g.expr.clone()),
                dtype: step.dtype,
                shape: step.shape.clone(),
                inputs: remap(&g.inputs),
            },
            _ => KeyStep {
                inputs: remap(&step.inputs),
                ..step.clone()
            },
        });
    }
    (steps, key.targets.iter().map(|&t| renumber[t]).collect())
}
