//! The scheduler, and what happens on every trap from ring 3.
//!
//! Threads have a priority (larger = more urgent); the scheduler runs the
//! highest-priority ready thread, round-robin within a priority, and the
//! timer preempts the running thread every tick. A trap from ring 3 goes
//! through [`user_trap`]: save the thread's registers, handle the event
//! (which returns an [`Action`] rather than switching itself), apply it,
//! then pick who runs next — possibly after idling until a tick.
//!
//! ## Several CPUs
//! Every CPU schedules from the same ready queues, behind the scheduler's
//! one lock. One queue keeps the priority rule exact across CPUs (the most
//! urgent ready thread is always the next one taken, by whichever CPU
//! asks) and makes migration free; the lock is held for short, bounded
//! work (no copies, no IPCM calls under it), and the IPC data path takes it
//! only to park or wake a thread, while the IPCM's own pipe locks carry
//! the parallelism. A thread may run on any CPU: its registers and SSE
//! state live in the thread (saved on every entry), so they go with it.
//! A CPU that idles while a thread becomes ready is woken by a reschedule
//! IPI. Each CPU's running thread and direct-switch candidate are its own
//! (`current[cpu]`, `direct[cpu]`). A thread running on one CPU is only
//! ever removed by that CPU: ending a process marks it dying, sends its
//! running threads' CPUs an IPI and waits until none runs, then cancels
//! the blocked ones' operations by ticket and frees it.

#![forbid(unsafe_code)]

use crate::entry::{self, SYSCALL_VECTOR, TrapFrame};
use crate::frames;
use crate::gdt::{USER_CODE_SELECTOR, USER_DATA_SELECTOR};
use crate::ipc;
use crate::paging::{self, AddressSpace};
use crate::percpu::MAX_CPUS;
pub use crate::process::{Pid, Process, Thread, ThreadState, ThreadTable, Tid};
use crate::qemu::{self, ExitCode};
use crate::sync::Global;
use crate::{account, kprintln, lapic, loader, percpu, timer, trap};
use crate::{smp, tlb};
use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use ipcm::{SelectGroup, Shared, Status, Ticket};

/// Number of priority levels (0 = lowest).
pub const PRIORITIES: usize = 8;

/// All processes and threads, the ready queues, and who runs.
pub struct Scheduler {
    processes: BTreeMap<Pid, Process>,
    threads: ThreadTable,
    ready: ReadyQueues,
    /// Each CPU's running thread.
    current: [Option<Tid>; MAX_CPUS],
    next_id: u64,
    /// Per CPU: a thread woken by the running one that gets the CPU
    /// straight away when the running one's system call ends (seL4's
    /// direct switch: its priority is at least the waker's). Ready, but in
    /// no ready queue. With its priority, so the switch looks it up once.
    direct: [Option<(Tid, u8)>; MAX_CPUS],
    /// Sequence number of the next timer armed (sleep or deadline).
    next_timer: u64,
}

static SCHED: Global<Scheduler> = Global::new();

/// This CPU's index.
#[inline(always)]
fn cpu() -> usize {
    // Masked: the index is below MAX_CPUS (a power of two), and the mask
    // spares the per-CPU arrays their bounds checks on the switch path.
    percpu::index() as usize & (MAX_CPUS - 1)
}

/// Some process is pinned to a CPU: picking a thread must then skip the
/// ones pinned elsewhere (otherwise the plain most-urgent pop).
static PINNED: AtomicBool = AtomicBool::new(false);

/// A bit per CPU idling in `schedule` (waiting for a tick or an IPI).
static IDLE: AtomicU32 = AtomicU32::new(0);

/// The boot CPU has called [`start`]: the other CPUs may schedule.
static STARTED: AtomicBool = AtomicBool::new(false);

/// Wakes one idling CPU (not this one) to look at the ready queue.
#[inline(always)]
fn kick_idle() {
    let idle = IDLE.load(Ordering::Acquire);
    if idle != 0 {
        kick_one(idle);
    }
}

