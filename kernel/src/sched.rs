//! The scheduler, and what happens on every trap from ring 3.
//!
//! Threads have a priority (larger = more urgent); the scheduler runs the
//! highest-priority ready thread, round-robin within a priority, and the
//! timer preempts the running thread every tick. A trap from ring 3 goes
//! through [`user_trap`]: save the thread's registers, handle the event
//! (which returns an [`Action`] rather than switching itself), apply it,
//! then pick who runs next — possibly after idling until a tick.

#![forbid(unsafe_code)]

use crate::entry::{self, SYSCALL_VECTOR, TrapFrame};
use crate::frames;
use crate::gdt::{USER_CODE_SELECTOR, USER_DATA_SELECTOR};
use crate::ipc;
use crate::paging::{self, AddressSpace};
pub use crate::process::{Pid, Process, Thread, ThreadState, ThreadTable, Tid};
use crate::qemu::{self, ExitCode};
use crate::sync::Global;
use crate::{account, kprintln, lapic, loader, percpu, timer, trap};
use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use ipcm::Status;

/// Number of priority levels (0 = lowest).
pub const PRIORITIES: usize = 8;

/// All processes and threads, the ready queues, and who runs.
pub struct Scheduler {
    processes: BTreeMap<Pid, Process>,
    threads: ThreadTable,
    ready: ReadyQueues,
    current: Option<Tid>,
    next_id: u64,
    /// A thread woken by the running one that gets the CPU straight away
    /// when the running one's system call ends (seL4's direct switch: its
    /// priority is at least the waker's). Ready, but in no ready queue.
    direct: Option<Tid>,
    /// Sequence number of the next timer armed (sleep or deadline).
    next_timer: u64,
}

static SCHED: Global<Scheduler> = Global::new();

/// One FIFO of ready threads per priority, and a bit per non-empty one,
/// so the most urgent is found with one instruction, not a scan.
#[derive(Default)]
struct ReadyQueues {
    queues: [VecDeque<Tid>; PRIORITIES],
    non_empty: u8,
}

impl ReadyQueues {
    fn push_back(&mut self, priority: u8, tid: Tid) {
        self.queues[usize::from(priority)].push_back(tid);
        self.non_empty |= 1 << priority;
    }

    fn highest(&self) -> Option<usize> {
        (self.non_empty != 0).then(|| 7 - self.non_empty.leading_zeros() as usize)
    }

    fn pop_highest(&mut self) -> Option<Tid> {
        let priority = self.highest()?;
        let queue = &mut self.queues[priority];
        let tid = queue.pop_front();
        if queue.is_empty() {
            self.non_empty &= !(1 << priority);
        }
        tid
    }

    fn remove(&mut self, priority: u8, tid: Tid) {
        let queue = &mut self.queues[usize::from(priority)];
        queue.retain(|&t| t != tid);
        if queue.is_empty() {
            self.non_empty &= !(1 << priority);
        }
    }
}

// The running thread (0: none), kept equal to `Scheduler::current`, and
// its page-table root, process and priority live in this CPU's block
// (`percpu::current` and `running_*`), readable without the scheduler's
// lock: the IPCM's hooks ask for them on every call.

/// The tick at which timers were last expired (`u64::MAX`: never, or a
/// timer armed already due).
static TIMERS_CHECKED_AT: AtomicU64 = AtomicU64::new(u64::MAX);

/// The running thread's priority (`None`: no thread runs).
#[inline(always)]
fn running_priority() -> Option<u8> {
    (percpu::current() != 0).then(|| percpu::running_priority() as u8)
}

/// Whether `tid` is the running thread.
#[inline(always)]
fn is_running(tid: Tid) -> bool {
    percpu::current() == tid.0
}

/// Set whenever the running thread may have to give way: a thread was
/// woken for a direct switch, or a thread more urgent than the running one
/// became ready. Cleared when `schedule` decides. While it is clear, a
/// system call that returns to its caller needs no scheduling decision at
/// all. (A tick needs no flag: it arrives from ring 3, whose trap path
/// always schedules, or in the idle loop, which is inside `schedule`; so
/// timers cannot fall due unnoticed between two system calls.)
static NEED_RESCHEDULE: AtomicBool = AtomicBool::new(true);

/// Fault injection for the `iret-fault` scenario: the next return by
/// `iretq` gets a bad stack selector, so the CPU faults on the `iretq`
/// itself, as it would on any bad return frame; the kernel must kill that
/// thread's process and go on. Never set otherwise.
static CORRUPT_NEXT_IRET: AtomicBool = AtomicBool::new(false);

