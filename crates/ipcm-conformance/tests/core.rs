//! The conformance suite on the core itself, under its test kernel
//! (`ipcm::testing`): a thread is a fresh `ThreadId`, a blocked operation
//! is a `Progress::Blocked` whose wake the test kernel records, and a
//! deadline is the kernel cancelling the operation's ticket.

use std::collections::HashMap;

use ipcm::testing::{PAGE_SIZE, Perm, TestIpcm, TestKernel, ThreadId};
use ipcm::{
    Caller, CancelReason, PipeFlags, PipeId, Priority, ProcessId, Progress, SelectGroup, SelectOp,
    Shared, Status, Ticket, UserAddr,
};
use ipcm_conformance::{
    Admin, Cancel, Counts, Member, Op, Outcome, Processes, SameThread, Spec, Substrate, Wait,
    WakeFeedback,
};

/// The process every thread of the suite belongs to.
const PROCESS: ProcessId = ProcessId(1);

/// Where a receive's message, length and sequence number go.
#[derive(Clone, Copy, Debug)]
struct Slot {
    buf: usize,
    len: usize,
    seq: usize,
}

/// What a started operation needs to be finished.
struct Started {
    thread: ThreadId,
    wait: Wait,
    /// The receive slots (one per select member; one for a read or peek).
    slots: Vec<Slot>,
    /// Which members receive (for a plain op: whether it does).
    receives: Vec<bool>,
    group: Option<Shared<SelectGroup>>,
    state: State,
}

enum State {
    Done(Outcome),
    Blocked(Ticket),
}

struct CoreSubstrate {
    ipcm: TestIpcm,
    next_va: usize,
    wakes: HashMap<ThreadId, Status>,
}

impl CoreSubstrate {
    fn new() -> Self {
        CoreSubstrate {
            ipcm: TestIpcm::new(TestKernel::new()),
            next_va: 0x10_0000,
            wakes: HashMap::new(),
        }
    }

    fn kernel(&self) -> &TestKernel {
        self.ipcm.kernel()
    }

    /// A fresh mapped range of `len` bytes.
    fn alloc(&mut self, len: usize) -> usize {
        let va = self.next_va;
        let len = len.div_ceil(PAGE_SIZE).max(1) * PAGE_SIZE;
        self.next_va += len + PAGE_SIZE; // an unmapped guard page between ranges
        self.kernel().map(PROCESS, va, len, Perm::ReadWrite);
        va
    }

    fn msg_size(&self, pipe: PipeId) -> usize {
        self.ipcm.open(pipe).map_or(64, |pipe| pipe.msg_size())
    }

    fn slot(&mut self, pipe: PipeId) -> Slot {
        let msg_size = self.msg_size(pipe);
        let buf = self.alloc(msg_size + 16);
        let len = buf + msg_size.next_multiple_of(8);
        Slot {
            buf,
            len,
            seq: len + 8,
        }
    }

    fn message(&mut self, msg: &[u8]) -> UserAddr {
        let va = self.alloc(msg.len().max(1));
        self.kernel().poke(PROCESS, va, msg);
        UserAddr(va)
    }

    /// Record every wake the test kernel saw; each thread exactly once.
    fn collect_wakes(&mut self) {
        for (thread, status) in self.kernel().take_wakes() {
            let earlier = self.wakes.insert(thread, status);
            assert!(
                earlier.is_none(),
                "{thread:?} woken twice: {earlier:?}, {status:?}"
            );
        }
    }

    /// The message a receive left in `slot`.
    fn received(&self, slot: Slot, seq: Option<u64>) -> Outcome {
        let kernel = self.kernel();
        let len = kernel.peek_usize(PROCESS, slot.len);
        Outcome::received(kernel.peek_memory(PROCESS, slot.buf, len), seq)
    }

    fn start(&mut self, op: Op<PipeId>, priority: u8) -> Started {
        let thread = self.kernel().spawn(PROCESS, Priority(priority));
        self.start_on(thread, op)
    }

