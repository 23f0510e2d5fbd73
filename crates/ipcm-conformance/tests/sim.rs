//! The conformance suite on the simulator (`lukos-sim`): every operation
//! is a system call of a simulated thread of its own, in one process that
//! owns the pipes; the scheduler runs it until it blocks or exits. A
//! deadline is the syscall's timeout in ticks, fired by the simulated
//! clock as the machine idles.
//!
//! Every behaviour runs on the sim's system calls: `pipe_create`,
//! `pipe_write`/`pipe_read` (peek, try, timeout), `pipe_destroy`, and the
//! §9 ones: `pipe_write_urgent`, `pipe_write_prio`, `pipe_read_seq`,
//! `pipe_peek_newer`, `pipe_peek_at`, `pipe_purge`, `pipe_close`,
//! `pipe_select`. Wake
//! feedback is the kernel's `kernel_write_woke` (an interrupt handler's
//! call, not a syscall), through `Sim::ipc` so that its wakes are applied;
//! so is cancel (the kernel's `cancel`, as a kill makes it).
//!
//! Not run here: `second_operation_of_pending_thread_is_already_pending`
//! (a thread blocked in a system call runs no code, so it cannot make a
//! second one; only the kernel's own calls could name it).

use std::cell::RefCell;
use std::rc::Rc;

use ipcm::{CancelReason, PipeFlags, PipeId, Priority, ProcessId};
use lukos_sim::syscall::SelectEntry;
use lukos_sim::{
    ExitReason, IpcCall, IpcValue, PAGE_SIZE, Perm, SchedConfig, Sim, Step, Sys, ThreadState, Tid,
    UserError,
};

use ipcm_conformance::{
    Admin, Cancel, Counts, Member, Op, Outcome, Processes, Spec, Status, Substrate, Wait,
    WakeFeedback,
};

/// Where the suite's buffers start in the process.
const DATA: usize = 0x10_0000;

/// The ticks of [`Wait::Briefly`].
const BRIEFLY: u64 = 5;

/// Scheduling steps one operation may take to block or exit.
const STEP_LIMIT: usize = 100_000;

/// Where a receive's message, length and number go.
#[derive(Clone, Copy)]
struct SimSink {
    dst: usize,
    len_out: usize,
    seq_out: usize,
}

impl SimSink {
    /// The outcome of a receive into this sink that ended with `done`.
    fn outcome(self, sys: &Sys, done: Result<(), Status>, seq: bool) -> Result<Outcome, UserError> {
        Ok(match done {
            Ok(()) => {
                let len = sys.load_usize(self.len_out)?;
                let seq = if seq {
                    let bytes = sys.load(self.seq_out, 8)?;
                    Some(u64::from_ne_bytes(bytes.try_into().expect("8 bytes")))
                } else {
                    None
                };
                Outcome::received(sys.load(self.dst, len)?, seq)
            }
            Err(status) => Outcome::status(status),
        })
    }
}

/// A started operation: its thread and where its outcome lands.
struct Started {
    tid: Tid,
    outcome: Rc<RefCell<Option<Outcome>>>,
}

struct SimSubstrate {
    sim: Sim,
    pid: ProcessId,
    next_va: usize,
}

fn wait_of(wait: Wait) -> lukos_sim::Wait {
    match wait {
        Wait::Never => lukos_sim::Wait::Never,
        Wait::Forever => lukos_sim::Wait::Forever,
        Wait::Zero => lukos_sim::Wait::Ticks(0),
        Wait::Briefly => lukos_sim::Wait::Ticks(BRIEFLY),
    }
}

impl SimSubstrate {
    fn new() -> Self {
        let mut sim = Sim::new(13, SchedConfig::default());
        let pid = sim.create_process("conformance");
        SimSubstrate {
            sim,
            pid,
            next_va: DATA,
        }
    }

    /// A fresh mapped range of `len` bytes in the process.
    fn alloc(&mut self, len: usize) -> usize {
        let va = self.next_va;
        let len = len.div_ceil(PAGE_SIZE).max(1) * PAGE_SIZE;
        self.next_va += len + PAGE_SIZE;
        self.sim.map(self.pid, va, len, Perm::ReadWrite);
        va
    }

    fn msg_size(&self, pipe: PipeId) -> usize {
        self.sim.ipcm().info(pipe).map_or(64, |info| info.msg_size)
    }

