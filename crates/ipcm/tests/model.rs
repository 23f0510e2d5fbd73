//! Property test: random operation sequences over several pipes and threads
//! against a plain reference model (`VecDeque` queues + FIFO wait lists).
//!
//! After every operation the manager's result, the exact sequence of wakes,
//! every delivered message and every pipe's `info` must equal the model's.
//! That pins down: no message lost, duplicated or reordered; every pending
//! operation woken exactly once; capacity never exceeded. The §9
//! operations are in the mix: urgent writes (user and kernel), purge,
//! close, indexed peek, peek-newer (kernel form, `after` near the newest
//! number, so urgent messages in front are in play), and every kernel read
//! checks the sequence number. Select is in the mix too: one to three
//! read, peek or write members (a pipe may come twice, a member's buffer
//! may be bad); the model withdraws a woken thread's other members at once
//! (the core does it lazily, which nothing can observe).

mod common;
use std::collections::VecDeque;

use ipcm::{SelectGroup, SelectOp, Selected, Shared};

use common::*;
use proptest::prelude::*;

const THREADS: usize = 4;
const PIPES: usize = 3;
const BAD: UserAddr = UserAddr(0xdead_0000);

#[derive(Clone, Debug)]
enum Op {
    Write {
        thread: usize,
        pipe: usize,
        len_seed: usize,
        bad: bool,
        nonblocking: bool,
        urgent: bool,
    },
    Read {
        thread: usize,
        pipe: usize,
        bad: bool,
        nonblocking: bool,
        peek: bool,
    },
    KernelWrite {
        pipe: usize,
        len_seed: usize,
        urgent: bool,
    },
    KernelPeekAt {
        pipe: usize,
        index: usize,
    },
    /// `kernel_peek_newer` with `after` = the pipe's written count minus
    /// `back`.
    KernelPeekNewer {
        pipe: usize,
        back: u64,
    },
    Purge {
        pipe: usize,
    },
    Close {
        pipe: usize,
    },
    KernelRead {
        pipe: usize,
        peek: bool,
    },
    Cancel {
        thread: usize,
        timed_out: bool,
    },
    /// Cancel by ticket: the thread's current one (`which` even, when it
    /// has one) or any ticket seen before, mostly stale by now.
    CancelByTicket {
        thread: usize,
        which: usize,
        timed_out: bool,
    },
    Destroy {
        pipe: usize,
    },
    /// A select of `thread` over `members` (pipe, kind 0 read / 1 peek /
    /// 2 write, bad buffer); every write member writes the same message.
    Select {
        thread: usize,
        members: Vec<(usize, u8, bool)>,
        len_seed: usize,
    },
    Recreate {
        pipe: usize,
        msg_size: usize,
        max_msgs: usize,
        discard: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let thread = 0..THREADS;
    let pipe = 0..PIPES;
    prop_oneof![
        6 => (thread.clone(), pipe.clone(), any::<usize>(), prop::bool::weighted(0.1), any::<bool>(), prop::bool::weighted(0.2))
            .prop_map(|(thread, pipe, len_seed, bad, nonblocking, urgent)| Op::Write { thread, pipe, len_seed, bad, nonblocking, urgent }),
        6 => (thread.clone(), pipe.clone(), prop::bool::weighted(0.1), any::<bool>(), prop::bool::weighted(0.25))
            .prop_map(|(thread, pipe, bad, nonblocking, peek)| Op::Read { thread, pipe, bad, nonblocking, peek }),
        2 => (pipe.clone(), any::<usize>(), prop::bool::weighted(0.2)).prop_map(|(pipe, len_seed, urgent)| Op::KernelWrite { pipe, len_seed, urgent }),
        1 => (pipe.clone(), 0..4usize).prop_map(|(pipe, index)| Op::KernelPeekAt { pipe, index }),
        1 => (pipe.clone(), 0..4u64).prop_map(|(pipe, back)| Op::KernelPeekNewer { pipe, back }),
        1 => pipe.clone().prop_map(|pipe| Op::Purge { pipe }),
        1 => (pipe.clone(), 0..4u8).prop_map(|(pipe, one_in_four)| if one_in_four == 0 { Op::Close { pipe } } else { Op::Purge { pipe } }),
        2 => (pipe.clone(), any::<bool>()).prop_map(|(pipe, peek)| Op::KernelRead { pipe, peek }),
        2 => (thread.clone(), any::<bool>()).prop_map(|(thread, timed_out)| Op::Cancel { thread, timed_out }),
        2 => (thread.clone(), any::<usize>(), any::<bool>())
            .prop_map(|(thread, which, timed_out)| Op::CancelByTicket { thread, which, timed_out }),
        1 => pipe.clone().prop_map(|pipe| Op::Destroy { pipe }),
        3 => (thread.clone(), prop::collection::vec((pipe.clone(), 0..3u8, prop::bool::weighted(0.1)), 1..4), any::<usize>())
            .prop_map(|(thread, members, len_seed)| Op::Select { thread, members, len_seed }),
        1 => (pipe, 1..6usize, 1..4usize, any::<bool>())
            .prop_map(|(pipe, msg_size, max_msgs, discard)| Op::Recreate { pipe, msg_size, max_msgs, discard }),
    ]
}

#[derive(Clone, Debug, PartialEq)]
enum Waiter {
    Read {
        thread: usize,
        bad: bool,
    },
    Peek {
        thread: usize,
        bad: bool,
    },
    Write {
        thread: usize,
        bad: bool,
        msg: Vec<u8>,
        urgent: bool,
    },
}

impl Waiter {
    fn thread(&self) -> usize {
        match self {
            Waiter::Read { thread, .. }
            | Waiter::Peek { thread, .. }
            | Waiter::Write { thread, .. } => *thread,
        }
    }
}

struct ModelPipe {
    id: PipeId,
    msg_size: usize,
    max_msgs: usize,
    discard: bool,
    /// Each message with its sequence number.
    queue: VecDeque<(Vec<u8>, u64)>,
    waiters: VecDeque<Waiter>,
    written: u64,
    read: u64,
    dropped: u64,
    purged: u64,
    closed: bool,
}

impl ModelPipe {
    /// Accept `msg` into the queue (at the front when `urgent`), dropping
    /// the oldest when full (discard-oldest).
    fn accept(&mut self, msg: Vec<u8>, urgent: bool) {
        self.written += 1;
        let seq = self.written;
        if urgent {
            if self.queue.len() == self.max_msgs {
                self.queue.pop_front();
                self.dropped += 1;
            }
            self.queue.push_front((msg, seq));
        } else {
            self.queue.push_back((msg, seq));
            if self.queue.len() > self.max_msgs {
                self.queue.pop_front();
                self.dropped += 1;
            }
        }
    }

