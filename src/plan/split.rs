//! Splitting a plan between a GPU and the host, for steps whose dtypes the GPU's shaders
//! cannot run (f64 anywhere, f16 without `SHADER_F16`). Consecutive steps of one place
//! become one segment, a plan of its own; each value a segment reads from the other side is
//! copied across by an explicit stage before it. Leaves start on the device and the results
//! end there, so a tensor's buffer stays where its device says it is.

use std::collections::HashMap;

use crate::dtype::DType;
use crate::plan::{KeyStep, Loc, Plan, PlanStep, Src};
use crate::shape::{numel, Layout};

/// Where a step runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Place {
    Device,
    Host,
}

/// A value of the whole plan: one of its leaves, or output `k` of step `i`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Value {
    Leaf(usize),
    Step(usize, usize),
}

/// Consecutive steps of one place, as a plan whose leaves are `inputs` and whose results
/// are `outputs`.
pub(crate) struct Segment {
    pub place: Place,
    pub plan: Plan,
    pub inputs: Vec<Value>,
    pub outputs: Vec<Value>,
}

pub(crate) enum Stage {
    Run(Segment),
    /// The first `elements` of `value` copied to `to`, where a later segment reads them.
    Copy {
        value: Value,
        to: Place,
        dtype: DType,
        elements: usize,
    },
}

pub(crate) struct Split {
    pub stages: Vec<Stage>,
    /// The value of each of the plan's results.
    pub results: Vec<Value>,
}

/// What each step of `plan` reads, as values: a slot holds, at each step, what its last
/// writer wrote.
fn step_inputs(plan: &Plan) -> (Vec<Vec<Value>>, Vec<Value>) {
    let mut writer: HashMap<Loc, Value> = HashMap::new();
    let mut reads = Vec::with_capacity(plan.steps.len());
    for (i, step) in plan.steps.iter().enumerate() {
        reads.push(
            step.inputs
                .iter()
                .map(|(loc, _, _)| match *loc {
                    Loc::Leaf(l) => Value::Leaf(l),
                    other => writer[&other],
                })
                .collect(),
        );
        for (k, &out) in step.outs.iter().enumerate() {
            writer.insert(out, Value::Step(i, k));
        }
    }
    let results = (0..plan.outputs).map(|o| writer[&Loc::Output(o)]).collect();
    (reads, results)
}

/// Every read of `value` in `plan`: its dtype and the view read.
fn reads_of<'a>(
    plan: &'a Plan,
    reads: &'a [Vec<Value>],
    value: Value,
) -> impl Iterator<Item = (DType, &'a Layout)> {
    plan.steps
        .iter()
        .zip(reads)
        .flat_map(|(step, values)| step.inputs.iter().zip(values))
        .filter(move |(_, &v)| v == value)
        .map(|((_, dtype, layout), _)| (*dtype, layout))
}

/// The dtype of a copy of `value`, and the elements it must carry: a step's whole result,
/// or of a leaf as far as any step reads it (nothing of a leaf read only through empty
/// views).
fn extent(plan: &Plan, reads: &[Vec<Value>], value: Value) -> (DType, usize) {
    match value {
        Value::Step(i, _) => (plan.steps[i].dtype, numel(&plan.steps[i].shape)),
        Value::Leaf(_) => {
            let mut dtype = None;
            let mut elements = 0;
            for (d, layout) in reads_of(plan, reads, value) {
                dtype = Some(d);
                if layout.numel() > 0 {
                    elements = elements.max(layout.reach());
                }
            }
            let dtype = dtype.expect("a leaf of a plan is read by one of its steps");
            (dtype, elements)
        }
    }
}

/// The steps `range` of `plan` as a plan of their own; `needed(v)` says whether a later
/// segment or the caller reads value `v`.
fn segment(
    plan: &Plan,
    reads: &[Vec<Value>],
    range: std::ops::Range<usize>,
    place: Place,
    needed: impl Fn(Value) -> bool,
) -> Segment {
    let mut inputs: Vec<Value> = Vec::new();
    let mut leaves: Vec<DType> = Vec::new();
    let mut steps = Vec::with_capacity(range.len());
    for i in range.clone() {
        let step: &PlanStep = &plan.steps[i];
        let srcs: Vec<(Src, Layout)> = step
            .inputs
            .iter()
            .zip(&reads[i])
            .map(|((_, dtype, layout), &value)| {
                let src = match value {
                    Value::Step(j, k) if range.contains(&j) => Src::Step(j - range.start, k),
                    _ => {
                        let at = inputs.iter().position(|&v| v == value).unwrap_or_else(|| {
                            inputs.push(value);
                            leaves.push(*dtype);
                            inputs.len() - 1
                        });
                        Src::Leaf(at)
                    }
                };
                (src, layout.clone())
            })
            .collect();
        steps.push(KeyStep {
            op: step.op.clone(),
            dtype: step.dtype,
            shape: step.shape.clone(),
            inputs: srcs,
        });
    }
    let outputs: Vec<Value> = range
        .clone()
        .flat_map(|i| (0..plan.steps[i].outs.len()).map(move |k| Value::Step(i, k)))
        .filter(|&v| needed(v))
        .collect();
    let targets: Vec<(usize, usize)> = outputs
        .iter()
        .map(|v| match *v {
            Value::Step(i, k) => (i - range.start, k),
            Value::Leaf(_) => unreachable!("a segment's outputs are its steps'"),
        })
        .collect();
    Segment {
        place,
        plan: Plan::from_steps(&leaves, &steps, &targets),
        inputs,
        outputs,
    }
}

