//! The CPU executor: runs a plan's steps in order with the CPU kernels of `ops`.

pub(crate) mod peaks;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::Result;
use crate::ops::op::StepDesc;
use crate::plan::{Loc, Plan};
use crate::profile::Detail;
use crate::shape::numel;
use crate::storage::CpuData;

/// Run `plan` over `leaves`; returns the results in target order.
pub(crate) fn execute(plan: &Plan, leaves: &[Arc<CpuData>]) -> Result<Vec<Arc<CpuData>>> {
    // On a pool thread, each kernel's parallel loop starts by pushing work to its own queue;
    // called from outside the pool, every one of them would hand off to the pool and wait
    // (a wake-up and a sleep per kernel). So the whole plan makes that trip once.
    let done = AtomicBool::new(false);
    let detail = crate::profile::detail();
    let start = detail.is_some().then(crate::profile::now_us);
    let result = rayon::scope(|s| {
        for _ in 1..rayon::current_num_threads() {
            s.spawn(|_| stay_awake(&done));
        }
        let result = execute_steps(plan, leaves, detail == Some(Detail::Kernels));
        done.store(true, Ordering::Release);
        result
    });
    if let (Some(Detail::Runs), Some(start)) = (detail, start) {
        record_run(plan, start);
    }
    result
}

/// Hand the whole plan's span since `start` to the profiler, with every step's cost.
fn record_run(plan: &Plan, start: f64) {
    let duration_us = crate::profile::now_us() - start;
    let (flop, bytes) = plan.steps.iter().fold((0, 0), |(f, b), step| {
        let cost = crate::ops::cost::cost(&step.desc());
        (f + cost.flop, b + cost.bytes)
    });
    crate::profile::record(crate::profile::Event {
        track: crate::profile::Track::Run,
        name: "cpu plan".into(),
        op: "",
        shapes: format!("{} steps", plan.steps.len()),
        start_us: start,
        duration_us,
        flop,
        bytes,
        workgroups: 0,
        first_of_step: false,
    });
}

/// Longest a helper waits for work before it lets its thread sleep.
const IDLE: Duration = Duration::from_micros(100);

/// Keep a pool thread taking the plan's parallel work as it appears, until the plan is done
/// or no work came for `IDLE`. Between kernels a thread that waits sleeps, and waking it
/// costs more than many kernels take; OpenMP runtimes spin after a parallel region for the
/// same reason. The idle bound also frees a thread that picked this job up while waiting
/// for its own.
fn stay_awake(done: &AtomicBool) {
    let mut last_work = Instant::now();
    while !done.load(Ordering::Acquire) && last_work.elapsed() < IDLE {
        match rayon::yield_now() {
            Some(rayon::Yield::Executed) => last_work = Instant::now(),
            _ => std::hint::spin_loop(),
        }
    }
}