    /// Admit pending writers, oldest first, while there is room.
    fn admit(&mut self, e: &mut Expect) {
        while self.queue.len() < self.max_msgs {
            match self.waiters.pop_front() {
                None => break,
                Some(w) if e.woken(w.thread()) => {}
                Some(Waiter::Write {
                    thread, bad, msg, ..
                }) if faults(bad, &msg) => e.wakes.push((thread, Status::BadAddress, None)),
                Some(Waiter::Write {
                    thread,
                    msg,
                    urgent,
                    ..
                }) => {
                    self.accept(msg, urgent);
                    e.wakes.push((thread, Status::Ok, None));
                }
                // Readers and peekers wait (a purge of an empty pipe): no
                // writer does then.
                Some(other) => {
                    self.waiters.push_front(other);
                    break;
                }
            }
        }
    }
}

/// What the model predicts one operation does.
#[derive(Debug, Default)]
struct Expect {
    /// (thread, status, message delivered to a woken reader/peeker)
    wakes: Vec<(usize, Status, Option<Vec<u8>>)>,
}

impl Expect {
    /// Whether `thread` was woken by this operation already: then its
    /// other waiters are withdrawn select members, served by nobody.
    fn woken(&self, thread: usize) -> bool {
        self.wakes.iter().any(|(t, ..)| *t == thread)
    }
}

/// Whether copying `msg` through a bad buffer faults: a zero-length copy
/// touches no memory, so it cannot.
fn faults(bad: bool, msg: &[u8]) -> bool {
    bad && !msg.is_empty()
}

struct Model {
    pipes: Vec<Option<ModelPipe>>,
    /// The sequence number of the message the last successful read or
    /// peek returned now.
    last_seq: u64,
}

impl Model {
    fn pending_thread(&self, thread: usize) -> Option<usize> {
        self.pipes.iter().position(|p| {
            p.as_ref()
                .is_some_and(|p| p.waiters.iter().any(|w| w.thread() == thread))
        })
    }

