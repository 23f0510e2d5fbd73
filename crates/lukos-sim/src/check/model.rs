//! The reference model: DESIGN's pipe semantics written the plain way (a
//! `VecDeque` of messages and a `VecDeque` of waiters per pipe), run in lock
//! step with the real IPC manager.
//!
//! Before each call the model predicts its result, the wakes it causes (who,
//! with what status, in order) and the bytes each completed read leaves in
//! its reader's memory; after the call it compares. Faults are predicted
//! from the page tables (`Machine::accessible`), the same tables the copy
//! hooks walk. On top of the comparison it keeps a ledger of every message
//! tag: a message is read at most once, one writer's messages to one pipe
//! come out in the order they went in, and at the end every accepted message
//! was read, dropped by discard-oldest, released by a destroy, or is still
//! queued.
//!
//! The queue operations of DESIGN §9 are modelled the same plain way:
//! every message carries its number (the pipe's `written` count when it
//! was accepted); an urgent write goes to the front; purge empties the
//! queue and admits writers; close fails writers and, once drained,
//! readers; a zero-depth pipe accepts a message only by hand-off; a
//! `PRIORITY_MESSAGES` pipe keeps its queue in read order (higher message
//! priority first, FIFO within one, an urgent message first of the highest)
//! and its discard-oldest drops the lowest number, wherever it sits. A select
//! is one waiter per member, each tagged with the select's group; the
//! first member served *claims* the group, and every other member is then
//! withdrawn: skipped and dropped silently wherever it is met, as the core
//! does, so it never happens and nobody is woken for it.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use ipcm::{
    CancelReason, PipeFlags, PipeId, PipeInfo, ProcessId, Received, SELECT_MAX, SelectOp, Selected,
    Status, Ticket, Woke, Written,
};

use crate::kernel::{IpcCall, IpcOutcome, IpcValue, Observer, PipeOp};
use crate::machine::{Machine, Tid};
use crate::mem::Access;

/// Message tags: the first 8 bytes of a message (writer, sequence number).
pub type Tag = (u32, u32);

/// The tag of a message, if it carries one: at least 8 bytes and a
/// sequence number from 1 (a message copied from zeroed or foreign memory
/// has none).
#[must_use]
pub fn tag_of(message: &[u8]) -> Option<Tag> {
    let bytes: [u8; 8] = message.get(..8)?.try_into().ok()?;
    let writer = u32::from_le_bytes(bytes[..4].try_into().ok()?);
    let seq = u32::from_le_bytes(bytes[4..].try_into().ok()?);
    (seq != 0).then_some((writer, seq))
}

/// What a pending operation does when served.
#[derive(Clone, Copy, Debug)]
enum Op {
    Read {
        buf: usize,
        len_out: usize,
        seq_out: Option<usize>,
    },
    Peek {
        buf: usize,
        len_out: usize,
        seq_out: Option<usize>,
        after: Option<u64>,
    },
    Write {
        buf: usize,
        len: usize,
        put: Put,
    },
}

/// Where a write puts its message: at the head (urgent), or by its message
/// priority (always 0 on a pipe without `PRIORITY_MESSAGES`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Put {
    urgent: bool,
    prio: u8,
}

impl Op {
    fn is_read(&self) -> bool {
        matches!(self, Op::Read { .. })
    }

    fn is_write(&self) -> bool {
        matches!(self, Op::Write { .. })
    }

    fn of_select(op: &SelectOp) -> Op {
        match *op {
            SelectOp::Read { buf, len_out, .. } => Op::Read {
                buf: buf.0,
                len_out: len_out.0,
                seq_out: None,
            },
            SelectOp::Peek { buf, len_out, .. } => Op::Peek {
                buf: buf.0,
                len_out: len_out.0,
                seq_out: None,
                after: None,
            },
            SelectOp::Write { buf, len, .. } => Op::Write {
                buf: buf.0,
                len,
                put: Put::default(),
            },
        }
    }
}

/// A waiter's place in a select.
#[derive(Clone, Copy, Debug)]
struct Member {
    /// The select (a number the model gives each select call).
    group: u64,
    /// The member's index in the select's list.
    index: usize,
    /// This member claimed its group (it is the one that completes).
    claimed: bool,
}

#[derive(Clone, Debug)]
struct Waiter {
    thread: Tid,
    priority: u8,
    op: Op,
    /// The ticket the call returned (known once it returned; a select's
    /// only on its first member, which the select's ticket names).
    ticket: Option<Ticket>,
    member: Option<Member>,
}

impl Waiter {
    fn sink(&self) -> Sink {
        match self.op {
            Op::Read {
                buf,
                len_out,
                seq_out,
            }
            | Op::Peek {
                buf,
                len_out,
                seq_out,
                ..
            } => Sink::User {
                thread: self.thread,
                buf,
                len_out,
                seq_out,
            },
            Op::Write { .. } => Sink::Kernel,
        }
    }
}

/// The selects whose group some member claimed: their other members are
/// withdrawn.
#[derive(Default)]
struct Groups {
    claimed: HashSet<u64>,
}

impl Groups {
    /// Whether another call may still complete `w` (not a withdrawn member).
    fn is_live(&self, w: &Waiter) -> bool {
        w.member
            .is_none_or(|m| m.claimed || !self.claimed.contains(&m.group))
    }

    /// Claim `w` for completion; false: it is a withdrawn member (the
    /// caller drops it, nobody is woken).
    fn claim(&mut self, w: &mut Waiter) -> bool {
        match &mut w.member {
            None => true,
            Some(m) if m.claimed => true,
            Some(m) => {
                if self.claimed.insert(m.group) {
                    m.claimed = true;
                    true
                } else {
                    false
                }
            }
        }
    }
}

/// A queued message, its number and its message priority (the level it is
/// queued at).
#[derive(Clone, Debug)]
struct Msg {
    seq: u64,
    bytes: Vec<u8>,
    prio: u8,
}

/// Where a message goes.
#[derive(Clone, Copy, Debug)]
enum Sink {
    User {
        thread: Tid,
        buf: usize,
        len_out: usize,
        seq_out: Option<usize>,
    },
    Kernel,
}

/// Where a message comes from.
enum Source<'a> {
    User { thread: Tid, buf: usize, len: usize },
    Kernel(&'a [u8]),
}

