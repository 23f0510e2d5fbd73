//! The simulated kernel: processes, threads, a seeded scheduler, timers and
//! the system-call handlers that host the IPC manager.
//!
//! One CPU. The scheduler runs the highest-priority ready thread (ties
//! broken by the seeded random generator) for a random time slice; a thread
//! leaves the CPU when it blocks, when its slice runs out (checked at every
//! system call and inside long computations), when a higher-priority thread
//! becomes ready, or, with a configurable probability, at any system call.
//! Given a seed, a run is exactly repeatable.
//!
//! Every call into the IPC manager goes through [`Sim::ipc`], which applies
//! the wakes the IPC manager asked for (making the blocked thread runnable
//! with its result), lets an [`Observer`] check each call against a model,
//! and feeds the trace.

use std::collections::BTreeMap;
use std::future::Future;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use ipcm::{
    Caller, CancelReason, Ipcm, MAX_NAME_LEN, PipeFlags, PipeId, PipeInfo, Priority, ProcessId,
    Progress, Received, SELECT_MAX, SelectGroup, SelectOp, Selected, Shared, Status, Ticket,
    UserAddr, Woke, Written,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::machine::{Hooks, Machine, Ticks, Tid};
use crate::mem::{PAGE_SIZE, Perm};
use crate::syscall::{NO_MEMBER, Reply, Request, SelectEntry, Syscall, Wait};
use crate::trace::Trace;
use crate::user::{Program, Sys, UserError, UserResult};

mod traced;
use traced::{WaitBytes, state_args};

/// The raw lock the simulated kernel gives the IPC manager.
pub type Lock = spin::Mutex<()>;

/// The IPC manager as the simulated kernel hosts it.
pub type SimIpcm = Ipcm<Lock, Hooks>;

/// What a system call costs, in ticks.
const SYSCALL_COST: Ticks = 2;

/// Scheduler knobs.
#[derive(Clone, Copy, Debug)]
pub struct SchedConfig {
    /// Shortest time slice, ticks (>= 1).
    pub slice_min: Ticks,
    /// Longest time slice, ticks.
    pub slice_max: Ticks,
    /// Probability of switching threads at a system call even with slice
    /// left (interrupt arrival); 0 disables.
    pub switch_at_syscall: f64,
}

impl Default for SchedConfig {
    fn default() -> Self {
        SchedConfig {
            slice_min: 5,
            slice_max: 40,
            switch_at_syscall: 0.1,
        }
    }
}

/// What a blocked thread waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockedOn {
    /// A pending IPC operation on a pipe.
    Pipe {
        /// The pipe.
        id: PipeId,
        /// What the thread wants to do there.
        op: PipeOp,
        /// The operation's ticket: its timeout cancels this and nothing
        /// else.
        ticket: Ticket,
    },
    /// A select: its members wait on their pipes (see
    /// [`Sim::select_members`]).
    Select {
        /// The select's ticket: its timeout cancels the whole group.
        ticket: Ticket,
    },
    /// A sleep.
    Sleep,
}

impl BlockedOn {
    /// The ticket of the pending IPC operation, if the thread waits for one.
    #[must_use]
    pub fn ticket(&self) -> Option<Ticket> {
        match *self {
            BlockedOn::Pipe { ticket, .. } | BlockedOn::Select { ticket } => Some(ticket),
            BlockedOn::Sleep => None,
        }
    }
}

/// The kind of a pending pipe operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PipeOp {
    /// Take a message.
    Read,
    /// Copy a message without taking it.
    Peek,
    /// Copy the oldest queued message numbered above this one.
    PeekNewer(u64),
    /// Put a message.
    Write,
}

impl PipeOp {
    /// The kind of a select member.
    #[must_use]
    pub fn of(op: &SelectOp) -> PipeOp {
        match op {
            SelectOp::Read { .. } => PipeOp::Read,
            SelectOp::Peek { .. } => PipeOp::Peek,
            SelectOp::Write { .. } => PipeOp::Write,
        }
    }
}

/// Why a thread stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExitReason {
    /// Its program returned `Ok`.
    Returned,
    /// Its program returned an error.
    Failed(UserError),
    /// The kernel killed it.
    Killed,
}

/// A thread's scheduling state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ThreadState {
    /// Runnable.
    Ready,
    /// On the CPU.
    Running,
    /// Waiting.
    Blocked(BlockedOn),
    /// Gone.
    Exited(ExitReason),
}

/// Time and events per thread.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ThreadStats {
    /// Ticks on the CPU.
    pub run_ticks: Ticks,
    /// Ticks runnable but not running.
    pub ready_ticks: Ticks,
    /// Ticks blocked on a pipe.
    pub blocked_ticks: Ticks,
    /// Ticks asleep.
    pub sleep_ticks: Ticks,
    /// System calls made.
    pub syscalls: u64,
    /// Times blocked on a pipe.
    pub blocks: u64,
}

struct Thread {
    name: String,
    process: ProcessId,
    priority: Priority,
    state: ThreadState,
    since: Ticks,
    program: Option<Program>,
    /// A system call posted when the slice had run out; done first when the
    /// thread runs again.
    deferred: Option<Syscall>,
    /// Ticks of computation still to burn.
    compute_left: Ticks,
    /// The thread's armed timer, if any.
    timer: Option<(Ticks, u64)>,
    stats: ThreadStats,
    /// The group record of the thread's selects (one per thread, made at
    /// spawn: a select allocates nothing).
    group: Shared<SelectGroup>,
    /// The members of the thread's last select (what it waits for while
    /// blocked in it).
    select: Vec<SelectOp>,
}

struct Process {
    name: String,
}