    /// Write `msg`; `None` thread is the kernel.
    #[allow(clippy::too_many_arguments)] // the model mirrors the call
    fn write(
        &mut self,
        pipe: usize,
        thread: Option<usize>,
        msg: Vec<u8>,
        bad: bool,
        nonblocking: bool,
        urgent: bool,
        e: &mut Expect,
    ) -> Result<Option<Vec<u8>>, Status> {
        let Some(p) = self.pipes[pipe].as_mut() else {
            return Err(Status::NotFound);
        };
        if p.closed {
            return Err(Status::Closed);
        }
        if msg.len() > p.msg_size {
            return Err(Status::TooLarge);
        }
        if p.queue.len() == p.max_msgs && !p.discard {
            if nonblocking {
                return Err(Status::Full);
            }
            p.waiters.push_back(Waiter::Write {
                thread: thread.unwrap(),
                bad,
                msg,
                urgent,
            });
            return Ok(None);
        }
        if faults(bad, &msg) {
            return Err(Status::BadAddress);
        }
        let seq = p.written + 1;
        let _ = seq;
        let mut kept = VecDeque::new();
        for w in p.waiters.drain(..) {
            match w {
                w if e.woken(w.thread()) => {}
                Waiter::Peek { thread, bad } if faults(bad, &msg) => {
                    e.wakes.push((thread, Status::BadAddress, None))
                }
                Waiter::Peek { thread, .. } => {
                    e.wakes.push((thread, Status::Ok, Some(msg.clone())))
                }
                other => kept.push_back(other),
            }
        }
        p.waiters = kept;
        while let Some(w) = p.waiters.pop_front() {
            match w {
                w if e.woken(w.thread()) => {}
                Waiter::Read { thread, bad } if faults(bad, &msg) => {
                    e.wakes.push((thread, Status::BadAddress, None))
                }
                Waiter::Read { thread, .. } => {
                    p.written += 1;
                    p.read += 1;
                    e.wakes.push((thread, Status::Ok, Some(msg)));
                    return Ok(None);
                }
                other => panic!("model: {other:?} waits on a pipe that is not full"),
            }
        }
        p.accept(msg, urgent);
        Ok(None)
    }

