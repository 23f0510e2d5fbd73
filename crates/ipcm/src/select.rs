//! Select: one call over several read, peek or write operations that
//! completes exactly one of them (DESIGN §9).
//!
//! # The group record: the caller's memory
//! A select's members wait in their pipes' wait queues like any pending
//! operation (each in a wait record of its pipe's table), and every member
//! record points to one [`SelectGroup`]: a small record the kernel
//! allocates once per thread (e.g. in its thread control block, as an
//! `Arc`) and passes to every [`Ipcm::select`](crate::Ipcm::select) of that
//! thread. Nothing is allocated at call time.
//!
//! # Exactly one member completes: one atomic word per group
//! The group's word holds a generation and an *armed* bit. A member can
//! complete only by *claiming* its group: one compare-and-swap from
//! "armed, generation g" to "claimed, generation g", done under the
//! completing pipe's lock before anything is copied to or from the member's
//! buffer. Whoever wins (a write, a read, a cancel, a destroy, a close, or
//! the selecting call itself) completes that member; every other member
//! record of the group is *withdrawn lazily*: the next operation of its own
//! pipe that meets it, under that pipe's lock, sees the claim fail and
//! frees the record without touching its buffer and without a wake. So a
//! withdrawn member never happens.
//!
//! # Why no deadlock: never two pipe locks
//! No code path holds two pipes' locks at once: the selecting call visits
//! its members one pipe lock at a time, a completer holds only its own
//! pipe's lock, and the claim is a single atomic word, not a lock. The
//! generation keeps a record left from an earlier select of the same
//! thread from claiming a later one.

use crate::Shared;
#[cfg(not(loom))]
use core::sync::atomic::{AtomicU64, Ordering};
#[cfg(loom)]
use loom::sync::atomic::{AtomicU64, Ordering};

use crate::kernel::UserAddr;
use crate::wait::Ticket;
use crate::{PipeId, Status};

/// The most operations one select may name (`IPCM_SELECT_MAX` in C).
pub const SELECT_MAX: usize = 16;

/// The outcome word's value while no member has completed.
const NO_OUTCOME: u64 = u64::MAX;

/// One operation of a select.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelectOp {
    /// Take the oldest message of `pipe` into `buf`, its length into
    /// `len_out` (as [`Ipcm::read`](crate::Ipcm::read)).
    Read {
        /// The pipe.
        pipe: PipeId,
        /// The receive buffer (`msg_size` bytes).
        buf: UserAddr,
        /// Where the length goes (a native `usize`).
        len_out: UserAddr,
    },
    /// Copy the oldest message of `pipe` without taking it.
    Peek {
        /// The pipe.
        pipe: PipeId,
        /// The receive buffer (`msg_size` bytes).
        buf: UserAddr,
        /// Where the length goes (a native `usize`).
        len_out: UserAddr,
    },
    /// Write the `len` bytes at `buf` to `pipe`.
    Write {
        /// The pipe.
        pipe: PipeId,
        /// The message.
        buf: UserAddr,
        /// Its length.
        len: usize,
    },
}

impl SelectOp {
    /// The pipe this operation is on.
    #[must_use]
    pub fn pipe(&self) -> PipeId {
        match *self {
            SelectOp::Read { pipe, .. }
            | SelectOp::Peek { pipe, .. }
            | SelectOp::Write { pipe, .. } => pipe,
        }
    }
}

/// One member of [`Ipcm::try_select_as`](crate::Ipcm::try_select_as): an
/// operation whose buffer is the caller's own memory (a hosted runtime's),
/// as [`try_read_as`](crate::Ipcm::try_read_as) takes it.
#[derive(Debug)]
pub enum LocalSelectOp<'a> {
    /// Take the oldest message of `pipe` into `buf` (at least the pipe's
    /// `msg_size` bytes).
    Read {
        /// The pipe.
        pipe: PipeId,
        /// The receive buffer.
        buf: &'a mut [u8],
    },
    /// Copy the oldest message of `pipe` into `buf` without taking it.
    Peek {
        /// The pipe.
        pipe: PipeId,
        /// The receive buffer.
        buf: &'a mut [u8],
    },
    /// Write `msg` to `pipe`.
    Write {
        /// The pipe.
        pipe: PipeId,
        /// The message.
        msg: &'a [u8],
    },
}

impl LocalSelectOp<'_> {
    /// The pipe this operation is on.
    #[must_use]
    pub fn pipe(&self) -> PipeId {
        match *self {
            LocalSelectOp::Read { pipe, .. }
            | LocalSelectOp::Peek { pipe, .. }
            | LocalSelectOp::Write { pipe, .. } => pipe,
        }
    }
}

