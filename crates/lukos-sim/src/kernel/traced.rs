//! What the kernel tells the trace about each IPC call: the call as a
//! slice with its args, and for every thread the call woke, what the call
//! did to it (see [`Trace::call`]). Kept apart from the kernel's logic:
//! nothing here changes what the kernel does.

use std::collections::BTreeMap;

use ipcm::{PipeId, Status};
use serde_json::{Value, json};

use super::{
    BlockedOn, IpcCall, IpcOutcome, IpcValue, PipeOp, PipeRecord, SYSCALL_COST, Sim, Thread,
    ThreadState,
};
use crate::machine::Tid;
use crate::trace::{Track, Wake, WakeKind};

/// A status as the trace shows it: the C name without `IPCM_STATUS_`.
pub(super) fn status_name(status: Status) -> &'static str {
    status
        .c_name()
        .strip_prefix("IPCM_STATUS_")
        .unwrap_or(status.c_name())
}

fn pipe_name(pipes: &BTreeMap<PipeId, PipeRecord>, id: PipeId) -> String {
    pipes
        .get(&id)
        .map_or_else(|| id.to_string(), |r| r.name.clone())
}

/// The args of a thread-state slice.
pub(super) fn state_args(thread: &Thread, pipes: &BTreeMap<PipeId, PipeRecord>) -> Value {
    let mut args = json!({ "priority": thread.priority.0 });
    if let ThreadState::Blocked(BlockedOn::Pipe { id, op, .. }) = thread.state {
        args["pipe"] = json!(pipe_name(pipes, id));
        args["pipe_id"] = json!(id.to_string());
        args["op"] = json!(op_name(op));
    }
    if let ThreadState::Blocked(BlockedOn::Select { .. }) = thread.state {
        let members: Vec<String> = thread
            .select
            .iter()
            .map(|op| {
                format!(
                    "{} {}",
                    op_name(PipeOp::of(op)),
                    pipe_name(pipes, op.pipe())
                )
            })
            .collect();
        args["pipe"] = json!(members.join(", "));
        args["op"] = json!("select");
    }
    args
}

fn op_name(op: PipeOp) -> &'static str {
    match op {
        PipeOp::Read => "read",
        PipeOp::Peek => "peek",
        PipeOp::PeekNewer(_) => "peek_newer",
        PipeOp::Write => "write",
    }
}

impl Sim {
    /// Record `call` (already made, with `outcome`) and the `wakes` it
    /// caused, before they are applied (the woken threads are still
    /// blocked, so what each waited for is known).
    pub(super) fn trace_ipc(
        &mut self,
        call: &IpcCall<'_>,
        outcome: &IpcOutcome,
        wakes: &[(Tid, Status)],
    ) {
        if self.trace.is_none() {
            return;
        }
        let Some((caller, name, pipe, bytes)) = self.describe_call(call, outcome) else {
            return;
        };
        let now = self.machine.now();
        // A thread's own call is a slice of its `running` slice; calls
        // made outside a thread's run (timeouts, kills, the check harness
        // acting as the kernel) go on the kernel track.
        let track = match caller {
            Some(tid) => {
                let thread = &self.threads[tid.0 as usize];
                if thread.state == ThreadState::Running && thread.since + SYSCALL_COST <= now {
                    Track::Thread(thread.process, tid)
                } else {
                    Track::Kernel
                }
            }
            None => Track::Kernel,
        };
        let status = match outcome {
            Ok(IpcValue::Blocked(_)) => "BLOCKED",
            Ok(_) => "OK",
            Err(status) => status_name(*status),
        };
        let mut args = json!({ "status": status, "bytes": bytes });
        if let Some(id) = pipe {
            args["pipe"] = json!(pipe_name(&self.pipes, id));
            args["pipe_id"] = json!(id.to_string());
        }
        if let IpcCall::Cancel { thread, .. } = call {
            args["thread"] = json!(self.threads[thread.0 as usize].name);
        }
        let wakes: Vec<Wake> = wakes
            .iter()
            .filter_map(|&(tid, status)| self.describe_wake(tid, status))
            .collect();
        // Remember where a blocked read's length will be written.
        if let (
            IpcCall::Read {
                thread, len_out, ..
            },
            Ok(IpcValue::Blocked(_)),
        ) = (call, outcome)
        {
            self.trace_waits.insert(*thread, WaitBytes::At(*len_out));
        }
        if let (IpcCall::Write { thread, len, .. }, Ok(IpcValue::Blocked(_))) = (call, outcome) {
            self.trace_waits.insert(*thread, WaitBytes::Len(*len));
        }
        if let Some(trace) = &mut self.trace {
            trace.call(track, &name, now, SYSCALL_COST, args, &wakes);
        }
    }