/// Run the steps, timing each kernel for the profiler when `per_kernel`.
fn execute_steps(
    plan: &Plan,
    leaves: &[Arc<CpuData>],
    per_kernel: bool,
) -> Result<Vec<Arc<CpuData>>> {
    let mut slots: Vec<Option<CpuData>> = vec![None; plan.slots.len()];
    // How many leading elements of each slot's buffer have been written: up to there it is
    // resized without zeroing.
    let mut written = vec![0usize; plan.slots.len()];
    let mut outputs: Vec<Option<Arc<CpuData>>> = vec![None; plan.outputs];
    for step in &plan.steps {
        let len = numel(&step.shape);
        // Reuse a slot's allocation when it has the right dtype; resizing keeps it.
        let mut outs: Vec<CpuData> = step
            .outs
            .iter()
            .map(|out| match *out {
                Loc::Slot(s) => match slots[s].take() {
                    Some(mut d) if d.dtype() == step.dtype => {
                        resize(&mut d, len, &mut written[s]);
                        Ok(d)
                    }
                    _ => {
                        let largest = plan.slots[s] as usize / step.dtype.size_in_bytes();
                        written[s] = len;
                        CpuData::for_slot(step.dtype, len, largest)
                    }
                },
                _ => CpuData::for_output(step.dtype, len),
            })
            .collect::<Result<_>>()?;
        {
            let inputs: Vec<&CpuData> = step
                .inputs
                .iter()
                .map(|(loc, _, _)| match *loc {
                    Loc::Leaf(l) => &*leaves[l],
                    Loc::Slot(s) => slots[s]
                        .as_ref()
                        .expect("a slot is written before it is read"),
                    Loc::Output(o) => &**outputs[o]
                        .as_ref()
                        .expect("an output is written before it is read"),
                })
                .collect();
            // An empty result needs no kernel, and its inputs may be views that start past
            // the end of their own empty buffers.
            if len > 0 {
                if per_kernel {
                    profiled(&step.desc(), &inputs, &mut outs)?;
                } else {
                    crate::ops::run_cpu(&step.desc(), &inputs, &mut outs)?;
                }
            }
        }
        for (loc, out) in step.outs.iter().zip(outs) {
            match *loc {
                Loc::Slot(s) => slots[s] = Some(out),
                Loc::Output(o) => outputs[o] = Some(Arc::new(out)),
                Loc::Leaf(_) => unreachable!("steps never write leaves"),
            }
        }
    }
    // Kept at every value they hold, the buffers serve the next step's results without
    // zeroing (a kept buffer is zeroed only past its length).
    for (slot, written) in slots.iter_mut().zip(&mut written) {
        if let Some(data) = slot {
            let all = *written;
            resize(data, all, written);
        }
    }
    crate::stats::kernels_run(plan.steps.len() as u64);
    Ok(outputs
        .into_iter()
        .map(|o| o.expect("every output is written"))
        .collect())
}

/// Run one step as `run_cpu` does, and record it for the profiler.
fn profiled(desc: &StepDesc, inputs: &[&CpuData], outs: &mut [CpuData]) -> Result<()> {
    let start = crate::profile::now_us();
    crate::ops::run_cpu(desc, inputs, outs)?;
    let duration_us = crate::profile::now_us() - start;
    let cost = crate::ops::cost::cost(desc);
    crate::profile::record(crate::profile::Event {
        track: crate::profile::Track::Cpu,
        name: desc.op.name().to_string(),
        op: desc.op.name(),
        shapes: crate::ops::cost::describe(desc),
        start_us: start,
        duration_us,
        flop: cost.flop,
        bytes: cost.bytes,
        workgroups: 0,
        first_of_step: true,
    });
    Ok(())
}

/// `data` at `len` elements, where its first `written` elements hold values written before:
/// those are kept as they are (stale: the kernel overwrites them), and only elements past
/// them are zeroed. A slot's results come and go in one buffer step after step, and zeroing
/// it at every growth took 5% of the baby GPT's CPU step.
fn resize(data: &mut CpuData, len: usize, written: &mut usize) {
    fn to<T: Copy>(v: &mut Vec<T>, len: usize, written: &mut usize, zero: T) {
        if len <= *written && len <= v.capacity() {
            // SAFETY: the first `written` elements of this allocation were initialized
            // (truncating a Vec of Copy values leaves them as they are), and len ≤ written.
            unsafe { v.set_len(len) };
        } else {
            v.resize(len, zero);
            *written = len;
        }
    }
    match data {
        CpuData::F16(v) => to(v, len, written, half::f16::ZERO),
        CpuData::F32(v) => to(v, len, written, 0.0),
        CpuData::F64(v) => to(v, len, written, 0.0),
        CpuData::I32(v) => to(v, len, written, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_regrows_over_its_written_values_and_zeroes_only_past_them() {
        let mut data = CpuData::F32(vec![1.0, 2.0, 3.0]);
        let mut written = 3;
        resize(&mut data, 1, &mut written);
        assert_eq!((data.slice::<f32>(), written), (&[1.0][..], 3));
        resize(&mut data, 3, &mut written);
        assert_eq!(data.slice::<f32>(), &[1.0, 2.0, 3.0]);
        resize(&mut data, 5, &mut written);
        assert_eq!(
            (data.slice::<f32>(), written),
            (&[1.0, 2.0, 3.0, 0.0, 0.0][..], 5)
        );
    }
}