    fn read(
        &mut self,
        pipe: usize,
        thread: Option<usize>,
        bad: bool,
        nonblocking: bool,
        peek: bool,
        e: &mut Expect,
    ) -> Result<Option<Vec<u8>>, Status> {
        let Some(p) = self.pipes[pipe].as_mut() else {
            return Err(Status::NotFound);
        };
        let Some((front, seq)) = p.queue.front().cloned() else {
            if p.closed {
                return Err(Status::Closed);
            }
            if nonblocking {
                return Err(Status::Empty);
            }
            let thread = thread.unwrap();
            p.waiters.push_back(if peek {
                Waiter::Peek { thread, bad }
            } else {
                Waiter::Read { thread, bad }
            });
            return Ok(None);
        };
        if faults(bad, &front) {
            return Err(Status::BadAddress);
        }
        if !peek {
            p.queue.pop_front();
            p.read += 1;
            p.admit(e);
        }
        self.last_seq = seq;
        Ok(Some(front))
    }
}

impl Model {
    /// A select: the checks, then each member in list order completes now
    /// (its earlier members withdrawn) or waits. `Ok(None)`: blocked.
    #[allow(clippy::type_complexity)] // (index, status, message delivered)
    fn select(
        &mut self,
        thread: usize,
        members: &[(usize, u8, bool)],
        msg: &[u8],
        e: &mut Expect,
    ) -> Result<Option<(usize, Status, Option<Vec<u8>>)>, Status> {
        for &(pipe, kind, _) in members {
            let p = self.pipes[pipe].as_ref().ok_or(Status::NotFound)?;
            if kind == 2 && msg.len() > p.msg_size {
                return Err(Status::TooLarge);
            }
        }
        for (index, &(pipe, kind, bad)) in members.iter().enumerate() {
            let p = self.pipes[pipe].as_mut().expect("checked");
            let ready = p.closed
                || match kind {
                    2 => p.queue.len() < p.max_msgs || p.discard,
                    _ => !p.queue.is_empty(),
                };
            if !ready {
                p.waiters.push_back(match kind {
                    0 => Waiter::Read { thread, bad },
                    1 => Waiter::Peek { thread, bad },
                    _ => Waiter::Write {
                        thread,
                        bad,
                        msg: msg.to_vec(),
                        urgent: false,
                    },
                });
                continue;
            }
            // This member completes: the ones queued before it withdraw.
            for p in self.pipes.iter_mut().flatten() {
                p.waiters.retain(|w| w.thread() != thread);
            }
            let (status, delivered) = if kind == 2 {
                match self.write(pipe, Some(thread), msg.to_vec(), bad, true, false, e) {
                    Ok(_) => (Status::Ok, None),
                    Err(status) => (status, None),
                }
            } else {
                match self.read(pipe, Some(thread), bad, true, kind == 1, e) {
                    Ok(delivered) => (Status::Ok, delivered),
                    Err(status) => (status, None),
                }
            };
            return Ok(Some((index, status, delivered)));
        }
        Ok(None)
    }
}

struct Harness {
    fx: Fixture,
    actors: Vec<Actor>,
    model: Model,
    seq: std::cell::Cell<u8>,
    /// The ticket of each thread's pending operation.
    tickets: Vec<Option<Ticket>>,
    /// Every ticket handed out, with its thread.
    seen: Vec<(usize, Ticket)>,
    /// Each thread's select group record.
    groups: Vec<Shared<SelectGroup>>,
}

impl Harness {
    fn new() -> Harness {
        let fx = Fixture::new();
        let actors = (0..THREADS).map(|_| fx.actor()).collect();
        let mut h = Harness {
            fx,
            actors,
            model: Model {
                pipes: Vec::new(),
                last_seq: 0,
            },
            seq: std::cell::Cell::new(0),
            tickets: vec![None; THREADS],
            seen: Vec::new(),
            groups: (0..THREADS)
                .map(|_| SelectGroup::shared().expect("a select group record"))
                .collect(),
        };
        for (msg_size, max_msgs, discard) in [(4, 2, false), (3, 1, true), (5, 3, false)] {
            let pipe = h.create(msg_size, max_msgs, discard);
            h.model.pipes.push(Some(pipe));
        }
        h
    }

    fn create(&self, msg_size: usize, max_msgs: usize, discard: bool) -> ModelPipe {
        let flags = if discard {
            PipeFlags::DISCARD_OLDEST
        } else {
            PipeFlags::empty()
        };
        ModelPipe {
            id: self.fx.pipe(msg_size, max_msgs, flags),
            msg_size,
            max_msgs,
            discard,
            queue: VecDeque::new(),
            waiters: VecDeque::new(),
            written: 0,
            read: 0,
            dropped: 0,
            purged: 0,
            closed: false,
        }
    }

    /// The id the manager knows a model slot by (stale after destroy).
    fn id(&self, pipe: usize, stale: &[PipeId]) -> PipeId {
        self.model.pipes[pipe]
            .as_ref()
            .map_or(stale[pipe], |p| p.id)
    }

    fn message(&self, pipe: usize, len_seed: usize) -> Vec<u8> {
        let msg_size = self.model.pipes[pipe].as_ref().map_or(4, |p| p.msg_size);
        let len = len_seed % (msg_size + 2);
        (0..len)
            .map(|_| {
                self.seq.set(self.seq.get().wrapping_add(1));
                self.seq.get()
            })
            .collect()
    }

