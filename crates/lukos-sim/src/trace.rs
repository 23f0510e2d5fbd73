//! Chrome trace-event output (opens in the Perfetto UI and `chrome://tracing`).
//!
//! **Time unit.** Trace-event timestamps are microseconds; here one
//! microsecond on the timeline is one *scheduler tick* of the simulated
//! kernel (the file says so in `otherData.time_unit`). Ticks are not a
//! wall-clock unit: a system call costs 2, a time slice 5 to 40.
//!
//! **Tracks.** Each simulated process is a trace process and each thread a
//! track whose slices are its states over time (`running`, `ready`,
//! `blocked: read requests`, `sleeping`); every IPC call a thread makes is
//! a slice nested in its `running` slice (`write`, `try_read`, ...); calls
//! the kernel makes itself (timeouts firing, kills, kernel reads and
//! writes, kernel destroys) are slices of the `kernel` track of the `ipcm`
//! process, which also holds a depth counter per pipe.
//!
//! **Args.** Every slice has args: a call's `pipe`, `status` (the C
//! status name without its `IPCM_STATUS_` prefix: `OK`, `BLOCKED`,
//! `TIMED_OUT`, ...) and `bytes`; a `blocked: ...` slice the final
//! `status` and `bytes` of the operation it waited for (`PENDING` if the
//! run ended first), so a read that timed out reads `TIMED_OUT`.
//!
//! **Flows.** When a call completes another thread's pending operation, a
//! flow arrow goes from that call (a child slice of it named for what it
//! did: `hand-off`, `peek copy`, `admission`, `cancel`, `destroy`,
//! `fault`) to a
//! `woken` slice at the end of the woken thread's `blocked` slice. Flow
//! endpoints sit strictly inside their slices (fractions of a tick), so
//! viewers bind them without ambiguity. A wait that ended in the tick it
//! began (a zero timeout) has no arrow: the thread never left the CPU.
//!
//! **Runs.** Several runs (the scenarios, or check seeds) share one
//! file: each gets its own process and thread ids and its own stretch of
//! the timeline, one after another with a gap of [`RUN_GAP`] ticks.

use std::collections::HashMap;
use std::io::{self, Write};

use ipcm::ProcessId;
use serde_json::{Map, Value, json};

use crate::machine::{Ticks, Tid};

/// The trace process that holds the pipe-depth counters and the kernel
/// track.
const IPCM_PID: u64 = 0;

/// The kernel track's thread number within a run (threads are below it).
const KERNEL_TID: u64 = 999;

/// Ticks of empty timeline between two runs.
pub const RUN_GAP: f64 = 100.0;

/// What the timeline's unit is, as the file states it.
pub const TIME_UNIT: &str = "1 us on the timeline = 1 scheduler tick of the simulated kernel";

/// Where a call slice goes.
#[derive(Clone, Copy, Debug)]
pub enum Track {
    /// A thread's track (the call is nested in its `running` slice).
    Thread(ProcessId, Tid),
    /// The kernel track of the `ipcm` process.
    Kernel,
}

/// What completing another thread's operation did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WakeKind {
    /// A write handed its message to a pending reader.
    HandOff,
    /// A write gave a pending peeker a copy.
    PeekCopy,
    /// A read made room and admitted a pending writer.
    Admission,
    /// A timeout or kill cancelled the operation.
    Cancel,
    /// The pipe was destroyed under the waiter.
    Destroy,
    /// The completion failed on the waiter's buffer (`BAD_ADDRESS`).
    Fault,
    /// Any other completion.
    Other,
}

impl WakeKind {
    /// The slice and flow name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            WakeKind::HandOff => "hand-off",
            WakeKind::PeekCopy => "peek copy",
            WakeKind::Admission => "admission",
            WakeKind::Cancel => "cancel",
            WakeKind::Destroy => "destroy",
            WakeKind::Fault => "fault",
            WakeKind::Other => "wake",
        }
    }
}

/// One thread whose pending operation a call completed.
#[derive(Clone, Debug)]
pub struct Wake {
    /// The woken thread.
    pub process: ProcessId,
    /// Its id.
    pub tid: Tid,
    /// Its name, for the args.
    pub thread: String,
    /// What was done to it.
    pub kind: WakeKind,
    /// When its `blocked` slice began: no arrow if that is now.
    pub blocked_since: Ticks,
    /// The args of its operation's outcome (`status`, `bytes`), which
    /// also go onto its `blocked` slice.
    pub outcome: Value,
}