/// One call into the IPC manager, as the kernel made it.
#[derive(Clone, Debug)]
pub enum IpcCall<'a> {
    /// `create`.
    Create {
        /// The calling thread, or `None` for the kernel.
        caller: Option<Tid>,
        /// The name.
        name: Option<&'a str>,
        /// Largest message.
        msg_size: usize,
        /// Capacity.
        max_msgs: usize,
        /// Flags.
        flags: PipeFlags,
    },
    /// `lookup_by_name`.
    Lookup {
        /// The name.
        name: &'a str,
    },
    /// `info`.
    Info {
        /// The pipe.
        id: PipeId,
    },
    /// `write` (`wait`) or `try_write`; `write_urgent`/`try_write_urgent`
    /// when `urgent`; `write_prio`/`try_write_prio` with `prio`.
    Write {
        /// The writer.
        thread: Tid,
        /// The pipe.
        id: PipeId,
        /// The message.
        src: usize,
        /// Its length.
        len: usize,
        /// Block when full.
        wait: bool,
        /// To the head of the queue.
        urgent: bool,
        /// The message priority of a `write_prio` (`None`: a plain or
        /// urgent write).
        prio: Option<u8>,
    },
    /// `read`/`peek` (`wait`) or `try_read`/`try_peek`; `read_seq`/
    /// `peek_seq` with `seq_out`; `peek_newer`/`try_peek_newer` with
    /// `after` (a peek).
    Read {
        /// The reader.
        thread: Tid,
        /// The pipe.
        id: PipeId,
        /// Receive buffer.
        dst: usize,
        /// Where the length goes.
        len_out: usize,
        /// Read (else peek).
        consume: bool,
        /// Block when empty.
        wait: bool,
        /// Where the sequence number goes, if asked.
        seq_out: Option<usize>,
        /// Peek-newer: only a message numbered above this.
        after: Option<u64>,
    },
    /// `peek_at`.
    PeekAt {
        /// The peeker.
        thread: Tid,
        /// The pipe.
        id: PipeId,
        /// Position from the front.
        index: usize,
        /// Receive buffer.
        dst: usize,
        /// Where the length goes.
        len_out: usize,
        /// Where the sequence number goes.
        seq_out: usize,
    },
    /// `select` with the thread's group record.
    Select {
        /// The selecting thread.
        thread: Tid,
        /// The members.
        ops: &'a [SelectOp],
    },
    /// `purge`.
    Purge {
        /// The calling thread, or `None` for the kernel.
        caller: Option<Tid>,
        /// The pipe.
        id: PipeId,
    },
    /// `close`.
    Close {
        /// The calling thread, or `None` for the kernel.
        caller: Option<Tid>,
        /// The pipe.
        id: PipeId,
    },
    /// `kernel_write_woke` (an interrupt handler's write).
    KernelWriteWoke {
        /// The pipe.
        id: PipeId,
        /// The message.
        msg: &'a [u8],
        /// The interrupted thread's priority.
        than: Priority,
    },
    /// `kernel_read_woke` (an interrupt handler's read).
    KernelReadWoke {
        /// The pipe.
        id: PipeId,
        /// The interrupted thread's priority.
        than: Priority,
    },
    /// `kernel_write`.
    KernelWrite {
        /// The pipe.
        id: PipeId,
        /// The message.
        msg: &'a [u8],
    },
    /// `kernel_read` or `kernel_peek`.
    KernelRead {
        /// The pipe.
        id: PipeId,
        /// Read (else peek).
        consume: bool,
    },
    /// `cancel` (every pending operation of a thread: a kill).
    Cancel {
        /// The thread whose pending operation ends.
        thread: Tid,
        /// Why.
        reason: CancelReason,
    },
    /// `cancel_op` (one operation, by its ticket: a timeout).
    CancelOp {
        /// The thread whose operation ends.
        thread: Tid,
        /// The operation.
        ticket: Ticket,
        /// Why.
        reason: CancelReason,
    },
    /// `destroy`.
    Destroy {
        /// The calling thread, or `None` for the kernel.
        caller: Option<Tid>,
        /// The pipe.
        id: PipeId,
    },
}

/// What an IPC manager call returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IpcValue {
    /// A pipe id (create, lookup).
    Id(PipeId),
    /// A snapshot (info).
    Info(PipeInfo),
    /// A completed write.
    Written(Written),
    /// A completed read or peek of this many bytes.
    Len(usize),
    /// A completed read or peek that reports the message's number.
    Received(Received),
    /// How many messages a purge dropped.
    Count(usize),
    /// The member that completed a select now.
    Selected(Selected),
    /// A kernel write with its wake feedback.
    WokeWritten(Woke<Written>),
    /// A message read by the kernel, with its wake feedback.
    WokeMessage(Woke<Vec<u8>>),
    /// A message read by the kernel.
    Message(Vec<u8>),
    /// The caller's operation is pending, with this ticket.
    Blocked(Ticket),
    /// Done, nothing to report (cancel, destroy).
    Done,
}

/// The outcome of an IPC manager call.
pub type IpcOutcome = Result<IpcValue, Status>;

/// Watches every IPC manager call (a reference model, in `check`).
pub trait Observer {
    /// Called just before `call` is made.
    fn before(&mut self, call: &IpcCall<'_>, machine: &Machine);
    /// Called just after, with what it returned and the wakes it caused, in
    /// order, before they are applied.
    fn after(
        &mut self,
        call: &IpcCall<'_>,
        outcome: &IpcOutcome,
        wakes: &[(Tid, Status)],
        machine: &Machine,
    );
}

/// What one scheduling step did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// A thread ran.
    Ran(Tid),
    /// Nobody was ready: time jumped to the next timer.
    Idle,
    /// Threads are alive but all blocked with no timer armed: nothing can
    /// happen until someone outside (the kernel) acts.
    Stuck,
    /// Every thread has exited.
    Finished,
    /// [`Sim::run`] only: its step budget ran out with threads still
    /// running (a livelock, or a budget too small).
    OutOfSteps,
}

/// Totals over a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    /// System calls handled.
    pub syscalls: u64,
    /// Times the CPU switched threads.
    pub switches: u64,
    /// Wakes by the IPC manager, indexed by status code.
    pub wakes: [u64; Status::ALL.len()],
    /// Timeouts that fired and cancelled an operation.
    pub timeouts: u64,
    /// Messages copied to user threads by peeks (not counted as read).
    pub peeked: u64,
    /// Timeouts that ended a whole select.
    pub select_timeouts: u64,
}

impl SimStats {
    /// Total wakes.
    #[must_use]
    pub fn total_wakes(&self) -> u64 {
        self.wakes.iter().sum()
    }

    /// Wakes with `status`.
    #[must_use]
    pub fn wakes_with(&self, status: Status) -> u64 {
        self.wakes[status.code() as usize]
    }
}

/// What the kernel knows of a pipe, kept after it is destroyed.
#[derive(Clone, Debug)]
pub struct PipeRecord {
    /// The pipe's name, or `anon-<id>`.
    pub name: String,
    /// The last snapshot (final counters once destroyed).
    pub info: PipeInfo,
    /// Whether it is destroyed.
    pub destroyed: bool,
}

enum TimerKind {
    /// The deadline of the pending operation with this ticket.
    Timeout(Ticket),
    Wakeup,
}

/// The simulated kernel.
pub struct Sim {
    machine: Rc<Machine>,
    ipcm: SimIpcm,
    threads: Vec<Thread>,
    processes: Vec<Process>,
    rng: ChaCha8Rng,
    config: SchedConfig,
    timers: BTreeMap<(Ticks, u64), (Tid, TimerKind)>,
    timer_seq: u64,
    stats: SimStats,
    anomalies: Vec<String>,
    observer: Option<Box<dyn Observer>>,
    trace: Option<Trace>,
    /// For the trace: what each pending operation will have moved.
    trace_waits: BTreeMap<Tid, WaitBytes>,
    pipes: BTreeMap<PipeId, PipeRecord>,
    last: Option<Tid>,
}

impl Sim {
    /// A machine with no processes; the scheduler draws from `seed`.
    #[must_use]
    pub fn new(seed: u64, config: SchedConfig) -> Sim {
        let machine = Rc::new(Machine::default());
        let kernel_space = machine.add_process();
        debug_assert_eq!(kernel_space, ProcessId::KERNEL);
        Sim {
            ipcm: Ipcm::new(Hooks(machine.clone())),
            machine,
            threads: Vec::new(),
            processes: vec![Process {
                name: "kernel".into(),
            }],
            rng: ChaCha8Rng::seed_from_u64(seed),
            config,
            timers: BTreeMap::new(),
            timer_seq: 0,
            stats: SimStats::default(),
            anomalies: Vec::new(),
            observer: None,
            trace: None,
            trace_waits: BTreeMap::new(),
            pipes: BTreeMap::new(),
            last: None,
        }
    }