    /// Start `op` as `thread`.
    fn start_on(&mut self, thread: ThreadId, op: Op<PipeId>) -> Started {
        let mut started = Started {
            thread,
            wait: Wait::Never,
            slots: Vec::new(),
            receives: Vec::new(),
            group: None,
            state: State::Done(Outcome::ok()),
        };
        let progress = match op {
            Op::Write {
                pipe,
                msg,
                urgent,
                wait,
            } => {
                started.wait = wait;
                let src = self.message(&msg);
                let (ipcm, len) = (&self.ipcm, msg.len());
                let progress = match (wait, urgent) {
                    (Wait::Never, false) => {
                        ipcm.try_write(&thread, pipe, src, len).map(Progress::Done)
                    }
                    (Wait::Never, true) => ipcm
                        .try_write_urgent(&thread, pipe, src, len)
                        .map(Progress::Done),
                    (_, false) => ipcm.write(&thread, pipe, src, len),
                    (_, true) => ipcm.write_urgent(&thread, pipe, src, len),
                };
                progress.map(|p| then(p, |_| Outcome::ok()))
            }
            Op::WritePrio {
                pipe,
                msg,
                prio,
                wait,
            } => {
                started.wait = wait;
                let src = self.message(&msg);
                let (ipcm, len) = (&self.ipcm, msg.len());
                let progress = match wait {
                    Wait::Never => ipcm
                        .try_write_prio(&thread, pipe, src, len, prio)
                        .map(Progress::Done),
                    _ => ipcm.write_prio(&thread, pipe, src, len, prio),
                };
                progress.map(|p| then(p, |_| Outcome::ok()))
            }
            Op::Read { pipe, wait } | Op::Peek { pipe, wait } => {
                let consume = matches!(op, Op::Read { .. });
                started.wait = wait;
                let slot = self.receive_slot(&mut started, pipe);
                let (ipcm, buf, len, seq) = (
                    &self.ipcm,
                    UserAddr(slot.buf),
                    UserAddr(slot.len),
                    UserAddr(slot.seq),
                );
                let progress = match (wait, consume) {
                    (Wait::Never, true) => ipcm
                        .try_read(&thread, pipe, buf, len)
                        .map(|_| Progress::Done(None)),
                    (Wait::Never, false) => ipcm
                        .try_peek(&thread, pipe, buf, len)
                        .map(|_| Progress::Done(None)),
                    (_, true) => ipcm
                        .read_seq(&thread, pipe, buf, len, seq)
                        .map(|p| then(p, |r| Some(r.seq))),
                    (_, false) => ipcm
                        .peek_seq(&thread, pipe, buf, len, seq)
                        .map(|p| then(p, |r| Some(r.seq))),
                };
                progress.map(|p| then(p, |seq| self.received(slot, seq)))
            }
            Op::PeekNewer { pipe, after, wait } => {
                started.wait = wait;
                let slot = self.receive_slot(&mut started, pipe);
                let (ipcm, buf, len, seq) = (
                    &self.ipcm,
                    UserAddr(slot.buf),
                    UserAddr(slot.len),
                    UserAddr(slot.seq),
                );
                let progress = match wait {
                    Wait::Never => ipcm
                        .try_peek_newer(&thread, pipe, after, buf, len, seq)
                        .map(Progress::Done),
                    _ => ipcm.peek_newer(&thread, pipe, after, buf, len, seq),
                };
                progress.map(|p| then(p, |r| self.received(slot, Some(r.seq))))
            }
            Op::PeekAt { pipe, index } => {
                let slot = self.receive_slot(&mut started, pipe);
                let (buf, len, seq) = (UserAddr(slot.buf), UserAddr(slot.len), UserAddr(slot.seq));
                self.ipcm
                    .peek_at(&thread, pipe, index, buf, len, seq)
                    .map(|r| Progress::Done(self.received(slot, Some(r.seq))))
            }
            Op::Select { members, wait } => {
                started.wait = wait;
                let group = SelectGroup::shared().expect("group record");
                let mut ops = Vec::new();
                for member in &members {
                    let slot = self.receive_slot(&mut started, *member.pipe());
                    let (buf, len_out) = (UserAddr(slot.buf), UserAddr(slot.len));
                    ops.push(match member {
                        Member::Read(pipe) => SelectOp::Read {
                            pipe: *pipe,
                            buf,
                            len_out,
                        },
                        Member::Peek(pipe) => SelectOp::Peek {
                            pipe: *pipe,
                            buf,
                            len_out,
                        },
                        Member::Write(pipe, msg) => {
                            *started.receives.last_mut().expect("pushed") = false;
                            SelectOp::Write {
                                pipe: *pipe,
                                buf: self.message(msg),
                                len: msg.len(),
                            }
                        }
                    });
                }
                started.group = Some(group.clone());
                self.ipcm
                    .select(&thread, &group, &ops)
                    .map(|p| then(p, |_| self.selected(&started)))
            }
        };
        started.state = match progress {
            Ok(Progress::Done(outcome)) => State::Done(outcome),
            Err(status) => State::Done(Outcome::status(status)),
            Ok(Progress::Blocked(ticket)) => State::Blocked(ticket),
        };
        if started.wait == Wait::Zero || started.wait == Wait::Never {
            // The deadline has passed already: the kernel's timer cancels
            // at once (a select has no try form: Never is Zero for it).
            self.expire(&mut started);
        }
        started
    }

