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

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use ipcm::{CancelReason, PipeFlags, PipeId, PipeInfo, ProcessId, Status, Ticket, Written};

use crate::kernel::{IpcCall, IpcOutcome, IpcValue, Observer};
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

#[derive(Clone, Debug)]
enum Op {
    Read { buf: usize, len_out: usize },
    Peek { buf: usize, len_out: usize },
    Write { buf: usize, len: usize },
}

#[derive(Clone, Debug)]
struct Waiter {
    thread: Tid,
    priority: u8,
    op: Op,
    /// The ticket the call returned (known once it returned).
    ticket: Option<Ticket>,
}

struct ModelPipe {
    name: Option<String>,
    msg_size: usize,
    max_msgs: usize,
    flags: PipeFlags,
    owner: ProcessId,
    queue: VecDeque<Vec<u8>>,
    waiters: VecDeque<Waiter>,
    written: u64,
    read: u64,
    dropped: u64,
}

impl ModelPipe {
    fn info(&self, id: PipeId) -> PipeInfo {
        let count = |f: fn(&Op) -> bool| self.waiters.iter().filter(|w| f(&w.op)).count();
        PipeInfo {
            id,
            msg_size: self.msg_size,
            max_msgs: self.max_msgs,
            flags: self.flags,
            owner: self.owner,
            queued: self.queue.len(),
            pending_readers: count(|op| matches!(op, Op::Read { .. })),
            pending_peekers: count(|op| matches!(op, Op::Peek { .. })),
            pending_writers: count(|op| matches!(op, Op::Write { .. })),
            written: self.written,
            read: self.read,
            dropped: self.dropped,
            purged: 0,
            closed: false,
        }
    }