    /// Record a trace of this run (see [`Trace`]).
    pub fn enable_trace(&mut self, trace: Trace) {
        self.trace = Some(trace);
    }

    /// Take the trace back, closing every open interval.
    pub fn take_trace(&mut self) -> Option<Trace> {
        let now = self.machine.now();
        let mut trace = self.trace.take()?;
        for (index, thread) in self.threads.iter().enumerate() {
            trace.state(
                thread.process,
                Tid(index as u32),
                &state_name(&thread.state, &self.pipes),
                thread.since,
                now,
                state_args(thread, &self.pipes),
            );
        }
        Some(trace)
    }

    /// Check every IPC manager call with `observer`.
    pub fn set_observer(&mut self, observer: Box<dyn Observer>) {
        self.observer = Some(observer);
    }

    /// The machine (memory, clock).
    #[must_use]
    pub fn machine(&self) -> &Machine {
        &self.machine
    }

    /// The IPC manager, for queries (`info`, `is_pending`, ...). A call that
    /// can wake a thread must go through [`ipc`](Self::ipc), which applies
    /// the wakes; a wake caused directly here is applied at the next
    /// [`ipc`](Self::ipc) call.
    #[must_use]
    pub fn ipcm(&self) -> &SimIpcm {
        &self.ipcm
    }

    /// The scheduler's random generator (a workload may draw from it too,
    /// keeping one seed for the whole run).
    pub fn rng(&mut self) -> &mut ChaCha8Rng {
        &mut self.rng
    }

    /// Things the kernel saw that must never happen (a wake for a thread
    /// that is not blocked, a program awaiting something that is not a
    /// system call, ...).
    #[must_use]
    pub fn anomalies(&self) -> &[String] {
        &self.anomalies
    }

    /// Run totals.
    #[must_use]
    pub fn stats(&self) -> &SimStats {
        &self.stats
    }

    /// Every pipe created so far, by id.
    #[must_use]
    pub fn pipes(&self) -> &BTreeMap<PipeId, PipeRecord> {
        &self.pipes
    }

    /// A new process with an empty address space.
    pub fn create_process(&mut self, name: &str) -> ProcessId {
        let pid = self.machine.add_process();
        self.processes.push(Process { name: name.into() });
        if let Some(trace) = &mut self.trace {
            trace.process_name(pid, name);
        }
        pid
    }

    /// The name given to `process`.
    #[must_use]
    pub fn process_name(&self, process: ProcessId) -> &str {
        &self.processes[process.0 as usize].name
    }

    /// Map pages in `process` (the loader's job).
    pub fn map(&mut self, process: ProcessId, va: usize, len: usize, perm: Perm) {
        self.machine
            .with_space(process, |space| space.map(va, len, perm));
    }

    /// Unmap pages in `process`; returns how many were mapped.
    pub fn unmap(&mut self, process: ProcessId, va: usize, len: usize) -> usize {
        self.machine
            .with_space(process, |space| space.unmap(va, len))
    }

    /// Start a thread in `process` running `program`.
    pub fn spawn<F, Fut>(&mut self, process: ProcessId, name: &str, priority: u8, program: F) -> Tid
    where
        F: FnOnce(Sys) -> Fut,
        Fut: Future<Output = UserResult> + 'static,
    {
        let priority = Priority(priority);
        let tid = self.machine.add_thread(process, priority);
        let sys = Sys::new(self.machine.clone(), tid, process);
        self.threads.push(Thread {
            name: name.into(),
            process,
            priority,
            state: ThreadState::Ready,
            since: self.machine.now(),
            program: Some(Box::pin(program(sys))),
            deferred: None,
            compute_left: 0,
            timer: None,
            stats: ThreadStats::default(),
            // The simulator runs on std, where memory running out aborts
            // anyway; a kernel answers NO_MEMORY to the spawn instead.
            group: SelectGroup::shared().expect("memory for a select group record"),
            select: Vec::new(),
        });
        if let Some(trace) = &mut self.trace {
            trace.thread_name(process, tid, name);
        }
        tid
    }

    /// Every thread id, in spawn order.
    pub fn tids(&self) -> impl Iterator<Item = Tid> + use<> {
        (0..self.threads.len() as u32).map(Tid)
    }

    /// A thread's state.
    #[must_use]
    pub fn state(&self, tid: Tid) -> &ThreadState {
        &self.threads[tid.0 as usize].state
    }

    /// A thread's name.
    #[must_use]
    pub fn thread_name(&self, tid: Tid) -> &str {
        &self.threads[tid.0 as usize].name
    }

    /// A thread's process.
    #[must_use]
    pub fn thread_process(&self, tid: Tid) -> ProcessId {
        self.threads[tid.0 as usize].process
    }

    /// A thread's statistics.
    #[must_use]
    pub fn thread_stats(&self, tid: Tid) -> &ThreadStats {
        &self.threads[tid.0 as usize].stats
    }

    /// Whether any thread is still alive.
    #[must_use]
    pub fn alive(&self) -> bool {
        self.threads
            .iter()
            .any(|t| !matches!(t.state, ThreadState::Exited(_)))
    }

    /// Run until every thread exits, or until nothing can happen any more,
    /// or `max_steps` scheduling steps pass.
    pub fn run(&mut self, max_steps: u64) -> Step {
        for _ in 0..max_steps {
            match self.step() {
                Step::Ran(_) | Step::Idle => {}
                end => return end,
            }
        }
        if self.alive() {
            Step::OutOfSteps
        } else {
            Step::Finished
        }
    }

    /// One scheduling decision: fire due timers, then run one thread for up
    /// to one time slice (or idle until the next timer).
    pub fn step(&mut self) -> Step {
        self.fire_timers();
        if let Some(tid) = self.pick() {
            self.dispatch(tid);
            return Step::Ran(tid);
        }
        if let Some((&(deadline, _), _)) = self.timers.first_key_value() {
            self.machine.idle_until(deadline);
            self.fire_timers();
            return Step::Idle;
        }
        if self.alive() {
            Step::Stuck
        } else {
            Step::Finished
        }
    }

    fn pick(&mut self) -> Option<Tid> {
        let best = self
            .threads
            .iter()
            .filter(|t| t.state == ThreadState::Ready)
            .map(|t| t.priority)
            .max()?;
        let candidates: Vec<Tid> = self
            .threads
            .iter()
            .enumerate()
            .filter(|(_, t)| t.state == ThreadState::Ready && t.priority == best)
            .map(|(i, _)| Tid(i as u32))
            .collect();
        Some(candidates[self.rng.random_range(0..candidates.len())])
    }