struct ModelPipe {
    name: Option<String>,
    msg_size: usize,
    max_msgs: usize,
    flags: PipeFlags,
    owner: ProcessId,
    queue: VecDeque<Msg>,
    waiters: VecDeque<Waiter>,
    written: u64,
    read: u64,
    dropped: u64,
    purged: u64,
    closed: bool,
}

impl ModelPipe {
    fn info(&self, id: PipeId, groups: &Groups) -> PipeInfo {
        let count = |f: fn(&Op) -> bool| {
            self.waiters
                .iter()
                .filter(|w| f(&w.op) && groups.is_live(w))
                .count()
        };
        PipeInfo {
            id,
            msg_size: self.msg_size,
            max_msgs: self.max_msgs,
            flags: self.flags,
            owner: self.owner,
            queued: self.queue.len(),
            pending_readers: count(Op::is_read),
            pending_peekers: count(|op| matches!(op, Op::Peek { .. })),
            pending_writers: count(Op::is_write),
            written: self.written,
            read: self.read,
            dropped: self.dropped,
            purged: self.purged,
            closed: self.closed,
        }
    }

    /// Full: no room for another message (a zero-depth pipe always is).
    fn full(&self) -> bool {
        self.queue.len() >= self.max_msgs
    }

    fn rendezvous(&self) -> bool {
        self.max_msgs == 0
    }

    fn discard(&self) -> bool {
        self.flags.contains(PipeFlags::DISCARD_OLDEST)
    }

    fn by_priority(&self) -> bool {
        self.flags.contains(PipeFlags::PRIORITY_MESSAGES)
    }

    /// Queue `msg` in read order: an urgent one first (of the highest
    /// level, on a priority pipe), any other last of its level.
    fn insert(&mut self, mut msg: Msg, put: Put) {
        if put.urgent {
            msg.prio = if self.by_priority() { u8::MAX } else { 0 };
            self.queue.push_front(msg);
            return;
        }
        msg.prio = put.prio;
        let at = self
            .queue
            .iter()
            .position(|m| m.prio < put.prio)
            .unwrap_or(self.queue.len());
        self.queue.insert(at, msg);
    }

    /// Take the message discard-oldest drops: the front of a plain pipe's
    /// ring, the lowest number of a priority pipe.
    fn take_oldest(&mut self) -> Msg {
        let at = if self.by_priority() {
            (0..self.queue.len())
                .min_by_key(|&i| self.queue[i].seq)
                .expect("full pipe has a message")
        } else {
            0
        };
        self.queue.remove(at).expect("full pipe has a message")
    }

    /// Live waiters of the kind `f` accepts, not of select `not_group`
    /// nor of thread `not_thread`.
    fn live(
        &self,
        groups: &Groups,
        f: fn(&Op) -> bool,
        not_group: Option<u64>,
        not_thread: Option<Tid>,
    ) -> usize {
        self.waiters
            .iter()
            .filter(|w| {
                f(&w.op)
                    && groups.is_live(w)
                    && (not_group.is_none() || w.member.map(|m| m.group) != not_group)
                    && Some(w.thread) != not_thread
            })
            .count()
    }

    fn enqueue(&mut self, waiter: Waiter) {
        let at = if self.flags.contains(PipeFlags::PRIORITY_WAITERS) {
            let mut at = self.waiters.len();
            while at > 0 && self.waiters[at - 1].priority < waiter.priority {
                at -= 1;
            }
            at
        } else {
            self.waiters.len()
        };
        self.waiters.insert(at, waiter);
    }
}

/// What the model expects a call to return.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Expect {
    /// A fresh id (create).
    NewId,
    /// `Blocked` with a fresh ticket for this pipe, which the model then
    /// records for the thread's waiter there.
    Blocked { pipe: PipeId, thread: Tid },
    /// Exactly this outcome.
    Exactly(IpcOutcome),
}

/// A completed read whose bytes must be in the reader's memory.
#[derive(Clone, Debug)]
struct Delivery {
    thread: Tid,
    buf: usize,
    len_out: usize,
    seq_out: Option<usize>,
    seq: u64,
    message: Vec<u8>,
}

#[derive(Default)]
struct Prediction {
    outcome: Option<Expect>,
    wakes: Vec<(Tid, Status)>,
    deliveries: Vec<Delivery>,
    /// Messages read (consumed) by this call, with their pipe.
    consumed: Vec<(PipeId, Vec<u8>)>,
    /// Messages accepted into pipes by this call (and where they went).
    accepted: Vec<(PipeId, Vec<u8>, Put)>,
    /// Messages dropped or released by this call.
    discarded: Vec<Vec<u8>>,
    /// A create that will succeed: what to register under the new id.
    creates: Option<ModelPipe>,
}

/// Where a tagged message ended up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Queued,
    Read,
    Discarded,
}

/// Operations the model checked, by kind (the figures `check` reports).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpCounts {
    /// Plain writes.
    pub writes: u64,
    /// Urgent writes.
    pub urgent_writes: u64,
    /// Writes with a message priority (`write_prio`).
    pub prio_writes: u64,
    /// Plain reads and peeks.
    pub reads: u64,
    /// Reads and peeks reporting the number.
    pub seq_reads: u64,
    /// Peek-newer calls.
    pub peek_newer: u64,
    /// Indexed peeks.
    pub peek_at: u64,
    /// Purges.
    pub purges: u64,
    /// Closes.
    pub closes: u64,
    /// Selects.
    pub selects: u64,
    /// Selects that blocked.
    pub selects_blocked: u64,
    /// Kernel writes and reads with wake feedback.
    pub woke_calls: u64,
    /// Calls on zero-depth pipes.
    pub rendezvous: u64,
    /// Calls on `PRIORITY_MESSAGES` pipes.
    pub by_priority: u64,
    /// Cancels (kills, timeouts, late timers).
    pub cancels: u64,
}

impl OpCounts {
    /// Add `other` to these totals.
    pub fn add(&mut self, other: &OpCounts) {
        self.writes += other.writes;
        self.urgent_writes += other.urgent_writes;
        self.prio_writes += other.prio_writes;
        self.reads += other.reads;
        self.seq_reads += other.seq_reads;
        self.peek_newer += other.peek_newer;
        self.peek_at += other.peek_at;
        self.purges += other.purges;
        self.closes += other.closes;
        self.selects += other.selects;
        self.selects_blocked += other.selects_blocked;
        self.woke_calls += other.woke_calls;
        self.rendezvous += other.rendezvous;
        self.by_priority += other.by_priority;
        self.cancels += other.cancels;
    }
}