    fn full(&self) -> bool {
        self.queue.len() == self.max_msgs
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
    message: Vec<u8>,
}

#[derive(Default)]
struct Prediction {
    outcome: Option<Expect>,
    wakes: Vec<(Tid, Status)>,
    deliveries: Vec<Delivery>,
    /// Messages read (consumed) by this call, with their pipe.
    consumed: Vec<(PipeId, Vec<u8>)>,
    /// Messages accepted into pipes by this call.
    accepted: Vec<(PipeId, Vec<u8>)>,
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

/// The reference model and ledger. Violations accumulate in
/// [`violations`](Model::violations).
#[derive(Default)]
pub struct Model {
    pipes: BTreeMap<PipeId, ModelPipe>,
    names: BTreeMap<String, PipeId>,
    ids_seen: HashSet<PipeId>,
    tickets_seen: HashSet<Ticket>,
    prediction: Option<Prediction>,
    ledger: HashMap<Tag, Fate>,
    last_read: HashMap<(u32, PipeId), u32>,
    /// What went wrong, in order.
    pub violations: Vec<String>,
    /// IPC manager calls checked.
    pub calls: u64,
}

/// Stands for "some ticket" in a predicted `Blocked` until the call returns
/// the real one.
const BLOCKED: Ticket = Ticket::from_raw(0, 0, 0);

/// The model's name rules (DESIGN: 1 to 64 bytes, no NUL).
fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && !name.contains('\0')
}

fn deliverable(machine: &Machine, thread: Tid, buf: usize, len_out: usize, len: usize) -> bool {
    machine.accessible(thread, buf, len, Access::Write)
        && machine.accessible(thread, len_out, size_of::<usize>(), Access::Write)
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

    /// Tags accepted but neither read, dropped, released nor still queued:
    /// lost messages. Call after draining every pipe.
    #[must_use]
    pub fn lost_messages(&self) -> Vec<Tag> {
        let queued: HashSet<Tag> = self
            .pipes
            .values()
            .flat_map(|p| p.queue.iter().filter_map(|m| tag_of(m)))
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

    /// Serve a write of `message` to `pipe`: peekers, then the oldest
    /// deliverable reader, else the queue.
    fn write_message(
        machine: &Machine,
        id: PipeId,
        pipe: &mut ModelPipe,
        message: Vec<u8>,
        p: &mut Prediction,
    ) -> Written {
        pipe.written += 1;
        p.accepted.push((id, message.clone()));
        let mut rest = VecDeque::with_capacity(pipe.waiters.len());
        for waiter in pipe.waiters.drain(..) {
            if let Op::Peek { buf, len_out } = waiter.op {
                if deliverable(machine, waiter.thread, buf, len_out, message.len()) {
                    p.wakes.push((waiter.thread, Status::Ok));
                    p.deliveries.push(Delivery {
                        thread: waiter.thread,
                        buf,
                        len_out,
                        message: message.clone(),
                    });
                } else {
                    p.wakes.push((waiter.thread, Status::BadAddress));
                }
            } else {
                rest.push_back(waiter);
            }
        }
        pipe.waiters = rest;
        while let Some(waiter) = pipe.waiters.pop_front() {
            let Op::Read { buf, len_out } = waiter.op else {
                unreachable!("a writer waits on a pipe that is not full")
            };
            if deliverable(machine, waiter.thread, buf, len_out, message.len()) {
                pipe.read += 1;
                p.wakes.push((waiter.thread, Status::Ok));
                p.deliveries.push(Delivery {
                    thread: waiter.thread,
                    buf,
                    len_out,
                    message: message.clone(),
                });
                p.consumed.push((id, message));
                return Written {
                    dropped_oldest: false,
                    handed_off: true,
                };
            }
            p.wakes.push((waiter.thread, Status::BadAddress));
        }
        let dropped_oldest = pipe.full();
        if dropped_oldest {
            pipe.dropped += 1;
            let oldest = pipe.queue.pop_front().expect("full pipe has a message");
            p.discarded.push(oldest);
        }
        pipe.queue.push_back(message);
        Written {
            dropped_oldest,
            handed_off: false,
        }
    }

    /// Take the oldest message and admit pending writers into free slots.
    fn consume_front(machine: &Machine, id: PipeId, pipe: &mut ModelPipe, p: &mut Prediction) {
        let message = pipe.queue.pop_front().expect("non-empty");
        pipe.read += 1;
        p.consumed.push((id, message));
        while !pipe.full() {
            let Some(waiter) = pipe.waiters.pop_front() else {
                break;
            };
            let Op::Write { buf, len } = waiter.op else {
                unreachable!("a reader waits on a pipe that is not empty")
            };
            match machine.read_user(waiter.thread, buf, len) {
                Ok(message) => {
                    pipe.written += 1;
                    p.accepted.push((id, message.clone()));
                    pipe.queue.push_back(message);
                    p.wakes.push((waiter.thread, Status::Ok));
                }
                Err(_) => p.wakes.push((waiter.thread, Status::BadAddress)),
            }
        }
    }

    fn enqueue(pipe: &mut ModelPipe, waiter: Waiter) {
        let at = if pipe.flags.contains(PipeFlags::PRIORITY_WAITERS) {
            let mut at = pipe.waiters.len();
            while at > 0 && pipe.waiters[at - 1].priority < waiter.priority {
                at -= 1;
            }
            at
        } else {
            pipe.waiters.len()
        };
        pipe.waiters.insert(at, waiter);
    }

    fn predict(&mut self, call: &IpcCall<'_>, machine: &Machine) -> Prediction {
        let mut p = self.predict_outcome(call, machine);
        // A blocking call's ticket is the manager's to choose: expect a
        // fresh one for the right pipe.
        if p.outcome == Some(Expect::Exactly(Ok(IpcValue::Blocked(BLOCKED))))
            && let IpcCall::Write { thread, id, .. } | IpcCall::Read { thread, id, .. } = *call
        {
            p.outcome = Some(Expect::Blocked { pipe: id, thread });
        }
        p
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
                let sizes_ok = msg_size > 0
                    && max_msgs > 0
                    && msg_size
                        .checked_mul(max_msgs)
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
                        .map(|pipe| IpcValue::Info(pipe.info(id)))
                        .ok_or(Status::NotFound),
                );
            }
            IpcCall::Write {
                thread,
                id,
                src,
                len,
                wait,
            } => {
                let Some(pipe) = self.pipes.get_mut(&id) else {
                    p.outcome = exactly(Err(Status::NotFound));
                    return p;
                };
                let discard = pipe.flags.contains(PipeFlags::DISCARD_OLDEST);
                p.outcome = exactly(
                    if pipe.flags.contains(PipeFlags::OWNER_WRITE)
                        && machine.process_of(thread) != pipe.owner
                    {
                        Err(Status::Denied)
                    } else if len > pipe.msg_size {
                        Err(Status::TooLarge)
                    } else if pipe.full() && !discard {
                        if wait {
                            let priority = machine.priority_of(thread).0;
                            Self::enqueue(
                                pipe,
                                Waiter {
                                    thread,
                                    priority,
                                    op: Op::Write { buf: src, len },
                                    ticket: None,
                                },
                            );
                            Ok(IpcValue::Blocked(BLOCKED))
                        } else {
                            Err(Status::Full)
                        }
                    } else {
                        match machine.read_user(thread, src, len) {
                            Err(_) => Err(Status::BadAddress),
                            Ok(message) => Ok(IpcValue::Written(Self::write_message(
                                machine, id, pipe, message, &mut p,
                            ))),
                        }
                    },
                );
            }
            IpcCall::Read {
                thread,
                id,
                dst,
                len_out,
                consume,
                wait,
            } => {
                let Some(pipe) = self.pipes.get_mut(&id) else {
                    p.outcome = exactly(Err(Status::NotFound));
                    return p;
                };
                p.outcome = exactly(
                    if pipe.flags.contains(PipeFlags::OWNER_READ)
                        && machine.process_of(thread) != pipe.owner
                    {
                        Err(Status::Denied)
                    } else if let Some(front) = pipe.queue.front().cloned() {
                        if deliverable(machine, thread, dst, len_out, front.len()) {
                            p.deliveries.push(Delivery {
                                thread,
                                buf: dst,
                                len_out,
                                message: front.clone(),
                            });
                            if consume {
                                Self::consume_front(machine, id, pipe, &mut p);
                            }
                            Ok(IpcValue::Len(front.len()))
                        } else {
                            Err(Status::BadAddress)
                        }
                    } else if wait {
                        let priority = machine.priority_of(thread).0;
                        let op = if consume {
                            Op::Read { buf: dst, len_out }
                        } else {
                            Op::Peek { buf: dst, len_out }
                        };
                        Self::enqueue(
                            pipe,
                            Waiter {
                                thread,
                                priority,
                                op,
                                ticket: None,
                            },
                        );
                        Ok(IpcValue::Blocked(BLOCKED))
                    } else {
                        Err(Status::Empty)
                    },
                );
            }
            IpcCall::KernelWrite { id, msg } => {
                let Some(pipe) = self.pipes.get_mut(&id) else {
                    p.outcome = exactly(Err(Status::NotFound));
                    return p;
                };
                p.outcome = exactly(if msg.len() > pipe.msg_size {
                    Err(Status::TooLarge)
                } else if pipe.full() && !pipe.flags.contains(PipeFlags::DISCARD_OLDEST) {
                    Err(Status::Full)
                } else {
                    Ok(IpcValue::Written(Self::write_message(
                        machine,
                        id,
                        pipe,
                        msg.to_vec(),
                        &mut p,
                    )))
                });
            }
            IpcCall::KernelRead { id, consume } => {
                let Some(pipe) = self.pipes.get_mut(&id) else {
                    p.outcome = exactly(Err(Status::NotFound));
                    return p;
                };
                p.outcome = exactly(match pipe.queue.front().cloned() {
                    None => Err(Status::Empty),
                    Some(front) => {
                        if consume {
                            Self::consume_front(machine, id, pipe, &mut p);
                        }
                        Ok(IpcValue::Message(front))
                    }
                });
            }
            IpcCall::Cancel { thread, reason } => {
                let status = match reason {
                    CancelReason::TimedOut => Status::TimedOut,
                    CancelReason::Cancelled => Status::Cancelled,
                };
                let found = self.pipes.values_mut().find_map(|pipe| {
                    let at = pipe.waiters.iter().position(|w| w.thread == thread)?;
                    pipe.waiters.remove(at)
                });
                p.outcome = exactly(match found {
                    Some(_) => {
                        p.wakes.push((thread, status));
                        Ok(IpcValue::Done)
                    }
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
                let found = self.pipes.get_mut(&ticket.pipe()).and_then(|pipe| {
                    let at = pipe
                        .waiters
                        .iter()
                        .position(|w| w.thread == thread && w.ticket == Some(ticket))?;
                    pipe.waiters.remove(at)
                });
                p.outcome = exactly(match found {
                    Some(_) => {
                        p.wakes.push((thread, status));
                        Ok(IpcValue::Done)
                    }
                    None => Err(Status::NotFound),
                });
            }
            IpcCall::Destroy { caller, id } => {
                let Some(pipe) = self.pipes.get(&id) else {
                    p.outcome = exactly(Err(Status::NotFound));
                    return p;
                };
                if caller.is_some_and(|t| machine.process_of(t) != pipe.owner) {
                    p.outcome = exactly(Err(Status::Denied));
                    return p;
                }
                let pipe = self.pipes.remove(&id).expect("present");
                if let Some(name) = &pipe.name {
                    self.names.remove(name);
                }
                p.wakes
                    .extend(pipe.waiters.iter().map(|w| (w.thread, Status::Destroyed)));
                p.discarded.extend(pipe.queue);
                p.outcome = exactly(Ok(IpcValue::Done));
            }
        }
        p
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
                let waiter = self
                    .pipes
                    .get_mut(pipe)
                    .and_then(|p| p.waiters.iter_mut().find(|w| w.thread == *thread));
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
                || matches!(outcome, Ok(IpcValue::Len(_)));
            if !woken_ok {
                continue;
            }
            let message = machine.read_user(delivery.thread, delivery.buf, delivery.message.len());
            let len = machine.read_user(delivery.thread, delivery.len_out, size_of::<usize>());
            let len = len
                .ok()
                .and_then(|b| b.try_into().ok())
                .map(usize::from_ne_bytes);
            if message.as_deref().ok() != Some(&delivery.message[..])
                || len != Some(delivery.message.len())
            {
                self.violation(format!(
                    "{call:?}: {} should hold {:?} (len {}), holds {message:?} (len {len:?})",
                    delivery.thread,
                    delivery.message,
                    delivery.message.len()
                ));
            }
        }
        self.keep_ledger(&p);
    }

    fn keep_ledger(&mut self, p: &Prediction) {
        for (id, message) in &p.accepted {
            if let Some(tag) = tag_of(message)
                && self.ledger.insert(tag, Fate::Queued).is_some()
            {
                self.violation(format!("message {tag:?} accepted into {id} twice"));
            }
        }
        for (id, message) in &p.consumed {
            let Some(tag) = tag_of(message) else { continue };
            match self.ledger.insert(tag, Fate::Read) {
                Some(Fate::Queued) => {}
                other => self.violation(format!("message {tag:?} read from {id} while {other:?}")),
            }
            let last = self.last_read.insert((tag.0, *id), tag.1);
            if last.is_some_and(|last| last >= tag.1) {
                self.violation(format!(
                    "writer {} to {id}: message {} read after {last:?}",
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
