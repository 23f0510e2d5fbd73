//! Deterministic simulation testing of the IPC manager inside the simulated
//! kernel (`lukos-sim check`).
//!
//! Each seed builds a random system — pipes of random sizes and flags,
//! processes, worker threads of random priorities running random sequences
//! of pipe system calls (blocking, non-blocking, with timeouts; good and bad
//! buffers) — and injects faults from the kernel side: pages unmapped under
//! a blocked thread, thread kills, pipe destroys, kernel reads and writes.
//! Every IPC manager call is checked against the reference [`Model`]; after
//! every scheduling step the kernel's view is checked too:
//!
//! - no message lost, duplicated or reordered (model + ledger);
//! - every pending operation woken exactly once (model's wake list, the
//!   kernel's "wake for a thread that is not blocked" anomaly, and nothing
//!   pending when all threads are gone);
//! - nobody left blocked whose condition cleared (a blocked reader's pipe is
//!   empty, a blocked writer's pipe is full, and its pipe still exists);
//! - no deadlock: when every thread is blocked the kernel unblocks one (as
//!   an outside event would), and the run must end within a step budget.
//!
//! The workload uses the queue operations of DESIGN §9 too (urgent writes,
//! writes with a message priority to `PRIORITY_MESSAGES` pipes and to
//! others, numbered reads and peeks, peek-newer, indexed peeks, purge, close,
//! zero-depth pipes, select over up to four members, some of them with a
//! bad buffer, a bad list or a bad count), and the kernel side injects
//! faults into selects: a page unmapped under one member's buffer, one
//! member's pipe destroyed or closed while the select waits, the group's
//! timeout (a select with `Wait::Ticks`), and kernel writes with wake
//! feedback.
//!
//! A seed's run is a pure function of the seed and the operation budget, so a
//! failing seed replays exactly.

pub mod model;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use ipcm::{CancelReason, PipeFlags, PipeId, ProcessId, Status, Ticket};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub use model::{Model, OpCounts};

use crate::kernel::{
    IpcCall, IpcOutcome, IpcValue, Observer, PipeOp, SchedConfig, Sim, Step, ThreadState,
};
use crate::machine::{Machine, Tid};
use crate::mem::{PAGE_SIZE, Perm};
use crate::syscall::{SelectEntry, Wait};
use crate::trace::Trace;
use crate::user::{Sys, UserError, UserResult, raw_flags};

/// Names workers and the kernel create and look up pipes by.
const NAMES: [&str; 6] = ["p0", "p1", "p2", "p3", "p4", "p5"];
/// Each worker slot's private pages: scratch, buffers, lengths; the page
/// after is never mapped, so a buffer near the end of the lengths page
/// straddles into unmapped memory.
const SLOT_BASE: usize = 0x10_0000;
const SLOT_SIZE: usize = 4 * PAGE_SIZE;
/// A read-only page in every process.
const READ_ONLY: usize = 0x8_0000;
/// Never mapped.
const UNMAPPED: usize = 0x90_0000;
/// The writer id the kernel's own messages carry.
const KERNEL_WRITER: u32 = u32::MAX;
/// Most worker slots (threads alive at once).
const MAX_WORKERS: usize = 6;

fn slot(k: usize) -> usize {
    SLOT_BASE + k * SLOT_SIZE
}

/// What each count of [`SeedReport::injected`] counts.
pub const INJECTED: [&str; 9] = [
    "pages unmapped under blocked threads (select members among them)",
    "threads killed",
    "pipes destroyed by the kernel",
    "late timers (cancel_op with an old ticket)",
    "select members' pipes destroyed while the select waits",
    "select members' pipes closed while the select waits",
    "kernel purges",
    "kernel closes",
    "kernel writes and reads with wake feedback",
];

/// The result of checking one seed.
#[derive(Clone, Debug, Default)]
pub struct SeedReport {
    /// The seed.
    pub seed: u64,
    /// Workload operations done (system calls plus injected faults).
    pub ops: usize,
    /// IPC manager calls checked against the model.
    pub calls: u64,
    /// Scheduling steps.
    pub steps: u64,
    /// Faults injected: see [`INJECTED`].
    pub injected: [u64; INJECTED.len()],
    /// IPC manager calls checked, by kind.
    pub counts: OpCounts,
    /// Selects that timed out as a whole.
    pub select_timeouts: u64,
    /// Times every thread was blocked and the kernel had to act.
    pub stuck: u64,
    /// Wakes of pending operations, indexed by status code.
    pub wakes: [u64; Status::ALL.len()],
    /// Invariant violations; empty when the seed passed.
    pub violations: Vec<String>,
}