/// The reference model and ledger. Violations accumulate in
/// [`violations`](Model::violations).
#[derive(Default)]
pub struct Model {
    pipes: BTreeMap<PipeId, ModelPipe>,
    names: BTreeMap<String, PipeId>,
    ids_seen: HashSet<PipeId>,
    tickets_seen: HashSet<Ticket>,
    groups: Groups,
    next_group: u64,
    /// Each blocked thread's ticket (a select's: its first member's).
    pending: HashMap<Tid, Ticket>,
    prediction: Option<Prediction>,
    ledger: HashMap<Tag, Fate>,
    last_read: HashMap<(u32, PipeId, u8), u32>,
    /// Messages written urgently: they overtake, so the per-writer order
    /// holds among the others only.
    urgent: HashSet<Tag>,
    /// The message priority of each message accepted with one: the
    /// per-writer order holds within a priority.
    levels: HashMap<Tag, u8>,
    /// What went wrong, in order.
    pub violations: Vec<String>,
    /// IPC manager calls checked.
    pub calls: u64,
    /// Calls checked, by kind.
    pub counts: OpCounts,
}

/// Stands for "some ticket" in a predicted `Blocked` until the call returns
/// the real one.
const BLOCKED: Ticket = Ticket::from_raw(0, 0, 0);

/// The model's name rules (DESIGN: 1 to 64 bytes, no NUL).
fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && !name.contains('\0')
}

fn deliverable(machine: &Machine, sink: &Sink, len: usize) -> bool {
    match *sink {
        Sink::Kernel => true,
        Sink::User {
            thread,
            buf,
            len_out,
            seq_out,
        } => {
            machine.accessible(thread, buf, len, Access::Write)
                && machine.accessible(thread, len_out, size_of::<usize>(), Access::Write)
                && seq_out.is_none_or(|va| {
                    machine.accessible(thread, va, size_of::<u64>(), Access::Write)
                })
        }
    }
}

/// A thread's call that only the pipe's owner (or the kernel) may make.
fn not_owner(machine: &Machine, caller: Option<Tid>, pipe: &ModelPipe) -> bool {
    caller.is_some_and(|t| machine.process_of(t) != pipe.owner)
}

/// One call's work on one pipe: the pipe semantics, step by step.
struct Step<'a> {
    machine: &'a Machine,
    id: PipeId,
    groups: &'a mut Groups,
    p: &'a mut Prediction,
}