/// Arms [`CORRUPT_NEXT_IRET`] (the `iret-fault` scenario only).
pub fn corrupt_next_iret() {
    CORRUPT_NEXT_IRET.store(true, Ordering::Relaxed);
}

/// What the kernel must do with the thread that trapped, decided by the
/// handler and applied by the scheduler.
#[must_use]
#[derive(Debug)]
pub enum Action {
    /// Return to the thread with `status` in rax (and `value` in rdx).
    Return {
        /// The status code.
        status: u64,
        /// A second result, if the call has one.
        value: Option<u64>,
    },
    /// Park it until the IPCM wakes it (or the deadline cancels the operation).
    Block {
        /// Tick at which the operation times out.
        deadline: Option<u64>,
    },
    /// Sleep until the tick.
    Sleep {
        /// Wake-up tick.
        until: u64,
    },
    /// Go to the back of its ready queue (returns OK).
    Yield,
    /// Timer tick: round-robin among equal priorities.
    Preempt,
    /// The thread ends.
    ExitThread,
    /// Its process ends (exit code).
    ExitProcess(u64),
    /// Its process is killed (fault description).
    Kill(String),
}

impl Scheduler {
    fn make_ready(&mut self, tid: Tid) {
        let thread = self.threads.get_mut(&tid).expect("known thread");
        thread.state = ThreadState::Ready;
        let priority = thread.priority;
        self.ready.push_back(priority, tid);
        if running_priority().is_none_or(|running| priority > running) {
            NEED_RESCHEDULE.store(true, Ordering::Relaxed);
        }
    }

    /// Forgets the running thread (it stops running or goes away); the
    /// stubs then save SSE state into the kernel's scratch area.
    fn clear_current(&mut self) {
        self.current = None;
        percpu::set_current(0);
        entry::use_scratch_fx();
    }

    fn highest_ready(&self) -> Option<usize> {
        self.ready.highest()
    }

    fn remove_thread(&mut self, tid: Tid) {
        if let Some(thread) = self.threads.remove(&tid) {
            account::release(thread.process, thread.charge);
            self.ready.remove(thread.priority, tid);
            if let Some(process) = self.processes.get_mut(&thread.process) {
                process.threads.retain(|&t| t != tid);
            }
        }
        if self.current == Some(tid) {
            self.clear_current();
        }
        if self.direct == Some(tid) {
            self.direct = None;
        }
    }

    fn remove_process(&mut self, pid: Pid) -> Option<Process> {
        let process = self.processes.remove(&pid)?;
        for &tid in &process.threads {
            if let Some(thread) = self.threads.remove(&tid) {
                account::release(pid, thread.charge);
                self.ready.remove(thread.priority, tid);
            }
            if self.current == Some(tid) {
                self.clear_current();
            }
            if self.direct == Some(tid) {
                self.direct = None;
            }
        }
        if process.space.root() == paging::active_root() {
            // Never free the page tables the CPU is using.
            paging::activate_kernel_only();
        }
        Some(process)
    }

    /// A new thread in `pid` entering `entry(arg0, arg1)` on a fresh stack,
    /// its kernel memory charged to `pid` (see [`crate::account`]).
    fn spawn_thread(
        &mut self,
        pid: Pid,
        entry: u64,
        args: (u64, u64),
        priority: u8,
    ) -> Result<Tid, Refusal> {
        if usize::from(priority) >= PRIORITIES {
            return Err((Status::BadParam, "bad priority"));
        }
        if !(paging::USER_START..paging::USER_END).contains(&entry) {
            return Err((Status::BadParam, "entry outside user space"));
        }
        if !self.processes.contains_key(&pid) {
            return Err((Status::BadParam, "no such process"));
        }
        let tid = self.threads.vacant();
        let charged = account::charged(pid, THREAD_COST_BOUND, WAIT_RECORD_BYTES, || {
            let process = self.processes.get_mut(&pid).ok_or(Status::BadParam)?;
            let stack_top = process.map_new_stack().map_err(|_| Status::NoMemory)?;
            let root = process.space.root();
            process.threads.push(tid);
            self.threads
                .insert(Thread::new(pid, root, priority, entry, args, stack_top));
            self.ready.push_back(priority, tid);
            Ok(())
        });
        match charged {
            Ok(((), bytes)) => {
                if let Some(thread) = self.threads.get_mut(&tid) {
                    thread.charge = bytes;
                }
                Ok(tid)
            }
            Err(Status::NoMemory) => Err((
                Status::NoMemory,
                "out of memory (kernel quota, or frames, or stack slots)",
            )),
            Err(e) => Err((e, "refused")),
        }
    }
}