/// Claims an idle CPU's bit before kicking it, so that several threads
/// made ready in a row (one write waking three peekers) wake as many idle
/// CPUs, not the lowest one each time while the others sleep to their tick.
/// The kicked CPU sets its bit again before it next halts.
#[cold]
fn kick_one(mut idle: u32) {
    loop {
        let others = idle & !(1 << cpu());
        if others == 0 {
            return;
        }
        let target = others.trailing_zeros() as usize;
        let bit = 1u32 << target;
        if IDLE.fetch_and(!bit, Ordering::AcqRel) & bit != 0 {
            lapic::send_ipi(smp::apic_id(target), lapic::RESCHEDULE_VECTOR);
            return;
        }
        // Another CPU kicked it first: try the next.
        idle &= !bit;
    }
}

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
        /// The operation's ticket, for cancelling exactly it.
        ticket: ipcm::Ticket,
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
    #[inline(always)]
    fn make_ready(&mut self, tid: Tid) {
        let thread = self.threads.get_mut(&tid).expect("known thread");
        thread.state = ThreadState::Ready;
        let (priority, pin) = (thread.priority, thread.pin);
        self.ready.push_back(priority, tid);
        if running_priority().is_none_or(|running| priority > running) {
            NEED_RESCHEDULE.store(true, Ordering::Relaxed);
        }
        match pin {
            // Only its own CPU may take it: wake that one if it idles.
            Some(cpu) if usize::from(cpu) != percpu::index() as usize => {
                if IDLE.load(Ordering::Acquire) & (1 << cpu) != 0 {
                    lapic::send_ipi(smp::apic_id(usize::from(cpu)), lapic::RESCHEDULE_VECTOR);
                }
            }
            _ => kick_idle(),
        }
    }

    /// Forgets the running thread (it stops running or goes away); the
    /// stubs then save SSE state into the kernel's scratch area.
    fn clear_current(&mut self) {
        self.current[cpu()] = None;
        percpu::set_current(0);
        entry::use_scratch_fx();
    }

    /// The most urgent ready thread that may run on CPU `here` (some are
    /// pinned to other CPUs), out of its queue.
    fn pop_runnable_here(&mut self, here: usize) -> Option<Tid> {
        let allowed = |t: &Thread| t.pin.is_none_or(|p| usize::from(p) == here);
        for priority in (0..PRIORITIES).rev() {
            let queue = &self.ready.queues[priority];
            let Some(at) = queue
                .iter()
                .position(|tid| self.threads.get(tid).is_some_and(allowed))
            else {
                continue;
            };
            let tid = self.ready.queues[priority].remove(at);
            if self.ready.queues[priority].is_empty() {
                self.ready.non_empty &= !(1 << priority);
            }
            return tid;
        }
        None
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
        self.forget_running(tid);
    }

    /// `tid` goes away: no CPU's current or direct switch any more. Only
    /// this CPU's current can be it (a thread running elsewhere is never
    /// removed: see [`end_process`]).
    fn forget_running(&mut self, tid: Tid) {
        if self.current[cpu()] == Some(tid) {
            self.clear_current();
        }
        debug_assert!(
            !self.current.contains(&Some(tid)),
            "removed while running elsewhere"
        );
        for direct in &mut self.direct {
            if direct.is_some_and(|(t, _)| t == tid) {
                *direct = None;
            }
        }
    }

    fn remove_process(&mut self, pid: Pid) -> Option<Process> {
        let process = self.processes.remove(&pid)?;
        for &tid in &process.threads {
            if let Some(thread) = self.threads.remove(&tid) {
                account::release(pid, thread.charge);
                self.ready.remove(thread.priority, tid);
            }
            self.forget_running(tid);
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
        match self.processes.get(&pid) {
            None => return Err((Status::BadParam, "no such process")),
            Some(process) if process.dying => {
                return Err((Status::BadParam, "its process is ending"));
            }
            Some(_) => {}
        }
        let tid = self.threads.vacant();
        let charged = account::charged(pid, THREAD_COST_BOUND, WAIT_RECORD_BYTES, || {
            let process = self.processes.get_mut(&pid).ok_or(Status::BadParam)?;
            let stack_top = process.map_new_stack().map_err(|_| Status::NoMemory)?;
            let root = process.space.root();
            let pin = process.pin;
            process.threads.push(tid);
            self.threads
                .insert(Thread::new(pid, root, priority, entry, args, stack_top));
            if let Some(thread) = self.threads.get_mut(&tid) {
                thread.pin = pin;
            }
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
/// SSE area, its select group record, its slots in the process's and the
/// ready queue's vectors.
const THREAD_COST_BOUND: u64 = 2048 + SELECT_GROUP_BOUND;
/// Heap bytes of a thread's select group record (a `Shared<SelectGroup>`
/// with allocator rounding), at most.
const SELECT_GROUP_BOUND: u64 = 128;
/// Heap bytes one pending IPCM operation may take (its entry in the
/// manager's pending map and in a pipe's wait queue): one is reserved at
/// spawn, a select reserves one per member (see [`begin_select`]).
pub const WAIT_RECORD_BYTES: u64 = 128;

/// Sets up the (empty) scheduler.
pub fn init() {
    SCHED.init(Scheduler {
        processes: BTreeMap::new(),
        threads: ThreadTable::default(),
        ready: Default::default(),
        current: [None; MAX_CPUS],
        next_id: 1,
        direct: [None; MAX_CPUS],
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
    // A pin to a CPU that is not online is no pin (one CPU: none at all).
    process.pin = launch.cpu.filter(|&c| usize::from(c) < smp::online());
    if process.pin.is_some() {
        PINNED.store(true, Ordering::Relaxed);
    }
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

/// The address space a copy into or out of `tid` walks (`None`: thread
/// gone): the running thread's root (its process cannot end while it runs
/// here), any other's root as the thread table publishes it, without the
/// scheduler's lock (see [`crate::process::published_root`]).
///
/// No reference is taken, yet the space outlives the copy: the copy runs
/// in a system call, with interrupts off, and calls nothing that answers a
/// TLB shootdown ([`tlb::service`]) between this look-up and its end. An
/// ending process is removed from the thread table (the root unpublished)
/// before its space is shot down, and the shootdown waits until every
/// other CPU has answered its IPI, which this one only does once it is
/// back in ring 3 or idle; so a root read while the thread was in the
/// table stays mapped until then. On one CPU the kernel is not
/// preemptible, so the end of a process cannot fall inside a copy at all.
#[inline(always)]
pub fn space_of(tid: Tid) -> Option<paging::UserSpace> {
    if is_running(tid) {
        return Some(paging::UserSpace::new(percpu::running_root()));
    }
    let root = match crate::process::published_root(tid) {
        Some(root) => root,
        None => space_of_locked(tid),
    }?;
    Some(paging::UserSpace::held(root))
}

/// [`space_of`] for a thread slot beyond the published ones.
#[cold]
fn space_of_locked(tid: Tid) -> Option<u64> {
    SCHED.lock().threads.get(&tid).map(|thread| thread.root)
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
pub fn describe(tid: Tid) -> Who {
    who(&SCHED.lock(), tid)
}

/// Who `tid` is, for a line it asks to print, if its process's rate limit
/// (see [`loglimit`]) lets it print one now; with the count of lines of
/// its dropped before this one. `None`: drop the line.
pub fn admit_log_line(tid: Tid) -> Option<(Who, u64)> {
    let now = timer::now_us();
    let mut sched = SCHED.lock();
    let who = who(&sched, tid);
    let pid = sched.threads.get(&tid)?.process;
    let dropped = sched.processes.get_mut(&pid)?.log.take(now)?;
    Some((who, dropped))
}

/// A thread as the log names it: `program#pid.slot`. Made without
/// allocating (a line is printed even when the heap is full).
#[derive(Clone, Copy, Debug)]
pub enum Who {
    /// A live thread of a process.
    Thread {
        /// Its program's name.
        program: &'static str,
        /// Its process.
        pid: u64,
        /// Its slot in the thread table.
        slot: usize,
    },
    /// A thread that is gone.
    Vanished(u64),
}

impl core::fmt::Display for Who {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Who::Thread { program, pid, slot } => write!(f, "{program}#{pid}.{slot}"),
            Who::Vanished(tid) => write!(f, "thread {tid}"),
        }
    }
}

fn who(sched: &Scheduler, tid: Tid) -> Who {
    match sched.threads.get(&tid).and_then(|t| {
        let process = sched.processes.get(&t.process)?;
        Some((t.process, process))
    }) {
        Some((pid, process)) => Who::Thread {
            program: process.name,
            pid: pid.0,
            slot: tid.slot(),
        },
        None => Who::Vanished(tid.0),
    }
}

/// Readies `tid` for a select of `members` members: makes sure that many
/// wait records are charged to its process for it (each member may hold
/// one in its pipe; the missing ones are charged for the thread's life),
/// marks it selecting (its wake then also stores the completed member's
/// index in rdx) and returns its group record. NO_MEMORY, nothing changed,
/// when the records do not fit the process's quota or the pool.
pub fn begin_select(tid: Tid, members: u64) -> Result<Shared<SelectGroup>, Status> {
    let mut sched = SCHED.lock();
    let thread = sched.threads.get_mut(&tid).ok_or(Status::BadParam)?;
    if members > thread.wait_records {
        let bytes = (members - thread.wait_records) * WAIT_RECORD_BYTES;
        account::reserve(thread.process, bytes)?;
        thread.charge += bytes;
        thread.wait_records = members;
    }
    thread.selecting = true;
    Ok(thread.select.clone())
}

/// The select of `tid` ended without blocking: its next wake is not one.
pub fn end_select(tid: Tid) {
    if let Some(thread) = SCHED.lock().threads.get_mut(&tid) {
        thread.selecting = false;
    }
}

/// Ends `thread`'s wait with `status`: the system call's result in rax and,
/// for a select, the completed member's index in rdx (`u64::MAX`: none).
fn end_wait(thread: &mut Thread, status: u64) {
    thread.regs.rax = status;
    thread.ticket = None;
    if thread.selecting {
        thread.selecting = false;
        let index = thread.select.outcome().and_then(|o| o.index);
        thread.regs.rdx = index.map_or(u64::MAX, |i| i as u64);
    }
}

/// The IPCM's wake hook: the thread's pending operation ended with
/// `status`; store it as the syscall's result and make the thread ready.
pub fn wake(tid: Tid, status: u64) {
    let mut sched = SCHED.lock();
    let here = cpu();
    let (direct_free, waker_priority) = (sched.direct[here].is_none(), running_priority());
    let Some(thread) = sched.threads.get_mut(&tid) else {
        kprintln!("wake for vanished thread {}", tid.0);
        return;
    };
    if thread.state == ThreadState::Running {
        // Still on its CPU, in the call that is about to park it: another
        // CPU completed its operation first. Its `Block` returns this.
        thread.early_wake = Some(status);
        return;
    }
    if !matches!(thread.state, ThreadState::Blocked { .. }) {
        kprintln!(
            "wake for thread {} that is not blocked ({:?})",
            tid.slot(),
            thread.state
        );
        return;
    }
    end_wait(thread, status);
    let priority = thread.priority;
    let direct = direct_free
        && waker_priority.is_some_and(|waker| priority >= waker)
        && thread.pin.is_none_or(|p| usize::from(p) == here);
    if direct {
        // seL4's fastpath: the woken thread runs next, straight from the
        // waker's system call, without a trip through the ready queues.
        thread.state = ThreadState::Ready;
        sched.direct[here] = Some((tid, priority));
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
        lapic::TIMER_VECTOR => {
            lapic::eoi();
            charge_tick(tid)
        }
        lapic::RESCHEDULE_VECTOR => {
            lapic::eoi();
            Action::Preempt
        }
        lapic::TLB_VECTOR => {
            tlb::service();
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
        // Inlined (not `schedule`): the direct switch to a woken thread
        // ends every ping-pong round, and this frame has saved the
        // registers already.
        schedule_from(None);
        return;
    }
    if let Action::Block { deadline, ticket } = action {
        let held = block(tid, deadline, ticket);
        schedule_from(held);
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
    // The common case (not an IST vector): the frame is the running
    // thread's own area already; no need for the scheduler's lock, which
    // every CPU's tick would otherwise take once more.
    if core::ptr::eq(frame, percpu::trap_frame() as *const TrapFrame) {
        return;
    }
    let mut sched = SCHED.lock();
    if let Some(thread) = sched.threads.get_mut(&tid)
        && !core::ptr::eq(&*thread.regs, frame)
    {
        *thread.regs = *frame;
    }
}

/// Charges the tick to the running thread's process: `Preempt`, or `Kill`
/// once the process has used its CPU budget.
///
/// On several CPUs the budget counts CPU-ticks: every CPU's tick charges
/// the process it finds running there, so threads of one process on k CPUs
/// use it k times as fast, and the kill comes on the first CPU whose tick
/// reaches the limit (its other threads are then stopped by `end_process`).
/// A tick a host-preempted vCPU never takes is never charged: the budget
/// bounds guest CPU time, not wall time.
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
    let current = SCHED.lock().current[cpu()];
    if let Some(tid) = current {
        apply(tid, Action::Kill(reason));
    }
    schedule();
}

/// Parks the running thread `tid` on its pending IPCM operation (the
/// `Block` action; inlined into the system-call path, where a blocking
/// read ends every ping-pong round).
#[inline(always)]
///
/// Returns the scheduler's lock for [`schedule_from`] when the thread was
/// parked and no timer is due, so the switch away from it takes the lock
/// once.
fn block(tid: Tid, deadline: Option<u64>, ticket: Ticket) -> Option<SchedGuard> {
    let mut sched = SCHED.lock();
    let armed = sched.next_timer;
    let thread = sched.threads.get_mut(&tid)?;
    if let Some(status) = thread.early_wake.take() {
        // Already completed by another CPU: go on running.
        end_wait(thread, status);
        return None;
    }
    thread.ticket = Some(ticket);
    thread.state = ThreadState::Blocked { deadline };
    thread.timer_armed = armed;
    sched.next_timer += 1;
    sched.clear_current();
    if deadline.is_some_and(|d| d <= timer::now()) {
        // Already due (a zero timeout): expire it before anyone runs.
        TIMERS_CHECKED_AT.store(u64::MAX, Ordering::Relaxed);
    }
    timers_checked().then_some(sched)
}

/// The scheduler's lock, held.
type SchedGuard = crate::sync::GlobalGuard<'static, Scheduler>;

/// No timer can be due: they were expired in this tick already (see
/// [`expire_timers`]).
#[inline(always)]
fn timers_checked() -> bool {
    TIMERS_CHECKED_AT.load(Ordering::Relaxed) == timer::now()
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
        Action::Block { deadline, ticket } => {
            drop(sched);
            drop(block(tid, deadline, ticket));
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
            if empty {
                // Counted as ending before the lock goes: meanwhile another
                // CPU's `schedule` would see a process with no thread, and
                // no thread that could wake anyone, and call it a deadlock.
                ENDING.fetch_add(1, Ordering::AcqRel);
            }
            drop(sched);
            if empty {
                end_process(pid, "finished");
                ENDING.fetch_sub(1, Ordering::AcqRel);
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

/// Ends a process: stops its threads on every CPU, cancels their pending
/// IPCM operations (through the IPCM, by ticket, so no pending operation
/// is left behind), then frees it once no CPU has its address space
/// loaded. If another CPU is already ending it, returns at once (the
/// caller's thread, if it is one of them, is parked by `schedule`).
pub fn end_process(pid: Pid, why: &str) {
    {
        let mut sched = SCHED.lock();
        let Some(process) = sched.processes.get_mut(&pid) else {
            return;
        };
        if process.dying {
            return;
        }
        process.dying = true;
        for tid in process.threads.clone() {
            if let Some(thread) = sched.threads.get_mut(&tid) {
                thread.dying = true;
            }
        }
        ENDING.fetch_add(1, Ordering::AcqRel);
        // A thread of it in a system call on another CPU takes the slow
        // way out (through `schedule`, which parks it).
        NEED_RESCHEDULE.store(true, Ordering::Relaxed);
    }
    wait_until_stopped(pid);
    finish_process(pid, why);
    ENDING.fetch_sub(1, Ordering::AcqRel);
}

/// The rest of [`end_process`], once no thread of `pid` runs anywhere.
fn finish_process(pid: Pid, why: &str) {
    let blocked: Vec<(Tid, ipcm::Ticket)> = {
        let sched = SCHED.lock();
        let Some(process) = sched.processes.get(&pid) else {
            return;
        };
        process
            .threads
            .iter()
            .filter_map(|tid| {
                let thread = &sched.threads[tid];
                match (thread.state, thread.ticket) {
                    (ThreadState::Blocked { .. }, Some(ticket)) => Some((*tid, ticket)),
                    _ => None,
                }
            })
            .collect()
    };
    let cancelled = blocked
        .iter()
        .filter(|&&(tid, ticket)| ipc::cancel_op(tid, ticket, ipcm::CancelReason::Cancelled))
        .count();
    let process = SCHED.lock().remove_process(pid);
    let Some(process) = process else {
        return;
    };
    // No CPU may walk its page tables once they are freed.
    tlb::shoot_down(process.space.root());
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
    if process.log.suppressed() > 0 {
        kprintln!(
            "process {}#{}: {} log line(s) suppressed (rate limit) at its end",
            process.name,
            pid.0,
            process.log.suppressed()
        );
    }
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

/// Processes being ended (marked dying, not yet freed): the run is not
/// over while one is, even if its threads are gone.
static ENDING: AtomicU64 = AtomicU64::new(0);

/// Waits until no thread of the dying process `pid` runs on another CPU:
/// each such CPU gets a reschedule IPI, and its `schedule` parks the
/// thread. Holds no lock while it waits (and answers TLB shootdowns).
fn wait_until_stopped(pid: Pid) {
    let here = cpu();
    let mut kicked = 0u32;
    loop {
        let running: u32 = {
            let sched = SCHED.lock();
            (0..smp::online())
                .filter(|&c| c != here)
                .filter(|&c| {
                    sched.current[c]
                        .and_then(|tid| sched.threads.get(&tid))
                        .is_some_and(|t| t.process == pid)
                })
                .fold(0, |mask, c| mask | 1 << c)
        };
        if running == 0 {
            return;
        }
        for c in (0..smp::online()).filter(|&c| running & !kicked & (1 << c) != 0) {
            lapic::send_ipi(smp::apic_id(c), lapic::RESCHEDULE_VECTOR);
        }
        kicked |= running;
        tlb::service();
        core::hint::spin_loop();
    }
}

/// Wakes sleepers whose time came and cancels IPCM operations whose
/// deadline passed (the IPCM wakes those threads with TIMED_OUT), in
/// deadline order, ties in the order the timers were armed (DESIGN §7:
/// earlier deadlines expire first), so the woken threads queue up in that
/// order.
#[inline(always)]
fn expire_timers() {
    // Nothing can fall due again within the tick already checked
    // (deadlines are at least one tick ahead, except a zero timeout, which
    // resets this): no lock needed to know, and no call either.
    if !timers_checked() {
        expire_timers_now();
    }
}

/// [`expire_timers`] once a tick has passed since the last check.
#[inline(never)]
fn expire_timers_now() {
    let now = timer::now();
    // (deadline, armed, thread, is a sleep, a select's ticket)
    let mut due: Vec<(u64, u64, Tid, Option<ipcm::Ticket>)> = {
        let mut sched = SCHED.lock();
        TIMERS_CHECKED_AT.store(now, Ordering::Relaxed);
        let mut due = Vec::new();
        for (tid, thread) in sched.threads.iter_mut() {
            match thread.state {
                ThreadState::Sleeping { until } if until <= now => {
                    due.push((until, thread.timer_armed, tid, None));
                }
                ThreadState::Blocked {
                    deadline: Some(deadline),
                } if deadline <= now => {
                    // Cancel once, by ticket: if the operation completed
                    // first, the cancel finds nothing (and cannot touch
                    // the thread's next operation).
                    // Taking the ticket marks it: the deadline stays, so
                    // no CPU takes it for blocked for ever meanwhile.
                    if let Some(ticket) = thread.ticket.take() {
                        due.push((deadline, thread.timer_armed, tid, Some(ticket)));
                    }
                }
                _ => {}
            }
        }
        due
    };
    due.sort_unstable_by_key(|&(deadline, armed, tid, _)| (deadline, armed, tid));
    for (_, _, tid, ticket) in due {
        match ticket {
            None => {
                let mut sched = SCHED.lock();
                // Still asleep (its process may be ending meanwhile).
                if sched
                    .threads
                    .get(&tid)
                    .is_some_and(|t| matches!(t.state, ThreadState::Sleeping { .. }))
                {
                    sched.make_ready(tid);
                }
            }
            Some(ticket) => {
                ipc::cancel_op(tid, ticket, ipcm::CancelReason::TimedOut);
            }
        }
    }
}

/// Picks the thread to run and makes it current for the exit path (its
/// register and SSE areas, CR3, the exit instruction), idling with
/// interrupts on while nobody is ready.
fn schedule() {
    schedule_from(None);
}

/// [`schedule`], with the scheduler's lock already `held` by the caller if
/// it is (only while no timer is due: expiring them needs it free).
#[inline(always)]
fn schedule_from(mut held: Option<SchedGuard>) {
    loop {
        // Cleared before the decision, which is made under the lock that
        // every setter holds.
        NEED_RESCHEDULE.store(false, Ordering::Relaxed);
        let mut sched = match held.take() {
            Some(sched) => sched,
            None => {
                expire_timers();
                SCHED.lock()
            }
        };
        let here = cpu();
        // The priority of `current[here]` if it is set: the running
        // thread's (kept in the per-CPU block), or the direct switch's.
        let mut priority = percpu::running_priority() as u8;
        if let Some((next, next_priority)) = sched.direct[here].take() {
            // The waker (if still running) yields its turn to the woken.
            if let Some(current) = sched.current[here] {
                sched.make_ready(current);
            }
            sched.current[here] = Some(next);
            priority = next_priority;
        }
        if let Some(current) = sched.current[here]
            && sched
                .highest_ready()
                .is_some_and(|p| p > usize::from(priority))
        {
            sched.make_ready(current);
            sched.current[here] = None;
        }
        if sched.current[here].is_none() {
            sched.current[here] = if PINNED.load(Ordering::Relaxed) {
                sched.pop_runnable_here(here)
            } else {
                sched.ready.pop_highest()
            };
        }
        if let Some(tid) = sched.current[here] {
            let thread = sched.threads.get_mut(&tid).expect("ready thread exists");
            if thread.dying {
                // Its process is being ended (on this CPU or another):
                // it runs no more; choose again.
                thread.state = ThreadState::Parked;
                sched.clear_current();
                continue;
            }
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
        if sched.threads.is_empty()
            && sched.processes.is_empty()
            && ENDING.load(Ordering::Acquire) == 0
        {
            kprintln!(
                "all processes finished; {} free frames; {} pool bytes free",
                frames::free_count(),
                account::pool_free()
            );
            qemu::exit(ExitCode::Success);
        }
        // Another CPU's running thread, a queued one another CPU is about
        // to take, or a process being ended can still wake the others.
        let can_wake = sched.threads.iter().any(|(_, t)| {
            matches!(
                t.state,
                ThreadState::Sleeping { .. }
                    | ThreadState::Blocked { deadline: Some(_) }
                    | ThreadState::Running
                    | ThreadState::Ready
                    | ThreadState::Parked
            )
        }) || ENDING.load(Ordering::Acquire) != 0;
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
        IDLE.fetch_or(1 << here, Ordering::AcqRel);
        drop(sched);
        idle_until_tick();
        IDLE.fetch_and(!(1 << here), Ordering::AcqRel);
    }
}

/// Waits with interrupts on for the next interrupt (a timer tick). The
/// ring-0 timer path only counts the tick; this loop does the rest.
fn idle_until_tick() {
    x86_64::instructions::interrupts::enable_and_hlt();
    x86_64::instructions::interrupts::disable();
}

/// An application processor's life: once the boot CPU has started the
/// first processes, it schedules like every CPU.
pub fn run_ap() -> ! {
    while !STARTED.load(Ordering::Acquire) {
        idle_until_tick();
    }
    schedule();
    entry::enter_first()
}

/// Starts the first thread (the boot CPU; then the others may schedule
/// too); never returns.
pub fn start() -> ! {
    STARTED.store(true, Ordering::Release);
    schedule();
    entry::enter_first()
}