impl Step<'_> {
    fn wake(&mut self, thread: Tid, status: Status) {
        self.p.wakes.push((thread, status));
    }

    /// Copy `msg` to `sink` if it can take it.
    fn deliver(&mut self, sink: &Sink, msg: &Msg) -> bool {
        if !deliverable(self.machine, sink, msg.bytes.len()) {
            return false;
        }
        if let Sink::User {
            thread,
            buf,
            len_out,
            seq_out,
        } = *sink
        {
            self.p.deliveries.push(Delivery {
                thread,
                buf,
                len_out,
                seq_out,
                seq: msg.seq,
                message: msg.bytes.clone(),
            });
        }
        true
    }

    fn accept(&mut self, pipe: &mut ModelPipe, bytes: &[u8], put: Put) {
        pipe.written += 1;
        self.p.accepted.push((self.id, bytes.to_vec(), put));
    }

    fn consume(&mut self, pipe: &mut ModelPipe, bytes: &[u8]) {
        pipe.read += 1;
        self.p.consumed.push((self.id, bytes.to_vec()));
    }

    /// Offer `msg` to every pending peek it satisfies, oldest first.
    fn serve_peekers(&mut self, pipe: &mut ModelPipe, msg: &Msg) {
        let mut at = 0;
        while at < pipe.waiters.len() {
            let wants = matches!(pipe.waiters[at].op,
                Op::Peek { after, .. } if after.is_none_or(|after| msg.seq > after));
            if !wants {
                at += 1;
                continue;
            }
            if !self.groups.claim(&mut pipe.waiters[at]) {
                pipe.waiters.remove(at);
                continue;
            }
            let waiter = pipe.waiters.remove(at).expect("in range");
            let status = if self.deliver(&waiter.sink(), msg) {
                Status::Ok
            } else {
                Status::BadAddress
            };
            self.wake(waiter.thread, status);
        }
    }

    /// A write the checks let through: peekers, then the oldest reader
    /// whose buffer takes it, else the queue. `None`: a zero-depth pipe
    /// found no reader to take it (nothing accepted).
    fn write(&mut self, pipe: &mut ModelPipe, bytes: Vec<u8>, put: Put) -> Option<Written> {
        let rendezvous = pipe.rendezvous();
        let msg = Msg {
            seq: pipe.written + 1,
            bytes,
            prio: 0,
        };
        if !rendezvous {
            self.serve_peekers(pipe, &msg);
        }
        while let Some(at) = pipe.waiters.iter().position(|w| w.op.is_read()) {
            if !self.groups.claim(&mut pipe.waiters[at]) {
                pipe.waiters.remove(at);
                continue;
            }
            let reader = pipe.waiters.remove(at).expect("in range");
            if self.deliver(&reader.sink(), &msg) {
                self.wake(reader.thread, Status::Ok);
                if rendezvous {
                    self.serve_peekers(pipe, &msg);
                }
                self.accept(pipe, &msg.bytes, put);
                self.consume(pipe, &msg.bytes);
                return Some(Written {
                    dropped_oldest: false,
                    handed_off: true,
                });
            }
            self.wake(reader.thread, Status::BadAddress);
        }
        if rendezvous {
            return None;
        }
        self.accept(pipe, &msg.bytes, put);
        let dropped_oldest = pipe.full();
        if dropped_oldest {
            pipe.dropped += 1;
            let oldest = pipe.take_oldest();
            self.p.discarded.push(oldest.bytes);
        }
        pipe.insert(msg, put);
        Some(Written {
            dropped_oldest,
            handed_off: false,
        })
    }

    /// A write with its checks: `Ok(None)` when it would block.
    fn try_write(
        &mut self,
        pipe: &mut ModelPipe,
        source: Source<'_>,
        put: Put,
    ) -> Result<Option<Written>, Status> {
        if pipe.closed {
            return Err(Status::Closed);
        }
        let len = match source {
            Source::User { len, .. } => len,
            Source::Kernel(msg) => msg.len(),
        };
        if len > pipe.msg_size {
            return Err(Status::TooLarge);
        }
        let reader_waits = pipe.rendezvous() && pipe.live(self.groups, Op::is_read, None, None) > 0;
        if pipe.full() && !pipe.discard() && !reader_waits {
            return Ok(None);
        }
        let bytes = match source {
            Source::User { thread, buf, len } => self
                .machine
                .read_user(thread, buf, len)
                .map_err(|_| Status::BadAddress)?,
            Source::Kernel(msg) => msg.to_vec(),
        };
        Ok(self.write(pipe, bytes, put))
    }

    /// Read or peek the oldest message into `sink` (a read of an empty
    /// zero-depth pipe takes a pending writer's). `Ok(None)`: empty.
    fn read(
        &mut self,
        pipe: &mut ModelPipe,
        sink: Sink,
        consume: bool,
    ) -> Result<Option<Msg>, Status> {
        let Some(front) = pipe.queue.front().cloned() else {
            if consume && pipe.rendezvous() && pipe.live(self.groups, Op::is_write, None, None) > 0
            {
                return self.rendezvous_read(pipe, sink);
            }
            return if pipe.closed {
                Err(Status::Closed)
            } else {
                Ok(None)
            };
        };
        if !self.deliver(&sink, &front) {
            return Err(Status::BadAddress);
        }
        if consume {
            pipe.queue.pop_front();
            self.consume(pipe, &front.bytes);
            self.admit_writers(pipe);
        }
        Ok(Some(front))
    }

    /// A read of a zero-depth pipe: the oldest pending writer whose buffer
    /// can be read hands its message over. A `sink` that faults fails the
    /// read; the writer stays pending, unless it is a select member (its
    /// select ends with `Full`).
    fn rendezvous_read(&mut self, pipe: &mut ModelPipe, sink: Sink) -> Result<Option<Msg>, Status> {
        while let Some(at) = pipe.waiters.iter().position(|w| w.op.is_write()) {
            if !self.groups.claim(&mut pipe.waiters[at]) {
                pipe.waiters.remove(at);
                continue;
            }
            let (thread, Op::Write { buf, len, .. }) =
                (pipe.waiters[at].thread, pipe.waiters[at].op)
            else {
                unreachable!("found a writer")
            };
            let Ok(bytes) = self.machine.read_user(thread, buf, len) else {
                pipe.waiters.remove(at);
                self.wake(thread, Status::BadAddress);
                continue;
            };
            let msg = Msg {
                seq: pipe.written + 1,
                bytes,
                prio: 0,
            };
            if !self.deliver(&sink, &msg) {
                // A select member's select ends (it could not stay claimed
                // and pending: no cancel would reach it); a plain writer
                // stays pending.
                if pipe.waiters[at].member.is_some() {
                    pipe.waiters.remove(at);
                    self.wake(thread, Status::Full);
                }
                return Err(Status::BadAddress);
            }
            pipe.waiters.remove(at);
            self.wake(thread, Status::Ok);
            self.serve_peekers(pipe, &msg);
            self.accept(pipe, &msg.bytes, Put::default());
            self.consume(pipe, &msg.bytes);
            return Ok(Some(msg));
        }
        Ok(None)
    }

    /// Fill free slots from pending writers, oldest first; each admitted
    /// message is offered to pending peeks.
    fn admit_writers(&mut self, pipe: &mut ModelPipe) {
        while !pipe.full() {
            let Some(at) = pipe.waiters.iter().position(|w| w.op.is_write()) else {
                return;
            };
            if !self.groups.claim(&mut pipe.waiters[at]) {
                pipe.waiters.remove(at);
                continue;
            }
            let writer = pipe.waiters.remove(at).expect("in range");
            let Op::Write { buf, len, put } = writer.op else {
                unreachable!("found a writer")
            };
            match self.machine.read_user(writer.thread, buf, len) {
                Ok(bytes) => {
                    let msg = Msg {
                        seq: pipe.written + 1,
                        bytes,
                        prio: 0,
                    };
                    self.accept(pipe, &msg.bytes, put);
                    pipe.insert(msg.clone(), put);
                    self.serve_peekers(pipe, &msg);
                    self.wake(writer.thread, Status::Ok);
                }
                Err(_) => self.wake(writer.thread, Status::BadAddress),
            }
        }
    }

    /// The first queued message (read order) numbered above `after`.
    fn peek_newer(
        &mut self,
        pipe: &mut ModelPipe,
        sink: Sink,
        after: u64,
    ) -> Result<Option<Msg>, Status> {
        let Some(found) = pipe.queue.iter().find(|m| m.seq > after).cloned() else {
            return if pipe.closed {
                Err(Status::Closed)
            } else {
                Ok(None)
            };
        };
        if !self.deliver(&sink, &found) {
            return Err(Status::BadAddress);
        }
        Ok(Some(found))
    }

    /// End every pending operation with `status` (close, destroy).
    fn finish_all(&mut self, pipe: &mut ModelPipe, status: Status) {
        while let Some(mut waiter) = pipe.waiters.pop_front() {
            if self.groups.claim(&mut waiter) {
                self.wake(waiter.thread, status);
            }
        }
    }

    /// `thread` waits to do `op` on `pipe` (the call blocks).
    fn block(&mut self, pipe: &mut ModelPipe, thread: Tid, op: Op) -> IpcOutcome {
        pipe.enqueue(Waiter {
            thread,
            priority: self.machine.priority_of(thread).0,
            op,
            ticket: None,
            member: None,
        });
        Ok(IpcValue::Blocked(BLOCKED))
    }

    /// A call on this one (live) pipe: its checks, then the semantics.
    fn call(&mut self, pipe: &mut ModelPipe, call: &IpcCall<'_>) -> IpcOutcome {
        let machine = self.machine;
        let denied = |thread: Tid, pipe: &ModelPipe, flag: PipeFlags| {
            pipe.flags.contains(flag) && machine.process_of(thread) != pipe.owner
        };
        let higher =
            |p: &Prediction, than| p.wakes.iter().any(|&(t, _)| machine.priority_of(t) > than);
        match *call {
            IpcCall::Write {
                thread,
                src,
                len,
                wait,
                urgent,
                prio,
                ..
            } => {
                if denied(thread, pipe, PipeFlags::OWNER_WRITE) {
                    return Err(Status::Denied);
                }
                let put = Put {
                    urgent,
                    prio: prio.unwrap_or(0),
                };
                if put.prio != 0 && !pipe.by_priority() {
                    return Err(Status::BadParam);
                }
                let source = Source::User {
                    thread,
                    buf: src,
                    len,
                };
                match self.try_write(pipe, source, put)? {
                    Some(written) => Ok(IpcValue::Written(written)),
                    None if wait => {
                        let op = Op::Write { buf: src, len, put };
                        self.block(pipe, thread, op)
                    }
                    None => Err(Status::Full),
                }
            }
            IpcCall::Read {
                thread,
                dst,
                len_out,
                consume,
                wait,
                seq_out,
                after,
                ..
            } => {
                if denied(thread, pipe, PipeFlags::OWNER_READ) {
                    return Err(Status::Denied);
                }
                let sink = Sink::User {
                    thread,
                    buf: dst,
                    len_out,
                    seq_out,
                };
                let result = match after {
                    Some(after) => self.peek_newer(pipe, sink, after)?,
                    None => self.read(pipe, sink, consume)?,
                };
                match result {
                    Some(msg) if seq_out.is_some() || after.is_some() => {
                        Ok(IpcValue::Received(Received {
                            len: msg.bytes.len(),
                            seq: msg.seq,
                        }))
                    }
                    Some(msg) => Ok(IpcValue::Len(msg.bytes.len())),
                    None if wait => {
                        let buf = dst;
                        let op = if consume {
                            Op::Read {
                                buf,
                                len_out,
                                seq_out,
                            }
                        } else {
                            Op::Peek {
                                buf,
                                len_out,
                                seq_out,
                                after,
                            }
                        };
                        self.block(pipe, thread, op)
                    }
                    None => Err(Status::Empty),
                }
            }
            IpcCall::PeekAt {
                thread,
                index,
                dst,
                len_out,
                seq_out,
                ..
            } => {
                if denied(thread, pipe, PipeFlags::OWNER_READ) {
                    return Err(Status::Denied);
                }
                let Some(msg) = pipe.queue.get(index).cloned() else {
                    return Err(if pipe.closed && pipe.queue.is_empty() {
                        Status::Closed
                    } else {
                        Status::Empty
                    });
                };
                let sink = Sink::User {
                    thread,
                    buf: dst,
                    len_out,
                    seq_out: Some(seq_out),
                };
                if !self.deliver(&sink, &msg) {
                    return Err(Status::BadAddress);
                }
                Ok(IpcValue::Received(Received {
                    len: msg.bytes.len(),
                    seq: msg.seq,
                }))
            }
            IpcCall::Purge { caller, .. } => {
                if not_owner(machine, caller, pipe) {
                    return Err(Status::Denied);
                }
                let dropped = pipe.queue.len();
                pipe.purged += dropped as u64;
                self.p
                    .discarded
                    .extend(pipe.queue.drain(..).map(|msg| msg.bytes));
                self.admit_writers(pipe);
                Ok(IpcValue::Count(dropped))
            }
            IpcCall::Close { caller, .. } => {
                if not_owner(machine, caller, pipe) {
                    return Err(Status::Denied);
                }
                if pipe.closed {
                    return Err(Status::Closed);
                }
                pipe.closed = true;
                self.finish_all(pipe, Status::Closed);
                Ok(IpcValue::Done)
            }
            IpcCall::KernelWrite { msg, .. } | IpcCall::KernelWriteWoke { msg, .. } => {
                let result = self
                    .try_write(pipe, Source::Kernel(msg), Put::default())?
                    .ok_or(Status::Full)?;
                Ok(match *call {
                    IpcCall::KernelWriteWoke { than, .. } => IpcValue::WokeWritten(Woke {
                        result,
                        higher_priority: higher(self.p, than),
                    }),
                    _ => IpcValue::Written(result),
                })
            }
            IpcCall::KernelRead { .. } | IpcCall::KernelReadWoke { .. } => {
                let consume = !matches!(*call, IpcCall::KernelRead { consume: false, .. });
                let result = self
                    .read(pipe, Sink::Kernel, consume)?
                    .ok_or(Status::Empty)?
                    .bytes;
                Ok(match *call {
                    IpcCall::KernelReadWoke { than, .. } => IpcValue::WokeMessage(Woke {
                        result,
                        higher_priority: higher(self.p, than),
                    }),
                    _ => IpcValue::Message(result),
                })
            }
            _ => unreachable!("not a call on one pipe: {call:?}"),
        }
    }
}