    fn step(&mut self, op: &Op, stale: &mut [PipeId]) -> Result<(), TestCaseError> {
        let mut e = Expect::default();
        let ipcm = &self.fx.ipcm;
        match *op {
            Op::Write {
                thread,
                pipe,
                len_seed,
                bad,
                nonblocking,
                urgent,
            } => {
                let msg = self.message(pipe, len_seed);
                if self.model.pending_thread(thread).is_some() {
                    // Its source buffer is pending: leave it alone.
                    let got = ipcm.try_write(
                        &self.actors[thread].tid,
                        self.id(pipe, stale),
                        UserAddr(SRC),
                        msg.len(),
                    );
                    prop_assert_eq!(got.map(|_| ()), Err(Status::AlreadyPending), "{:?}", op);
                    return self.check_pipes();
                }
                let actor = self.actors[thread];
                self.fx.kernel().poke(actor.pid, SRC, &msg);
                let id = self.id(pipe, stale);
                let src = if bad { BAD } else { UserAddr(SRC) };
                // `Some(())`: done now; `None`: blocked.
                let mut blocked_with = None;
                let mut progress = |p| match p {
                    Progress::Done(_) => Some(()),
                    Progress::Blocked(ticket) => {
                        blocked_with = Some(ticket);
                        None
                    }
                };
                let got = match (nonblocking, urgent) {
                    (true, false) => ipcm
                        .try_write(&actor.tid, id, src, msg.len())
                        .map(|_| Some(())),
                    (true, true) => ipcm
                        .try_write_urgent(&actor.tid, id, src, msg.len())
                        .map(|_| Some(())),
                    (false, false) => ipcm
                        .write(&actor.tid, id, src, msg.len())
                        .map(&mut progress),
                    (false, true) => ipcm
                        .write_urgent(&actor.tid, id, src, msg.len())
                        .map(&mut progress),
                };
                let want =
                    self.model
                        .write(pipe, Some(thread), msg, bad, nonblocking, urgent, &mut e);
                let want_progress = want.map(|_| {
                    if self.model.pending_thread(thread).is_some() {
                        None
                    } else {
                        Some(())
                    }
                });
                prop_assert_eq!(got, want_progress, "{:?}", op);
                self.note_ticket(thread, blocked_with)?;
            }
            Op::Read {
                thread,
                pipe,
                bad,
                nonblocking,
                peek,
            } => {
                let actor = self.actors[thread];
                if self.model.pending_thread(thread).is_some() {
                    let got = ipcm.read(
                        &actor.tid,
                        self.id(pipe, stale),
                        UserAddr(DST),
                        UserAddr(LEN),
                    );
                    prop_assert_eq!(got, Err(Status::AlreadyPending), "{:?}", op);
                    return self.check_pipes();
                }
                self.fx.clear_received(actor);
                let id = self.id(pipe, stale);
                let dst = if bad { BAD } else { UserAddr(DST) };
                let got = match (nonblocking, peek) {
                    (true, false) => ipcm
                        .try_read(&actor.tid, id, dst, UserAddr(LEN))
                        .map(Progress::Done),
                    (true, true) => ipcm
                        .try_peek(&actor.tid, id, dst, UserAddr(LEN))
                        .map(Progress::Done),
                    (false, false) => ipcm.read(&actor.tid, id, dst, UserAddr(LEN)),
                    (false, true) => ipcm.peek(&actor.tid, id, dst, UserAddr(LEN)),
                };
                let want = self
                    .model
                    .read(pipe, Some(thread), bad, nonblocking, peek, &mut e);
                match (&got, &want) {
                    (Ok(Progress::Done(len)), Ok(Some(msg))) => {
                        prop_assert_eq!(*len, msg.len());
                        prop_assert_eq!(&self.fx.received(actor), msg, "{:?}", op);
                    }
                    (Ok(Progress::Blocked(ticket)), Ok(None)) => {
                        let ticket = *ticket;
                        self.note_ticket(thread, Some(ticket))?;
                    }
                    (Err(a), Err(b)) => prop_assert_eq!(a, b, "{:?}", op),
                    _ => prop_assert!(false, "{:?}: got {:?}, model {:?}", op, got, want),
                }
            }
            Op::KernelWrite {
                pipe,
                len_seed,
                urgent,
            } => {
                let msg = self.message(pipe, len_seed);
                let id = self.id(pipe, stale);
                let got = if urgent {
                    ipcm.kernel_write_urgent(id, &msg).map(|_| ())
                } else {
                    ipcm.kernel_write(id, &msg).map(|_| ())
                };
                let want = self
                    .model
                    .write(pipe, None, msg, false, true, urgent, &mut e)
                    .map(|_| ());
                prop_assert_eq!(got, want, "{:?}", op);
            }
            Op::KernelRead { pipe, peek } => {
                let mut buf = [0u8; 8];
                let id = self.id(pipe, stale);
                let got = if peek {
                    ipcm.kernel_peek_seq(id, &mut buf)
                } else {
                    ipcm.kernel_read_seq(id, &mut buf)
                };
                let got = got.map(|r| (Some(buf[..r.len].to_vec()), r.seq));
                let want = self
                    .model
                    .read(pipe, None, false, true, peek, &mut e)
                    .map(|msg| (msg, self.model.last_seq));
                prop_assert_eq!(got, want, "{:?}", op);
            }
            Op::KernelPeekAt { pipe, index } => {
                let mut buf = [0u8; 8];
                let got = ipcm
                    .kernel_peek_at(self.id(pipe, stale), index, &mut buf)
                    .map(|r| (buf[..r.len].to_vec(), r.seq));
                let want = match self.model.pipes[pipe].as_ref() {
                    None => Err(Status::NotFound),
                    Some(p) => match p.queue.get(index) {
                        Some(entry) => Ok(entry.clone()),
                        None if p.closed && p.queue.is_empty() => Err(Status::Closed),
                        None => Err(Status::Empty),
                    },
                };
                prop_assert_eq!(got, want, "{:?}", op);
            }
            Op::KernelPeekNewer { pipe, back } => {
                let written = self.model.pipes[pipe].as_ref().map_or(0, |p| p.written);
                let after = written.saturating_sub(back);
                let mut buf = [0u8; 8];
                let got = ipcm
                    .kernel_peek_newer(self.id(pipe, stale), after, &mut buf)
                    .map(|r| (buf[..r.len].to_vec(), r.seq));
                let want = match self.model.pipes[pipe].as_ref() {
                    None => Err(Status::NotFound),
                    Some(p) => match p.queue.iter().find(|(_, seq)| *seq > after) {
                        Some(entry) => Ok(entry.clone()),
                        None if p.closed => Err(Status::Closed),
                        None => Err(Status::Empty),
                    },
                };
                prop_assert_eq!(got, want, "{:?}", op);
            }
            Op::Purge { pipe } => {
                let got = ipcm.purge(Caller::Kernel, self.id(pipe, stale));
                let want = match self.model.pipes[pipe].as_mut() {
                    None => Err(Status::NotFound),
                    Some(p) => {
                        let n = p.queue.len();
                        p.queue.clear();
                        p.purged += n as u64;
                        p.admit(&mut e);
                        Ok(n)
                    }
                };
                prop_assert_eq!(got, want, "{:?}", op);
            }
            Op::Close { pipe } => {
                let got = ipcm.close(Caller::Kernel, self.id(pipe, stale));
                let want = match self.model.pipes[pipe].as_mut() {
                    None => Err(Status::NotFound),
                    Some(p) if p.closed => Err(Status::Closed),
                    Some(p) => {
                        p.closed = true;
                        for w in p.waiters.drain(..) {
                            if !e.woken(w.thread()) {
                                e.wakes.push((w.thread(), Status::Closed, None));
                            }
                        }
                        Ok(())
                    }
                };
                prop_assert_eq!(got, want, "{:?}", op);
            }
            Op::Cancel { thread, timed_out } => {
                let reason = if timed_out {
                    CancelReason::TimedOut
                } else {
                    CancelReason::Cancelled
                };
                let status = if timed_out {
                    Status::TimedOut
                } else {
                    Status::Cancelled
                };
                let want = match self.model.pending_thread(thread) {
                    Some(pipe) => {
                        let p = self.model.pipes[pipe].as_mut().unwrap();
                        p.waiters.retain(|w| w.thread() != thread);
                        e.wakes.push((thread, status, None));
                        Ok(())
                    }
                    None => Err(Status::NotFound),
                };
                prop_assert_eq!(
                    ipcm.cancel(&self.actors[thread].tid, reason),
                    want,
                    "{:?}",
                    op
                );
            }
            Op::CancelByTicket {
                thread,
                which,
                timed_out,
            } => {
                let ticket = match self.tickets[thread] {
                    Some(current) if which % 2 == 0 => Some(current),
                    _ if self.seen.is_empty() => None,
                    _ => Some(self.seen[which % self.seen.len()].1),
                };
                if let Some(ticket) = ticket {
                    let (reason, status) = if timed_out {
                        (CancelReason::TimedOut, Status::TimedOut)
                    } else {
                        (CancelReason::Cancelled, Status::Cancelled)
                    };
                    // Only the operation the ticket names, and only while
                    // it is this thread's pending one.
                    let want = if self.tickets[thread] == Some(ticket) {
                        let pipe = self.model.pending_thread(thread).expect("pending");
                        let p = self.model.pipes[pipe].as_mut().unwrap();
                        p.waiters.retain(|w| w.thread() != thread);
                        e.wakes.push((thread, status, None));
                        Ok(())
                    } else {
                        Err(Status::NotFound)
                    };
                    prop_assert_eq!(
                        ipcm.cancel_op(&self.actors[thread].tid, ticket, reason),
                        want,
                        "{:?} with {:?}",
                        op,
                        ticket
                    );
                }
            }
            Op::Destroy { pipe } => {
                let id = self.id(pipe, stale);
                let want = match self.model.pipes[pipe].take() {
                    Some(p) => {
                        stale[pipe] = p.id;
                        for w in &p.waiters {
                            if !e.woken(w.thread()) {
                                e.wakes.push((w.thread(), Status::Destroyed, None));
                            }
                        }
                        Ok(())
                    }
                    None => Err(Status::NotFound),
                };
                prop_assert_eq!(ipcm.destroy(Caller::Kernel, id), want, "{:?}", op);
            }
            Op::Select {
                thread,
                ref members,
                len_seed,
            } => {
                let actor = self.actors[thread];
                let msg = self.message(members[0].0, len_seed);
                let ops: Vec<SelectOp> = members
                    .iter()
                    .map(|&(pipe, kind, bad)| {
                        let pipe = self.id(pipe, stale);
                        let (buf, src) = if bad {
                            (BAD, BAD)
                        } else {
                            (UserAddr(DST), UserAddr(SRC))
                        };
                        match kind {
                            0 => SelectOp::Read {
                                pipe,
                                buf,
                                len_out: UserAddr(LEN),
                            },
                            1 => SelectOp::Peek {
                                pipe,
                                buf,
                                len_out: UserAddr(LEN),
                            },
                            _ => SelectOp::Write {
                                pipe,
                                buf: src,
                                len: msg.len(),
                            },
                        }
                    })
                    .collect();
                if self.model.pending_thread(thread).is_some() {
                    let got = ipcm.select(&actor.tid, &self.groups[thread], &ops);
                    prop_assert_eq!(got, Err(Status::AlreadyPending), "{:?}", op);
                    return self.check_pipes();
                }
                self.fx.kernel().poke(actor.pid, SRC, &msg);
                self.fx.clear_received(actor);
                let got = ipcm.select(&actor.tid, &self.groups[thread], &ops);
                let want = self.model.select(thread, members, &msg, &mut e);
                match (got, want) {
                    (Ok(Progress::Done(selected)), Ok(Some((index, status, delivered)))) => {
                        prop_assert_eq!(
                            selected,
                            Selected {
                                index: Some(index),
                                status
                            },
                            "{:?}",
                            op
                        );
                        prop_assert_eq!(self.groups[thread].outcome(), Some(selected));
                        if let Some(delivered) = delivered {
                            prop_assert_eq!(&self.fx.received(actor), &delivered, "{:?}", op);
                        }
                    }
                    (Ok(Progress::Blocked(ticket)), Ok(None)) => {
                        prop_assert!(
                            !self.seen.iter().any(|(_, t)| *t == ticket),
                            "{:?} handed out twice",
                            ticket
                        );
                        prop_assert_eq!(ticket.pipe(), ops[0].pipe(), "the first member's");
                        self.tickets[thread] = Some(ticket);
                        self.seen.push((thread, ticket));
                    }
                    (Err(a), Err(b)) => prop_assert_eq!(a, b, "{:?}", op),
                    (got, want) => {
                        prop_assert!(false, "{:?}: got {:?}, model {:?}", op, got, want)
                    }
                }
            }
            Op::Recreate {
                pipe,
                msg_size,
                max_msgs,
                discard,
            } => {
                if self.model.pipes[pipe].is_none() {
                    let created = self.create(msg_size, max_msgs, discard);
                    prop_assert!(
                        !stale.contains(&created.id),
                        "a destroyed id was handed out again"
                    );
                    self.model.pipes[pipe] = Some(created);
                }
            }
        }
        // A woken thread's other select members are withdrawn everywhere.
        for (thread, ..) in &e.wakes {
            for p in self.model.pipes.iter_mut().flatten() {
                p.waiters.retain(|w| w.thread() != *thread);
            }
        }
        self.check_wakes(&e, op)?;
        // A thread no longer pending has no current ticket.
        for (thread, ticket) in self.tickets.iter_mut().enumerate() {
            if self.model.pending_thread(thread).is_none() {
                *ticket = None;
            }
        }
        self.check_pipes()
    }