/// Why a thread could not be created: the status for the caller and a
/// reason for the log.
pub type Refusal = (Status, &'static str);

/// Heap bytes a thread costs at most: its record in the thread table, its
/// SSE area, its slots in the process's and the ready queue's vectors.
const THREAD_COST_BOUND: u64 = 2048;
/// Heap bytes a thread's one pending IPCM operation may take (its entry in
/// the manager's pending map and in a pipe's wait queue), reserved at spawn.
const WAIT_RECORD_BYTES: u64 = 128;

/// Sets up the (empty) scheduler.
pub fn init() {
    SCHED.init(Scheduler {
        processes: BTreeMap::new(),
        threads: ThreadTable::default(),
        ready: Default::default(),
        current: None,
        next_id: 1,
        direct: None,
        next_timer: 0,
    });
}

/// Loads `image` into a new process whose first thread runs `_start(arg)`
/// at `priority`.
pub fn spawn_process(
    name: &'static str,
    image: &[u8],
    launch: &crate::scenarios::Launch,
) -> Result<Pid, String> {
    let mut space = AddressSpace::new().map_err(|_| String::from("out of memory"))?;
    let entry = loader::load(image, &mut space).map_err(|e| alloc::format!("{e:?}"))?;
    let mut sched = SCHED.lock();
    let pid = Pid(sched.next_id);
    sched.next_id += 1;
    let mut process = Process::new(name, space);
    process.cpu_limit = launch.cpu_ticks;
    sched.processes.insert(pid, process);
    if let Err((_, why)) = sched.spawn_thread(pid, entry, (launch.arg, 0), launch.priority) {
        drop(sched.remove_process(pid));
        return Err(why.into());
    }
    Ok(pid)
}

/// A new thread in the process of `caller` (the `thread_spawn` syscall).
pub fn spawn_thread_for(
    caller: Tid,
    entry: u64,
    args: (u64, u64),
    priority: u64,
) -> Result<Tid, Refusal> {
    let mut sched = SCHED.lock();
    let thread = sched
        .threads
        .get(&caller)
        .ok_or((Status::BadParam, "no such thread"))?;
    let (pid, own) = (thread.process, thread.priority);
    // A thread may not create one more urgent than itself: that would let
    // any process starve every other.
    if priority > u64::from(own) {
        return Err((Status::BadParam, "priority above the caller's own"));
    }
    let priority = u8::try_from(priority).map_err(|_| (Status::BadParam, "bad priority"))?;
    sched.spawn_thread(pid, entry, args, priority)
}

/// The page-table root of `tid`'s address space (`None`: thread gone).
pub fn space_root(tid: Tid) -> Option<u64> {
    if is_running(tid) {
        return Some(percpu::running_root());
    }
    let sched = SCHED.lock();
    sched.threads.get(&tid).map(|t| t.root)
}

/// The process of `tid`, if it still exists.
pub fn process_of(tid: Tid) -> Option<Pid> {
    if is_running(tid) {
        return Some(Pid(percpu::running_pid()));
    }
    let sched = SCHED.lock();
    sched.threads.get(&tid).map(|t| t.process)
}

/// The priority of `tid` (0 if gone).
pub fn priority_of(tid: Tid) -> u8 {
    if is_running(tid) {
        return percpu::running_priority() as u8;
    }
    let sched = SCHED.lock();
    sched.threads.get(&tid).map_or(0, |t| t.priority)
}

/// Who is calling, for log lines: "name#pid.tid".
pub fn describe(tid: Tid) -> String {
    let sched = SCHED.lock();
    match sched
        .threads
        .get(&tid)
        .and_then(|t| sched.processes.get(&t.process).map(|p| (t.process, p)))
    {
        Some((pid, process)) => alloc::format!("{}#{}.{}", process.name, pid.0, tid.slot()),
        None => alloc::format!("thread {}", tid.0),
    }
}

/// The IPCM's wake hook: the thread's pending operation ended with
/// `status`; store it as the syscall's result and make the thread ready.
pub fn wake(tid: Tid, status: u64) {
    let mut sched = SCHED.lock();
    let (direct_free, waker_priority) = (sched.direct.is_none(), running_priority());
    let Some(thread) = sched.threads.get_mut(&tid) else {
        kprintln!("wake for vanished thread {}", tid.0);
        return;
    };
    if !matches!(thread.state, ThreadState::Blocked { .. }) {
        kprintln!(
            "wake for thread {} that is not blocked ({:?})",
            tid.slot(),
            thread.state
        );
        return;
    }
    thread.regs.rax = status;
    let priority = thread.priority;
    let direct = direct_free && waker_priority.is_some_and(|waker| priority >= waker);
    if direct {
        // seL4's fastpath: the woken thread runs next, straight from the
        // waker's system call, without a trip through the ready queues.
        thread.state = ThreadState::Ready;
        sched.direct = Some(tid);
        NEED_RESCHEDULE.store(true, Ordering::Relaxed);
    } else {
        sched.make_ready(tid);
    }
}

/// The entry point for every trap from ring 3. `frame` is the running
/// thread's register area (or, for the IST vectors, a frame on their own
/// stack, copied into it here).
pub fn user_trap(frame: &mut TrapFrame) {
    let tid = Tid(percpu::current());
    debug_assert!(tid.0 != 0, "a trap from ring 3 has a current thread");
    adopt_frame(tid, frame);
    let action = match frame.vector {
        timer::TIMER_VECTOR => {
            timer::on_tick();
            charge_tick(tid)
        }
        33..48 => {
            timer::acknowledge(frame.vector);
            Action::Preempt
        }
        lapic::TIMER_VECTOR | lapic::RESCHEDULE_VECTOR => {
            lapic::eoi();
            Action::Preempt
        }
        lapic::SPURIOUS_VECTOR => Action::Preempt,
        _ => Action::Kill(trap::describe_fault(frame)),
    };
    apply(tid, action);
    schedule();
}

/// The entry point for every system call; `frame` is the running
/// thread's register area. Inlined into the entry path.
#[inline(always)]
pub fn user_syscall(frame: &mut TrapFrame) {
    let tid = Tid(percpu::current());
    let action = crate::syscall::handle(tid, frame);
    if let Action::Return { status, value } = action {
        frame.rax = status;
        if let Some(value) = value {
            frame.rdx = value;
        }
        // The fast path: the caller goes on, nothing else is due (no
        // direct switch, no more urgent thread, no timer): leave by
        // sysretq with the frame as it is.
        if !NEED_RESCHEDULE.load(Ordering::Relaxed) {
            frame.rflags = user_rflags(frame.rflags);
            entry::set_exit_via_sysret(true);
            return;
        }
        schedule();
        return;
    }
    apply(tid, action);
    schedule();
}

/// RFLAGS a thread may run with: its arithmetic and direction flags, IF
/// on, IOPL 0, no trap, nested-task, alignment-check or ID flags.
fn user_rflags(rflags: u64) -> u64 {
    (rflags & 0x0CD5) | 0x202
}

/// A frame the CPU put on an IST stack (#DB, NMI, #MC from ring 3) is
/// copied into the thread's register area, where everything else expects
/// it.
fn adopt_frame(tid: Tid, frame: &TrapFrame) {
    let mut sched = SCHED.lock();
    if let Some(thread) = sched.threads.get_mut(&tid)
        && !core::ptr::eq(&*thread.regs, frame)
    {
        *thread.regs = *frame;
    }
}

/// Charges the tick to the running thread's process: `Preempt`, or `Kill`
/// once the process has used its CPU budget.
fn charge_tick(tid: Tid) -> Action {
    let mut sched = SCHED.lock();
    let Some(pid) = sched.threads.get(&tid).map(|t| t.process) else {
        return Action::Preempt;
    };
    let Some(process) = sched.processes.get_mut(&pid) else {
        return Action::Preempt;
    };
    process.cpu_used += 1;
    match process.cpu_limit {
        Some(limit) if process.cpu_used >= limit => {
            Action::Kill(alloc::format!("used its CPU budget of {limit} ticks"))
        }
        _ => Action::Preempt,
    }
}

/// The return to the current thread faulted in ring 0: kill its process
/// and load someone else (the caller then leaves to ring 3).
pub fn kill_current(reason: String) {
    let current = SCHED.lock().current;
    if let Some(tid) = current {
        apply(tid, Action::Kill(reason));
    }
    schedule();
}

fn apply(tid: Tid, action: Action) {
    let mut sched = SCHED.lock();
    let armed = sched.next_timer;
    let Some(thread) = sched.threads.get_mut(&tid) else {
        return;
    };
    match action {
        Action::Return { status, value } => {
            thread.regs.rax = status;
            if let Some(value) = value {
                thread.regs.rdx = value;
            }
        }
        Action::Block { deadline } => {
            thread.state = ThreadState::Blocked { deadline };
            thread.timer_armed = armed;
            sched.next_timer += 1;
            sched.clear_current();
            if deadline.is_some_and(|d| d <= timer::now()) {
                // Already due (a zero timeout): expire it before anyone runs.
                TIMERS_CHECKED_AT.store(u64::MAX, Ordering::Relaxed);
            }
        }
        Action::Sleep { until } => {
            thread.regs.rax = 0;
            thread.state = ThreadState::Sleeping { until };
            thread.timer_armed = armed;
            sched.next_timer += 1;
            sched.clear_current();
        }
        Action::Yield => {
            thread.regs.rax = 0;
            sched.make_ready(tid);
            sched.clear_current();
        }
        Action::Preempt => {
            let priority = usize::from(thread.priority);
            if sched.highest_ready().is_some_and(|p| p >= priority) {
                sched.make_ready(tid);
                sched.clear_current();
            }
        }
        Action::ExitThread => {
            let pid = thread.process;
            sched.remove_thread(tid);
            let empty = sched
                .processes
                .get(&pid)
                .is_some_and(|p| p.threads.is_empty());
            drop(sched);
            if empty {
                end_process(pid, "finished");
            }
        }
        Action::ExitProcess(code) => {
            let pid = thread.process;
            drop(sched);
            end_process(pid, &alloc::format!("exited with code {code}"));
        }
        Action::Kill(reason) => {
            let pid = thread.process;
            drop(sched);
            end_process(pid, &alloc::format!("KILLED: {reason}"));
        }
    }
}

/// Ends a process: cancels its threads' pending IPCM operations (through
/// the IPCM, so no pending operation is left behind), then frees it.
pub fn end_process(pid: Pid, why: &str) {
    let blocked: Vec<Tid> = {
        let sched = SCHED.lock();
        let Some(process) = sched.processes.get(&pid) else {
            return;
        };
        process
            .threads
            .iter()
            .copied()
            .filter(|tid| matches!(sched.threads[tid].state, ThreadState::Blocked { .. }))
            .collect()
    };
    let cancelled = blocked
        .iter()
        .filter(|&&tid| ipc::cancel(tid, ipcm::CancelReason::Cancelled))
        .count();
    let process = SCHED.lock().remove_process(pid);
    let Some(process) = process else {
        return;
    };
    // Everything else it owned goes too: its pipes are destroyed (their
    // waiters, in other processes, woken with DESTROYED) and their bytes
    // return to the pool.
    let pipes = account::pipes_of(pid);
    for &id in &pipes {
        if ipc::ipcm().destroy(ipcm::Caller::Kernel, id).is_ok() {
            account::pipe_destroyed(id);
        }
    }
    let held = account::held_by(pid);
    kprintln!(
        "process {}#{} {}; {} pending operation(s) cancelled; {} pipe(s) destroyed{}",
        process.name,
        pid.0,
        why,
        cancelled,
        pipes.len(),
        if held == 0 {
            ""
        } else {
            "; ACCOUNTING BUG: bytes still charged"
        }
    );
}

/// Wakes sleepers whose time came and cancels IPCM operations whose
/// deadline passed (the IPCM wakes those threads with TIMED_OUT), in
/// deadline order, ties in the order the timers were armed (DESIGN §7:
/// earlier deadlines expire first), so the woken threads queue up in that
/// order.
fn expire_timers() {
    let now = timer::now();
    // (deadline, armed, thread, is a sleep)
    // Nothing can fall due again within the tick already checked
    // (deadlines are at least one tick ahead, except a zero timeout, which
    // resets this): no lock needed to know.
    if TIMERS_CHECKED_AT.load(Ordering::Relaxed) == now {
        return;
    }
    let mut due: Vec<(u64, u64, Tid, bool)> = {
        let mut sched = SCHED.lock();
        TIMERS_CHECKED_AT.store(now, Ordering::Relaxed);
        let mut due = Vec::new();
        for (tid, thread) in sched.threads.iter_mut() {
            match thread.state {
                ThreadState::Sleeping { until } if until <= now => {
                    due.push((until, thread.timer_armed, tid, true));
                }
                ThreadState::Blocked {
                    deadline: Some(deadline),
                } if deadline <= now => {
                    // Cancel once: if the operation completed first, the
                    // cancel finds nothing and the wake already happened.
                    thread.state = ThreadState::Blocked { deadline: None };
                    due.push((deadline, thread.timer_armed, tid, false));
                }
                _ => {}
            }
        }
        due
    };
    due.sort_unstable();
    for (_, _, tid, sleep) in due {
        if sleep {
            SCHED.lock().make_ready(tid);
        } else {
            ipc::cancel(tid, ipcm::CancelReason::TimedOut);
        }
    }
}

/// Picks the thread to run and makes it current for the exit path (its
/// register and SSE areas, CR3, the exit instruction), idling with
/// interrupts on while nobody is ready.
fn schedule() {
    loop {
        NEED_RESCHEDULE.store(false, Ordering::Relaxed);
        expire_timers();
        let mut sched = SCHED.lock();
        if let Some(next) = sched.direct.take() {
            // The waker (if still running) yields its turn to the woken.
            if let Some(current) = sched.current {
                sched.make_ready(current);
            }
            sched.current = Some(next);
        }
        if let Some(current) = sched.current {
            let priority = usize::from(sched.threads[&current].priority);
            if sched.highest_ready().is_some_and(|p| p > priority) {
                sched.make_ready(current);
                sched.current = None;
            }
        }
        if sched.current.is_none() {
            sched.current = sched.ready.pop_highest();
        }
        if let Some(tid) = sched.current {
            let thread = sched.threads.get_mut(&tid).expect("ready thread exists");
            thread.state = ThreadState::Running;
            thread.regs.rflags = user_rflags(thread.regs.rflags);
            thread.regs.cs = u64::from(USER_CODE_SELECTOR);
            thread.regs.ss = u64::from(USER_DATA_SELECTOR);
            entry::set_fx_area(&mut thread.fx);
            let canonical = thread.regs.rip < paging::USER_END;
            // Only a thread whose last entry was `syscall` (rcx and r11
            // dead in its ABI) may leave by sysretq.
            let sysret = thread.regs.vector == SYSCALL_VECTOR && canonical;
            let (pid, priority) = (thread.process, thread.priority);
            entry::set_exit_via_sysret(sysret);
            if !sysret && CORRUPT_NEXT_IRET.swap(false, Ordering::Relaxed) {
                // GDT entry 5 is the TSS: no stack segment.
                thread.regs.ss = 0x28 | 3;
            }
            entry::set_current_frame(&mut thread.regs);
            let root = thread.root;
            if root != paging::active_root() {
                paging::activate(root);
            }
            percpu::set_running_root(root);
            percpu::set_running_pid(pid.0);
            percpu::set_running_priority(u64::from(priority));
            percpu::set_current(tid.0);
            return;
        }
        if sched.threads.is_empty() {
            kprintln!(
                "all processes finished; {} free frames; {} pool bytes free",
                frames::free_count(),
                account::pool_free()
            );
            qemu::exit(ExitCode::Success);
        }
        let can_wake = sched.threads.iter().any(|(_, t)| {
            matches!(
                t.state,
                ThreadState::Sleeping { .. } | ThreadState::Blocked { deadline: Some(_) }
            )
        });
        if !can_wake {
            kprintln!("DEADLOCK: every thread is blocked with no timeout:");
            for (tid, thread) in sched.threads.iter() {
                let name = sched.processes.get(&thread.process).map_or("?", |p| p.name);
                kprintln!(
                    "  {}#{}.{} {:?}",
                    name,
                    thread.process.0,
                    tid.slot(),
                    thread.state
                );
            }
            qemu::exit(ExitCode::Failure);
        }
        // The idle loop's own interrupts go through the stubs: they save
        // into the scratch area, no thread's.
        entry::use_scratch_fx();
        drop(sched);
        idle_until_tick();
    }
}

/// Waits with interrupts on for the next interrupt (a timer tick). The
/// ring-0 timer path only counts the tick; this loop does the rest.
fn idle_until_tick() {
    x86_64::instructions::interrupts::enable_and_hlt();
    x86_64::instructions::interrupts::disable();
}

/// An application processor's life: it idles, taking its local APIC
/// ticks (threads run on the boot CPU only).
pub fn run_ap() -> ! {
    loop {
        idle_until_tick();
    }
}

/// Starts the first thread; never returns.
pub fn start() -> ! {
    schedule();
    entry::enter_first()
}
