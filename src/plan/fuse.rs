//! Elementwise fusion, in two passes.
//! - Chains: a step that only feeds one elementwise consumer, read whole and dense, is
//!   folded into it, so a chain like Adam's parameter update (a dozen ops) runs as one
//!   kernel with one pass over memory.
//! - Kernels: elementwise steps of one shape and dtype, where a later one reads an earlier
//!   one's result or shares a dense input with it, become one kernel with an output each,
//!   run where the last of them was. Adam's new moments and parameter are then one pass
//!   that reads g, m, v and p once, instead of three that read m′ and v′ back.
//!
//! Fused kernels read each input dense or as a broadcast scalar, and bind at most the
//! key's `bindings` buffers (inputs and outputs together).

use std::collections::HashMap;

use crate::ops::elementwise::fused::{dense_or_scalar, Expr, Kernel, MAX_INPUTS, MAX_OUTPUTS};
use crate::ops::op::Op;
use crate::plan::{KeyStep, PlanKey, Src};
use crate::shape::Layout;

/// An elementwise step as an expression over its own inputs.
struct Group {
    expr: Expr,
    inputs: Vec<(Src, Layout)>,
}

/// Fused kernels compute in floats: i32 comparisons run alone, exactly.
fn fusable(step: &KeyStep) -> bool {
    matches!(step.op, Op::Unary(_) | Op::Binary(_) | Op::Where)
        && step.dtype.is_float()
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

/// The key's steps fused, and the targets as (step, output) of the result.
pub(crate) fn fuse(key: &PlanKey) -> (Vec<KeyStep>, Vec<(usize, usize)>) {
    let max_inputs = MAX_INPUTS.min(key.bindings.saturating_sub(1));
    let (steps, targets) = chains(key, max_inputs);
    kernels(steps, &targets, key.bindings)
}

/// The key's steps with elementwise chains fused, and the targets renumbered.
fn chains(key: &PlanKey, max_inputs: usize) -> (Vec<KeyStep>, Vec<usize>) {
    let n = key.steps.len();
    let mut uses = vec![0usize; n];
    for step in &key.steps {
        for (src, _) in &step.inputs {
            if let Src::Step(j, _) = src {
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
                (Src::Step(j, _), layout) => {
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
                            let map: Vec<Expr> = g
                                .inputs
                                .iter()
                                .map(|inp| Expr::Input(index_of(&mut merged, inp)))
                                .collect();
                            (merged.len() <= max_inputs).then(|| {
                                inputs = merged;
                                taken.push(*j);
                                g.expr.substitute(&map)
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
        if inputs.len() > max_inputs {
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
                    Src::Step(j, _) => (Src::Step(renumber[*j], 0), l.clone()),
                    leaf => (*leaf, l.clone()),
                })
                .collect()
        };
        steps.push(match &groups[i] {
            Some(g) if g.expr.ops() > 1 => KeyStep {
                op: Op::Fused(Kernel::single(g.expr.clone())),
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

/// A step as one elementwise expression over its own inputs, if it is one.
fn as_expr(step: &KeyStep) -> Option<Expr> {
    let input = |k| Box::new(Expr::Input(k));
    match &step.op {
        Op::Fused(k) if k.values.len() == 1 => Some(k.values[0].clone()),
        Op::Fused(_) => None,
        _ if !fusable(step) => None,
        Op::Unary(op) => Some(Expr::Unary(*op, input(0))),
        Op::Binary(op) => Some(Expr::Binary(*op, input(0), input(1))),
        Op::Where => Some(Expr::Where(input(0), input(1), input(2))),
        _ => None,
    }
}

/// Steps becoming one kernel: `members` (step indices, in order) each give a value.
struct Merged {
    members: Vec<usize>,
    values: Vec<Expr>,
    inputs: Vec<(Src, Layout)>,
}

/// Who reads each step, and which steps are kept.
struct Uses {
    readers: Vec<Vec<usize>>,
    target: Vec<bool>,
}

impl Uses {
    /// Whether `m`'s value must be written: it is kept, or read outside `members`.
    fn stored(&self, m: usize, members: &[usize]) -> bool {
        self.target[m] || self.readers[m].iter().any(|r| !members.contains(r))
    }
}

/// `group` extended by step `i` (expression `expr` over `inputs`), if that is allowed:
/// nothing between the group and `i` reads the group's values, `i` reads any of them
/// whole, the two share a dense input or `i` reads the group, and the kernel fits.
fn extend(
    group: &Merged,
    i: usize,
    (expr, inputs): (&Expr, &[(Src, Layout)]),
    uses: &Uses,
    whole: &Layout,
    bindings: usize,
) -> Option<Merged> {
    let mut members = group.members.clone();
    members.push(i);
    let early_reader = group.members.iter().any(|&m| {
        uses.readers[m]
            .iter()
            .any(|&r| r < i && !members.contains(&r))
    });
    if early_reader {
        return None;
    }
    let member = |src: &Src| match src {
        Src::Step(j, _) => group.members.iter().position(|m| m == j),
        Src::Leaf(_) => None,
    };
    let mut related = false;
    let mut merged = group.inputs.clone();
    let mut map = Vec::with_capacity(inputs.len());
    for (src, layout) in inputs {
        match member(src) {
            Some(_) if layout != whole => return None,
            Some(m) => {
                related = true;
                map.push(Expr::Value(m));
            }
            None => {
                let dense = !layout.strides.iter().all(|&s| s == 0);
                let known = merged.len();
                let k = index_of(&mut merged, &(*src, layout.clone()));
                related |= dense && k < known;
                map.push(Expr::Input(k));
            }
        }
    }
    // Outputs as far as known now; a later member may absorb a reader and save one.
    let outputs = members
        .iter()
        .filter(|&&m| m == i || uses.stored(m, &members))
        .count();
    let fits =
        merged.len() <= MAX_INPUTS && outputs <= MAX_OUTPUTS && merged.len() + outputs <= bindings;
    (related && fits).then(|| {
        let mut values = group.values.clone();
        values.push(expr.substitute(&map));
        Merged {
            members,
            values,
            inputs: merged,
        }
    })
}

/// Merge related elementwise steps (one output each) into kernels with several values.
fn kernels(
    steps: Vec<KeyStep>,
    targets: &[usize],
    bindings: usize,
) -> (Vec<KeyStep>, Vec<(usize, usize)>) {
    let n = steps.len();
    let mut uses = Uses {
        readers: vec![Vec::new(); n],
        target: vec![false; n],
    };
    for (i, step) in steps.iter().enumerate() {
        for (src, _) in &step.inputs {
            if let Src::Step(j, _) = src {
                uses.readers[*j].push(i);
            }
        }
    }
    targets.iter().for_each(|&t| uses.target[t] = true);
    let mut groups: Vec<Merged> = Vec::new();
    let mut group_of: Vec<Option<usize>> = vec![None; n];
    for (i, step) in steps.iter().enumerate() {
        let Some(expr) = as_expr(step) else {
            continue;
        };
        let whole = Layout::contiguous(&step.shape);
        let candidate = (0..groups.len()).rev().find_map(|g| {
            let first = &steps[groups[g].members[0]];
            if first.shape != step.shape || first.dtype != step.dtype {
                return None;
            }
            extend(
                &groups[g],
                i,
                (&expr, &step.inputs),
                &uses,
                &whole,
                bindings,
            )
            .map(|merged| (g, merged))
        });
        match candidate {
            Some((g, merged)) => {
                groups[g] = merged;
                group_of[i] = Some(g);
            }
            None => {
                group_of[i] = Some(groups.len());
                groups.push(Merged {
                    members: vec![i],
                    values: vec![expr],
                    inputs: step.inputs.clone(),
                });
            }
        }
    }
    let mut located: HashMap<usize, (usize, usize)> = HashMap::new();
    let mut out = Vec::with_capacity(n);
    let renumber = |inputs: &[(Src, Layout)], located: &HashMap<usize, (usize, usize)>| {
        inputs
            .iter()
            .map(|(src, l)| match src {
                Src::Step(j, _) => {
                    let (s, k) = located[j];
                    (Src::Step(s, k), l.clone())
                }
                leaf => (*leaf, l.clone()),
            })
            .collect::<Vec<_>>()
    };
    for (i, step) in steps.iter().enumerate() {
        match group_of[i].map(|g| &groups[g]) {
            Some(g) if g.members.len() > 1 => {
                if *g.members.last().expect("a group has members") != i {
                    continue;
                }
                let inputs = renumber(&g.inputs, &located);
                let stored: Vec<bool> = g
                    .members
                    .iter()
                    .map(|&m| uses.stored(m, &g.members))
                    .collect();
                let mut k = 0;
                for (&m, &s) in g.members.iter().zip(&stored) {
                    if s {
                        located.insert(m, (out.len(), k));
                        k += 1;
                    }
                }
                out.push(KeyStep {
                    op: Op::Fused(Kernel {
                        values: g.values.clone(),
                        stored,
                    }),
                    dtype: step.dtype,
                    shape: step.shape.clone(),
                    inputs,
                });
            }
            _ => {
                let inputs = renumber(&step.inputs, &located);
                located.insert(i, (out.len(), 0));
                out.push(KeyStep {
                    inputs,
                    ..step.clone()
                });
            }
        }
    }
    let targets = targets.iter().map(|t| located[t]).collect();
    (out, targets)
}