impl SeedReport {
    /// Whether every invariant held.
    #[must_use]
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}

/// The exact command that replays `seed`.
#[must_use]
pub fn replay_command(seed: u64, ops: usize) -> String {
    format!(
        "cargo run --release -p lukos-sim -- check --first-seed {seed} --seeds 1 --ops {ops} --verbose"
    )
}

/// The model, shared between the kernel (which calls it on every IPC
/// manager call) and the harness (which reads its verdict).
struct SharedModel(Rc<RefCell<Model>>);

impl Observer for SharedModel {
    fn before(&mut self, call: &IpcCall<'_>, machine: &Machine) {
        self.0.borrow_mut().before(call, machine);
    }

    fn after(
        &mut self,
        call: &IpcCall<'_>,
        outcome: &IpcOutcome,
        wakes: &[(Tid, Status)],
        machine: &Machine,
    ) {
        self.0.borrow_mut().after(call, outcome, wakes, machine);
    }
}

/// What the workers share with the harness: the operation budget.
struct Budget {
    left: Cell<usize>,
}

impl Budget {
    fn take(&self) -> bool {
        let left = self.left.get();
        if left == 0 {
            return false;
        }
        self.left.set(left - 1);
        true
    }
}

/// One worker: random pipe system calls until the budget runs out.
async fn worker(
    sys: Sys,
    k: usize,
    seed: u64,
    budget: Rc<Budget>,
    mut ids: Vec<PipeId>,
) -> UserResult {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (u64::from(sys.tid().0) << 32) ^ 0x5EED);
    let base = slot(k);
    let (scratch, buffers, lengths) = (base, base + PAGE_SIZE, base + 2 * PAGE_SIZE);
    let mut seq = 0u32;
    // The newest message number this worker saw per pipe (peek-newer).
    let mut seen: std::collections::HashMap<PipeId, u64> = std::collections::HashMap::new();
    let seq_out = lengths + 0x100;
    while budget.take() {
        let roll = rng.random_range(0..125);
        let id = if ids.is_empty() || rng.random_bool(0.03) {
            PipeId::from_raw(rng.random_range(0..1 << 20))
        } else {
            *ids.choose(&mut rng).expect("non-empty")
        };
        let wait = match rng.random_range(0..10) {
            0..4 => Wait::Forever,
            4..7 => Wait::Never,
            _ => Wait::Ticks(rng.random_range(0..60)),
        };
        let result = match roll {
            0..35 => {
                seq += 1;
                let len = match rng.random_range(0..20) {
                    0 => 0,
                    1 => rng.random_range(0..8),
                    2 => rng.random_range(20..40),
                    _ => rng.random_range(8..=16),
                };
                let mut message = vec![0u8; len];
                let tag: Vec<u8> = sys
                    .tid()
                    .0
                    .to_le_bytes()
                    .into_iter()
                    .chain(seq.to_le_bytes())
                    .collect();
                for (i, byte) in message.iter_mut().enumerate() {
                    *byte = tag.get(i).copied().unwrap_or(seq as u8 ^ i as u8);
                }
                let src = match rng.random_range(0..20) {
                    0 => 0,
                    1 => UNMAPPED,
                    2 => READ_ONLY,                // readable: a write from it works
                    3 => base + 3 * PAGE_SIZE - 4, // straddles into the unmapped page
                    _ => buffers + 0x800,
                };
                if src == buffers + 0x800 {
                    let _ = sys.store(src, &message);
                }
                match rng.random_range(0..10) {
                    0..2 => sys.pipe_write_urgent(id, src, len, wait).await,
                    2..5 => {
                        // Few levels, so that ties (FIFO within one) are
                        // common; now and then one a register can hold but
                        // a priority cannot.
                        let prio = match rng.random_range(0..40) {
                            0 => 256 + rng.random_range(0..1000),
                            1 => 255,
                            _ => rng.random_range(0..3),
                        };
                        sys.pipe_write_prio(id, src, len, prio, wait).await
                    }
                    _ => sys.pipe_write_with(id, src, len, wait).await,
                }
            }
            35..70 => {
                let consume = rng.random_bool(0.7);
                let (dst, len_out) = match rng.random_range(0..25) {
                    0 => (0, lengths),
                    1 => (READ_ONLY, lengths),
                    2 => (buffers, UNMAPPED),
                    3 => (base + 3 * PAGE_SIZE - 4, lengths),
                    _ => (buffers, lengths),
                };
                let seq_va = if rng.random_bool(0.05) {
                    UNMAPPED
                } else {
                    seq_out
                };
                let result = match rng.random_range(0..20) {
                    0..11 => sys.pipe_read_with(id, dst, len_out, consume, wait).await,
                    11..14 => {
                        sys.pipe_read_seq(id, dst, len_out, seq_va, consume, wait)
                            .await
                    }
                    14..18 => {
                        let last = seen.get(&id).copied().unwrap_or(0);
                        let after = match rng.random_range(0..4) {
                            0 => 0,
                            1 => last.saturating_sub(1),
                            _ => last,
                        };
                        sys.pipe_peek_newer(id, after, dst, len_out, seq_va, wait)
                            .await
                    }
                    _ => {
                        let index = rng.random_range(0..5);
                        sys.pipe_peek_at(id, index, dst, len_out, seq_va).await
                    }
                };
                if result.is_ok()
                    && seq_va == seq_out
                    && let Ok(bytes) = sys.load(seq_out, 8)
                {
                    let number = u64::from_ne_bytes(bytes.try_into().expect("8 bytes"));
                    let last = seen.entry(id).or_default();
                    *last = (*last).max(number);
                }
                result
            }
            70..75 => {
                let name = *NAMES.choose(&mut rng).expect("names");
                match sys.lookup(name, scratch).await {
                    Ok(found) => {
                        if !ids.contains(&found) {
                            ids.push(found);
                        }
                        Ok(())
                    }
                    Err(status) => Err(status),
                }
            }
            75..79 => {
                let name_va = match rng.random_range(0..10) {
                    0 => 0,
                    1 => UNMAPPED,
                    _ => sys
                        .cstr(scratch, NAMES.choose(&mut rng).expect("names"))
                        .unwrap_or(0),
                };
                let (msg_size, max_msgs) = match rng.random_range(0..12) {
                    0 => (0, 2),
                    1 => (usize::MAX / 2, 3),
                    2 => (rng.random_range(1..=24), 0),
                    _ => (rng.random_range(1..=24), rng.random_range(1..=4)),
                };
                let flags = random_flags(&mut rng);
                match sys
                    .pipe_create(name_va, msg_size, max_msgs, raw_flags(flags))
                    .await
                {
                    Ok(created) => {
                        ids.push(created);
                        Ok(())
                    }
                    Err(status) => Err(status),
                }
            }
            79..81 => sys.pipe_destroy(id).await,
            81..84 => {
                let out = if rng.random_bool(0.2) {
                    UNMAPPED
                } else {
                    scratch + 256
                };
                sys.pipe_info_get(id, out, out + 8, out + 16).await
            }
            84..88 => sys.vm_map(base, 3 * PAGE_SIZE, true).await,
            88..94 => {
                sys.compute(rng.random_range(1..80)).await;
                Ok(())
            }
            94..97 => {
                sys.sleep(rng.random_range(1..40)).await;
                Ok(())
            }
            97..100 => {
                sys.yield_now().await;
                Ok(())
            }
            100..104 => sys.pipe_purge(id).await.map(drop),
            104..106 => sys.pipe_close(id).await,
            _ => select(&sys, &mut rng, &ids, base, &mut seq, wait).await?,
        };
        match result {
            Err(Status::NotFound | Status::Destroyed) => ids.retain(|known| *known != id),
            Err(Status::Closed) if rng.random_bool(0.3) => ids.retain(|known| *known != id),
            // Pages may have been taken away: map them back.
            Err(Status::BadAddress) => sys.vm_map(base, 3 * PAGE_SIZE, true).await?,
            _ => {}
        }
    }
    Ok(())
}

