//! Realization, the driver: collect the pending subgraph under some nodes, find or build its plan, run
//! it on the nodes' device and hand each result buffer to its node.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, LazyLock, Mutex};

use crate::backend::{cpu, Buffer};
use crate::device::Device;
use crate::error::Result;
use crate::graph::{Node, State, Tensor};
use crate::lru::Lru;
use crate::ops::op::Op;
use crate::plan::{KeyStep, Plan, PlanKey, Src};
use crate::storage::CpuData;

/// Plans kept for replay; past this many distinct computations the least recently used go.
const MAX_PLANS: usize = 1024;

static PLANS: LazyLock<Mutex<Lru<PlanKey, Arc<Plan>>>> =
    LazyLock::new(|| Mutex::new(Lru::new(MAX_PLANS)));

struct Collected {
    key: PlanKey,
    leaves: Vec<Buffer>,
    /// The node of each step, so results can be handed back.
    nodes: Vec<Arc<Node>>,
}

/// The pending subgraph under `roots`, in post-order, with its structural key.
fn collect(roots: &[Arc<Node>], bindings: usize) -> Collected {
    let mut memo: HashMap<u64, Src> = HashMap::new();
    let mut key = PlanKey {
        bindings,
        leaves: Vec::new(),
        steps: Vec::new(),
        targets: Vec::new(),
    };
    let mut leaves = Vec::new();
    let mut nodes = Vec::new();
    type Expanded = Option<(Op, Vec<Tensor>)>;
    for root in roots {
        let mut stack: Vec<(Arc<Node>, Expanded)> = vec![(root.clone(), None)];
        while let Some((node, expanded)) = stack.pop() {
            match expanded {
                None if memo.contains_key(&node.id) => {}
                None => {
                    let pending = match &*node.state() {
                        State::Realized(buffer) => {
                            memo.insert(node.id, Src::Leaf(leaves.len()));
                            leaves.push(buffer.clone());
                            key.leaves.push(node.dtype);
                            None
                        }
                        State::Pending { op, inputs } => Some((op.clone(), inputs.clone())),
                    };
                    if let Some((op, inputs)) = pending {
                        let children: Vec<Arc<Node>> = inputs
                            .iter()
                            .rev()
                            .filter(|t| !memo.contains_key(&t.node.id))
                            .map(|t| t.node.clone())
                            .collect();
                        stack.push((node, Some((op, inputs))));
                        stack.extend(children.into_iter().map(|c| (c, None)));
                    }
                }
                Some((op, inputs)) => {
                    let inputs = inputs
                        .iter()
                        .map(|t| (memo[&t.node.id], t.layout.clone()))
                        .collect();
                    memo.insert(node.id, Src::Step(key.steps.len(), 0));
                    key.steps.push(KeyStep {
                        op,
                        dtype: node.dtype,
                        shape: node.shape.clone(),
                        inputs,
                    });
                    nodes.push(node);
                }
            }
        }
        if let Some(Src::Step(s, _)) = memo.get(&root.id) {
            if !key.targets.contains(s) {
                key.targets.push(*s);
            }
        }
    }
    Collected { key, leaves, nodes }
}

fn plan_for(key: PlanKey) -> Arc<Plan> {
    let mut plans = PLANS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(plan) = plans.get(&key) {
        return plan.clone();
    }
    let plan = Arc::new(Plan::build(&key));
    plans.insert(key, plan.clone());
    plan
}

/// Realize `roots` (all on `device`); when `read` names one of them, also return those
/// bytes of its buffer, fetched in the same submission.
fn run(
    device: &Device,
    roots: &[Arc<Node>],
    read: Option<(usize, Range<u64>)>,
) -> Result<Option<Vec<u8>>> {
    let started = crate::profile::active().then(crate::profile::now_us);
    let collected = collect(roots, device.fused_bindings());
    if collected.key.targets.is_empty() {
        return Ok(None);
    }
    let read_output = read.and_then(|(root, range)| {
        let step = collected
            .nodes
            .iter()
            .position(|n| Arc::ptr_eq(n, &roots[root]))?;
        let output = collected.key.targets.iter().position(|&t| t == step)?;
        Some((output, range))
    });
    let targets = collected.key.targets.clone();
    let plan = plan_for(collected.key);
    if let Some(started) = started {
        crate::profile::record_host("plan", started);
    }
    let (outputs, bytes) = match device {
        Device::Cpu => {
            let leaves: Vec<Arc<CpuData>> =
                collected.leaves.iter().map(Buffer::expect_cpu).collect();
            let outputs = cpu::execute(&plan, &leaves)?;
            let bytes = read_output.map(|(o, range)| {
                outputs[o].as_bytes()[range.start as usize..range.end as usize].to_vec()
            });
            (
                outputs.into_iter().map(Buffer::Cpu).collect::<Vec<_>>(),
                bytes,
            )
        }
        Device::Gpu(ctx) => {
            let leaves: Vec<_> = collected.leaves.iter().map(Buffer::expect_gpu).collect();
            let (outputs, bytes) = ctx.execute(&plan, &leaves, read_output)?;
            (outputs.into_iter().map(Buffer::Gpu).collect(), bytes)
        }
    };
    for (output, step) in outputs.into_iter().zip(targets) {
        collected.nodes[step].set_realized(output);
    }
    Ok(bytes)
}

/// Realize every pending node under `roots`, which share `device`.
pub(crate) fn realize_all(device: &Device, roots: &[Arc<Node>]) -> Result<()> {
    run(device, roots, None).map(|_| ())
}

/// `count` elements of `node`'s buffer from element `start`, realizing it first if needed,
/// together with `also` (same device) in the same plan and submission.
pub(crate) fn read(
    node: &Arc<Node>,
    start: usize,
    count: usize,
    also: &[Arc<Node>],
) -> Result<Vec<u8>> {
    let size = node.dtype.size_in_bytes() as u64;
    let range = start as u64 * size..(start + count) as u64 * size;
    match node.realized() {
        Some(buffer) => {
            realize_all(&node.device, also)?;
            match buffer {
                Buffer::Cpu(data) => {
                    Ok(data.as_bytes()[range.start as usize..range.end as usize].to_vec())
                }
                Buffer::Gpu(buffer) => match &node.device {
                    Device::Gpu(ctx) => ctx.read(&buffer, range),
                    Device::Cpu => unreachable!("a GPU buffer belongs to a GPU device"),
                },
            }
        }
        None => {
            let mut roots = vec![node.clone()];
            roots.extend(also.iter().cloned());
            match run(&node.device, &roots, Some((0, range.clone())))? {
                Some(bytes) => Ok(bytes),
                // Another thread realized the node between our check and our run.
                None => read(node, start, count, also),
            }
        }
    }
}

/// Realize several tensors together: shared work runs once, and each device's part runs as
/// one plan with one submission.
pub fn realize(tensors: &[&Tensor]) -> Result<()> {
    let mut groups: Vec<(Device, Vec<Arc<Node>>)> = Vec::new();
    for t in tensors {
        match groups.iter_mut().find(|(d, _)| d == t.device()) {
            Some((_, nodes)) => nodes.push(t.node.clone()),
            None => groups.push((t.device().clone(), vec![t.node.clone()])),
        }
    }
    for (device, nodes) in groups {
        realize_all(&device, &nodes)?;
    }
    Ok(())
}