    /// The operation's deadline passes (nothing else will happen to it).
    fn expire(&mut self, started: &mut Started) {
        if let State::Blocked(ticket) = started.state {
            let _ = self
                .ipcm
                .cancel_op(&started.thread, ticket, CancelReason::TimedOut);
            started.state = State::Done(self.finish(started).expect("cancel wakes the thread"));
        }
    }

    fn receive_slot(&mut self, started: &mut Started, pipe: PipeId) -> Slot {
        let slot = self.slot(pipe);
        started.slots.push(slot);
        started.receives.push(true);
        slot
    }

    /// The outcome of a select whose group has one.
    fn selected(&self, started: &Started) -> Outcome {
        let group = started.group.as_ref().expect("a select");
        let selected = group.outcome().expect("the select has an outcome");
        let mut outcome = match selected.index {
            Some(index) if selected.status == Status::Ok && started.receives[index] => {
                self.received(started.slots[index], None)
            }
            _ => Outcome::status(selected.status),
        };
        outcome.index = selected.index;
        outcome
    }

    /// The outcome of a woken operation; `None` while it waits.
    fn finish(&mut self, started: &Started) -> Option<Outcome> {
        self.collect_wakes();
        let status = *self.wakes.get(&started.thread)?;
        if started.group.is_some() {
            let outcome = self.selected(started);
            assert_eq!(outcome.status, status, "the select's wake and its outcome");
            return Some(outcome);
        }
        Some(match (status, started.receives.first()) {
            (Status::Ok, Some(true)) => {
                let bytes = self.kernel().peek_memory(PROCESS, started.slots[0].seq, 8);
                let seq = u64::from_ne_bytes(bytes.try_into().expect("8 bytes"));
                self.received(started.slots[0], Some(seq))
            }
            _ => Outcome::status(status),
        })
    }
}

impl Substrate for CoreSubstrate {
    type Pipe = PipeId;
    type Pending = Started;

    fn create(&mut self, spec: Spec) -> Result<PipeId, Status> {
        self.ipcm
            .create(Caller::Kernel, None, spec.msg_size, spec.depth, flags(spec))
    }

    fn run(&mut self, op: Op<PipeId>) -> Outcome {
        let mut started = self.start(op, 0);
        if started.wait == Wait::Briefly {
            self.expire(&mut started);
        }
        match started.state {
            State::Done(outcome) => outcome,
            State::Blocked(_) => panic!("run: the operation waits, and nothing will complete it"),
        }
    }

    fn spawn(&mut self, op: Op<PipeId>) -> Started {
        self.start(op, 0)
    }

