//! Processes and threads: what the scheduler schedules.
//!
//! A process is an address space plus its threads; a thread is a saved
//! user context (general registers, return frame, SSE state) and its
//! scheduling state. Each thread runs on its own user stack in the
//! process's stack area.

#![forbid(unsafe_code)]

use crate::entry::{FxState, TrapFrame};
use crate::frames::{self, FRAME_SIZE};
use crate::gdt::{USER_CODE_SELECTOR, USER_DATA_SELECTOR};
use crate::loglimit::LogBudget;
use crate::paging::{AddressSpace, PageRights};
use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use ipcm::{SelectGroup, Shared};

/// A thread's identity; the IPCM's `Kernel::Thread`: its slot in the
/// [`ThreadTable`] (low 32 bits) and that slot's generation (high 32 bits,
/// never 0), so a stale id never names a later thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tid(pub u64);

impl Tid {
    fn new(slot: usize, generation: u32) -> Tid {
        Tid((u64::from(generation) << 32) | slot as u64)
    }

    /// Its slot in the table (what log lines show).
    pub fn slot(self) -> usize {
        (self.0 & 0xFFFF_FFFF) as usize
    }

    fn generation(self) -> u32 {
        (self.0 >> 32) as u32
    }
}

/// Every thread, by [`Tid`]: a slot vector with generations, so a look-up
/// is an index and a compare (the IPC path does several per call; a tree
/// walk there cost ~250 guest instructions per ping-pong round trip).
#[derive(Default)]
pub struct ThreadTable {
    slots: Vec<(u32, Option<Thread>)>,
    free: Vec<usize>,
    live: usize,
}

impl ThreadTable {
    /// The id the next [`ThreadTable::insert`] will give.
    pub fn vacant(&self) -> Tid {
        match self.free.last() {
            Some(&slot) => Tid::new(slot, self.slots[slot].0),
            None => Tid::new(self.slots.len(), 1),
        }
    }

    /// Adds `thread` under [`ThreadTable::vacant`]'s id and returns it.
    pub fn insert(&mut self, thread: Thread) -> Tid {
        let tid = self.vacant();
        publish_root(tid, thread.root);
        match self.free.pop() {
            Some(slot) => self.slots[slot].1 = Some(thread),
            None => self.slots.push((1, Some(thread))),
        }
        self.live += 1;
        tid
    }

    /// The live thread `tid`.
    pub fn get(&self, tid: &Tid) -> Option<&Thread> {
        let (generation, thread) = self.slots.get(tid.slot())?;
        if *generation == tid.generation() {
            thread.as_ref()
        } else {
            None
        }
    }

    /// The live thread `tid`, mutably.
    pub fn get_mut(&mut self, tid: &Tid) -> Option<&mut Thread> {
        let (generation, thread) = self.slots.get_mut(tid.slot())?;
        if *generation == tid.generation() {
            thread.as_mut()
        } else {
            None
        }
    }

    /// Removes `tid`; its slot gets a new generation.
    pub fn remove(&mut self, tid: &Tid) -> Option<Thread> {
        let slot = tid.slot();
        self.get(tid)?;
        let entry = &mut self.slots[slot];
        let thread = entry.1.take();
        unpublish_root(*tid);
        entry.0 = entry.0.wrapping_add(1).max(1);
        self.free.push(slot);
        self.live -= 1;
        thread
    }

    /// No thread is left.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Every live thread with its id.
    pub fn iter(&self) -> impl Iterator<Item = (Tid, &Thread)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(slot, (generation, thread))| {
                thread.as_ref().map(|t| (Tid::new(slot, *generation), t))
            })
    }

    /// Every live thread with its id, mutably.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (Tid, &mut Thread)> {
        self.slots
            .iter_mut()
            .enumerate()
            .filter_map(|(slot, (generation, thread))| {
                thread.as_mut().map(|t| (Tid::new(slot, *generation), t))
            })
    }
}

impl core::ops::Index<&Tid> for ThreadTable {
    type Output = Thread;
    fn index(&self, tid: &Tid) -> &Thread {
        self.get(tid).expect("live thread")
    }
}