impl Plan {
    /// This plan with each step run where `place` says, or `None` when every step runs on
    /// the device.
    pub fn split(&self, place: impl Fn(&PlanStep) -> Place) -> Option<Split> {
        let places: Vec<Place> = self.steps.iter().map(place).collect();
        if places.iter().all(|&p| p == Place::Device) {
            return None;
        }
        let (reads, results) = step_inputs(self);
        let mut runs: Vec<(std::ops::Range<usize>, Place)> = Vec::new();
        for (i, &p) in places.iter().enumerate() {
            match runs.last_mut() {
                Some((range, q)) if *q == p => range.end = i + 1,
                _ => runs.push((i..i + 1, p)),
            }
        }
        // Where each value is held: leaves on the device, results where their step ran.
        let mut held: HashMap<Value, Vec<Place>> = HashMap::new();
        let mut stages = Vec::new();
        for (r, (range, place)) in runs.iter().enumerate() {
            let later = &runs[r + 1..];
            let needed = |v: Value| {
                results.contains(&v)
                    || later
                        .iter()
                        .any(|(range, _)| range.clone().any(|i| reads[i].contains(&v)))
            };
            let seg = segment(self, &reads, range.clone(), *place, needed);
            for &value in &seg.inputs {
                let here = held.entry(value).or_insert_with(|| match value {
                    Value::Leaf(_) => vec![Place::Device],
                    Value::Step(..) => unreachable!("a step's value is held once it ran"),
                });
                if !here.contains(place) {
                    here.push(*place);
                    let (dtype, elements) = extent(self, &reads, value);
                    stages.push(Stage::Copy {
                        value,
                        to: *place,
                        dtype,
                        elements,
                    });
                }
            }
            for &value in &seg.outputs {
                held.insert(value, vec![*place]);
            }
            stages.push(Stage::Run(seg));
        }
        for &value in &results {
            let here = held
                .get_mut(&value)
                .expect("every result is held once it ran");
            if !here.contains(&Place::Device) {
                here.push(Place::Device);
                let (dtype, elements) = extent(self, &reads, value);
                stages.push(Stage::Copy {
                    value,
                    to: Place::Device,
                    dtype,
                    elements,
                });
            }
        }
        Some(Split { stages, results })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::op::Op;
    use crate::ops::{BinaryOp, UnaryOp};

    fn step(op: Op, dtype: DType, inputs: &[Src]) -> KeyStep {
        KeyStep {
            op,
            dtype,
            shape: vec![5],
            inputs: inputs
                .iter()
                .map(|&s| (s, Layout::contiguous(&[5])))
                .collect(),
        }
    }

    /// f32 leaf → matmul-free chain: exp (f32), cast to f64, square (f64), cast to f32,
    /// add the f32 leaf; results: the f64 square and the final sum.
    fn mixed() -> Plan {
        let steps = vec![
            step(Op::Unary(UnaryOp::Exp), DType::F32, &[Src::Leaf(0)]),
            step(Op::Cast, DType::F64, &[Src::Step(0, 0)]),
            step(Op::Unary(UnaryOp::Square), DType::F64, &[Src::Step(1, 0)]),
            step(Op::Cast, DType::F32, &[Src::Step(2, 0)]),
            step(
                Op::Binary(BinaryOp::Add),
                DType::F32,
                &[Src::Step(3, 0), Src::Leaf(0)],
            ),
        ];
        Plan::from_steps(&[DType::F32], &steps, &[(4, 0), (2, 0)])
    }

    fn on_host(step: &PlanStep) -> Place {
        let f64 = step.dtype == DType::F64 || step.inputs.iter().any(|i| i.1 == DType::F64);
        if f64 {
            Place::Host
        } else {
            Place::Device
        }
    }

    #[test]
    fn a_plan_without_host_steps_is_not_split() {
        assert!(mixed().split(|_| Place::Device).is_none());
    }

    #[test]
    fn host_steps_run_between_explicit_copies() {
        let split = mixed().split(on_host).expect("f64 steps run on the host");
        let shape: Vec<String> = split
            .stages
            .iter()
            .map(|s| match s {
                Stage::Run(seg) => format!("{:?}{}", seg.place, seg.plan.steps.len()),
                Stage::Copy { value, to, .. } => format!("{value:?}->{to:?}"),
            })
            .collect();
        assert_eq!(
            shape,
            [
                "Device1",
                "Step(0, 0)->Host",
                "Host3",
                "Step(3, 0)->Device",
                "Device1",
                "Step(2, 0)->Device",
            ]
        );
        assert_eq!(split.results, [Value::Step(4, 0), Value::Step(2, 0)]);
        let Stage::Run(host) = &split.stages[2] else {
            panic!("the host segment")
        };
        assert_eq!(host.inputs, [Value::Step(0, 0)]);
        assert_eq!(
            host.outputs,
            [Value::Step(2, 0), Value::Step(3, 0)],
            "the kept square and the cast the device reads"
        );
        let Stage::Run(last) = &split.stages[4] else {
            panic!("the last device segment")
        };
        assert_eq!(
            last.inputs,
            [Value::Step(3, 0), Value::Leaf(0)],
            "the leaf stays on the device: no copy"
        );
    }

    #[test]
    fn a_leaf_copies_as_far_as_its_views_reach() {
        let view = Layout::contiguous(&[3, 4]).slice(0, 0, 2, 1);
        let steps = vec![KeyStep {
            op: Op::Unary(UnaryOp::Exp),
            dtype: DType::F64,
            shape: vec![2, 4],
            inputs: vec![(Src::Leaf(0), view)],
        }];
        let plan = Plan::from_steps(&[DType::F64], &steps, &[(0, 0)]);
        let split = plan.split(on_host).unwrap();
        assert!(matches!(
            split.stages[0],
            Stage::Copy {
                value: Value::Leaf(0),
                to: Place::Host,
                dtype: DType::F64,
                elements: 8,
            }
        ));
    }
}