impl Model {
    /// An empty model (no pipes).
    #[must_use]
    pub fn new() -> Model {
        Model::default()
    }

    /// Ids of the pipes the model believes alive.
    #[must_use]
    pub fn live_pipes(&self) -> Vec<PipeId> {
        self.pipes.keys().copied().collect()
    }

    /// Whether the model believes `id` alive.
    #[must_use]
    pub fn is_live(&self, id: PipeId) -> bool {
        self.pipes.contains_key(&id)
    }

    /// Whether the model believes `id` closed.
    #[must_use]
    pub fn is_closed(&self, id: PipeId) -> bool {
        self.pipes.get(&id).is_some_and(|p| p.closed)
    }

    /// The number of the newest message accepted into `id` (its `written`
    /// count), for a peek-newer that waits for the next one.
    #[must_use]
    pub fn last_seq(&self, id: PipeId) -> Option<u64> {
        self.pipes.get(&id).map(|p| p.written)
    }

    /// Why `thread`, blocked to do `op` on `id` (alone or as a select
    /// member), should not be blocked any more; `None` when its wait is
    /// genuine. A withdrawn select member is not checked (its select was
    /// claimed by another member, which must still wait genuinely).
    #[must_use]
    pub fn wait_cleared(&self, thread: Tid, id: PipeId, op: PipeOp) -> Option<String> {
        let Some(pipe) = self.pipes.get(&id) else {
            return Some(format!("{id} is gone"));
        };
        let kind: fn(&Op) -> bool = match op {
            PipeOp::Read => Op::is_read,
            PipeOp::Peek | PipeOp::PeekNewer(_) => |op| matches!(op, Op::Peek { .. }),
            PipeOp::Write => Op::is_write,
        };
        let live = pipe
            .waiters
            .iter()
            .any(|w| w.thread == thread && kind(&w.op) && self.groups.is_live(w));
        if !live {
            let withdrawn = pipe
                .waiters
                .iter()
                .any(|w| w.thread == thread && kind(&w.op) && w.member.is_some());
            return (!withdrawn).then(|| {
                let elsewhere: Vec<String> = self
                    .pipes
                    .iter()
                    .flat_map(|(id, p)| {
                        p.waiters
                            .iter()
                            .filter(|w| w.thread == thread)
                            .map(move |w| format!("{id}: {w:?}"))
                    })
                    .collect();
                format!("the model has no waiter of {thread} on {id} (its waiters: {elsewhere:?})")
            });
        }
        if pipe.closed {
            return Some(format!("{id} is closed"));
        }
        let other = |f| pipe.live(&self.groups, f, None, Some(thread)) > 0;
        let genuine = match op {
            PipeOp::Read => pipe.queue.is_empty() && !(pipe.rendezvous() && other(Op::is_write)),
            PipeOp::Peek => pipe.queue.is_empty(),
            PipeOp::PeekNewer(after) => pipe.queue.iter().all(|m| m.seq <= after),
            PipeOp::Write => {
                pipe.full() && !pipe.discard() && !(pipe.rendezvous() && other(Op::is_read))
            }
        };
        (!genuine).then(|| {
            format!(
                "its condition cleared ({} of {} queued)",
                pipe.queue.len(),
                pipe.max_msgs
            )
        })
    }