    /// Who made `call` (`None`: the kernel), its slice name, pipe and the
    /// bytes it moved; `None` for calls that are not worth a slice
    /// (look-ups and snapshots).
    #[allow(clippy::type_complexity)]
    fn describe_call(
        &self,
        call: &IpcCall<'_>,
        outcome: &IpcOutcome,
    ) -> Option<(Option<Tid>, String, Option<PipeId>, usize)> {
        let moved = match outcome {
            Ok(IpcValue::Len(len)) => *len,
            Ok(IpcValue::Received(received)) => received.len,
            Ok(IpcValue::Message(msg)) => msg.len(),
            Ok(IpcValue::WokeMessage(woke)) => woke.result.len(),
            _ => 0,
        };
        Some(match *call {
            IpcCall::Create { caller, name, .. } => {
                let id = match outcome {
                    Ok(IpcValue::Id(id)) => Some(*id),
                    _ => None,
                };
                let label = name.map_or_else(|| "create".to_owned(), |n| format!("create {n}"));
                (caller, label, id, 0)
            }
            IpcCall::Lookup { .. } | IpcCall::Info { .. } => return None,
            IpcCall::Write {
                thread,
                id,
                len,
                wait,
                prio,
                ..
            } => {
                let name = match (wait, prio) {
                    (true, None) => "write",
                    (false, None) => "try_write",
                    (true, Some(_)) => "write_prio",
                    (false, Some(_)) => "try_write_prio",
                };
                let bytes = if outcome.is_ok() { len } else { 0 };
                (Some(thread), name.to_owned(), Some(id), bytes)
            }
            IpcCall::Read {
                thread,
                id,
                consume,
                wait,
                after,
                seq_out,
                ..
            } => {
                let name = match (consume, wait, after, seq_out) {
                    (false, true, Some(_), _) => "peek_newer",
                    (false, false, Some(_), _) => "try_peek_newer",
                    (true, _, None, Some(_)) => "read_seq",
                    (false, _, None, Some(_)) => "peek_seq",
                    (true, true, ..) => "read",
                    (true, false, ..) => "try_read",
                    (false, true, ..) => "peek",
                    (false, false, ..) => "try_peek",
                };
                (Some(thread), name.to_owned(), Some(id), moved)
            }
            IpcCall::PeekAt { thread, id, .. } => {
                (Some(thread), "peek_at".to_owned(), Some(id), moved)
            }
            IpcCall::Select { thread, ops } => {
                let pipe = match outcome {
                    Ok(IpcValue::Selected(selected)) => {
                        selected.index.and_then(|i| ops.get(i)).map(|op| op.pipe())
                    }
                    _ => ops.first().map(|op| op.pipe()),
                };
                (Some(thread), "select".to_owned(), pipe, 0)
            }
            IpcCall::Purge { caller, id } => (caller, "purge".to_owned(), Some(id), 0),
            IpcCall::Close { caller, id } => (caller, "close".to_owned(), Some(id), 0),
            IpcCall::KernelReadWoke { id, .. } => {
                (None, "kernel_read_woke".to_owned(), Some(id), moved)
            }
            IpcCall::KernelWriteWoke { id, msg, .. } => {
                let bytes = if outcome.is_ok() { msg.len() } else { 0 };
                (None, "kernel_write_woke".to_owned(), Some(id), bytes)
            }
            IpcCall::KernelWrite { id, msg } => {
                let bytes = if outcome.is_ok() { msg.len() } else { 0 };
                (None, "kernel_write".to_owned(), Some(id), bytes)
            }
            IpcCall::KernelRead { id, consume } => {
                let name = if consume {
                    "kernel_read"
                } else {
                    "kernel_peek"
                };
                (None, name.to_owned(), Some(id), moved)
            }
            IpcCall::Cancel { thread, reason } | IpcCall::CancelOp { thread, reason, .. } => {
                // A ticket names its pipe even when it is stale (a late timer).
                let pipe = match (call, &self.threads[thread.0 as usize].state) {
                    (IpcCall::CancelOp { ticket, .. }, _) => Some(ticket.pipe()),
                    (_, ThreadState::Blocked(BlockedOn::Pipe { id, .. })) => Some(*id),
                    // A select's ticket names its first member's pipe.
                    (_, ThreadState::Blocked(BlockedOn::Select { ticket })) => Some(ticket.pipe()),
                    _ => None,
                };
                let name = match reason {
                    ipcm::CancelReason::TimedOut => "timeout",
                    ipcm::CancelReason::Cancelled => "cancel",
                };
                (None, name.to_owned(), pipe, 0)
            }
            IpcCall::Destroy { caller, id } => (caller, "destroy".to_owned(), Some(id), 0),
        })
    }

