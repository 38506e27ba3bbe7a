//! A profile as Chrome trace JSON (the Trace Event Format that ui.perfetto.dev and
//! chrome://tracing open): one complete event per span, times in microseconds, the host on
//! one track, each device's kernels on another, and whole submissions and plans
//! (`Detail::Runs`) on a fourth.

use serde_json::{json, Value};

use crate::profile::{Profile, Track};

fn track_id(track: Track) -> u32 {
    match track {
        Track::Host => 1,
        Track::Gpu => 2,
        Track::Cpu => 3,
        Track::Run => 4,
    }
}

fn track_name(track: Track) -> &'static str {
    match track {
        Track::Host => "host",
        Track::Gpu => "gpu kernels",
        Track::Cpu => "cpu kernels",
        Track::Run => "submissions and plans",
    }
}

impl Profile {
    /// The trace, its times from the profiler's start.
    pub fn chrome_trace(&self) -> String {
        let mut events: Vec<Value> = [Track::Host, Track::Gpu, Track::Cpu, Track::Run]
            .into_iter()
            .map(|t| {
                json!({"ph": "M", "name": "thread_name", "pid": 1, "tid": track_id(t),
                       "args": {"name": track_name(t)}})
            })
            .collect();
        events.push(json!({"ph": "M", "name": "process_name", "pid": 1,
                           "args": {"name": "lepton"}}));
        for e in &self.events {
            let mut args = json!({});
            if e.track != Track::Host {
                args = json!({"op": e.op, "shapes": e.shapes, "flop": e.flop,
                              "bytes": e.bytes});
                if e.track == Track::Gpu {
                    args["workgroups"] = json!(e.workgroups);
                }
            }
            events.push(json!({
                "ph": "X",
                "name": e.name,
                "cat": track_name(e.track),
                "pid": 1,
                "tid": track_id(e.track),
                "ts": e.start_us - self.started_us,
                "dur": e.duration_us,
                "args": args,
            }));
        }
        json!({"traceEvents": events, "displayTimeUnit": "ms"}).to_string()
    }
}