    /// Tags accepted but neither read, dropped, released nor still queued:
    /// lost messages. Call after draining every pipe.
    #[must_use]
    pub fn lost_messages(&self) -> Vec<Tag> {
        let queued: HashSet<Tag> = self
            .pipes
            .values()
            .flat_map(|p| p.queue.iter().filter_map(|m| tag_of(&m.bytes)))
            .collect();
        let mut lost: Vec<Tag> = self
            .ledger
            .iter()
            .filter(|(tag, fate)| **fate == Fate::Queued && !queued.contains(tag))
            .map(|(tag, _)| *tag)
            .collect();
        lost.sort_unstable();
        lost
    }

    fn violation(&mut self, what: String) {
        if self.violations.len() < 50 {
            self.violations.push(what);
        }
    }

    fn predict(&mut self, call: &IpcCall<'_>, machine: &Machine) -> Prediction {
        self.count(call);
        let mut p = self.predict_outcome(call, machine);
        // A blocking call's ticket is the manager's to choose: expect a
        // fresh one for the right pipe.
        if p.outcome == Some(Expect::Exactly(Ok(IpcValue::Blocked(BLOCKED)))) {
            let named = match *call {
                IpcCall::Write { thread, id, .. } | IpcCall::Read { thread, id, .. } => {
                    Some((thread, id))
                }
                IpcCall::Select { thread, ops } => ops.first().map(|op| (thread, op.pipe())),
                _ => None,
            };
            if let Some((thread, pipe)) = named {
                p.outcome = Some(Expect::Blocked { pipe, thread });
            }
        }
        p
    }

    fn count(&mut self, call: &IpcCall<'_>) {
        let c = &mut self.counts;
        let id = match *call {
            IpcCall::Write {
                urgent, prio, id, ..
            } => {
                match (urgent, prio) {
                    (true, _) => c.urgent_writes += 1,
                    (false, Some(_)) => c.prio_writes += 1,
                    (false, None) => c.writes += 1,
                }
                Some(id)
            }
            IpcCall::Read {
                seq_out, after, id, ..
            } => {
                match (after, seq_out) {
                    (Some(_), _) => c.peek_newer += 1,
                    (None, Some(_)) => c.seq_reads += 1,
                    (None, None) => c.reads += 1,
                }
                Some(id)
            }
            IpcCall::PeekAt { id, .. } => {
                c.peek_at += 1;
                Some(id)
            }
            IpcCall::Purge { id, .. } => {
                c.purges += 1;
                Some(id)
            }
            IpcCall::Close { id, .. } => {
                c.closes += 1;
                Some(id)
            }
            IpcCall::Select { .. } => {
                c.selects += 1;
                None
            }
            IpcCall::KernelWriteWoke { id, .. } | IpcCall::KernelReadWoke { id, .. } => {
                c.woke_calls += 1;
                Some(id)
            }
            IpcCall::Cancel { .. } | IpcCall::CancelOp { .. } => {
                c.cancels += 1;
                None
            }
            _ => None,
        };
        if let Some(pipe) = id.and_then(|id| self.pipes.get(&id)) {
            c.rendezvous += u64::from(pipe.rendezvous());
            c.by_priority += u64::from(pipe.by_priority());
        }
    }

    /// Cancel `thread`'s operation named by `ticket` (a select as a whole).
    fn cancel_op(
        &mut self,
        thread: Tid,
        ticket: Ticket,
        status: Status,
        p: &mut Prediction,
    ) -> IpcOutcome {
        let Some(pipe) = self.pipes.get_mut(&ticket.pipe()) else {
            return Err(Status::NotFound);
        };
        let Some(at) = pipe
            .waiters
            .iter()
            .position(|w| w.thread == thread && w.ticket == Some(ticket))
        else {
            return Err(Status::NotFound);
        };
        let claimed = self.groups.claim(&mut pipe.waiters[at]);
        pipe.waiters.remove(at);
        if !claimed {
            // A withdrawn member: its select ended already.
            return Err(Status::NotFound);
        }
        p.wakes.push((thread, status));
        Ok(IpcValue::Done)
    }