    /// A blocking call of `thread` returned `ticket` (`None`: it did not
    /// block): a fresh ticket for the pipe the model says it waits on.
    fn note_ticket(&mut self, thread: usize, ticket: Option<Ticket>) -> Result<(), TestCaseError> {
        let Some(ticket) = ticket else {
            return Ok(());
        };
        prop_assert!(
            !self.seen.iter().any(|(_, t)| *t == ticket),
            "{:?} handed out twice",
            ticket
        );
        let pipe = self
            .model
            .pending_thread(thread)
            .expect("blocked, so pending");
        prop_assert_eq!(ticket.pipe(), self.model.pipes[pipe].as_ref().unwrap().id);
        self.tickets[thread] = Some(ticket);
        self.seen.push((thread, ticket));
        Ok(())
    }

    fn check_wakes(&self, e: &Expect, op: &Op) -> Result<(), TestCaseError> {
        let got = self.fx.wakes();
        let want: Vec<(ThreadId, Status)> = e
            .wakes
            .iter()
            .map(|(t, s, _)| (self.actors[*t].tid, *s))
            .collect();
        prop_assert_eq!(&got, &want, "wakes after {:?}", op);
        for (thread, _, msg) in &e.wakes {
            if let Some(msg) = msg {
                prop_assert_eq!(
                    &self.fx.received(self.actors[*thread]),
                    msg,
                    "delivered by {:?}",
                    op
                );
            }
        }
        for (t, actor) in self.actors.iter().enumerate() {
            prop_assert_eq!(
                self.fx.ipcm.is_pending(&actor.tid),
                self.model.pending_thread(t).is_some()
            );
        }
        Ok(())
    }