/// Thread slots whose page-table root a copy into the thread reads
/// without the scheduler's lock (see [`published_root`]); later slots are
/// looked up under it.
const PUBLISHED_SLOTS: usize = 256;

/// A thread slot's generation (0: no thread) and its page-table root.
struct PublishedRoot {
    generation: AtomicU32,
    root: AtomicU64,
}

static ROOTS: [PublishedRoot; PUBLISHED_SLOTS] = [const {
    PublishedRoot {
        generation: AtomicU32::new(0),
        root: AtomicU64::new(0),
    }
}; PUBLISHED_SLOTS];

/// Written under the scheduler's lock by `insert`: the root before the
/// generation, so a reader that sees the generation sees its root.
fn publish_root(tid: Tid, root: u64) {
    if let Some(entry) = ROOTS.get(tid.slot()) {
        entry.root.store(root, Ordering::Release);
        entry.generation.store(tid.generation(), Ordering::Release);
    }
}

/// By `remove`, before the thread's address space can be freed.
fn unpublish_root(tid: Tid) {
    if let Some(entry) = ROOTS.get(tid.slot()) {
        entry.generation.store(0, Ordering::Release);
    }
}

/// The page-table root of thread `tid` without the scheduler's lock:
/// `Some(None)` if it is gone, `None` if its slot is not published (ask
/// the table under the lock). A seqlock on the generation: the root read
/// is `tid`'s only if the generation is `tid`'s before and after it (a
/// later thread of the slot stores its root, Release, after the
/// generation was cleared, so seeing its root means seeing that).
pub fn published_root(tid: Tid) -> Option<Option<u64>> {
    let entry = ROOTS.get(tid.slot())?;
    let generation = tid.generation();
    if entry.generation.load(Ordering::Acquire) != generation {
        return Some(None);
    }
    let root = entry.root.load(Ordering::Acquire);
    Some((entry.generation.load(Ordering::Acquire) == generation).then_some(root))
}

/// A process's identity (0 is the kernel's, never a process's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pid(pub u64);

/// User stacks: thread slot `k` of a process gets the top [`STACK_SIZE`]
/// bytes of `[STACK_AREA + k MiB, STACK_AREA + (k+1) MiB)`; the rest of each
/// MiB stays unmapped as a guard.
const STACK_AREA: u64 = 0x7F00_0000_0000;
const STACK_STRIDE: u64 = 1 << 20;
const STACK_SIZE: u64 = 64 * 1024;
/// Most threads a process may have had over its life.
const MAX_THREAD_SLOTS: u64 = 64;

/// What a thread is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadState {
    /// In a ready queue.
    Ready,
    /// On a CPU (that CPU's `current` in the scheduler).
    Running,
    /// Its process is being killed: it runs no more and waits to be
    /// removed (in no ready queue, with no pending operation).
    Parked,
    /// Parked on an IPCM operation until the IPCM's wake hook runs; the
    /// operation is cancelled (TIMED_OUT) at `deadline` if given.
    Blocked {
        /// Tick at which the operation times out.
        deadline: Option<u64>,
    },
    /// Sleeping until a tick.
    Sleeping {
        /// Tick to wake at.
        until: u64,
    },
}

/// A thread: its saved user context and scheduling state.
pub struct Thread {
    /// Its process.
    pub process: Pid,
    /// Its process's page-table root (for the switch to it, and for copies
    /// into it: see `sched::space_of`).
    pub root: u64,
    /// Its process is being ended (copied from the process, so the
    /// scheduler's checks need no look-up of it).
    pub dying: bool,
    /// The only CPU it runs on (its process's pin; `None`: any).
    pub pin: Option<u8>,
    /// Scheduling priority.
    pub priority: u8,
    /// What it is doing.
    pub state: ThreadState,
    /// General registers and the return frame: the area its entries save
    /// into and its exits restore from (boxed: the entry stubs and TSS.RSP0
    /// point at it while it runs).
    pub regs: Box<TrapFrame>,
    /// SSE state.
    pub fx: Box<FxState>,
    /// When its current timer (sleep or deadline) was armed, in the
    /// scheduler's sequence: ties between equal deadlines go to the first.
    pub timer_armed: u64,
    /// Heap bytes charged to its process for it (see [`crate::account`]).
    pub charge: u64,
    /// The group record every `pipe_select` of this thread uses (made with
    /// the thread, so a select allocates nothing).
    pub select: Shared<SelectGroup>,
    /// It is blocked in a `pipe_select`: its wake also stores the index of
    /// the member that completed (rdx).
    pub selecting: bool,
    /// Wait records charged to its process for it: one at spawn, raised to
    /// the largest select it made (one record per member).
    pub wait_records: u64,
    /// The ticket of its pending IPCM operation (while `Blocked`): a
    /// timeout or kill cancels exactly that operation (DESIGN §8).
    pub ticket: Option<ipcm::Ticket>,
    /// A wake that came while it was still running, between the IPCM
    /// recording its operation and the scheduler parking it (another CPU
    /// completed it): the status its `Block` returns at once.
    pub early_wake: Option<u64>,
}