    fn set_state(&mut self, tid: Tid, state: ThreadState) {
        let now = self.machine.now();
        let thread = &mut self.threads[tid.0 as usize];
        let spent = now - thread.since;
        match &thread.state {
            ThreadState::Running => thread.stats.run_ticks += spent,
            ThreadState::Ready => thread.stats.ready_ticks += spent,
            ThreadState::Blocked(BlockedOn::Sleep) => thread.stats.sleep_ticks += spent,
            ThreadState::Blocked(BlockedOn::Pipe { .. } | BlockedOn::Select { .. }) => {
                thread.stats.blocked_ticks += spent;
            }
            ThreadState::Exited(_) => {}
        }
        if let Some(trace) = &mut self.trace {
            let name = state_name(&thread.state, &self.pipes);
            let args = state_args(thread, &self.pipes);
            trace.state(thread.process, tid, &name, thread.since, now, args);
        }
        thread.state = state;
        thread.since = now;
    }

    fn higher_priority_ready(&self, than: Priority) -> bool {
        self.threads
            .iter()
            .any(|t| t.state == ThreadState::Ready && t.priority > than)
    }

    /// Run `tid` until it blocks, exits or is preempted.
    fn dispatch(&mut self, tid: Tid) {
        if self.last != Some(tid) {
            self.stats.switches += 1;
            self.last = Some(tid);
        }
        let slice = self
            .rng
            .random_range(self.config.slice_min..=self.config.slice_max.max(self.config.slice_min));
        self.machine.reset_charged();
        self.set_state(tid, ThreadState::Running);
        let priority = self.threads[tid.0 as usize].priority;
        loop {
            self.fire_timers();
            if self.threads[tid.0 as usize].state != ThreadState::Running {
                return; // killed by a timer's consequences: cannot happen, but be safe
            }
            let index = tid.0 as usize;
            // Finish a computation first.
            let left = self.threads[index].compute_left;
            if left > 0 {
                let room = slice.saturating_sub(self.machine.charged()).max(1);
                let burn = left.min(room);
                self.machine.charge(burn);
                self.threads[index].compute_left -= burn;
                if self.threads[index].compute_left > 0 {
                    self.set_state(tid, ThreadState::Ready);
                    return;
                }
                self.machine.post_reply(tid, Reply::status(Status::Ok));
                if self.must_switch(slice, priority) {
                    self.set_state(tid, ThreadState::Ready);
                    return;
                }
            }
            let syscall = match self.threads[index].deferred.take() {
                Some(syscall) => syscall,
                None => match self.poll(tid) {
                    None => return,
                    Some(Request::Compute(ticks)) => {
                        self.threads[index].compute_left = ticks;
                        if ticks == 0 {
                            self.machine.post_reply(tid, Reply::status(Status::Ok));
                        }
                        continue;
                    }
                    Some(Request::Syscall(syscall)) => {
                        if self.machine.charged() >= slice {
                            // The slice ran out before the trap: the call
                            // happens when the thread next runs.
                            self.threads[index].deferred = Some(syscall);
                            self.set_state(tid, ThreadState::Ready);
                            return;
                        }
                        syscall
                    }
                },
            };
            let yielding = syscall == Syscall::Yield;
            self.machine.charge(SYSCALL_COST);
            self.stats.syscalls += 1;
            self.threads[index].stats.syscalls += 1;
            match self.syscall(tid, syscall) {
                Some(reply) => {
                    self.machine.post_reply(tid, reply);
                    if self.threads[index].state != ThreadState::Running {
                        return;
                    }
                    let random_switch = self.config.switch_at_syscall > 0.0
                        && self.rng.random_bool(self.config.switch_at_syscall.min(1.0));
                    if yielding || random_switch || self.must_switch(slice, priority) {
                        self.set_state(tid, ThreadState::Ready);
                        return;
                    }
                }
                None => return, // blocked
            }
        }
    }

    fn must_switch(&self, slice: Ticks, priority: Priority) -> bool {
        self.machine.charged() >= slice || self.higher_priority_ready(priority)
    }

    /// Poll `tid`'s program once. `None` when it exited (or misbehaved and
    /// was stopped); otherwise the request it posted.
    fn poll(&mut self, tid: Tid) -> Option<Request> {
        let index = tid.0 as usize;
        let mut program = self.threads[index].program.take()?;
        let mut cx = Context::from_waker(Waker::noop());
        let polled = program.as_mut().poll(&mut cx);
        match polled {
            Poll::Ready(result) => {
                let reason = match result {
                    Ok(()) => ExitReason::Returned,
                    Err(error) => ExitReason::Failed(error),
                };
                self.exit(tid, reason);
                None
            }
            Poll::Pending => match self.machine.take_request(tid) {
                Some(request) => {
                    self.threads[index].program = Some(program);
                    Some(request)
                }
                None => {
                    self.anomalies.push(format!(
                        "{tid} ({}) awaited something that is not a system call; stopped",
                        self.threads[index].name
                    ));
                    self.exit(
                        tid,
                        ExitReason::Failed(UserError::Check("awaited a foreign future".into())),
                    );
                    None
                }
            },
        }
    }

    fn exit(&mut self, tid: Tid, reason: ExitReason) {
        let thread = &mut self.threads[tid.0 as usize];
        thread.program = None;
        thread.deferred = None;
        thread.compute_left = 0;
        if let Some(key) = thread.timer.take() {
            self.timers.remove(&key);
        }
        self.machine.clear_mailbox(tid);
        self.set_state(tid, ThreadState::Exited(reason));
    }

    /// Kill `tid`: a pending IPC operation is cancelled (woken with
    /// `Cancelled`, so it did not happen), then the thread is gone. Returns
    /// whether it was alive.
    pub fn kill(&mut self, tid: Tid) -> bool {
        match self.threads[tid.0 as usize].state.clone() {
            ThreadState::Exited(_) => return false,
            ThreadState::Blocked(BlockedOn::Pipe { ticket, .. } | BlockedOn::Select { ticket }) => {
                // The kernel knows which operation it is ending.
                let outcome = self.ipc(IpcCall::CancelOp {
                    thread: tid,
                    ticket,
                    reason: CancelReason::Cancelled,
                });
                if outcome.is_err() {
                    self.anomalies.push(format!(
                        "cancelling blocked {tid} found no pending operation: {outcome:?}"
                    ));
                }
            }
            _ => {}
        }
        self.exit(tid, ExitReason::Killed);
        true
    }

    fn arm_timer(&mut self, tid: Tid, deadline: Ticks, kind: TimerKind) {
        self.timer_seq += 1;
        let key = (deadline, self.timer_seq);
        self.timers.insert(key, (tid, kind));
        self.threads[tid.0 as usize].timer = Some(key);
    }