/// A random select: one to four members on known pipes (a pipe may come
/// twice), each with its own buffers; sometimes one member's buffer is bad,
/// or the list itself is (an unmapped list, an unknown kind, a count of 0
/// or over `SELECT_MAX`).
async fn select(
    sys: &Sys,
    rng: &mut ChaCha8Rng,
    ids: &[PipeId],
    base: usize,
    seq: &mut u32,
    wait: Wait,
) -> Result<Result<(), Status>, UserError> {
    let (scratch, buffers, lengths) = (base, base + PAGE_SIZE, base + 2 * PAGE_SIZE);
    let list = scratch + 0x200;
    let count = rng.random_range(1..=4);
    let bad_member = rng.random_bool(0.1).then(|| rng.random_range(0..count));
    let mut members = Vec::with_capacity(count);
    for i in 0..count {
        let id = match ids.choose(rng) {
            Some(id) if rng.random_bool(0.97) => *id,
            _ => PipeId::from_raw(rng.random_range(0..1 << 20)),
        }
        .to_raw();
        let (dst, len_out) = (buffers + 0x40 * i, lengths + 0x10 * i);
        let bad = |good: usize| {
            if bad_member == Some(i) {
                [0, UNMAPPED, READ_ONLY, base + 3 * PAGE_SIZE - 4][i % 4]
            } else {
                good
            }
        };
        members.push(match rng.random_range(0..3) {
            0 => SelectEntry::Read {
                id,
                dst: bad(dst),
                len_out,
            },
            1 => SelectEntry::Peek {
                id,
                dst: bad(dst),
                len_out,
            },
            _ => {
                *seq += 1;
                let src = buffers + 0x800 + 0x40 * i;
                let len = rng.random_range(8..=16);
                let message: Vec<u8> = sys
                    .tid()
                    .0
                    .to_le_bytes()
                    .into_iter()
                    .chain(seq.to_le_bytes())
                    .chain((0..len - 8).map(|k| *seq as u8 ^ k as u8))
                    .collect();
                let _ = sys.store(src, &message);
                let src = if bad_member == Some(i) {
                    [0, UNMAPPED, base + 3 * PAGE_SIZE - 4][i % 3]
                } else {
                    src
                };
                SelectEntry::Write { id, src, len }
            }
        });
    }
    if sys.store_select(list, &members).is_err() {
        return Ok(Err(Status::BadAddress));
    }
    // Every read or peek member's length word starts as a sentinel: only
    // the member that completed may change its own (the others never
    // happen), which also checks the index the kernel answered.
    const UNTOUCHED: usize = usize::MAX;
    let len_words: Vec<(usize, usize)> = members
        .iter()
        .enumerate()
        .filter_map(|(i, m)| match *m {
            SelectEntry::Read { len_out, .. } | SelectEntry::Peek { len_out, .. } => {
                Some((i, len_out))
            }
            SelectEntry::Write { .. } => None,
        })
        .collect();
    for &(_, va) in &len_words {
        let _ = sys.store_usize(va, UNTOUCHED);
    }
    let (entries, count) = match rng.random_range(0..40) {
        0 => (list, 0),
        1 => (list, ipcm::SELECT_MAX + 1),
        2 => (UNMAPPED, count),
        3 => {
            // An unknown kind in the last record.
            let _ = sys.store_usize(list + (count - 1) * SelectEntry::SIZE, 7);
            (list, count)
        }
        _ => (list, count),
    };
    let (index, status) = sys.pipe_select_raw(entries, count, wait).await;
    if index.is_some_and(|i| i >= count) || (status == Status::Ok && index.is_none()) {
        return Err(UserError::Check(format!(
            "select of {count} answered index {index:?} with {status:?}"
        )));
    }
    for &(i, va) in &len_words {
        // Pages may have been taken away under the select: then nothing
        // can be said about this word.
        let Ok(word) = sys.load_usize(va) else {
            continue;
        };
        let completed = index == Some(i);
        let wrong = if completed && status == Status::Ok {
            word == UNTOUCHED
        } else {
            // A member that failed with a bad buffer may have had its
            // length written before the fault; any other never happened.
            word != UNTOUCHED && !(completed && status == Status::BadAddress)
        };
        if wrong {
            return Err(UserError::Check(format!(
                "select {members:?} answered ({index:?}, {status:?}) but member {i}'s length word holds {word:#x}"
            )));
        }
    }
    Ok(match status {
        Status::Ok => Ok(()),
        status => Err(status),
    })
}