    fn check_pipes(&self) -> Result<(), TestCaseError> {
        for p in self.model.pipes.iter().flatten() {
            let info = self.fx.info(p.id);
            prop_assert!(info.queued <= info.max_msgs, "capacity exceeded");
            let count = |f: fn(&Waiter) -> bool| p.waiters.iter().filter(|w| f(w)).count();
            prop_assert_eq!(
                (
                    info.queued,
                    info.written,
                    info.read,
                    info.dropped,
                    info.purged,
                    info.closed
                ),
                (
                    p.queue.len(),
                    p.written,
                    p.read,
                    p.dropped,
                    p.purged,
                    p.closed
                )
            );
            prop_assert_eq!(
                (
                    info.pending_readers,
                    info.pending_peekers,
                    info.pending_writers
                ),
                (
                    count(|w| matches!(w, Waiter::Read { .. })),
                    count(|w| matches!(w, Waiter::Peek { .. })),
                    count(|w| matches!(w, Waiter::Write { .. }))
                )
            );
        }
        Ok(())
    }

    /// Cancel every pending operation and drain every pipe: each pending
    /// thread is woken exactly once and every queued message comes out in
    /// order.
    fn finish(mut self) -> Result<(), TestCaseError> {
        for thread in 0..THREADS {
            let op = Op::Cancel {
                thread,
                timed_out: true,
            };
            let mut stale = [PipeId::from_raw(0); PIPES];
            self.step(&op, &mut stale)?;
        }
        for p in self.model.pipes.iter().flatten() {
            let queued: Vec<Vec<u8>> = p.queue.iter().map(|(msg, _)| msg.clone()).collect();
            prop_assert_eq!(self.fx.drain(p.id), queued);
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_operations_match_the_reference_model(ops in prop::collection::vec(op(), 1..200)) {
        let mut h = Harness::new();
        let mut stale = [PipeId::from_raw(0); PIPES];
        for op in &ops {
            h.step(op, &mut stale)?;
        }
        h.finish()?;
    }
}