    fn is_pending(&mut self, started: &Started) -> bool {
        matches!(started.state, State::Blocked(_)) && self.finish(started).is_none()
    }

    fn join(&mut self, mut started: Started) -> Outcome {
        if let State::Blocked(_) = started.state {
            match self.finish(&started) {
                Some(outcome) => started.state = State::Done(outcome),
                None if started.wait == Wait::Briefly => self.expire(&mut started),
                None => panic!("join: the operation still waits, and nothing will complete it"),
            }
        }
        match started.state {
            State::Done(outcome) => outcome,
            State::Blocked(_) => unreachable!("finished above"),
        }
    }

    fn purge(&mut self, pipe: &PipeId) -> Result<usize, Status> {
        self.ipcm.purge(Caller::Kernel, *pipe)
    }

    fn close(&mut self, pipe: &PipeId) -> Result<(), Status> {
        self.ipcm.close(Caller::Kernel, *pipe)
    }

    fn destroy(&mut self, pipe: &PipeId) -> Result<(), Status> {
        self.ipcm.destroy(Caller::Kernel, *pipe)
    }

    fn counts(&mut self, pipe: &PipeId) -> Result<Counts, Status> {
        self.ipcm.info(*pipe).map(|info| Counts::from(&info))
    }
}

impl WakeFeedback for CoreSubstrate {
    fn spawn_at(&mut self, op: Op<PipeId>, priority: u8) -> Started {
        self.start(op, priority)
    }

    fn kernel_write_woke(&mut self, pipe: &PipeId, msg: &[u8], than: u8) -> Result<bool, Status> {
        self.ipcm
            .kernel_write_woke(*pipe, msg, Priority(than))
            .map(|woke| woke.higher_priority)
    }
}

/// The flags a spec asks for.
fn flags(spec: Spec) -> PipeFlags {
    let mut flags = PipeFlags::empty();
    flags.set(PipeFlags::DISCARD_OLDEST, spec.discard_oldest);
    flags.set(PipeFlags::PRIORITY_MESSAGES, spec.by_priority);
    flags
}

/// The suite's pipes are the kernel's; its threads are of [`PROCESS`].
impl Processes for CoreSubstrate {
    fn create_foreign(&mut self, spec: Spec) -> Result<PipeId, Status> {
        self.create(spec)
    }

    fn admin_as_user(&mut self, admin: Admin, pipe: &PipeId) -> Result<usize, Status> {
        let thread = self.kernel().spawn(PROCESS, Priority(0));
        let caller = Caller::Thread(&thread);
        match admin {
            Admin::Purge => self.ipcm.purge(caller, *pipe),
            Admin::Close => self.ipcm.close(caller, *pipe).map(|()| 0),
            Admin::Destroy => self.ipcm.destroy(caller, *pipe).map(|()| 0),
        }
    }
}

impl Cancel for CoreSubstrate {
    fn cancel(&mut self, started: &Started) -> Result<(), Status> {
        self.ipcm.cancel(&started.thread, CancelReason::Cancelled)
    }
}

impl SameThread for CoreSubstrate {
    fn run_as(&mut self, started: &Started, op: Op<PipeId>) -> Outcome {
        match self.start_on(started.thread, op).state {
            State::Done(outcome) => outcome,
            State::Blocked(_) => panic!("run_as: a second operation blocked"),
        }
    }
}

ipcm_conformance::common_conformance_tests!(CoreSubstrate::new());
ipcm_conformance::conformance_tests!(CoreSubstrate::new();
    select_times_out_as_a_group,
    wake_feedback,
    stranger_may_not_purge_close_or_destroy,
    cancel_ends_pending_op_cancelled_and_loses_nothing,
    second_operation_of_pending_thread_is_already_pending,
);

/// `f` of a completed operation's result.
fn then<T, U>(progress: Progress<T>, f: impl FnOnce(T) -> U) -> Progress<U> {
    match progress {
        Progress::Done(value) => Progress::Done(f(value)),
        Progress::Blocked(ticket) => Progress::Blocked(ticket),
    }
}