fn random_flags(rng: &mut ChaCha8Rng) -> PipeFlags {
    let mut flags = PipeFlags::empty();
    if rng.random_bool(0.3) {
        flags |= PipeFlags::DISCARD_OLDEST;
    }
    if rng.random_bool(0.3) {
        flags |= PipeFlags::PRIORITY_WAITERS;
    }
    if rng.random_bool(0.08) {
        flags |= PipeFlags::OWNER_READ;
    }
    if rng.random_bool(0.08) {
        flags |= PipeFlags::OWNER_WRITE;
    }
    if rng.random_bool(0.3) {
        flags |= PipeFlags::PRIORITY_MESSAGES;
    }
    flags
}

/// The harness's state for one seed.
struct Run {
    sim: Sim,
    model: Rc<RefCell<Model>>,
    budget: Rc<Budget>,
    seed: u64,
    processes: Vec<ProcessId>,
    /// Which worker slot each live worker thread uses.
    slots: Vec<Option<Tid>>,
    kernel_seq: u32,
    /// Tickets of operations seen pending, most recent last (at most
    /// `TICKETS_KEPT`): a late timer fires with one of them.
    tickets: Vec<(Tid, Ticket)>,
    report: SeedReport,
}

/// How many past tickets the harness keeps for late timers.
const TICKETS_KEPT: usize = 32;

