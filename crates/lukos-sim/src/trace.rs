//! Chrome trace-event output (opens in the Perfetto UI and `chrome://tracing`).
//!
//! Each simulated process is a trace process and each thread a track whose
//! slices are its states over time (`running`, `ready`, `blocked: read
//! requests`, `sleeping`); each pipe's depth is a counter track of the
//! `ipcm` process. One tick is shown as one microsecond.

use std::io::{self, Write};

use ipcm::ProcessId;
use serde_json::{Value, json};

use crate::machine::{Ticks, Tid};

/// The trace process that holds the pipe-depth counters.
const IPCM_PID: u64 = 0;

/// Trace events collected during one or more runs.
#[derive(Default)]
pub struct Trace {
    events: Vec<Value>,
    /// Added to every process and thread id, so several runs can share one
    /// file without their tracks colliding.
    offset: u64,
    /// Prefix of every process name and counter of the current run.
    label: String,
}

impl Trace {
    /// An empty trace.
    #[must_use]
    pub fn new() -> Trace {
        Trace::default()
    }

    /// Start a new run: its processes and counters are named `label: ...`
    /// and get ids of their own.
    pub fn begin_run(&mut self, label: &str) {
        self.offset += 1000;
        self.label = label.to_owned();
        self.events.push(json!({
            "ph": "M", "name": "process_name", "pid": self.offset + IPCM_PID,
            "args": { "name": format!("{label}: ipcm pipes") }
        }));
    }

    fn pid(&self, process: ProcessId) -> u64 {
        self.offset + process.0
    }

    fn tid(&self, tid: Tid) -> u64 {
        self.offset + u64::from(tid.0)
    }

    /// Name a process's track group.
    pub fn process_name(&mut self, process: ProcessId, name: &str) {
        let event = json!({
            "ph": "M", "name": "process_name", "pid": self.pid(process),
            "args": { "name": format!("{}: {name}", self.label) }
        });
        self.events.push(event);
    }

    /// Name a thread's track.
    pub fn thread_name(&mut self, process: ProcessId, tid: Tid, name: &str) {
        let event = json!({
            "ph": "M", "name": "thread_name", "pid": self.pid(process), "tid": self.tid(tid),
            "args": { "name": name }
        });
        self.events.push(event);
    }

    /// A thread was in state `name` from `start` to `end`.
    pub fn state(&mut self, process: ProcessId, tid: Tid, name: &str, start: Ticks, end: Ticks) {
        if end <= start || name == "exited" {
            return;
        }
        let event = json!({
            "ph": "X", "name": name, "cat": "thread",
            "pid": self.pid(process), "tid": self.tid(tid),
            "ts": start, "dur": end - start
        });
        self.events.push(event);
    }

    /// Pipe `pipe` held `depth` messages from time `at`.
    pub fn depth(&mut self, pipe: &str, at: Ticks, depth: usize) {
        let event = json!({
            "ph": "C", "name": format!("depth {pipe}"), "pid": self.offset + IPCM_PID,
            "ts": at, "args": { "messages": depth }
        });
        self.events.push(event);
    }

    /// A trace for one more run, with ids of its own, to be added back with
    /// [`append`](Self::append).
    pub fn sub_run(&mut self, label: &str) -> Trace {
        self.offset += 1000;
        let mut run = Trace {
            events: Vec::new(),
            offset: self.offset - 1000,
            label: String::new(),
        };
        run.begin_run(label);
        run
    }

    /// Add every event of `other` (a run recorded separately) to this
    /// trace; `other`'s ids must have been offset by its own `begin_run`.
    pub fn append(&mut self, other: Trace) {
        self.events.extend(other.events);
    }

    /// How many events were recorded.
    #[must_use]
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether nothing was recorded.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Write the trace as a JSON object `{"traceEvents": [...]}`.
    ///
    /// # Errors
    /// Any error of `out`.
    pub fn write_json(&self, out: impl Write) -> io::Result<()> {
        let document = json!({ "traceEvents": self.events, "displayTimeUnit": "ns" });
        serde_json::to_writer(out, &document).map_err(io::Error::other)
    }
}