/// A process: an address space and its threads.
pub struct Process {
    /// Program name, for the log.
    pub name: &'static str,
    /// Its page tables and user memory (its threads share them; a copy
    /// under way into it holds no reference: see `sched::space_of`).
    pub space: Arc<AddressSpace>,
    /// Being ended: its threads are no longer scheduled.
    pub dying: bool,
    /// Its live threads.
    pub threads: Vec<Tid>,
    /// Timer ticks its threads were running at.
    pub cpu_used: u64,
    /// Ticks after which it is killed (`None`: no limit).
    pub cpu_limit: Option<u64>,
    /// The only CPU its threads run on (`None`: any).
    pub pin: Option<u8>,
    /// What it may still print (`debug_print`'s rate limit).
    pub log: LogBudget,
    next_stack_slot: u64,
}

impl Process {
    /// A process with no threads yet.
    pub fn new(name: &'static str, space: AddressSpace) -> Process {
        Process {
            name,
            space: Arc::new(space),
            dying: false,
            threads: Vec::new(),
            cpu_used: 0,
            cpu_limit: None,
            pin: None,
            log: LogBudget::new(),
            next_stack_slot: 0,
        }
    }

    /// Maps a fresh stack for a new thread; returns its top. Slots are not
    /// reused (a finished thread's stack stays until the process ends).
    pub fn map_new_stack(&mut self) -> Result<u64, &'static str> {
        if self.next_stack_slot >= MAX_THREAD_SLOTS {
            return Err("too many threads");
        }
        let slot = self.next_stack_slot;
        self.next_stack_slot += 1;
        let top = STACK_AREA + (slot + 1) * STACK_STRIDE;
        let mut page = top - STACK_SIZE;
        while page < top {
            let frame = frames::alloc_zeroed().ok_or("out of memory")?;
            let rights = PageRights {
                write: true,
                execute: false,
            };
            self.space
                .map_user(page, frame, rights)
                .map_err(|_| "out of memory")?;
            page += FRAME_SIZE;
        }
        Ok(top)
    }
}

impl Thread {
    /// A ready thread of `process` that will enter `entry(arg0, arg1)` in
    /// ring 3 with its stack at `stack_top`.
    pub fn new(
        process: Pid,
        root: u64,
        priority: u8,
        entry: u64,
        args: (u64, u64),
        stack_top: u64,
    ) -> Thread {
        let regs = TrapFrame {
            rip: entry,
            cs: u64::from(USER_CODE_SELECTOR),
            rflags: 0x202,
            // As if `call` had pushed a return address: rsp % 16 == 8 at entry.
            rsp: stack_top - 8,
            ss: u64::from(USER_DATA_SELECTOR),
            rdi: args.0,
            rsi: args.1,
            ..TrapFrame::default()
        };
        Thread {
            process,
            root,
            dying: false,
            pin: None,
            priority,
            state: ThreadState::Ready,
            regs: Box::new(regs),
            fx: Box::new(FxState::initial()),
            timer_armed: 0,
            charge: 0,
            // Like the boxes above, paid from what spawn reserved
            // (`THREAD_COST_BOUND` includes the group record).
            select: SelectGroup::shared().expect("the reserved select group record"),
            selecting: false,
            wait_records: 1,
            ticket: None,
            early_wake: None,
        }
    }
}