/// Trace events collected during one or more runs.
#[derive(Default)]
pub struct Trace {
    events: Vec<Value>,
    /// Added to every process and thread id, so several runs can share one
    /// file without their tracks colliding.
    offset: u64,
    /// Prefix of every process name and counter of the current run.
    label: String,
    /// Where the current run's tick 0 is on the timeline.
    start: f64,
    /// The latest time on the timeline so far.
    end: f64,
    /// Flows started in this run.
    flows: u64,
    /// Where the kernel track is free again (run-local ticks).
    kernel_free: f64,
    /// Outcome args waiting for the `blocked` slice they end (by thread).
    outcomes: HashMap<Tid, Value>,
}

impl Trace {
    /// An empty trace.
    #[must_use]
    pub fn new() -> Trace {
        Trace::default()
    }

    /// Start a new run: its processes and counters are named `label: ...`,
    /// get ids of their own, and its tick 0 comes after everything recorded
    /// so far.
    pub fn begin_run(&mut self, label: &str) {
        self.offset += 1000;
        self.label = label.to_owned();
        self.start = if self.events.is_empty() {
            0.0
        } else {
            self.end + RUN_GAP
        };
        self.end = self.start;
        self.flows = 0;
        self.kernel_free = 0.0;
        self.outcomes.clear();
        let pid = self.offset + IPCM_PID;
        self.events.push(json!({
            "ph": "M", "name": "process_name", "pid": pid,
            "args": { "name": format!("{label}: ipcm pipes") }
        }));
        self.events.push(json!({
            "ph": "M", "name": "thread_name", "pid": pid, "tid": self.kernel_tid(),
            "args": { "name": "kernel (timeouts, kills, kernel calls)" }
        }));
    }

    fn pid(&self, process: ProcessId) -> u64 {
        self.offset + process.0
    }

    /// Thread ids are `run offset * 1000 + thread`: never equal to a
    /// process id (viewers take a thread whose id is a process's id for
    /// that process's main thread).
    fn tid(&self, tid: Tid) -> u64 {
        self.offset * 1000 + u64::from(tid.0)
    }

    fn kernel_tid(&self) -> u64 {
        self.offset * 1000 + KERNEL_TID
    }

    fn track_ids(&self, track: Track) -> (u64, u64) {
        match track {
            Track::Thread(process, tid) => (self.pid(process), self.tid(tid)),
            Track::Kernel => (self.offset + IPCM_PID, self.kernel_tid()),
        }
    }

    /// Run-local ticks to timeline microseconds, noting the latest.
    fn at(&mut self, ticks: f64) -> f64 {
        let ts = self.start + ticks;
        self.end = self.end.max(ts);
        ts
    }

    /// A complete slice from `start` to `end` (run-local ticks).
    fn slice(&mut self, track: Track, name: &str, cat: &str, start: f64, end: f64, args: Value) {
        let (pid, tid) = self.track_ids(track);
        let ts = self.at(grid(start));
        let end = self.at(grid(end));
        self.events.push(json!({
            "ph": "X", "name": name, "cat": cat, "pid": pid, "tid": tid,
            "ts": ts, "dur": end - ts, "args": args
        }));
    }