    fn predict_outcome(&mut self, call: &IpcCall<'_>, machine: &Machine) -> Prediction {
        let mut p = Prediction::default();
        let exactly = |outcome: IpcOutcome| Some(Expect::Exactly(outcome));
        match *call {
            IpcCall::Create {
                caller,
                name,
                msg_size,
                max_msgs,
                flags,
            } => {
                // A zero-depth pipe has nothing to drop, nor to order.
                let zero_ok =
                    !flags.intersects(PipeFlags::DISCARD_OLDEST | PipeFlags::PRIORITY_MESSAGES);
                let sizes_ok = msg_size > 0
                    && (max_msgs > 0 || zero_ok)
                    && msg_size
                        .checked_mul(max_msgs.max(1))
                        .is_some_and(|bytes| bytes <= isize::MAX as usize / 2);
                p.outcome = if name.is_some_and(|n| !valid_name(n)) || !sizes_ok {
                    exactly(Err(Status::BadParam))
                } else if name.is_some_and(|n| self.names.contains_key(n)) {
                    exactly(Err(Status::NameTaken))
                } else {
                    let owner = caller.map_or(ProcessId::KERNEL, |t| machine.process_of(t));
                    p.creates = Some(ModelPipe {
                        name: name.map(str::to_owned),
                        msg_size,
                        max_msgs,
                        flags,
                        owner,
                        queue: VecDeque::new(),
                        waiters: VecDeque::new(),
                        written: 0,
                        read: 0,
                        dropped: 0,
                        purged: 0,
                        closed: false,
                    });
                    Some(Expect::NewId)
                };
            }
            IpcCall::Lookup { name } => {
                p.outcome = exactly(if valid_name(name) {
                    self.names
                        .get(name)
                        .map(|id| IpcValue::Id(*id))
                        .ok_or(Status::NotFound)
                } else {
                    Err(Status::BadParam)
                });
            }
            IpcCall::Info { id } => {
                p.outcome = exactly(
                    self.pipes
                        .get(&id)
                        .map(|pipe| IpcValue::Info(pipe.info(id, &self.groups)))
                        .ok_or(Status::NotFound),
                );
            }
            IpcCall::Write { id, .. }
            | IpcCall::Read { id, .. }
            | IpcCall::PeekAt { id, .. }
            | IpcCall::Purge { id, .. }
            | IpcCall::Close { id, .. }
            | IpcCall::KernelWrite { id, .. }
            | IpcCall::KernelWriteWoke { id, .. }
            | IpcCall::KernelRead { id, .. }
            | IpcCall::KernelReadWoke { id, .. } => {
                let outcome = match self.pipes.get_mut(&id) {
                    None => Err(Status::NotFound),
                    Some(pipe) => Step {
                        machine,
                        id,
                        groups: &mut self.groups,
                        p: &mut p,
                    }
                    .call(pipe, call),
                };
                p.outcome = exactly(outcome);
            }
            IpcCall::Select { thread, ops } => {
                p.outcome = exactly(self.select(machine, thread, ops, &mut p));
            }
            IpcCall::Cancel { thread, reason } => {
                let status = match reason {
                    CancelReason::TimedOut => Status::TimedOut,
                    CancelReason::Cancelled => Status::Cancelled,
                };
                // The thread's pending entry names its operation.
                p.outcome = exactly(match self.pending.get(&thread).copied() {
                    Some(ticket) => self.cancel_op(thread, ticket, status, &mut p),
                    None => Err(Status::NotFound),
                });
            }
            IpcCall::CancelOp {
                thread,
                ticket,
                reason,
            } => {
                let status = match reason {
                    CancelReason::TimedOut => Status::TimedOut,
                    CancelReason::Cancelled => Status::Cancelled,
                };
                // Only the operation the ticket names, and only while it is
                // pending: a stale ticket changes nothing.
                p.outcome = exactly(self.cancel_op(thread, ticket, status, &mut p));
            }
            IpcCall::Destroy { caller, id } => {
                let Some(pipe) = self.pipes.get(&id) else {
                    p.outcome = exactly(Err(Status::NotFound));
                    return p;
                };
                if not_owner(machine, caller, pipe) {
                    p.outcome = exactly(Err(Status::Denied));
                    return p;
                }
                let mut pipe = self.pipes.remove(&id).expect("present");
                if let Some(name) = &pipe.name {
                    self.names.remove(name);
                }
                let mut step = Step {
                    machine,
                    id,
                    groups: &mut self.groups,
                    p: &mut p,
                };
                step.finish_all(&mut pipe, Status::Destroyed);
                p.discarded
                    .extend(pipe.queue.into_iter().map(|msg| msg.bytes));
                p.outcome = exactly(Ok(IpcValue::Done));
            }
        }
        p
    }

    /// A select: checks, then each member in list order either completes
    /// now (claiming the group) or waits as a member.
    fn select(
        &mut self,
        machine: &Machine,
        thread: Tid,
        ops: &[SelectOp],
        p: &mut Prediction,
    ) -> IpcOutcome {
        if ops.is_empty() || ops.len() > SELECT_MAX {
            return Err(Status::BadParam);
        }
        for op in ops {
            let pipe = self.pipes.get(&op.pipe()).ok_or(Status::NotFound)?;
            let flag = match op {
                SelectOp::Write { .. } => PipeFlags::OWNER_WRITE,
                _ => PipeFlags::OWNER_READ,
            };
            if pipe.flags.contains(flag) && machine.process_of(thread) != pipe.owner {
                return Err(Status::Denied);
            }
            if let SelectOp::Write { len, .. } = *op
                && len > pipe.msg_size
            {
                return Err(Status::TooLarge);
            }
        }
        self.next_group += 1;
        let group = self.next_group;
        let priority = machine.priority_of(thread).0;
        for (index, op) in ops.iter().enumerate() {
            let id = op.pipe();
            let pipe = self.pipes.get_mut(&id).expect("checked");
            let foreign = |f| pipe.live(&self.groups, f, Some(group), None) > 0;
            let ready = pipe.closed
                || match op {
                    SelectOp::Write { .. } => {
                        !pipe.full()
                            || pipe.discard()
                            || (pipe.rendezvous() && foreign(Op::is_read))
                    }
                    SelectOp::Read { .. } => {
                        !pipe.queue.is_empty() || (pipe.rendezvous() && foreign(Op::is_write))
                    }
                    SelectOp::Peek { .. } => !pipe.queue.is_empty(),
                };
            if !ready {
                pipe.enqueue(Waiter {
                    thread,
                    priority,
                    op: Op::of_select(op),
                    ticket: None,
                    member: Some(Member {
                        group,
                        index,
                        claimed: false,
                    }),
                });
                continue;
            }
            self.groups.claimed.insert(group);
            let mut step = Step {
                machine,
                id,
                groups: &mut self.groups,
                p,
            };
            let status = match *op {
                SelectOp::Write { buf, len, .. } => {
                    let source = Source::User {
                        thread,
                        buf: buf.0,
                        len,
                    };
                    match step.try_write(pipe, source, Put::default()) {
                        Ok(Some(_)) => Status::Ok,
                        Ok(None) => Status::Full,
                        Err(status) => status,
                    }
                }
                SelectOp::Read { buf, len_out, .. } | SelectOp::Peek { buf, len_out, .. } => {
                    let sink = Sink::User {
                        thread,
                        buf: buf.0,
                        len_out: len_out.0,
                        seq_out: None,
                    };
                    let consume = matches!(op, SelectOp::Read { .. });
                    match step.read(pipe, sink, consume) {
                        Ok(Some(_)) => Status::Ok,
                        Ok(None) => Status::Empty,
                        Err(status) => status,
                    }
                }
            };
            return Ok(IpcValue::Selected(Selected {
                index: Some(index),
                status,
            }));
        }
        self.counts.selects_blocked += 1;
        Ok(IpcValue::Blocked(BLOCKED))
    }