    /// Fire every timer whose deadline has passed, earliest first.
    fn fire_timers(&mut self) {
        let now = self.machine.now();
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 > now {
                return;
            }
            let (tid, kind) = entry.remove();
            self.threads[tid.0 as usize].timer = None;
            match kind {
                TimerKind::Wakeup => {
                    self.machine.post_reply(tid, Reply::status(Status::Ok));
                    self.set_state(tid, ThreadState::Ready);
                }
                TimerKind::Timeout(ticket) => {
                    // A completion racing the timeout wins: then the timer
                    // was disarmed already and we never get here. The
                    // ticket makes sure a timer can only ever end the
                    // operation it was armed for.
                    let select = matches!(
                        self.threads[tid.0 as usize].state,
                        ThreadState::Blocked(BlockedOn::Select { .. })
                    );
                    let outcome = self.ipc(IpcCall::CancelOp {
                        thread: tid,
                        ticket,
                        reason: CancelReason::TimedOut,
                    });
                    match outcome {
                        Ok(_) => {
                            self.stats.timeouts += 1;
                            self.stats.select_timeouts += u64::from(select);
                        }
                        Err(status) => self.anomalies.push(format!(
                            "timeout of {tid} found no pending operation ({status:?})"
                        )),
                    }
                }
            }
        }
    }

    /// Apply one wake from the IPC manager.
    fn apply_wake(&mut self, tid: Tid, status: Status) {
        self.stats.wakes[status.code() as usize] += 1;
        let thread = &mut self.threads[tid.0 as usize];
        if !matches!(
            thread.state,
            ThreadState::Blocked(BlockedOn::Pipe { .. } | BlockedOn::Select { .. })
        ) {
            let state = thread.state.clone();
            self.anomalies.push(format!(
                "wake({tid}, {status:?}) for a thread that is {state:?}"
            ));
            return;
        }
        if let ThreadState::Blocked(BlockedOn::Pipe {
            op: PipeOp::Peek | PipeOp::PeekNewer(_),
            ..
        }) = thread.state
            && status == Status::Ok
        {
            self.stats.peeked += 1;
        }
        if let Some(key) = thread.timer.take() {
            self.timers.remove(&key);
        }
        let mut reply = Reply::status(status);
        if let ThreadState::Blocked(BlockedOn::Select { .. }) = thread.state {
            // The claimer recorded which member completed before the wake.
            reply.value = thread
                .group
                .outcome()
                .and_then(|selected| selected.index)
                .unwrap_or(NO_MEMBER);
        }
        self.machine.post_reply(tid, reply);
        self.set_state(tid, ThreadState::Ready);
    }

    /// Make one call into the IPC manager, then apply the wakes it caused.
    pub fn ipc(&mut self, call: IpcCall<'_>) -> IpcOutcome {
        if let Some(observer) = &mut self.observer {
            observer.before(&call, &self.machine);
        }
        if let IpcCall::Destroy { id, .. } = call {
            self.refresh_pipe(id);
        }
        let outcome = self.raw_ipc(&call);
        let wakes = self.machine.take_wakes();
        if let Some(observer) = &mut self.observer {
            observer.after(&call, &outcome, &wakes, &self.machine);
        }
        self.trace_ipc(&call, &outcome, &wakes);
        for (tid, status) in wakes {
            self.apply_wake(tid, status);
        }
        match (&call, &outcome) {
            (IpcCall::Create { name, .. }, Ok(IpcValue::Id(id))) => {
                let name = name.map_or_else(|| format!("anon-{}", id.to_raw()), str::to_owned);
                if let Ok(info) = self.ipcm.info(*id) {
                    self.pipes.insert(
                        *id,
                        PipeRecord {
                            name,
                            info,
                            destroyed: false,
                        },
                    );
                }
                self.trace_depth(*id, 0);
            }
            (IpcCall::Destroy { id, .. }, Ok(_)) => {
                if let Some(record) = self.pipes.get_mut(id) {
                    record.destroyed = true;
                    record.info.queued = 0;
                    record.info.pending_readers = 0;
                    record.info.pending_peekers = 0;
                    record.info.pending_writers = 0;
                }
                self.trace_depth(*id, 0);
            }
            (
                IpcCall::Write { id, .. }
                | IpcCall::Read { id, .. }
                | IpcCall::PeekAt { id, .. }
                | IpcCall::Purge { id, .. }
                | IpcCall::Close { id, .. }
                | IpcCall::KernelWrite { id, .. }
                | IpcCall::KernelWriteWoke { id, .. }
                | IpcCall::KernelReadWoke { id, .. }
                | IpcCall::KernelRead { id, .. },
                _,
            ) => self.refresh_pipe(*id),
            (IpcCall::Select { ops, .. }, _) => {
                for op in *ops {
                    self.refresh_pipe(op.pipe());
                }
            }
            (IpcCall::Cancel { .. } | IpcCall::CancelOp { .. }, _)
            | (
                IpcCall::Lookup { .. }
                | IpcCall::Info { .. }
                | IpcCall::Create { .. }
                | IpcCall::Destroy { .. },
                _,
            ) => {}
        }
        outcome
    }

    fn raw_ipc(&self, call: &IpcCall<'_>) -> IpcOutcome {
        let ipcm = &self.ipcm;
        let blocked = |progress: Progress<IpcValue>| match progress {
            Progress::Done(value) => value,
            Progress::Blocked(ticket) => IpcValue::Blocked(ticket),
        };
        match *call {
            IpcCall::Create {
                caller,
                name,
                msg_size,
                max_msgs,
                flags,
            } => {
                let caller = caller.as_ref().map_or(Caller::Kernel, Caller::Thread);
                ipcm.create(caller, name, msg_size, max_msgs, flags)
                    .map(IpcValue::Id)
            }
            IpcCall::Lookup { name } => ipcm.lookup_by_name(name).map(IpcValue::Id),
            IpcCall::Info { id } => ipcm.info(id).map(IpcValue::Info),
            IpcCall::Write {
                thread,
                id,
                src,
                len,
                wait,
                urgent,
                prio,
            } => {
                let src = UserAddr(src);
                if let Some(prio) = prio {
                    return if wait {
                        ipcm.write_prio(&thread, id, src, len, prio)
                            .map(|p| blocked(map_progress(p, IpcValue::Written)))
                    } else {
                        ipcm.try_write_prio(&thread, id, src, len, prio)
                            .map(IpcValue::Written)
                    };
                }
                match (wait, urgent) {
                    (true, false) => ipcm
                        .write(&thread, id, src, len)
                        .map(|p| blocked(map_progress(p, IpcValue::Written))),
                    (false, false) => ipcm.try_write(&thread, id, src, len).map(IpcValue::Written),
                    (true, true) => ipcm
                        .write_urgent(&thread, id, src, len)
                        .map(|p| blocked(map_progress(p, IpcValue::Written))),
                    (false, true) => ipcm
                        .try_write_urgent(&thread, id, src, len)
                        .map(IpcValue::Written),
                }
            }
            IpcCall::Read {
                thread,
                id,
                dst,
                len_out,
                consume,
                wait,
                seq_out,
                after,
            } => {
                let (dst, len_out) = (UserAddr(dst), UserAddr(len_out));
                let received = |p| blocked(map_progress(p, IpcValue::Received));
                match (after, seq_out) {
                    (Some(after), seq_out) => {
                        let seq_out = UserAddr(seq_out.unwrap_or(0));
                        return if wait {
                            ipcm.peek_newer(&thread, id, after, dst, len_out, seq_out)
                                .map(received)
                        } else {
                            ipcm.try_peek_newer(&thread, id, after, dst, len_out, seq_out)
                                .map(IpcValue::Received)
                        };
                    }
                    (None, Some(seq_out)) => {
                        let seq_out = UserAddr(seq_out);
                        return if consume {
                            ipcm.read_seq(&thread, id, dst, len_out, seq_out)
                                .map(received)
                        } else {
                            ipcm.peek_seq(&thread, id, dst, len_out, seq_out)
                                .map(received)
                        };
                    }
                    (None, None) => {}
                }
                match (consume, wait) {
                    (true, true) => ipcm
                        .read(&thread, id, dst, len_out)
                        .map(|p| blocked(map_progress(p, IpcValue::Len))),
                    (false, true) => ipcm
                        .peek(&thread, id, dst, len_out)
                        .map(|p| blocked(map_progress(p, IpcValue::Len))),
                    (true, false) => ipcm.try_read(&thread, id, dst, len_out).map(IpcValue::Len),
                    (false, false) => ipcm.try_peek(&thread, id, dst, len_out).map(IpcValue::Len),
                }
            }
            IpcCall::PeekAt {
                thread,
                id,
                index,
                dst,
                len_out,
                seq_out,
            } => ipcm
                .peek_at(
                    &thread,
                    id,
                    index,
                    UserAddr(dst),
                    UserAddr(len_out),
                    UserAddr(seq_out),
                )
                .map(IpcValue::Received),
            IpcCall::Select { thread, ops } => {
                let group = &self.threads[thread.0 as usize].group;
                ipcm.select(&thread, group, ops)
                    .map(|p| blocked(map_progress(p, IpcValue::Selected)))
            }
            IpcCall::Purge { caller, id } => {
                let caller = caller.as_ref().map_or(Caller::Kernel, Caller::Thread);
                ipcm.purge(caller, id).map(IpcValue::Count)
            }
            IpcCall::Close { caller, id } => {
                let caller = caller.as_ref().map_or(Caller::Kernel, Caller::Thread);
                ipcm.close(caller, id).map(|()| IpcValue::Done)
            }
            IpcCall::KernelWriteWoke { id, msg, than } => ipcm
                .kernel_write_woke(id, msg, than)
                .map(IpcValue::WokeWritten),
            IpcCall::KernelReadWoke { id, than } => {
                let mut buf = vec![0; ipcm.info(id)?.msg_size];
                let woke = ipcm.kernel_read_woke(id, &mut buf, than)?;
                buf.truncate(woke.result.len);
                Ok(IpcValue::WokeMessage(Woke {
                    result: buf,
                    higher_priority: woke.higher_priority,
                }))
            }
            IpcCall::KernelWrite { id, msg } => ipcm.kernel_write(id, msg).map(IpcValue::Written),
            IpcCall::KernelRead { id, consume } => {
                let size = ipcm.info(id)?.msg_size;
                let mut buf = vec![0; size];
                let len = if consume {
                    ipcm.kernel_read(id, &mut buf)?
                } else {
                    ipcm.kernel_peek(id, &mut buf)?
                };
                buf.truncate(len);
                Ok(IpcValue::Message(buf))
            }
            IpcCall::Cancel { thread, reason } => {
                ipcm.cancel(&thread, reason).map(|()| IpcValue::Done)
            }
            IpcCall::CancelOp {
                thread,
                ticket,
                reason,
            } => ipcm
                .cancel_op(&thread, ticket, reason)
                .map(|()| IpcValue::Done),
            IpcCall::Destroy { caller, id } => {
                let caller = caller.as_ref().map_or(Caller::Kernel, Caller::Thread);
                ipcm.destroy(caller, id).map(|()| IpcValue::Done)
            }
        }
    }

    fn refresh_pipe(&mut self, id: PipeId) {
        if let Ok(info) = self.ipcm.info(id) {
            let queued = info.queued;
            if let Some(record) = self.pipes.get_mut(&id) {
                let changed = record.info.queued != queued;
                record.info = info;
                if changed {
                    self.trace_depth(id, queued);
                }
            }
        }
    }

    fn trace_depth(&mut self, id: PipeId, depth: usize) {
        let now = self.machine.now();
        if let (Some(trace), Some(record)) = (&mut self.trace, self.pipes.get(&id)) {
            trace.depth(&record.name, now, depth);
        }
    }

    fn block(&mut self, tid: Tid, on: BlockedOn, wait: Wait) -> Option<Reply> {
        self.threads[tid.0 as usize].stats.blocks += 1;
        self.set_state(tid, ThreadState::Blocked(on));
        let wait = match (wait, on) {
            // A select has no non-blocking form: it gives up at once.
            (Wait::Never, BlockedOn::Select { .. }) => Wait::Ticks(0),
            _ => wait,
        };
        if let (Wait::Ticks(ticks), Some(ticket)) = (wait, on.ticket()) {
            if ticks == 0 {
                // Would block with the deadline already here: time out now.
                let outcome = self.ipc(IpcCall::CancelOp {
                    thread: tid,
                    ticket,
                    reason: CancelReason::TimedOut,
                });
                if outcome.is_ok() {
                    self.stats.timeouts += 1;
                    self.stats.select_timeouts += u64::from(matches!(on, BlockedOn::Select { .. }));
                }
                // The wake made the thread ready with TimedOut; it goes on
                // running now (it never left the CPU).
                self.set_state(tid, ThreadState::Running);
                return self.machine.take_reply(tid).or(Some(Reply {
                    status: Status::TimedOut,
                    value: NO_MEMBER,
                }));
            }
            let deadline = self.machine.now() + ticks;
            self.arm_timer(tid, deadline, TimerKind::Timeout(ticket));
        }
        None
    }

    /// Read a NUL-terminated name (at most `MAX_NAME_LEN` bytes) from `tid`'s
    /// memory.
    fn user_name(&self, tid: Tid, va: usize) -> Result<String, Status> {
        let mut bytes = Vec::new();
        for offset in 0..=MAX_NAME_LEN {
            let byte = self
                .machine
                .read_user(tid, va.wrapping_add(offset), 1)
                .map_err(|_| Status::BadAddress)?[0];
            if byte == 0 {
                return String::from_utf8(bytes).map_err(|_| Status::BadParam);
            }
            bytes.push(byte);
        }
        Err(Status::BadParam)
    }

    /// Handle one system call; `None` when the thread blocked.
    fn syscall(&mut self, tid: Tid, syscall: Syscall) -> Option<Reply> {
        let status_of =
            |result: Result<(), Status>| Reply::status(result.err().unwrap_or(Status::Ok));
        match syscall {
            Syscall::PipeCreate {
                name,
                msg_size,
                max_msgs,
                flags,
            } => {
                let name = if name == 0 {
                    None
                } else {
                    match self.user_name(tid, name) {
                        Ok(name) => Some(name),
                        Err(status) => return Some(Reply::status(status)),
                    }
                };
                let Ok(flags) = PipeFlags::from_raw(flags) else {
                    return Some(Reply::status(Status::BadParam));
                };
                let call = IpcCall::Create {
                    caller: Some(tid),
                    name: name.as_deref(),
                    msg_size,
                    max_msgs,
                    flags,
                };
                Some(match self.ipc(call) {
                    Ok(IpcValue::Id(id)) => Reply::value(id.to_raw()),
                    Ok(other) => unreachable!("create returned {other:?}"),
                    Err(status) => Reply::status(status),
                })
            }
            Syscall::PipeIdGet { name, id_out } => {
                let result = self.user_name(tid, name).and_then(|name| {
                    match self.ipc(IpcCall::Lookup { name: &name })? {
                        IpcValue::Id(id) => self.copy_out(tid, id_out, &id.to_raw().to_ne_bytes()),
                        other => unreachable!("lookup returned {other:?}"),
                    }
                });
                Some(status_of(result))
            }
            Syscall::PipeInfoGet {
                id,
                msg_size_out,
                max_msgs_out,
                flags_out,
            } => {
                let result = match self.ipc(IpcCall::Info {
                    id: PipeId::from_raw(id),
                }) {
                    Ok(IpcValue::Info(info)) => self
                        .copy_out(tid, msg_size_out, &info.msg_size.to_ne_bytes())
                        .and_then(|()| {
                            self.copy_out(tid, max_msgs_out, &info.max_msgs.to_ne_bytes())
                        })
                        .and_then(|()| {
                            self.copy_out(
                                tid,
                                flags_out,
                                &(info.flags.bits() as usize).to_ne_bytes(),
                            )
                        }),
                    Ok(other) => unreachable!("info returned {other:?}"),
                    Err(status) => Err(status),
                };
                Some(status_of(result))
            }
            Syscall::PipeWrite { id, src, len, wait }
            | Syscall::PipeWriteUrgent { id, src, len, wait }
            | Syscall::PipeWritePrio {
                id, src, len, wait, ..
            } => {
                let id = PipeId::from_raw(id);
                let prio = match syscall {
                    Syscall::PipeWritePrio { prio, .. } => match u8::try_from(prio) {
                        Ok(prio) => Some(prio),
                        // As the C ABI: the register is range-checked first.
                        Err(_) => return Some(Reply::status(Status::BadParam)),
                    },
                    _ => None,
                };
                let call = IpcCall::Write {
                    thread: tid,
                    id,
                    src,
                    len,
                    wait: wait != Wait::Never,
                    urgent: matches!(syscall, Syscall::PipeWriteUrgent { .. }),
                    prio,
                };
                match self.ipc(call) {
                    Ok(IpcValue::Blocked(ticket)) => self.block(
                        tid,
                        BlockedOn::Pipe {
                            id,
                            op: PipeOp::Write,
                            ticket,
                        },
                        wait,
                    ),
                    Ok(_) => Some(Reply::status(Status::Ok)),
                    Err(status) => Some(Reply::status(status)),
                }
            }
            Syscall::PipeRead {
                id,
                dst,
                len_out,
                consume,
                wait,
            } => {
                let id = PipeId::from_raw(id);
                let call = IpcCall::Read {
                    thread: tid,
                    id,
                    dst,
                    len_out,
                    consume,
                    wait: wait != Wait::Never,
                    seq_out: None,
                    after: None,
                };
                self.receive(tid, call, wait)
            }
            Syscall::PipeReadSeq {
                id,
                dst,
                len_out,
                seq_out,
                consume,
                wait,
            } => {
                if wait == Wait::Never {
                    // The core has no try form that reports the number.
                    return Some(Reply::status(Status::BadParam));
                }
                let call = IpcCall::Read {
                    thread: tid,
                    id: PipeId::from_raw(id),
                    dst,
                    len_out,
                    consume,
                    wait: true,
                    seq_out: Some(seq_out),
                    after: None,
                };
                self.receive(tid, call, wait)
            }
            Syscall::PipePeekNewer {
                id,
                after,
                dst,
                len_out,
                seq_out,
                wait,
            } => {
                let call = IpcCall::Read {
                    thread: tid,
                    id: PipeId::from_raw(id),
                    dst,
                    len_out,
                    consume: false,
                    wait: wait != Wait::Never,
                    seq_out: Some(seq_out),
                    after: Some(after),
                };
                self.receive(tid, call, wait)
            }
            Syscall::PipePeekAt {
                id,
                index,
                dst,
                len_out,
                seq_out,
            } => {
                let call = IpcCall::PeekAt {
                    thread: tid,
                    id: PipeId::from_raw(id),
                    index,
                    dst,
                    len_out,
                    seq_out,
                };
                let outcome = self.ipc(call);
                self.stats.peeked += u64::from(outcome.is_ok());
                Some(status_of(outcome.map(drop)))
            }
            Syscall::PipePurge { id } => {
                let call = IpcCall::Purge {
                    caller: Some(tid),
                    id: PipeId::from_raw(id),
                };
                Some(match self.ipc(call) {
                    Ok(IpcValue::Count(dropped)) => Reply::value(dropped),
                    Ok(other) => unreachable!("purge returned {other:?}"),
                    Err(status) => Reply::status(status),
                })
            }
            Syscall::PipeClose { id } => {
                let call = IpcCall::Close {
                    caller: Some(tid),
                    id: PipeId::from_raw(id),
                };
                Some(status_of(self.ipc(call).map(drop)))
            }
            Syscall::PipeSelect {
                entries,
                count,
                wait,
            } => Some(match self.select_syscall(tid, entries, count, wait) {
                Ok(reply) => reply?,
                Err(status) => Reply {
                    status,
                    value: NO_MEMBER,
                },
            }),
            Syscall::PipeDestroy { id } => {
                let call = IpcCall::Destroy {
                    caller: Some(tid),
                    id: PipeId::from_raw(id),
                };
                Some(status_of(self.ipc(call).map(drop)))
            }
            Syscall::Sleep { ticks } => {
                if ticks == 0 {
                    return Some(Reply::status(Status::Ok));
                }
                self.set_state(tid, ThreadState::Blocked(BlockedOn::Sleep));
                let deadline = self.machine.now() + ticks;
                self.arm_timer(tid, deadline, TimerKind::Wakeup);
                None
            }
            Syscall::Yield => Some(Reply::status(Status::Ok)),
            Syscall::VmMap { va, len, writable } => {
                if va.checked_add(len).is_none() {
                    return Some(Reply::status(Status::BadParam));
                }
                let perm = if writable {
                    Perm::ReadWrite
                } else {
                    Perm::ReadOnly
                };
                let process = self.threads[tid.0 as usize].process;
                self.machine
                    .with_space(process, |space| space.map(va, len, perm));
                Some(Reply::status(Status::Ok))
            }
            Syscall::VmUnmap { va, len } => {
                if va.checked_add(len).is_none() {
                    return Some(Reply::status(Status::BadParam));
                }
                let process = self.threads[tid.0 as usize].process;
                let pages = self
                    .machine
                    .with_space(process, |space| space.unmap(va, len));
                Some(Reply::value(pages))
            }
        }
    }

    /// A read or peek call: blocks the thread when the IPC manager says so.
    fn receive(&mut self, tid: Tid, call: IpcCall<'_>, wait: Wait) -> Option<Reply> {
        let IpcCall::Read {
            id, consume, after, ..
        } = call
        else {
            unreachable!("receive is for reads");
        };
        let op = match (consume, after) {
            (true, _) => PipeOp::Read,
            (false, None) => PipeOp::Peek,
            (false, Some(after)) => PipeOp::PeekNewer(after),
        };
        match self.ipc(call) {
            Ok(IpcValue::Blocked(ticket)) => {
                self.block(tid, BlockedOn::Pipe { id, op, ticket }, wait)
            }
            Ok(_) => {
                self.stats.peeked += u64::from(!consume);
                Some(Reply::status(Status::Ok))
            }
            Err(status) => Some(Reply::status(status)),
        }
    }

    /// `pipe_select`: the member list is copied in and checked here (a
    /// count out of range is `BadParam`, an unreadable list `BadAddress`,
    /// an unknown kind `BadParam`); the IPC manager checks each member.
    /// `Ok(None)`: the thread blocked.
    fn select_syscall(
        &mut self,
        tid: Tid,
        entries: usize,
        count: usize,
        wait: Wait,
    ) -> Result<Option<Reply>, Status> {
        if count == 0 || count > SELECT_MAX {
            return Err(Status::BadParam);
        }
        let raw = self
            .machine
            .read_user(tid, entries, count * SelectEntry::SIZE)
            .map_err(|_| Status::BadAddress)?;
        let word = size_of::<usize>();
        let mut ops = Vec::with_capacity(count);
        for record in raw.chunks_exact(SelectEntry::SIZE) {
            let mut words = [0usize; 4];
            for (w, bytes) in words.iter_mut().zip(record.chunks_exact(word)) {
                *w = usize::from_ne_bytes(bytes.try_into().expect("word-sized chunk"));
            }
            let entry = SelectEntry::decode(words).ok_or(Status::BadParam)?;
            ops.push(select_op(entry));
        }
        match self.ipc(IpcCall::Select {
            thread: tid,
            ops: &ops,
        })? {
            IpcValue::Selected(selected) => {
                let peeked = selected.status == Status::Ok
                    && selected
                        .index
                        .is_some_and(|i| matches!(ops[i], SelectOp::Peek { .. }));
                self.stats.peeked += u64::from(peeked);
                Ok(Some(Reply {
                    status: selected.status,
                    value: selected.index.unwrap_or(NO_MEMBER),
                }))
            }
            IpcValue::Blocked(ticket) => {
                self.threads[tid.0 as usize].select = ops;
                Ok(self.block(tid, BlockedOn::Select { ticket }, wait))
            }
            other => unreachable!("select returned {other:?}"),
        }
    }

    fn copy_out(&self, tid: Tid, va: usize, bytes: &[u8]) -> Result<(), Status> {
        self.machine
            .write_user(tid, va, bytes)
            .map_err(|_| Status::BadAddress)
    }

    /// The pages of `[va, va + len)`, as a length that covers them (for
    /// unmapping a buffer's pages).
    #[must_use]
    pub fn page_span(va: usize, len: usize) -> (usize, usize) {
        let start = va / PAGE_SIZE * PAGE_SIZE;
        let end = va.saturating_add(len.max(1)).div_ceil(PAGE_SIZE) * PAGE_SIZE;
        (start, end - start)
    }
}