    /// One end of flow `id` (`ph` is `s` or `f`), inside the slice that
    /// encloses `at` on `track`.
    fn flow(&mut self, ph: &str, track: Track, name: &str, id: u64, at: f64) {
        let (pid, tid) = self.track_ids(track);
        let ts = self.at(grid(at));
        let mut event = json!({
            "ph": ph, "name": name, "cat": "wake", "id": id,
            "pid": pid, "tid": tid, "ts": ts
        });
        if ph == "f" {
            // Bind to the enclosing slice (the `woken` one), not the next.
            event["bp"] = json!("e");
        }
        self.events.push(event);
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

    /// A thread was in state `name` from `start` to `end`; `args` describe
    /// the state. A `blocked` slice also gets the outcome of its operation
    /// (see [`call`](Self::call)), or `status: PENDING` if there is none
    /// yet.
    pub fn state(
        &mut self,
        process: ProcessId,
        tid: Tid,
        name: &str,
        start: Ticks,
        end: Ticks,
        args: Value,
    ) {
        let outcome = if name.starts_with("blocked") {
            Some(
                self.outcomes
                    .remove(&tid)
                    .unwrap_or_else(|| json!({ "status": "PENDING" })),
            )
        } else {
            None
        };
        // An empty wait is kept when it has an outcome (a read that timed
        // out at once still shows TIMED_OUT); other empty states are not.
        if end < start || name == "exited" || (end == start && outcome.is_none()) {
            return;
        }
        let args = merge(args, outcome);
        self.slice(
            Track::Thread(process, tid),
            name,
            "thread",
            start as f64,
            end as f64,
            args,
        );
    }

    /// An IPC call made at tick `now` on `track` (a thread's call costs
    /// `cost` ticks and ends at `now`), with its `args`, and the threads
    /// whose pending operations it completed: a child slice and a flow to
    /// each, and the outcome for each one's `blocked` slice.
    pub fn call(
        &mut self,
        track: Track,
        name: &str,
        now: Ticks,
        cost: Ticks,
        args: Value,
        wakes: &[Wake],
    ) {
        let now = now as f64;
        // Strictly inside the thread's [now - cost, now] (or after the
        // kernel's previous call), so it nests and flows bind unambiguously.
        let (start, end) = match track {
            Track::Thread(..) => (now - cost as f64 + 0.25, now - 0.25),
            Track::Kernel => {
                let start = (now - 0.5).max(self.kernel_free);
                self.kernel_free = start + 0.375;
                (start, start + 0.375)
            }
        };
        self.slice(track, name, "ipc", start, end, args);
        // The wakes split the middle of the call slice, in order.
        let part = (end - start) / (wakes.len() as f64 + 1.0);
        let bound = |k: usize| grid(start + part * (k as f64 + 0.5));
        for (index, wake) in wakes.iter().enumerate() {
            let (child_start, child_end) = (bound(index), bound(index + 1));
            let mut child_args = wake.outcome.clone();
            child_args["to"] = json!(wake.thread);
            let kind = wake.kind.name();
            self.slice(track, kind, "wake", child_start, child_end, child_args);
            self.outcomes.insert(wake.tid, wake.outcome.clone());
            if wake.blocked_since as f64 >= now {
                continue; // it never waited: no arrow
            }
            self.flows += 1;
            let id = self.offset * 1_000_000 + self.flows;
            self.flow("s", track, kind, id, (child_start + child_end) / 2.0);
            let woken = Track::Thread(wake.process, wake.tid);
            let outcome = wake.outcome.clone();
            self.slice(woken, "woken", "wake", now - 0.5, now - 0.125, outcome);
            self.flow("f", woken, kind, id, now - 0.25);
        }
    }

    /// Pipe `pipe` held `depth` messages from time `at`.
    pub fn depth(&mut self, pipe: &str, at: Ticks, depth: usize) {
        let ts = self.at(at as f64);
        let event = json!({
            "ph": "C", "name": format!("depth {pipe}"), "pid": self.offset + IPCM_PID,
            "ts": ts, "args": { "messages": depth }
        });
        self.events.push(event);
    }

    /// A trace for one more run, with ids of its own, to be added back with
    /// [`append`](Self::append) (which places it on the timeline).
    pub fn sub_run(&mut self, label: &str) -> Trace {
        self.offset += 1000;
        let mut run = Trace {
            offset: self.offset - 1000,
            ..Trace::default()
        };
        run.begin_run(label);
        run
    }

    /// Add every event of `other` (a run recorded separately, whose ids
    /// were offset by its own `begin_run`) to this trace, after everything
    /// recorded so far on the timeline.
    pub fn append(&mut self, other: Trace) {
        let shift = if self.events.is_empty() {
            0.0
        } else {
            self.end + RUN_GAP
        };
        for mut event in other.events {
            if let Some(ts) = event["ts"].as_f64() {
                event["ts"] = json!(ts + shift);
            }
            self.events.push(event);
        }
        self.end = self.end.max(other.end + shift);
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

    /// Write the trace as a JSON object `{"traceEvents": [...]}`, with the
    /// time unit stated in `otherData`.
    ///
    /// # Errors
    /// Any error of `out`.
    pub fn write_json(&self, out: impl Write) -> io::Result<()> {
        let document = json!({
            "traceEvents": self.events,
            "otherData": { "time_unit": TIME_UNIT },
        });
        serde_json::to_writer(out, &document).map_err(io::Error::other)
    }
}

/// `x` rounded to 1/1024 of a tick: every time in the file is then exact
/// in binary, so shifting a run along the timeline never makes adjacent
/// slices overlap by a rounding error.
fn grid(x: f64) -> f64 {
    (x * 1024.0).round() / 1024.0
}

/// `args` with the fields of `extra` added.
fn merge(args: Value, extra: Option<Value>) -> Value {
    let mut merged = match args {
        Value::Object(map) => map,
        Value::Null => Map::new(),
        other => {
            let mut map = Map::new();
            map.insert("value".into(), other);
            map
        }
    };
    if let Some(Value::Object(extra)) = extra {
        merged.extend(extra);
    }
    Value::Object(merged)
}