    /// What a wake of `tid` with `status` did, from what it waited for.
    fn describe_wake(&mut self, tid: Tid, status: Status) -> Option<Wake> {
        let thread = &self.threads[tid.0 as usize];
        let op = match thread.state {
            ThreadState::Blocked(BlockedOn::Pipe { op, .. }) => op,
            // Which member completed is in the group record; the trace
            // shows the member's kind from the list.
            ThreadState::Blocked(BlockedOn::Select { .. }) => thread
                .group
                .outcome()
                .and_then(|selected| selected.index)
                .and_then(|i| thread.select.get(i))
                .map_or(PipeOp::Read, PipeOp::of),
            _ => return None, // an anomaly, reported by the kernel
        };
        let kind = match (status, op) {
            (Status::Ok, PipeOp::Read) => WakeKind::HandOff,
            (Status::Ok, PipeOp::Peek | PipeOp::PeekNewer(_)) => WakeKind::PeekCopy,
            (Status::Ok, PipeOp::Write) => WakeKind::Admission,
            (Status::TimedOut | Status::Cancelled, _) => WakeKind::Cancel,
            (Status::Destroyed, _) => WakeKind::Destroy,
            (Status::BadAddress, _) => WakeKind::Fault,
            _ => WakeKind::Other,
        };
        let wait = self.trace_waits.remove(&tid);
        let bytes = match (status, wait) {
            (Status::Ok, Some(WaitBytes::Len(len))) => len,
            (Status::Ok, Some(WaitBytes::At(len_out))) => self
                .machine
                .read_user(tid, len_out, size_of::<usize>())
                .ok()
                .and_then(|raw| raw.try_into().ok())
                .map_or(0, usize::from_ne_bytes),
            _ => 0,
        };
        Some(Wake {
            process: thread.process,
            tid,
            thread: thread.name.clone(),
            kind,
            blocked_since: thread.since,
            outcome: json!({ "status": status_name(status), "bytes": bytes }),
        })
    }
}

/// Where a pending operation's byte count will be known.
pub(super) enum WaitBytes {
    /// A read or peek: the length the IPC manager writes at this address.
    At(usize),
    /// A write of this many bytes.
    Len(usize),
}