/// The IPC manager's form of a select record.
fn select_op(entry: SelectEntry) -> SelectOp {
    match entry {
        SelectEntry::Read { id, dst, len_out } => SelectOp::Read {
            pipe: PipeId::from_raw(id),
            buf: UserAddr(dst),
            len_out: UserAddr(len_out),
        },
        SelectEntry::Peek { id, dst, len_out } => SelectOp::Peek {
            pipe: PipeId::from_raw(id),
            buf: UserAddr(dst),
            len_out: UserAddr(len_out),
        },
        SelectEntry::Write { id, src, len } => SelectOp::Write {
            pipe: PipeId::from_raw(id),
            buf: UserAddr(src),
            len,
        },
    }
}

fn map_progress<T>(progress: Progress<T>, f: impl FnOnce(T) -> IpcValue) -> Progress<IpcValue> {
    match progress {
        Progress::Done(value) => Progress::Done(f(value)),
        Progress::Blocked(ticket) => Progress::Blocked(ticket),
    }
}

fn state_name(state: &ThreadState, pipes: &BTreeMap<PipeId, PipeRecord>) -> String {
    let pipe = |id: &PipeId| {
        pipes
            .get(id)
            .map_or_else(|| id.to_string(), |r| r.name.clone())
    };
    match state {
        ThreadState::Running => "running".into(),
        ThreadState::Ready => "ready".into(),
        ThreadState::Blocked(BlockedOn::Sleep) => "sleeping".into(),
        ThreadState::Blocked(BlockedOn::Pipe {
            id,
            op: PipeOp::Read,
            ..
        }) => format!("blocked: read {}", pipe(id)),
        ThreadState::Blocked(BlockedOn::Pipe {
            id,
            op: PipeOp::Peek,
            ..
        }) => format!("blocked: peek {}", pipe(id)),
        ThreadState::Blocked(BlockedOn::Pipe {
            id,
            op: PipeOp::PeekNewer(after),
            ..
        }) => format!("blocked: peek newer than {after} {}", pipe(id)),
        ThreadState::Blocked(BlockedOn::Pipe {
            id,
            op: PipeOp::Write,
            ..
        }) => format!("blocked: write {}", pipe(id)),
        ThreadState::Blocked(BlockedOn::Select { .. }) => "blocked: select".into(),
        ThreadState::Exited(_) => "exited".into(),
    }
}

/// Kernel-internal helper for the check harness and scenarios: the tids of
/// threads blocked on a pipe, with what they wait for.
impl Sim {
    /// Threads blocked on a pipe operation; a thread blocked in a select
    /// once per member.
    #[must_use]
    pub fn blocked_on_pipes(&self) -> Vec<(Tid, PipeId, PipeOp)> {
        let mut blocked = Vec::new();
        for (i, t) in self.threads.iter().enumerate() {
            match t.state {
                ThreadState::Blocked(BlockedOn::Pipe { id, op, .. }) => {
                    blocked.push((Tid(i as u32), id, op));
                }
                ThreadState::Blocked(BlockedOn::Select { .. }) => blocked.extend(
                    t.select
                        .iter()
                        .map(|op| (Tid(i as u32), op.pipe(), PipeOp::of(op))),
                ),
                _ => {}
            }
        }
        blocked
    }

    /// The members of the select `tid` waits in (empty when it does not).
    #[must_use]
    pub fn select_members(&self, tid: Tid) -> &[SelectOp] {
        match self.threads[tid.0 as usize].state {
            ThreadState::Blocked(BlockedOn::Select { .. }) => &self.threads[tid.0 as usize].select,
            _ => &[],
        }
    }
}