    fn state(&self, tid: Tid) -> &ThreadState {
        self.sim.state(tid)
    }

    /// Run the threads that can run, without letting time pass for
    /// sleepers and timeouts.
    fn settle(&mut self) {
        for _ in 0..STEP_LIMIT {
            let runnable = self.sim.tids().any(|tid| {
                matches!(
                    self.sim.state(tid),
                    ThreadState::Ready | ThreadState::Running
                )
            });
            if !runnable {
                return;
            }
            self.sim.step();
        }
        panic!("the simulated threads never settle");
    }

    /// Start `op` on a simulated thread; returns once it blocks or exits.
    /// A receive buffer, its length and number words, for `pipe`.
    fn sink(&mut self, pipe: PipeId) -> SimSink {
        let msg_size = self.msg_size(pipe);
        let dst = self.alloc(msg_size + 16);
        let len_out = dst + msg_size.next_multiple_of(8);
        SimSink {
            dst,
            len_out,
            seq_out: len_out + 8,
        }
    }

    fn start(&mut self, op: Op<PipeId>, priority: u8) -> Started {
        let outcome = Rc::new(RefCell::new(None));
        let tid = match op {
            Op::Write {
                pipe,
                msg,
                urgent,
                wait,
            } => {
                let src = self.alloc(msg.len());
                self.spawn_op(&outcome, "write", priority, move |sys| async move {
                    sys.store(src, &msg)?;
                    let (len, wait) = (msg.len(), wait_of(wait));
                    let done = if urgent {
                        sys.pipe_write_urgent(pipe, src, len, wait).await
                    } else {
                        sys.pipe_write_with(pipe, src, len, wait).await
                    };
                    Ok(Outcome::status(done.err().unwrap_or(Status::Ok)))
                })
            }
            Op::WritePrio {
                pipe,
                msg,
                prio,
                wait,
            } => {
                let src = self.alloc(msg.len());
                self.spawn_op(&outcome, "write_prio", priority, move |sys| async move {
                    sys.store(src, &msg)?;
                    let done = sys
                        .pipe_write_prio(pipe, src, msg.len(), prio.into(), wait_of(wait))
                        .await;
                    Ok(Outcome::status(done.err().unwrap_or(Status::Ok)))
                })
            }
            Op::Read { pipe, wait } | Op::Peek { pipe, wait } => {
                let consume = matches!(op, Op::Read { .. });
                let sink = self.sink(pipe);
                self.spawn_op(&outcome, "read", priority, move |sys| async move {
                    // The numbered read has no try form; a peek uses the
                    // seed's call, so that both stay covered.
                    let numbered = consume && wait != Wait::Never;
                    let done = match wait {
                        _ if !numbered => {
                            sys.pipe_read_with(pipe, sink.dst, sink.len_out, consume, wait_of(wait))
                                .await
                        }
                        wait => {
                            sys.pipe_read_seq(
                                pipe,
                                sink.dst,
                                sink.len_out,
                                sink.seq_out,
                                consume,
                                wait_of(wait),
                            )
                            .await
                        }
                    };
                    sink.outcome(&sys, done, numbered)
                })
            }
            Op::PeekNewer { pipe, after, wait } => {
                let sink = self.sink(pipe);
                self.spawn_op(&outcome, "peek_newer", priority, move |sys| async move {
                    let done = sys
                        .pipe_peek_newer(
                            pipe,
                            after,
                            sink.dst,
                            sink.len_out,
                            sink.seq_out,
                            wait_of(wait),
                        )
                        .await;
                    sink.outcome(&sys, done, true)
                })
            }
            Op::PeekAt { pipe, index } => {
                let sink = self.sink(pipe);
                self.spawn_op(&outcome, "peek_at", priority, move |sys| async move {
                    let done = sys
                        .pipe_peek_at(pipe, index, sink.dst, sink.len_out, sink.seq_out)
                        .await;
                    sink.outcome(&sys, done, true)
                })
            }
            Op::Select { members, wait } => {
                let list = self.alloc(members.len().max(1) * SelectEntry::SIZE);
                let mut entries = Vec::new();
                let mut sinks = Vec::new();
                let mut messages = Vec::new();
                for member in &members {
                    let id = member.pipe().to_raw();
                    match member {
                        Member::Read(pipe) | Member::Peek(pipe) => {
                            let sink = self.sink(*pipe);
                            let (dst, len_out) = (sink.dst, sink.len_out);
                            entries.push(if matches!(member, Member::Read(_)) {
                                SelectEntry::Read { id, dst, len_out }
                            } else {
                                SelectEntry::Peek { id, dst, len_out }
                            });
                            sinks.push(Some(sink));
                        }
                        Member::Write(_, msg) => {
                            let src = self.alloc(msg.len());
                            messages.push((src, msg.clone()));
                            entries.push(SelectEntry::Write {
                                id,
                                src,
                                len: msg.len(),
                            });
                            sinks.push(None);
                        }
                    }
                }
                self.spawn_op(&outcome, "select", priority, move |sys| async move {
                    for (src, msg) in &messages {
                        sys.store(*src, msg)?;
                    }
                    let (index, status) = sys.pipe_select(list, &entries, wait_of(wait)).await?;
                    let mut outcome = match index.and_then(|i| sinks[i]) {
                        Some(sink) if status == Status::Ok => sink.outcome(&sys, Ok(()), false)?,
                        _ => Outcome::status(status),
                    };
                    outcome.index = index;
                    Ok(outcome)
                })
            }
        };
        self.run_until(tid, |state| {
            matches!(state, ThreadState::Blocked(_) | ThreadState::Exited(_))
        });
        Started { tid, outcome }
    }