impl Run {
    fn new(seed: u64, ops: usize, trace: Option<Trace>) -> Run {
        let mut setup = ChaCha8Rng::seed_from_u64(seed);
        let slice_min = setup.random_range(1..10);
        let config = SchedConfig {
            slice_min,
            slice_max: slice_min + setup.random_range(0..60),
            switch_at_syscall: [0.0, 0.1, 0.5][setup.random_range(0..3)],
        };
        let mut sim = Sim::new(seed, config);
        if let Some(trace) = trace {
            sim.enable_trace(trace);
        }
        let model = Rc::new(RefCell::new(Model::new()));
        sim.set_observer(Box::new(SharedModel(model.clone())));
        let mut run = Run {
            sim,
            model,
            budget: Rc::new(Budget {
                left: Cell::new(ops),
            }),
            seed,
            processes: Vec::new(),
            slots: vec![None; MAX_WORKERS],
            kernel_seq: 0,
            tickets: Vec::new(),
            report: SeedReport {
                seed,
                ..SeedReport::default()
            },
        };
        for _ in 0..setup.random_range(2..=5) {
            let name = *NAMES.choose(&mut setup).expect("names");
            let flags = random_flags(&mut setup);
            let (msg_size, max_msgs) = (setup.random_range(1..=24), setup.random_range(0..=4));
            let _ = run.sim.ipc(IpcCall::Create {
                caller: None,
                name: Some(name),
                msg_size,
                max_msgs,
                flags,
            });
        }
        for p in 0..setup.random_range(1..=3) {
            let pid = run.sim.create_process(&format!("proc-{p}"));
            run.sim.map(pid, READ_ONLY, PAGE_SIZE, Perm::ReadOnly);
            run.processes.push(pid);
        }
        for k in 0..setup.random_range(2..=MAX_WORKERS) {
            let pid = *run.processes.choose(&mut setup).expect("processes");
            run.spawn_worker(k, pid, setup.random_range(0..3));
        }
        run
    }

    fn spawn_worker(&mut self, k: usize, pid: ProcessId, priority: u8) {
        self.sim.map(pid, slot(k), 3 * PAGE_SIZE, Perm::ReadWrite);
        let (seed, budget) = (self.seed, self.budget.clone());
        let ids = self.model.borrow().live_pipes();
        let tid = self
            .sim
            .spawn(pid, &format!("worker-{k}"), priority, move |sys| {
                worker(sys, k, seed, budget, ids)
            });
        self.slots[k] = Some(tid);
    }

    /// Kill `tid`; a new worker takes its slot (and its share of the
    /// budget), so kills do not end the workload early.
    fn kill_and_replace(&mut self, tid: Tid) {
        self.sim.kill(tid);
        let k = self
            .slots
            .iter()
            .position(|s| *s == Some(tid))
            .expect("workers have slots");
        let pid = self.sim.thread_process(tid);
        let priority = self.sim.rng().random_range(0..3);
        self.spawn_worker(k, pid, priority);
    }

    fn violation(&mut self, what: String) {
        if self.report.violations.len() < 50 {
            self.report.violations.push(what);
        }
    }

    fn kernel_message(&mut self, msg_size: usize) -> Vec<u8> {
        self.kernel_seq += 1;
        let mut message: Vec<u8> = KERNEL_WRITER
            .to_le_bytes()
            .into_iter()
            .chain(self.kernel_seq.to_le_bytes())
            .collect();
        message.truncate(msg_size);
        message
    }

    fn random_live_pipe(&mut self) -> Option<PipeId> {
        let live = self.model.borrow().live_pipes();
        live.choose(self.sim.rng()).copied()
    }

    fn msg_size(&mut self, id: PipeId) -> Option<usize> {
        self.sim.ipcm().info(id).ok().map(|info| info.msg_size)
    }

    /// Remember the tickets of the operations pending now.
    fn note_tickets(&mut self) {
        for tid in self.sim.tids() {
            if let ThreadState::Blocked(crate::kernel::BlockedOn::Pipe { ticket, .. }) =
                *self.sim.state(tid)
                && !self.tickets.contains(&(tid, ticket))
            {
                if self.tickets.len() == TICKETS_KEPT {
                    self.tickets.remove(0);
                }
                self.tickets.push((tid, ticket));
            }
        }
    }

