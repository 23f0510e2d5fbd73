//! The conformance suite on the simulator (`lukos-sim`): every operation
//! is a system call of a simulated thread of its own, in one process that
//! owns the pipes; the scheduler runs it until it blocks or exits. A
//! deadline is the syscall's timeout in ticks, fired by the simulated
//! clock as the machine idles.
//!
//! Runs the DESIGN §1–7 behaviours (and rendezvous pipes) on the sim's
//! system calls: `pipe_create`, `pipe_write`/`pipe_read` (peek, try,
//! timeout) and `pipe_destroy`. The §9 operations (select, urgent, purge,
//! close, sequence numbers, peek-newer, peek-at) have no system call in
//! the simulator yet; this substrate panics on them and does not run
//! their behaviours (helper `sim` adds the syscalls on its branch).

use std::cell::RefCell;
use std::rc::Rc;

use ipcm::{PipeId, ProcessId};
use lukos_sim::{ExitReason, PAGE_SIZE, Perm, SchedConfig, Sim, Step, ThreadState, Tid};

use ipcm_conformance::{Counts, Op, Outcome, Spec, Status, Substrate, Wait};

/// Where the suite's buffers start in the process.
const DATA: usize = 0x10_0000;

/// The ticks of [`Wait::Briefly`].
const BRIEFLY: u64 = 5;

/// Scheduling steps one operation may take to block or exit.
const STEP_LIMIT: usize = 100_000;

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
    fn start(&mut self, op: Op<PipeId>) -> Started {
        let outcome = Rc::new(RefCell::new(None));
        let slot = Rc::clone(&outcome);
        let tid = match op {
            Op::Write {
                pipe,
                msg,
                urgent: false,
                wait,
            } => {
                let src = self.alloc(msg.len());
                self.sim.spawn(self.pid, "write", 1, move |sys| async move {
                    sys.store(src, &msg)?;
                    let status = sys
                        .pipe_write_with(pipe, src, msg.len(), wait_of(wait))
                        .await
                        .err()
                        .unwrap_or(Status::Ok);
                    *slot.borrow_mut() = Some(Outcome::status(status));
                    Ok(())
                })
            }
            Op::Read { pipe, wait } | Op::Peek { pipe, wait } => {
                let consume = matches!(op, Op::Read { .. });
                let msg_size = self.msg_size(pipe);
                let dst = self.alloc(msg_size + 8);
                let len_out = dst + msg_size.next_multiple_of(8);
                self.sim.spawn(self.pid, "read", 1, move |sys| async move {
                    let done = sys
                        .pipe_read_with(pipe, dst, len_out, consume, wait_of(wait))
                        .await;
                    let outcome = match done {
                        Ok(()) => {
                            let len = sys.load_usize(len_out)?;
                            Outcome::received(sys.load(dst, len)?, None)
                        }
                        Err(status) => Outcome::status(status),
                    };
                    *slot.borrow_mut() = Some(outcome);
                    Ok(())
                })
            }
            other => panic!("lukos-sim has no system call for {other:?} yet"),
        };
        self.run_until(tid, |state| {
            matches!(state, ThreadState::Blocked(_) | ThreadState::Exited(_))
        });
        Started { tid, outcome }
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
        let result = Rc::new(RefCell::new(None));
        let slot = Rc::clone(&result);
        let tid = self.sim.spawn(self.pid, "owner", 1, move |sys| async move {
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
        let flags = if spec.discard_oldest {
            lukos_sim::user::raw_flags(ipcm::PipeFlags::DISCARD_OLDEST)
        } else {
            0
        };
        self.owner_call(async move |sys| {
            sys.pipe_create(0, spec.msg_size, spec.depth, flags)
                .await
                .map(PipeId::to_raw)
        })
        .map(PipeId::from_raw)
    }

    fn run(&mut self, op: Op<PipeId>) -> Outcome {
        let started = self.start(op);
        self.join(started)
    }

    fn spawn(&mut self, op: Op<PipeId>) -> Started {
        self.start(op)
    }

    fn is_pending(&mut self, started: &Started) -> bool {
        self.settle();
        matches!(self.state(started.tid), ThreadState::Blocked(_))
    }

    fn join(&mut self, started: Started) -> Outcome {
        self.run_until(started.tid, |state| matches!(state, ThreadState::Exited(_)));
        self.outcome(&started)
    }

    fn purge(&mut self, _: &PipeId) -> Result<usize, Status> {
        panic!("lukos-sim has no purge system call yet")
    }

    fn close(&mut self, _: &PipeId) -> Result<(), Status> {
        panic!("lukos-sim has no close system call yet")
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

ipcm_conformance::queue_conformance_tests!(SimSubstrate::new());