    /// Spawn `body` on a thread of the process; what it returns is the
    /// operation's outcome, left in `outcome`.
    fn spawn_op<F, Fut>(
        &mut self,
        outcome: &Rc<RefCell<Option<Outcome>>>,
        name: &str,
        priority: u8,
        body: F,
    ) -> Tid
    where
        F: FnOnce(Sys) -> Fut + 'static,
        Fut: Future<Output = Result<Outcome, UserError>> + 'static,
    {
        let slot = Rc::clone(outcome);
        self.sim
            .spawn(self.pid, name, priority, move |sys| async move {
                *slot.borrow_mut() = Some(body(sys).await?);
                Ok(())
            })
    }

    /// Step the machine (letting time pass) until `tid`'s state passes
    /// `done`.
    fn run_until(&mut self, tid: Tid, done: impl Fn(&ThreadState) -> bool) {
        for _ in 0..STEP_LIMIT {
            if done(self.state(tid)) {
                return;
            }
            match self.sim.step() {
                Step::Stuck | Step::Finished => break,
                _ => {}
            }
        }
        assert!(
            done(self.state(tid)),
            "thread {tid:?} is {:?}: nothing will complete it",
            self.state(tid)
        );
    }

    fn outcome(&self, started: &Started) -> Outcome {
        if let ThreadState::Exited(reason) = self.state(started.tid) {
            assert_eq!(
                *reason,
                ExitReason::Returned,
                "the operation's thread failed"
            );
        }
        started
            .outcome
            .borrow_mut()
            .take()
            .expect("the thread recorded its outcome")
    }

    /// A system call from a thread of the owner process, run to its end.
    fn owner_call(
        &mut self,
        call: impl AsyncFnOnce(lukos_sim::Sys) -> Result<usize, Status> + 'static,
    ) -> Result<usize, Status> {
        self.call_as(self.pid, call)
    }

    /// A system call from a thread of process `pid`, run to its end.
    fn call_as(
        &mut self,
        pid: ProcessId,
        call: impl AsyncFnOnce(lukos_sim::Sys) -> Result<usize, Status> + 'static,
    ) -> Result<usize, Status> {
        let result = Rc::new(RefCell::new(None));
        let slot = Rc::clone(&result);
        let tid = self.sim.spawn(pid, "caller", 1, move |sys| async move {
            *slot.borrow_mut() = Some(call(sys).await);
            Ok(())
        });
        self.run_until(tid, |state| matches!(state, ThreadState::Exited(_)));
        result.borrow_mut().take().expect("the call ended")
    }
}

impl Substrate for SimSubstrate {
    type Pipe = PipeId;
    type Pending = Started;

    fn create(&mut self, spec: Spec) -> Result<PipeId, Status> {
        self.create_as(self.pid, spec)
    }

    fn run(&mut self, op: Op<PipeId>) -> Outcome {
        let started = self.start(op, 1);
        self.join(started)
    }

    fn spawn(&mut self, op: Op<PipeId>) -> Started {
        self.start(op, 1)
    }