    /// Inject one fault or kernel action.
    fn inject(&mut self) {
        self.note_tickets();
        let roll = self.sim.rng().random_range(0..120);
        match roll {
            100..106 => {
                // Destroy or close one member's pipe under a waiting select.
                let members: Vec<(Tid, PipeId)> = self
                    .sim
                    .tids()
                    .flat_map(|t| {
                        self.sim
                            .select_members(t)
                            .iter()
                            .map(move |op| (t, op.pipe()))
                    })
                    .collect();
                if let Some(&(_, id)) = members.choose(self.sim.rng()) {
                    if self.sim.rng().random_bool(0.5) {
                        let _ = self.sim.ipc(IpcCall::Destroy { caller: None, id });
                        self.report.injected[4] += 1;
                    } else {
                        let _ = self.sim.ipc(IpcCall::Close { caller: None, id });
                        self.report.injected[5] += 1;
                    }
                }
            }
            106..110 => {
                if let Some(id) = self.random_live_pipe() {
                    let _ = self.sim.ipc(IpcCall::Purge { caller: None, id });
                    self.report.injected[6] += 1;
                }
            }
            110..112 => {
                if let Some(id) = self.random_live_pipe() {
                    let _ = self.sim.ipc(IpcCall::Close { caller: None, id });
                    self.report.injected[7] += 1;
                }
            }
            112..120 => {
                if let Some(id) = self.random_live_pipe() {
                    let than = ipcm::Priority(self.sim.rng().random_range(0..3));
                    if self.sim.rng().random_bool(0.5) {
                        let size = self.msg_size(id).unwrap_or(8);
                        let message = self.kernel_message(size);
                        let _ = self.sim.ipc(IpcCall::KernelWriteWoke {
                            id,
                            msg: &message,
                            than,
                        });
                    } else {
                        let _ = self.sim.ipc(IpcCall::KernelReadWoke { id, than });
                    }
                    self.report.injected[8] += 1;
                }
            }
            0..20 => {
                // Take a page away from under a blocked thread.
                let blocked = self.sim.blocked_on_pipes();
                if let Some(&(tid, _, op)) = blocked.choose(self.sim.rng()) {
                    let k = self
                        .slots
                        .iter()
                        .position(|s| *s == Some(tid))
                        .expect("workers have slots");
                    let page = if op == PipeOp::Write || self.sim.rng().random_bool(0.5) {
                        1
                    } else {
                        2
                    };
                    let pid = self.sim.thread_process(tid);
                    self.sim.unmap(pid, slot(k) + page * PAGE_SIZE, PAGE_SIZE);
                    self.report.injected[0] += 1;
                }
            }
            20..35 => {
                let live: Vec<Tid> = self
                    .slots
                    .iter()
                    .flatten()
                    .copied()
                    .filter(|t| !matches!(self.sim.state(*t), ThreadState::Exited(_)))
                    .collect();
                if let Some(&tid) = live.choose(self.sim.rng()) {
                    self.kill_and_replace(tid);
                    self.report.injected[1] += 1;
                }
            }
            35..45 => {
                if let Some(id) = self.random_live_pipe() {
                    let _ = self.sim.ipc(IpcCall::Destroy { caller: None, id });
                    self.report.injected[2] += 1;
                }
            }
            45..60 => {
                let name = *NAMES.choose(self.sim.rng()).expect("names");
                let flags = random_flags(self.sim.rng());
                let msg_size = self.sim.rng().random_range(1..=24);
                let max_msgs = self.sim.rng().random_range(1..=4);
                let _ = self.sim.ipc(IpcCall::Create {
                    caller: None,
                    name: Some(name),
                    msg_size,
                    max_msgs,
                    flags,
                });
            }
            60..70 => {
                // A timer that fires late, after its operation ended (or,
                // sometimes, while it still waits): the model expects
                // NotFound and no wake for a stale ticket, even when the
                // thread waits for another operation by then.
                if let Some(&(thread, ticket)) = self.tickets.choose(self.sim.rng()) {
                    let _ = self.sim.ipc(IpcCall::CancelOp {
                        thread,
                        ticket,
                        reason: CancelReason::TimedOut,
                    });
                    self.report.injected[3] += 1;
                }
            }
            70..80 => {
                if let Some(id) = self.random_live_pipe() {
                    let size = self.msg_size(id).unwrap_or(8);
                    let message = self.kernel_message(size);
                    let _ = self.sim.ipc(IpcCall::KernelWrite { id, msg: &message });
                }
            }
            _ => {
                if let Some(id) = self.random_live_pipe() {
                    let consume = self.sim.rng().random_bool(0.7);
                    let _ = self.sim.ipc(IpcCall::KernelRead { id, consume });
                }
            }
        }
    }