/// Which member of [`Ipcm::try_select_as`](crate::Ipcm::try_select_as)
/// completed, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalSelected {
    /// The member's index in the list.
    pub index: usize,
    /// For a read or peek the message's length, for a write 0; or the
    /// member's failure.
    pub result: Result<usize, Status>,
}

/// Which member of a select completed, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Selected {
    /// The member's index in the list given to the select; `None` when the
    /// whole group was cancelled or timed out.
    pub index: Option<usize>,
    /// That member's status: `Ok`, or its failure (`BadAddress`,
    /// `Destroyed`, `Closed`, ...), or `TimedOut`/`Cancelled`.
    pub status: Status,
}

/// The group record of one thread's selects; see the module docs. Create
/// one per thread, keep it as long as the thread, and pass it to each of
/// its selects. After the thread is woken, [`outcome`](Self::outcome)
/// says which member completed.
#[derive(Debug)]
pub struct SelectGroup {
    /// `generation << 1 | armed`.
    word: AtomicU64,
    /// `index << 32 | status code` of the completed member (index
    /// `u32::MAX`: the group itself was cancelled), or `NO_OUTCOME`.
    outcome: AtomicU64,
    /// The ticket the thread's pending entry holds (its first member's),
    /// as three words.
    ticket: [AtomicU64; 3],
}

impl Default for SelectGroup {
    fn default() -> Self {
        Self::new()
    }
}

impl SelectGroup {
    /// A group record with no select in flight, shared as
    /// [`select`](crate::Ipcm::select) takes it.
    ///
    /// # Errors
    /// [`Status::NoMemory`](crate::Status::NoMemory): the record could
    /// not be allocated.
    pub fn shared() -> Result<Shared<SelectGroup>, crate::Status> {
        Shared::try_new(SelectGroup::new())
    }

    /// A group record with no select in flight.
    #[must_use]
    pub fn new() -> SelectGroup {
        SelectGroup {
            word: AtomicU64::new(0),
            outcome: AtomicU64::new(NO_OUTCOME),
            ticket: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
        }
    }

    /// Which member completed the thread's last select, once it has been
    /// woken (or the select returned `Done`); `None` while it waits.
    #[must_use]
    pub fn outcome(&self) -> Option<Selected> {
        let word = self.outcome.load(Ordering::Acquire);
        if word == NO_OUTCOME {
            return None;
        }
        let index = (word >> 32) as u32;
        let status = Status::from_code((word & 0xffff_ffff) as i32).unwrap_or(Status::BadParam);
        Some(Selected {
            index: (index != u32::MAX).then_some(index as usize),
            status,
        })
    }

    /// Start a new select: a new generation, armed. `None` if one is in
    /// flight (armed) already.
    pub(crate) fn arm(&self) -> Option<u64> {
        let word = self.word.load(Ordering::Acquire);
        if word & 1 == 1 {
            return None;
        }
        let generation = (word >> 1) + 1;
        self.outcome.store(NO_OUTCOME, Ordering::Relaxed);
        self.word.store(generation << 1 | 1, Ordering::Release);
        Some(generation)
    }

    /// Whether the select of `generation` is still waiting for a member.
    pub(crate) fn is_armed(&self, generation: u64) -> bool {
        self.word.load(Ordering::Acquire) == generation << 1 | 1
    }

    /// Claim the select of `generation` for member `index` (`None`: for the
    /// whole group) finishing with `status`: true for exactly one caller.
    pub(crate) fn claim(&self, generation: u64) -> bool {
        self.word
            .compare_exchange(
                generation << 1 | 1,
                generation << 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }

    /// Record the outcome (by the claimer, before it wakes the thread).
    pub(crate) fn set_outcome(&self, index: Option<u32>, status: Status) {
        let index = u64::from(index.unwrap_or(u32::MAX));
        self.outcome
            .store(index << 32 | status.code() as u32 as u64, Ordering::Release);
    }

    pub(crate) fn set_ticket(&self, ticket: Ticket) {
        let (pipe, slot, seq) = ticket.to_raw();
        self.ticket[0].store(pipe as u64, Ordering::Relaxed);
        self.ticket[1].store(u64::from(slot), Ordering::Relaxed);
        self.ticket[2].store(seq, Ordering::Release);
    }

    pub(crate) fn ticket(&self) -> Ticket {
        let seq = self.ticket[2].load(Ordering::Acquire);
        let pipe = self.ticket[0].load(Ordering::Relaxed) as usize;
        let slot = self.ticket[1].load(Ordering::Relaxed) as u32;
        Ticket::from_raw(pipe, slot, seq)
    }
}

/// A wait record's link to its select: which group, which select of it,
/// which member.
#[derive(Clone, Debug)]
pub(crate) struct Member {
    pub(crate) group: Shared<SelectGroup>,
    pub(crate) generation: u64,
    pub(crate) index: u32,
    /// This record's call claimed the group already (it completes it).
    pub(crate) claimed: bool,
}