    fn is_pending(&mut self, started: &Started) -> bool {
        self.settle();
        matches!(self.state(started.tid), ThreadState::Blocked(_))
    }

    fn join(&mut self, started: Started) -> Outcome {
        self.run_until(started.tid, |state| matches!(state, ThreadState::Exited(_)));
        self.outcome(&started)
    }

    fn purge(&mut self, pipe: &PipeId) -> Result<usize, Status> {
        let pipe = *pipe;
        self.owner_call(async move |sys| sys.pipe_purge(pipe).await)
    }

    fn close(&mut self, pipe: &PipeId) -> Result<(), Status> {
        let pipe = *pipe;
        self.owner_call(async move |sys| sys.pipe_close(pipe).await.map(|()| 0))
            .map(drop)
    }

    fn destroy(&mut self, pipe: &PipeId) -> Result<(), Status> {
        let pipe = *pipe;
        self.owner_call(async move |sys| sys.pipe_destroy(pipe).await.map(|()| 0))
            .map(drop)
    }

    fn counts(&mut self, pipe: &PipeId) -> Result<Counts, Status> {
        self.sim.ipcm().info(*pipe).map(|info| Counts::from(&info))
    }
}

impl SimSubstrate {
    /// `pipe_create` from a thread of process `pid`.
    fn create_as(&mut self, pid: ProcessId, spec: Spec) -> Result<PipeId, Status> {
        let mut flags = PipeFlags::empty();
        flags.set(PipeFlags::DISCARD_OLDEST, spec.discard_oldest);
        flags.set(PipeFlags::PRIORITY_MESSAGES, spec.by_priority);
        let flags = lukos_sim::user::raw_flags(flags);
        self.call_as(pid, async move |sys| {
            sys.pipe_create(0, spec.msg_size, spec.depth, flags)
                .await
                .map(PipeId::to_raw)
        })
        .map(PipeId::from_raw)
    }
}

/// A foreign pipe is another process's, made by its own `pipe_create`.
impl Processes for SimSubstrate {
    fn create_foreign(&mut self, spec: Spec) -> Result<PipeId, Status> {
        let other = self.sim.create_process("other");
        self.create_as(other, spec)
    }

    fn admin_as_user(&mut self, admin: Admin, pipe: &PipeId) -> Result<usize, Status> {
        let pipe = *pipe;
        self.owner_call(async move |sys| match admin {
            Admin::Purge => sys.pipe_purge(pipe).await,
            Admin::Close => sys.pipe_close(pipe).await.map(|()| 0),
            Admin::Destroy => sys.pipe_destroy(pipe).await.map(|()| 0),
        })
    }
}

/// The kernel's cancel, as a kill makes it (the thread lives on and sees
/// its system call fail).
impl Cancel for SimSubstrate {
    fn cancel(&mut self, started: &Started) -> Result<(), Status> {
        let call = IpcCall::Cancel {
            thread: started.tid,
            reason: CancelReason::Cancelled,
        };
        self.sim.ipc(call).map(drop)
    }
}

impl WakeFeedback for SimSubstrate {
    fn spawn_at(&mut self, op: Op<PipeId>, priority: u8) -> Started {
        self.start(op, priority)
    }

    fn kernel_write_woke(&mut self, pipe: &PipeId, msg: &[u8], than: u8) -> Result<bool, Status> {
        let call = IpcCall::KernelWriteWoke {
            id: *pipe,
            msg,
            than: Priority(than),
        };
        match self.sim.ipc(call)? {
            IpcValue::WokeWritten(woke) => Ok(woke.higher_priority),
            other => panic!("kernel_write_woke answered {other:?}"),
        }
    }
}

impl Drop for SimSubstrate {
    /// The simulator noticed nothing wrong (a lost wake, a double wake).
    fn drop(&mut self) {
        if !std::thread::panicking() {
            assert!(
                self.sim.anomalies().is_empty(),
                "{:?}",
                self.sim.anomalies()
            );
        }
    }
}

ipcm_conformance::common_conformance_tests!(SimSubstrate::new());
ipcm_conformance::conformance_tests!(SimSubstrate::new();
    select_times_out_as_a_group,
    wake_feedback,
    stranger_may_not_purge_close_or_destroy,
    cancel_ends_pending_op_cancelled_and_loses_nothing,
);