    /// Every thread is blocked and no timer is armed: act as the outside
    /// world would, so the run goes on. The blocked thread's wait must be
    /// genuine (checked before).
    fn unstick(&mut self) {
        self.report.stuck += 1;
        let blocked = self.sim.blocked_on_pipes();
        let Some(&(tid, id, op)) = blocked.first() else {
            self.violation("stuck with no thread blocked on a pipe".into());
            return;
        };
        let action = self.sim.rng().random_range(0..10);
        match (op, action) {
            (_, 0) => self.kill_and_replace(tid),
            (_, 1) => {
                let _ = self.sim.ipc(IpcCall::Destroy { caller: None, id });
            }
            (PipeOp::Read | PipeOp::Peek | PipeOp::PeekNewer(_), _) => {
                let size = self.msg_size(id).unwrap_or(8);
                let message = self.kernel_message(size);
                let _ = self.sim.ipc(IpcCall::KernelWrite { id, msg: &message });
            }
            (PipeOp::Write, _) => {
                let _ = self.sim.ipc(IpcCall::KernelRead { id, consume: true });
            }
        }
        // The action cleared the thread's condition: if it still waits, the
        // wake was lost.
        self.check_waits();
        if self.sim.blocked_on_pipes().contains(&(tid, id, op)) {
            // Make sure the run goes on after reporting it.
            let _ = self.sim.ipc(IpcCall::Cancel {
                thread: tid,
                reason: CancelReason::Cancelled,
            });
        }
    }

    /// The kernel's view must agree with the IPC manager's after every step,
    /// and every wait must be genuine (the model says why not).
    fn check_waits(&mut self) {
        for tid in self.sim.tids() {
            let pending = self.sim.ipcm().is_pending(&tid);
            let blocked = match self.sim.state(tid) {
                ThreadState::Blocked(on) => on.ticket().is_some(),
                _ => false,
            };
            if blocked && !pending {
                self.violation(format!(
                    "{tid} is {:?} but has no pending operation",
                    self.sim.state(tid)
                ));
            } else if pending && !blocked {
                self.violation(format!(
                    "{tid} has a pending operation but is {:?}",
                    self.sim.state(tid)
                ));
            }
        }
        for (tid, id, op) in self.sim.blocked_on_pipes() {
            let alone = matches!(
                self.sim.state(tid),
                ThreadState::Blocked(crate::kernel::BlockedOn::Pipe { .. })
            );
            if alone {
                // The core's own counters, for a thread blocked on one pipe.
                match self.sim.ipcm().info(id) {
                    Err(status) => {
                        self.violation(format!(
                            "{tid} is blocked on {id}, which is gone ({status:?})"
                        ));
                        continue;
                    }
                    Ok(info) => {
                        let waits_rightly = match op {
                            PipeOp::Read | PipeOp::Peek => info.queued == 0,
                            PipeOp::PeekNewer(_) => true,
                            PipeOp::Write => info.queued == info.max_msgs,
                        };
                        if !waits_rightly || info.closed {
                            self.violation(format!(
                                "{tid} is still blocked to {op:?} on {id} though its condition cleared ({} of {} queued, closed {})",
                                info.queued, info.max_msgs, info.closed
                            ));
                        }
                    }
                }
            }
            let why = self.model.borrow().wait_cleared(tid, id, op);
            if let Some(why) = why {
                self.violation(format!("{tid} is still blocked to {op:?} on {id}: {why}"));
            }
        }
    }

    fn run(&mut self, ops: usize) -> SeedReport {
        let step_limit = 200 * ops as u64 + 10_000;
        let chaos = 0.02 + f64::from(self.sim.rng().random_range(0..6u32)) * 0.01;
        loop {
            if self.report.steps >= step_limit {
                self.violation(format!("no end after {step_limit} steps (livelock)"));
                break;
            }
            self.report.steps += 1;
            if self.sim.rng().random_bool(chaos) && self.budget.take() {
                self.inject();
            }
            match self.sim.step() {
                Step::Ran(_) | Step::Idle => {}
                Step::Stuck => {
                    self.check_waits();
                    self.unstick();
                }
                Step::Finished | Step::OutOfSteps => break,
            }
            self.check_waits();
            if self.report.violations.len() + self.model.borrow().violations.len() > 0 {
                // The first violation is the story; what follows is noise.
                let mut report = self.report.clone();
                report
                    .violations
                    .extend(self.model.borrow().violations.iter().cloned());
                report.calls = self.model.borrow().calls;
                report.counts = self.model.borrow().counts.clone();
                report.ops = ops - self.budget.left.get();
                report.wakes = self.sim.stats().wakes;
                report.select_timeouts = self.sim.stats().select_timeouts;
                return report;
            }
        }
        self.finish(ops)
    }