    fn settle(
        &mut self,
        call: &IpcCall<'_>,
        outcome: &IpcOutcome,
        wakes: &[(Tid, Status)],
        machine: &Machine,
    ) {
        self.calls += 1;
        let Some(mut p) = self.prediction.take() else {
            self.violation(format!("{call:?}: no prediction"));
            return;
        };
        for (thread, _) in wakes {
            self.pending.remove(thread);
        }
        match (&p.outcome, outcome) {
            (Some(Expect::NewId), Ok(IpcValue::Id(id))) => {
                if !self.ids_seen.insert(*id) {
                    self.violation(format!("{call:?} returned {id}, an id handed out before"));
                }
                if let Some(pipe) = p.creates.take() {
                    if let Some(name) = &pipe.name {
                        self.names.insert(name.clone(), *id);
                    }
                    self.pipes.insert(*id, pipe);
                }
            }
            (Some(Expect::Blocked { pipe, thread }), Ok(IpcValue::Blocked(ticket)))
                if ticket.pipe() == *pipe =>
            {
                if !self.tickets_seen.insert(*ticket) {
                    self.violation(format!(
                        "{call:?} returned {ticket:?}, a ticket seen before"
                    ));
                }
                self.pending.insert(*thread, *ticket);
                let groups = &self.groups;
                let waiter = self.pipes.get_mut(pipe).and_then(|p| {
                    p.waiters.iter_mut().find(|w| {
                        w.thread == *thread
                            && w.ticket.is_none()
                            && groups.is_live(w)
                            && w.member.is_none_or(|m| m.index == 0)
                    })
                });
                match waiter {
                    Some(waiter) => waiter.ticket = Some(*ticket),
                    None => self.violation(format!("{call:?}: no waiter to give {ticket:?}")),
                }
            }
            (Some(Expect::Exactly(expected)), actual) if expected == actual => {}
            (expected, actual) => {
                self.violation(format!("{call:?}: expected {expected:?}, got {actual:?}"));
            }
        }
        if p.wakes != wakes {
            self.violation(format!(
                "{call:?}: expected wakes {:?}, got {wakes:?}",
                p.wakes
            ));
        }
        for delivery in &p.deliveries {
            let woken_ok = wakes.contains(&(delivery.thread, Status::Ok))
                || matches!(
                    outcome,
                    Ok(IpcValue::Len(_) | IpcValue::Received(_))
                        | Ok(IpcValue::Selected(Selected {
                            status: Status::Ok,
                            ..
                        }))
                );
            if !woken_ok {
                continue;
            }
            let message = machine.read_user(delivery.thread, delivery.buf, delivery.message.len());
            let word = |va: usize| {
                machine
                    .read_user(delivery.thread, va, 8)
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_ne_bytes)
            };
            let len = word(delivery.len_out);
            let seq_ok = delivery
                .seq_out
                .is_none_or(|va| word(va) == Some(delivery.seq));
            if message.as_deref().ok() != Some(&delivery.message[..])
                || len != Some(delivery.message.len() as u64)
                || !seq_ok
            {
                self.violation(format!(
                    "{call:?}: {} should hold {:?} (len {}, number {}), holds {message:?} (len {len:?}, number at {:?}: {:?})",
                    delivery.thread,
                    delivery.message,
                    delivery.message.len(),
                    delivery.seq,
                    delivery.seq_out,
                    delivery.seq_out.map(word),
                ));
            }
        }
        self.keep_ledger(&p);
    }

    fn keep_ledger(&mut self, p: &Prediction) {
        for (id, message, put) in &p.accepted {
            let Some(tag) = tag_of(message) else { continue };
            if self.ledger.insert(tag, Fate::Queued).is_some() {
                self.violation(format!("message {tag:?} accepted into {id} twice"));
            }
            if put.urgent {
                self.urgent.insert(tag);
            } else if put.prio != 0 {
                self.levels.insert(tag, put.prio);
            }
        }
        for (id, message) in &p.consumed {
            let Some(tag) = tag_of(message) else { continue };
            match self.ledger.insert(tag, Fate::Read) {
                Some(Fate::Queued) => {}
                other => self.violation(format!("message {tag:?} read from {id} while {other:?}")),
            }
            if self.urgent.contains(&tag) {
                continue;
            }
            let level = self.levels.get(&tag).copied().unwrap_or(0);
            let last = self.last_read.insert((tag.0, *id, level), tag.1);
            if last.is_some_and(|last| last >= tag.1) {
                self.violation(format!(
                    "writer {} to {id} at priority {level}: message {} read after {last:?}",
                    tag.0, tag.1
                ));
            }
        }
        for message in &p.discarded {
            if let Some(tag) = tag_of(message) {
                self.ledger.insert(tag, Fate::Discarded);
            }
        }
    }
}

impl Observer for Model {
    fn before(&mut self, call: &IpcCall<'_>, machine: &Machine) {
        let prediction = self.predict(call, machine);
        self.prediction = Some(prediction);
    }

    fn after(
        &mut self,
        call: &IpcCall<'_>,
        outcome: &IpcOutcome,
        wakes: &[(Tid, Status)],
        machine: &Machine,
    ) {
        self.settle(call, outcome, wakes, machine);
    }
}