    /// All threads are gone: nothing may be pending, every pipe's counters
    /// must match the model, and draining every pipe must give exactly the
    /// model's messages.
    fn finish(&mut self, ops: usize) -> SeedReport {
        for tid in self.sim.tids() {
            if self.sim.ipcm().is_pending(&tid) {
                self.violation(format!("{tid} still has a pending operation at the end"));
            }
            // Workers handle every status; one that gave up means the
            // kernel answered something no status explains.
            if let ThreadState::Exited(crate::kernel::ExitReason::Failed(error)) =
                self.sim.state(tid)
            {
                let error = error.clone();
                self.violation(format!("{tid} failed: {error}"));
            }
        }
        let live = self.model.borrow().live_pipes();
        for id in live {
            let _ = self.sim.ipc(IpcCall::Info { id });
            let mut drained = 0;
            loop {
                match self.sim.ipc(IpcCall::KernelRead { id, consume: true }) {
                    Ok(IpcValue::Message(_)) => drained += 1,
                    Err(Status::Empty | Status::Closed) => break,
                    other => {
                        self.violation(format!("draining {id}: {other:?}"));
                        break;
                    }
                }
                if drained > 10_000 {
                    self.violation(format!("{id} never runs empty"));
                    break;
                }
            }
        }
        let lost = self.model.borrow().lost_messages();
        if !lost.is_empty() {
            self.violation(format!("messages lost: {lost:?}"));
        }
        for anomaly in self.sim.anomalies().to_vec() {
            self.violation(format!("kernel: {anomaly}"));
        }
        let model = self.model.borrow();
        let mut report = self.report.clone();
        report.violations.extend(model.violations.iter().cloned());
        report.calls = model.calls;
        report.counts = model.counts.clone();
        report.ops = ops - self.budget.left.get();
        report.wakes = self.sim.stats().wakes;
        report.select_timeouts = self.sim.stats().select_timeouts;
        report
    }
}

/// Check one seed with a budget of `ops` operations.
#[must_use]
pub fn check_seed(seed: u64, ops: usize) -> SeedReport {
    Run::new(seed, ops, None).run(ops)
}

/// [`check_seed`], recording the run's timeline (threads, pipe depths) into
/// `trace`: the way to look at a failing seed.
pub fn check_seed_traced(seed: u64, ops: usize, trace: &mut Trace) -> SeedReport {
    let mut run = Run::new(
        seed,
        ops,
        Some(trace.sub_run(&format!("check seed {seed}"))),
    );
    let report = run.run(ops);
    if let Some(recorded) = run.sim.take_trace() {
        trace.append(recorded);
    }
    report
}

/// Totals over many seeds.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Seeds checked.
    pub seeds: u64,
    /// Operations done, over all seeds.
    pub ops: u64,
    /// IPC manager calls checked against the model.
    pub calls: u64,
    /// Faults injected: see [`INJECTED`].
    pub injected: [u64; INJECTED.len()],
    /// IPC manager calls checked, by kind.
    pub counts: OpCounts,
    /// Selects that timed out as a whole.
    pub select_timeouts: u64,
    /// Times the kernel had to unblock an all-blocked system.
    pub stuck: u64,
    /// Wakes of pending operations, indexed by status code.
    pub wakes: [u64; Status::ALL.len()],
    /// The seeds that failed, with their reports.
    pub failures: Vec<SeedReport>,
}

/// Check `count` seeds from `first` with `ops` operations each, on `jobs`
/// OS threads; `done` is called after each seed (for a progress bar).
pub fn check_seeds(
    first: u64,
    count: u64,
    ops: usize,
    jobs: usize,
    done: &(dyn Fn(&SeedReport) + Sync),
) -> Summary {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, Ordering};
    let next = AtomicU64::new(0);
    let summary = Mutex::new(Summary::default());
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= count {
                        return;
                    }
                    let report = check_seed(first + index, ops);
                    done(&report);
                    let mut summary = summary.lock().expect("no panics while holding it");
                    summary.seeds += 1;
                    summary.ops += report.ops as u64;
                    summary.calls += report.calls;
                    for (total, count) in summary.injected.iter_mut().zip(report.injected) {
                        *total += count;
                    }
                    summary.stuck += report.stuck;
                    summary.counts.add(&report.counts);
                    summary.select_timeouts += report.select_timeouts;
                    for (total, count) in summary.wakes.iter_mut().zip(report.wakes) {
                        *total += count;
                    }
                    if !report.passed() {
                        summary.failures.push(report);
                    }
                }
            });
        }
    });
    let mut summary = summary.into_inner().expect("no panics while holding it");
    summary.failures.sort_by_key(|r| r.seed);
    summary
}
