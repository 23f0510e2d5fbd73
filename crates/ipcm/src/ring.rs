//! The message store of one pipe: a ring of fixed-size slots whose two ends
//! are owned, one operation at a time, either by a lock-free *fast*
//! operation or by the pipe's lock (the *slow* path). This is the core's
//! one module with unsafe code (with its children [`stable`], the storage
//! of the by-id table, and [`shared`], a fallible reference-counted box).
//!
//! # Layout
//! `capacity + 2` slots of `msg_size` bytes, each with its length; the
//! writers' end word `tail` and the readers' end word `head`, each on its
//! own cache line with the slot position and the counters only its owner
//! updates. Queued messages are the slots from the head's position on, as
//! many as the tail's mark is ahead of the head's (positions wrap at the
//! store's end). The state shared between threads is counts, offsets,
//! lengths and bytes, never pointers, so the same layout could live in
//! memory shared between processes.
//!
//! # End words
//! Each end word is a *mark* (a running count of the messages that passed
//! the end, see [`Ring`]) shifted left by three, or-ed with the end's
//! state (bit 2 is set only in the two dead words):
//! - `FREE`: nobody owns the end; a fast operation may take it by CAS.
//! - `BUSY`: a fast operation owns it (for one bounded copy at most).
//! - `HELD`: the slow path owns it (the caller holds the pipe's lock).
//! - `PARKED`: nobody owns it but fast operations must take the slow path:
//!   the pipe has waiters (or is destroyed, see `DEAD`).
//!
//! # Invariants
//! 1. **Ownership.** Only the owner of an end changes its index, its
//!    counters, or (for the tail) the staging slot `tail`; only the owner
//!    of the head reads the slot `head` without holding both ends. An end
//!    is taken with an `Acquire` CAS and given back with a `Release` store,
//!    so each owner sees everything its predecessors did.
//! 2. **Room.** Outside a discard (below) at most `capacity` messages are
//!    queued, so the staging slot `tail` is never a queued slot, and a
//!    writer copies into it while readers copy out of queued slots: the two
//!    ends never touch the same bytes. A writer reads `head` with
//!    `Acquire` before copying, so the last reader of that slot has
//!    finished with it.
//! 3. **Lock order.** Whoever holds both ends took the tail first. A fast
//!    reader never takes the tail; a fast writer takes the head only while
//!    holding the tail (discard-oldest). The slow path takes both, tail
//!    first, and gives the head back first. So a fast writer holding the
//!    tail never finds the head `HELD` or `PARKED`.
//! 4. **Discard-oldest.** A writer that found the ring full copies into the
//!    staging slot, publishes it (`tail + 1`, still `BUSY`, so momentarily
//!    `capacity + 1` messages: the spare slot makes that distinguishable
//!    from empty), then takes the head and drops the oldest only if more
//!    than `capacity` are still queued. Every observer therefore sees
//!    either the old oldest message or the new one: never an empty pipe
//!    that was never empty, never two drops for one write.
//! 5. **Waiters (the handshake).** A thread that must wait registers under
//!    the pipe's lock while holding both ends, after seeing that its
//!    operation still cannot proceed; it gives the ends back `PARKED`. A
//!    fast operation's CAS from `FREE` fails on a `PARKED` or `HELD` end,
//!    so after a registration every operation on the pipe goes through the
//!    lock until the slow path finds no waiter left and gives the ends back
//!    `FREE`. A fast operation that took its end before is still owning it
//!    when the slow path tries: the slow path spins (for one bounded copy)
//!    until it is given back, and then sees its effect. So no message can
//!    slip into the ring unseen behind a registering reader, and no slot
//!    can free up unseen behind a registering writer.
//! 6. **Quiescence.** Holding both ends means no fast operation is in
//!    flight on the ring: a peek of the front, a discard, `info` and
//!    destroy all see a ring nobody else touches.
//! 7. **Destroy** takes both ends, frees the store and leaves both end
//!    words `DEAD` for ever: no end can be taken again, so no operation
//!    touches the freed store.
//! 8. **Looking without taking.** A reader reads the head then the tail
//!    and a writer the tail then the head, both loads Acquire (so the
//!    second word is never older than what the first one's giver saw: the
//!    head is never seen past the tail); marks are running counts, so
//!    equal marks (empty) or a tail `capacity` messages past the head
//!    (full) held when the second word was read, and the attempt
//!    answers `Empty`/`Full` with no RMW at all, as crossbeam's `try_recv`
//!    on an empty channel does. Only non-blocking callers stop there: a
//!    blocking one still registers under the lock (invariant 5). Polling
//!    readers therefore never bounce the head's line between them.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::cell::UnsafeCell;

pub(crate) mod shared;
pub(crate) mod stable;

use crate::Status;

#[cfg(not(loom))]
mod sync {
    pub(super) use core::sync::atomic::{AtomicUsize, Ordering};

    /// An `UnsafeCell` with loom's closure API, so that loom can track
    /// every access in its models.
    pub(super) struct Cell<T>(core::cell::UnsafeCell<T>);

    impl<T> Cell<T> {
        pub(super) const fn new(value: T) -> Self {
            Cell(core::cell::UnsafeCell::new(value))
        }

        #[inline(always)]
        pub(super) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        #[inline(always)]
        pub(super) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }

    #[inline(always)]
    pub(super) fn spin() {
        core::hint::spin_loop();
    }

    /// Waiting for another operation to give an end back: spin, then
    /// (with the `std` feature, i.e. in a hosted runtime whose threads the
    /// OS may preempt while they own an end) yield the CPU between checks,
    /// so that a waiter does not spin away the time slice its preempted
    /// owner needs. A kernel calls the core with preemption off, so an
    /// owner is always running, and there it only spins.
    pub(super) struct Backoff(crossbeam_utils::Backoff);

    impl Backoff {
        #[inline(always)]
        pub(super) fn new() -> Backoff {
            Backoff(crossbeam_utils::Backoff::new())
        }

        #[inline]
        pub(super) fn wait(&self) {
            self.0.snooze();
        }
    }
}

#[cfg(loom)]
mod sync {
    pub(super) use loom::cell::UnsafeCell as Cell;
    pub(super) use loom::sync::atomic::{AtomicUsize, Ordering};

    pub(super) fn spin() {
        loom::thread::yield_now();
    }

    pub(super) struct Backoff;

    impl Backoff {
        pub(super) fn new() -> Backoff {
            Backoff
        }

        pub(super) fn wait(&self) {
            loom::thread::yield_now();
        }
    }
}

use sync::{AtomicUsize, Backoff, Cell, Ordering, spin};

const FREE: usize = 0;
const BUSY: usize = 1;
const HELD: usize = 2;
const PARKED: usize = 3;
const STATE: usize = 3;
/// Set only in the two dead end words: a live word's mark is a multiple
/// of [`UNIT`], so this bit is always clear in it.
const DEAD: usize = 4;
const SHIFT: u32 = 3;
/// One message in a mark: marks count messages in units of `UNIT`, below
/// which sit the state bits and [`DEAD`].
const UNIT: usize = 1 << SHIFT;
/// The end words of a destroyed ring: `PARKED` for fast operations, with
/// [`DEAD`] set (no live word has it), and different marks so that a dead
/// ring never reads as empty.
const DEAD_HEAD: usize = usize::MAX;
const DEAD_TAIL: usize = usize::MAX - UNIT;

/// Whether `word` is one of the dead end words.
#[inline(always)]
fn is_dead(word: usize) -> bool {
    word & DEAD != 0
}

/// Bytes of the length word at the start of each slot.
const LEN: usize = core::mem::size_of::<usize>();
/// Bytes of a slot's header: the length word, then the message's sequence
/// number (a `u64`, DESIGN §9); the message follows.
const HEADER: usize = LEN + core::mem::size_of::<u64>();

/// What the owner of the tail counts.
#[derive(Default)]
struct TailCounters {
    written: u64,
}

/// What the owner of the head counts.
#[derive(Default)]
struct HeadCounters {
    read: u64,
    dropped: u64,
}

/// One end: its word and what only its owner touches (the end's slot and
/// its counters), alone on a cache line so that the two ends do not share
/// one.
#[repr(align(128))]
struct End<C> {
    word: AtomicUsize,
    /// The byte offset in the store of the end's slot: the oldest message
    /// for the head, the staging slot for the tail.
    pos: Cell<usize>,
    counters: Cell<C>,
}

impl<C: Default> End<C> {
    fn new(word: usize) -> Self {
        End {
            word: AtomicUsize::new(word),
            pos: Cell::new(0),
            counters: Cell::new(C::default()),
        }
    }

    /// The end's slot position.
    ///
    /// # Safety
    /// The caller owns this end.
    #[inline(always)]
    unsafe fn pos(&self) -> usize {
        // SAFETY: only the end's owner touches its position (invariant 1).
        self.pos.with(|pos| unsafe { *pos })
    }

    /// Move the end's slot position to `pos`.
    ///
    /// # Safety
    /// The caller owns this end.
    #[inline(always)]
    unsafe fn set_pos(&self, pos: usize) {
        // SAFETY: as in `pos`.
        self.pos.with_mut(|cell| unsafe { *cell = pos });
    }
}

/// The slots: `stride` bytes each, back to back; a slot is its message's
/// length (a native `usize`) then up to `msg_size` bytes of message.
struct Store {
    bytes: Box<[UnsafeCell<u8>]>,
    /// Under loom, one tracked cell per slot: every access to a slot's
    /// bytes is reported on it, so loom checks they are ordered.
    #[cfg(loom)]
    tracked: Box<[Cell<()>]>,
}

/// A pipe's message store: at most `capacity` messages of at most
/// `msg_size` bytes, FIFO, with lock-free ends (see the module docs).
///
/// A *position* is the byte offset of a slot in the store (a multiple of
/// `stride` below `total`); each end keeps its own, touched only by its
/// owner. The end words hold *marks*: running counts of the messages that
/// passed the end, times [`UNIT`], wrapping at the word's width. The
/// number queued is the tail's mark minus the head's, so emptiness and
/// fullness are one subtraction of two words read without taking either,
/// and two marks are equal only if no message (or a whole wrap of the
/// word) passed between them, so a thread that read an end long ago does
/// not mistake a later state for the one it saw (no ABA).
pub(crate) struct Ring {
    tail: End<TailCounters>,
    head: End<HeadCounters>,
    /// `None` while dead (invariant 7).
    store: Cell<Option<Store>>,
    /// The sizes of the current store.
    shape: Shape,
}

/// The sizes of a ring's store. Atomics (read `Relaxed`): the ring is
/// reused for the next pipe of its slot, so a call that looked the old
/// pipe up may read them while a create installs new ones; such a call
/// then finds the pipe's id changed and drops what it read (see
/// [`Ring::revive`]). Whoever owns an end reads the current ones: the
/// take's Acquire orders the revive's stores before its loads.
struct Shape {
    msg_size: AtomicUsize,
    capacity: AtomicUsize,
    /// Bytes per slot (`HEADER + msg_size`).
    stride: AtomicUsize,
    /// Bytes of the store (`capacity + 2` slots).
    total: AtomicUsize,
    /// `capacity` in mark units: the difference of the ends' marks when
    /// the ring is full.
    full: AtomicUsize,
}

/// A store allocated for a ring and its sizes, not yet installed: see
/// [`Ring::allocate`] and [`Ring::revive`].
pub(crate) struct NewStore {
    store: Store,
    msg_size: usize,
    capacity: usize,
    stride: usize,
    total: usize,
}

// SAFETY: every cell of a `Ring` is reached only by the owner of the end
// that guards it (invariant 1), ownership passes between threads through
// the end words' Acquire CAS / Release store, and the store is replaced only
// by whoever owns both ends (invariant 7); the bytes are plain `u8`.
unsafe impl Sync for Ring {}

/// The counters a ring keeps, as a snapshot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RingCounters {
    pub(crate) written: u64,
    pub(crate) read: u64,
    pub(crate) dropped: u64,
}

/// The ring was destroyed: no end can be taken any more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Dead;

/// A fast operation found an end the slow path owns or parked: take the
/// pipe's lock instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Slow;

/// Why a fast operation did not get its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Miss {
    /// The slow path owns or parked the end (waiters, or destroyed).
    Slow,
    /// The ring was full (a writer that does not discard).
    Full,
    /// The ring was empty (a reader).
    Empty,
}

impl Ring {
    /// A ring with no store, dead (invariant 7) until [`revive`](Self::revive)d.
    pub(crate) fn vacant() -> Ring {
        Ring {
            tail: End::new(DEAD_TAIL),
            head: End::new(DEAD_HEAD),
            store: Cell::new(None),
            shape: Shape {
                msg_size: AtomicUsize::new(0),
                capacity: AtomicUsize::new(0),
                stride: AtomicUsize::new(0),
                total: AtomicUsize::new(0),
                full: AtomicUsize::new(0),
            },
        }
    }

    /// A live ring with its store (tests; the manager allocates, then
    /// revives a vacant ring).
    #[cfg(test)]
    pub(crate) fn new(msg_size: usize, capacity: usize) -> Result<Ring, Status> {
        let ring = Ring::vacant();
        if ring.revive(Ring::allocate(msg_size, capacity)?).is_err() {
            unreachable!("a vacant ring is dead");
        }
        Ok(ring)
    }

    /// Allocate the whole store of a ring up front.
    ///
    /// # Errors
    /// [`Status::BadParam`] for zero sizes or a size that overflows,
    /// [`Status::NoMemory`] when the allocator refuses.
    pub(crate) fn allocate(msg_size: usize, capacity: usize) -> Result<NewStore, Status> {
        // A capacity of 0 is a rendezvous pipe (DESIGN §9): always full
        // and always empty, its staging slot carrying hand-offs.
        if msg_size == 0 {
            return Err(Status::BadParam);
        }
        // Two spare slots: the staging slot, and (for an urgent write to
        // a full ring) the one a new front is copied into.
        let slots = capacity.checked_add(2).ok_or(Status::BadParam)?;
        let stride = msg_size.checked_add(HEADER).ok_or(Status::BadParam)?;
        let total = slots.checked_mul(stride).ok_or(Status::BadParam)?;
        // An allocation must fit in `isize`; the ends' marks may differ by
        // `capacity + 1` messages, which must stay far from a wrap of the
        // word for the difference to be the count.
        if total > isize::MAX as usize || capacity > usize::MAX >> (SHIFT + 2) {
            return Err(Status::BadParam);
        }
        let store = Store {
            bytes: filled(total, || UnsafeCell::new(0))?,
            #[cfg(loom)]
            tracked: filled(slots, || Cell::new(()))?,
        };
        Ok(NewStore {
            store,
            msg_size,
            capacity,
            stride,
            total,
        })
    }

    /// Install `new` in this dead ring (a destroyed pipe's, or a vacant
    /// one), empty, its counters at 0, both ends `FREE` at mark 0. A call
    /// that looked up the slot's previous pipe may take an end of the
    /// revived ring: it must check, after taking it, that the slot still
    /// holds the pipe it looked up (the Acquire of the take orders this
    /// revive, and the id change before it, before that check).
    ///
    /// # Errors
    /// `new` back if the ring is not dead (then nothing changed).
    pub(crate) fn revive(&self, new: NewStore) -> Result<(), NewStore> {
        // Only a revive leaves `DEAD_TAIL`, so one revive at most owns the
        // dead ring; the head stays dead until it is done.
        if self
            .tail
            .word
            .compare_exchange(DEAD_TAIL, HELD, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return Err(new);
        }
        let NewStore {
            store,
            msg_size,
            capacity,
            stride,
            total,
        } = new;
        self.store.with_mut(|cell| {
            // SAFETY: the ring is dead and this revive took the tail out of
            // `DEAD_TAIL`, so no end is owned and nobody reaches the store
            // cell (invariant 7); the Acquire above ordered the destroy's
            // last use of it before this.
            unsafe { *cell = Some(store) }
        });
        // SAFETY: as above, nobody else owns either end, so nobody touches
        // their positions or counters.
        unsafe {
            self.tail.set_pos(0);
            self.head.set_pos(0);
            self.tail_counters(|c| *c = TailCounters::default());
            self.head_counters(|c| *c = HeadCounters::default());
        }
        self.shape.msg_size.store(msg_size, Ordering::Relaxed);
        self.shape.capacity.store(capacity, Ordering::Relaxed);
        self.shape.stride.store(stride, Ordering::Relaxed);
        self.shape.total.store(total, Ordering::Relaxed);
        self.shape.full.store(capacity << SHIFT, Ordering::Relaxed);
        // Release: whoever takes an end sees the store and its sizes.
        self.head.word.store(FREE, Ordering::Release);
        self.tail.word.store(FREE, Ordering::Release);
        Ok(())
    }

    #[inline(always)]
    pub(crate) fn msg_size(&self) -> usize {
        self.shape.msg_size.load(Ordering::Relaxed)
    }

    #[inline(always)]
    pub(crate) fn capacity(&self) -> usize {
        self.shape.capacity.load(Ordering::Relaxed)
    }

    /// Bytes per slot.
    #[inline(always)]
    fn stride(&self) -> usize {
        self.shape.stride.load(Ordering::Relaxed)
    }

    /// Bytes of the store.
    #[inline(always)]
    fn total(&self) -> usize {
        self.shape.total.load(Ordering::Relaxed)
    }

    /// Whether `queued`, a difference of marks, is a full ring's.
    #[inline(always)]
    fn is_full_gap(&self, queued: usize) -> bool {
        queued == self.shape.full.load(Ordering::Relaxed)
    }

    /// Whether the store is still allocated (false once destroyed).
    #[cfg(test)]
    fn has_store(&self) -> bool {
        self.store.with(|store| {
            // SAFETY: a shared read of the cell; it is written only by the
            // owner of both ends, and this test-only query runs alone.
            unsafe { (*store).is_some() }
        })
    }

    /// The position of the slot after the one at `pos`.
    #[inline(always)]
    fn next_pos(&self, pos: usize) -> usize {
        let next = pos + self.stride();
        // `>=`, not `==`: a position must stay inside the store whatever.
        if next >= self.total() { 0 } else { next }
    }

    /// The position of the slot before the one at `pos`.
    #[inline]
    fn prev_pos(&self, pos: usize) -> usize {
        if pos == 0 {
            self.total() - self.stride()
        } else {
            pos - self.stride()
        }
    }

    /// Whether a write (`write`) or a read would find the ring full or
    /// empty now: the two loads of invariant 8, taking nothing, whoever
    /// owns the ends. For a waiter that polls before it registers: a hint
    /// only (the attempt it then makes decides), so a dead ring never looks
    /// blocked (the attempt says `Destroyed`).
    #[inline]
    pub(crate) fn looks_blocked(&self, write: bool) -> bool {
        // Each end's own word first, then the other's with Acquire, as the
        // attempts read them.
        let (own, other) = if write {
            (&self.tail.word, &self.head.word)
        } else {
            (&self.head.word, &self.tail.word)
        };
        let own = own.load(Ordering::Acquire);
        let other = other.load(Ordering::Acquire);
        if is_dead(own) || is_dead(other) {
            return false;
        }
        let (head, tail) = if write { (other, own) } else { (own, other) };
        let (head, tail) = (head & !STATE, tail & !STATE);
        if write {
            self.is_full_gap(tail.wrapping_sub(head))
        } else {
            head == tail
        }
    }

    /// Take the tail for a fast write, unless the ring is full and not
    /// `claim_when_full` (a discard-oldest write claims it anyway). Spins
    /// while another fast writer owns the tail (one bounded copy).
    ///
    /// # Errors
    /// [`Miss::Slow`]: the slow path owns or parked it; [`Miss::Full`]:
    /// full when the head was read (no RMW made).
    #[inline]
    pub(crate) fn writer(&self, claim_when_full: bool) -> Result<Writer<'_>, Miss> {
        // Acquire, as the head in `reader`: whoever gave this tail back
        // had seen the head at least this far, and so will the load below;
        // with a relaxed load the head could read older than the tail's
        // giver saw, and a ring with room answer `Full`.
        let word = self.tail.word.load(Ordering::Acquire);
        // The mark of a head in any state is the head the pipe had then (a
        // dead one is no live mark: a write that reads it fails its CAS or
        // its id check).
        let head = self.head.word.load(Ordering::Acquire) & !STATE;
        if word & STATE == FREE {
            // Exact: full when the head was read (only a tail owner adds,
            // and a writer that does not discard stops at `capacity`).
            let full = self.is_full_gap(word.wrapping_sub(head));
            if full && !claim_when_full {
                return Err(Miss::Full);
            }
            if self
                .tail
                .word
                .compare_exchange(word, word | BUSY, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                // The head read above is at least as old as the tail, so
                // room then is room now, and its Acquire ordered the last
                // read of the staging slot before this write (invariant 2).
                // SAFETY: this writer owns the tail of a live ring (a dead
                // one has no end to take).
                return Ok(unsafe { self.owned_tail(word, full) });
            }
        } else if word & STATE >= HELD {
            // Parked (waiters) or held: the slow path, without the
            // contended retry's call (it would say Slow too).
            return Err(Miss::Slow);
        }
        self.writer_contended(claim_when_full)
    }

    /// [`writer`](Self::writer) once the first attempt failed.
    #[cold]
    #[inline(never)]
    fn writer_contended(&self, claim_when_full: bool) -> Result<Writer<'_>, Miss> {
        let tail = take_fast_contended(&self.tail.word).map_err(|Slow| Miss::Slow)?;
        // Acquire: invariant 2. With the tail owned the head is FREE or
        // BUSY (invariant 3), so its mark is meaningful.
        let head = self.head.word.load(Ordering::Acquire) & !STATE;
        let full = self.is_full_gap(tail.wrapping_sub(head));
        // SAFETY: this writer owns the tail of a live ring.
        let writer = unsafe { self.owned_tail(tail, full) };
        if full && !claim_when_full {
            return Err(Miss::Full); // `writer` gives the tail back
        }
        Ok(writer)
    }

    /// The writer of a tail just taken at mark `tail`.
    ///
    /// # Safety
    /// The caller owns the tail of this live ring, and gives the
    /// ownership to the writer.
    #[inline(always)]
    unsafe fn owned_tail(&self, tail: usize, full: bool) -> Writer<'_> {
        // SAFETY: per the contract, the tail (with its position and the
        // staging slot) is the caller's.
        debug_assert_eq!(
            self.tail.word.load(Ordering::Relaxed),
            tail | BUSY,
            "the writer's own tail word"
        );
        Writer { ring: self, full }
    }

    /// Take the head for a fast read or peek, unless the ring is empty.
    /// Spins while another fast reader owns the head.
    ///
    /// # Errors
    /// [`Miss::Slow`]; [`Miss::Empty`]: empty when the tail was read (no
    /// RMW made, whoever owns the head).
    #[inline]
    pub(crate) fn reader(&self) -> Result<Reader<'_>, Miss> {
        // Acquire: whoever gave this head back (a reader, or the slow path
        // that popped up to it) had seen the tail at least this far, so the
        // tail read next is never behind the head. With a relaxed load it
        // could be (the loom model
        // `a_lock_free_try_racing_a_slow_read_and_a_write_takes_the_message_once`
        // found it): a head just given back by the slow path with a tail
        // read from before its write, `head != tail` on an empty ring, and
        // a read of a slot nobody wrote. (On x86 both loads are plain
        // moves.)
        let word = self.head.word.load(Ordering::Acquire);
        // Acquire: the writer of the message at `head` published it.
        let tail = self.tail.word.load(Ordering::Acquire) & !STATE;
        let head = word & !STATE;
        // Exact: the head only moves towards the tail, so equal marks mean
        // empty when the tail was read. (The two dead words differ.)
        if head == tail {
            return Err(Miss::Empty);
        }
        if word & STATE == FREE
            && self
                .head
                .word
                .compare_exchange(word, word | BUSY, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        {
            // SAFETY: this reader owns the head of a live ring.
            return Ok(unsafe { self.owned_head(head, tail) });
        }
        if word & STATE >= HELD {
            // As in `writer`: parked or held goes the slow way at once.
            return Err(Miss::Slow);
        }
        self.reader_contended()
    }

    /// [`reader`](Self::reader) once the first attempt failed.
    #[cold]
    #[inline(never)]
    fn reader_contended(&self) -> Result<Reader<'_>, Miss> {
        let head = take_fast_contended(&self.head.word).map_err(|Slow| Miss::Slow)?;
        let tail = self.tail.word.load(Ordering::Acquire) & !STATE;
        // SAFETY: this reader owns the head of a live ring.
        let reader = unsafe { self.owned_head(head, tail) };
        if tail == head {
            return Err(Miss::Empty); // `reader` gives the head back
        }
        Ok(reader)
    }

    /// The reader of a head just taken at mark `head`, the tail read after.
    ///
    /// # Safety
    /// The caller owns the head of this live ring, and gives the
    /// ownership to the reader.
    #[inline(always)]
    unsafe fn owned_head(&self, head: usize, tail: usize) -> Reader<'_> {
        // SAFETY: per the contract, the head and its position are the
        // caller's.
        let pos = unsafe { self.head.pos() };
        Reader {
            ring: self,
            // SAFETY: as above.
            slot: unsafe { self.slot(pos) },
            pos,
            head,
            tail,
        }
    }

    /// Take both ends for the slow path (tail first), waiting for fast
    /// operations in flight to give them back. Holding both, the caller
    /// has the ring to itself (invariant 6).
    ///
    /// # Errors
    /// [`Dead`] once destroyed.
    pub(crate) fn hold(&self) -> Result<Held<'_>, Dead> {
        let tail = take_slow(&self.tail.word)?;
        let head = match take_slow(&self.head.word) {
            Ok(head) => head,
            Err(Dead) => {
                // Not reachable (destroy kills the head first, holding the
                // tail), but never leave the tail held.
                self.tail.word.store(tail | PARKED, Ordering::Release);
                return Err(Dead);
            }
        };
        // SAFETY: both ends are held.
        let (head_pos, tail_pos) = unsafe { (self.head.pos(), self.tail.pos()) };
        Ok(Held {
            ring: self,
            head,
            tail,
            head_pos,
            tail_pos,
            park: false,
            dead: false,
        })
    }

    /// The slot at byte position `pos`.
    ///
    /// # Safety
    /// The caller owns an end of this (live) ring and `pos` is a position
    /// of its store (an end's, read while owning it, or one derived from
    /// it by `next_pos`/`prev_pos`), so the store is there and stays while
    /// the end is owned.
    #[inline(always)]
    unsafe fn slot(&self, pos: usize) -> Slot<'_> {
        self.store.with(|store| {
            // SAFETY: per this function's contract, nobody writes the cell
            // while an end is owned (only the owner of both ends does, in
            // `Held::destroy`, after which no end is ever owned again).
            let store = unsafe { &*store };
            debug_assert!(store.is_some(), "an owned end of a destroyed ring");
            // SAFETY: a live owned end always has its store (invariant 7:
            // only `Held::destroy`, holding both ends, empties the cell, and
            // then leaves both end words dead, so no end is owned again).
            let store = unsafe { store.as_ref().unwrap_unchecked() };
            debug_assert!(pos < self.total() && pos.is_multiple_of(self.stride()));
            #[cfg(loom)]
            let tracked: *const Cell<()> = &store.tracked[pos / self.stride()];
            Slot {
                // SAFETY: positions are below `total`, the store's length,
                // and leave a whole slot after them.
                start: unsafe { UnsafeCell::raw_get(store.bytes.as_ptr()).add(pos) },
                msg_size: &self.shape.msg_size,
                #[cfg(loom)]
                tracked,
            }
        })
    }

    /// Update the tail's counters.
    ///
    /// # Safety
    /// The caller owns the tail.
    #[inline(always)]
    unsafe fn tail_counters<R>(&self, f: impl FnOnce(&mut TailCounters) -> R) -> R {
        // SAFETY: only the tail's owner touches its counters (invariant 1).
        self.tail
            .counters
            .with_mut(|counters| f(unsafe { &mut *counters }))
    }

    /// Update the head's counters.
    ///
    /// # Safety
    /// The caller owns the head.
    #[inline(always)]
    unsafe fn head_counters<R>(&self, f: impl FnOnce(&mut HeadCounters) -> R) -> R {
        // SAFETY: only the head's owner touches its counters (invariant 1).
        self.head
            .counters
            .with_mut(|counters| f(unsafe { &mut *counters }))
    }
}

/// One slot of a live store, reached through an owned end: its length word
/// then `msg_size` bytes. Every accessor's caller promises what the end it
/// owns allows (see each).
#[derive(Clone, Copy)]
struct Slot<'r> {
    start: *mut u8,
    /// The ring's `msg_size`, loaded only by the accessors that clamp to it
    /// (an atomic load is never optimised away, and most accesses need
    /// none).
    msg_size: &'r AtomicUsize,
    #[cfg(loom)]
    tracked: *const Cell<()>,
}

impl Slot<'_> {
    /// The ring's largest message.
    #[inline(always)]
    fn msg_size(&self) -> usize {
        self.msg_size.load(Ordering::Relaxed)
    }

    /// Report an access to loom (nothing otherwise).
    #[inline(always)]
    fn track(&self, write: bool) {
        #[cfg(loom)]
        {
            // SAFETY: the tracked cell lives in the store, which outlives
            // every slot reached through an owned end.
            let tracked = unsafe { &*self.tracked };
            if write {
                tracked.with_mut(|_| ());
            } else {
                tracked.with(|_| ());
            }
        }
        #[cfg(not(loom))]
        let _ = write;
    }

    /// The first `len` bytes of the message area (at most `msg_size`).
    ///
    /// # Safety
    /// The caller owns the slot exclusively (the tail's staging slot, or
    /// any slot while holding both ends) for the borrow's lifetime `'s`,
    /// within which the store stays.
    #[inline(always)]
    unsafe fn message_mut<'s>(self, len: usize) -> &'s mut [u8] {
        self.track(true);
        let len = len.min(self.msg_size());
        // SAFETY: `LEN + len <= stride` bytes from a slot's start are in
        // the store; `UnsafeCell<u8>` has the layout of `u8`; exclusive
        // per the caller.
        unsafe { core::slice::from_raw_parts_mut(self.start.add(HEADER), len) }
    }

    /// [`message_mut`](Self::message_mut) of a `len` known to be at most
    /// `msg_size`.
    ///
    /// # Safety
    /// As `message_mut`, and `len <= msg_size`.
    #[inline(always)]
    unsafe fn message_within<'s>(self, len: usize) -> &'s mut [u8] {
        debug_assert!(len <= self.msg_size());
        self.track(true);
        // SAFETY: as in `message_mut`, with `len` in bounds per the caller.
        unsafe { core::slice::from_raw_parts_mut(self.start.add(HEADER), len) }
    }

    /// The first `len` bytes of the message area, shared.
    ///
    /// # Safety
    /// Nobody writes the slot during `'s` (the caller owns it, or owns the
    /// head and the slot is queued, or holds both ends).
    #[inline(always)]
    unsafe fn bytes<'s>(self, len: usize) -> &'s [u8] {
        self.track(false);
        let len = len.min(self.msg_size());
        // SAFETY: in bounds as above; nobody writes it per the caller.
        unsafe { core::slice::from_raw_parts(self.start.add(HEADER), len) }
    }

    /// The committed message.
    ///
    /// # Safety
    /// As [`bytes`](Self::bytes), and the slot holds a committed message
    /// whose writer's Release of the tail the caller's Acquire ordered
    /// before this.
    #[inline(always)]
    unsafe fn message<'s>(self) -> &'s [u8] {
        self.track(false);
        // SAFETY: the length word is in bounds and nobody writes it.
        let len = unsafe { self.start.cast::<usize>().read_unaligned() };
        // SAFETY: as above (`bytes` clamps a length word that could only
        // be out of range if the store were corrupted).
        unsafe { self.bytes(len) }
    }

    /// Store the message's length (at most `msg_size`).
    ///
    /// # Safety
    /// As [`message_mut`](Self::message_mut).
    #[inline(always)]
    unsafe fn set_len(self, len: usize) {
        // SAFETY: as the caller's.
        unsafe { self.set_len_unchecked(len.min(self.msg_size())) }
    }

    /// [`set_len`](Self::set_len) of a length already at most `msg_size`
    /// (a reader clamps what it reads anyway).
    ///
    /// # Safety
    /// As [`message_mut`](Self::message_mut).
    #[inline(always)]
    unsafe fn set_len_unchecked(self, len: usize) {
        debug_assert!(len <= self.msg_size());
        self.track(true);
        // SAFETY: the length word is in bounds; exclusive per the caller.
        unsafe { self.start.cast::<usize>().write_unaligned(len) }
    }
}

impl Slot<'_> {
    /// The message's sequence number.
    ///
    /// # Safety
    /// As [`message`](Self::message).
    #[inline(always)]
    unsafe fn seq(self) -> u64 {
        self.track(false);
        // SAFETY: the number word is in bounds (`HEADER <= stride`) and
        // nobody writes it per the caller.
        unsafe { self.start.add(LEN).cast::<u64>().read_unaligned() }
    }

    /// Store the message's sequence number.
    ///
    /// # Safety
    /// As [`message_mut`](Self::message_mut).
    #[inline(always)]
    unsafe fn set_seq(self, seq: u64) {
        self.track(true);
        // SAFETY: in bounds; exclusive per the caller.
        unsafe { self.start.add(LEN).cast::<u64>().write_unaligned(seq) }
    }

    /// Copy the whole of `from` (header and message) over this slot.
    ///
    /// # Safety
    /// The caller holds both ends of the live ring both slots belong to,
    /// and they are different slots.
    unsafe fn copy_from(self, from: Slot) {
        from.track(false);
        self.track(true);
        // SAFETY: both slots are `HEADER + msg_size` bytes of the store,
        // disjoint, and nobody else touches them while both ends are held.
        unsafe {
            core::ptr::copy_nonoverlapping(from.start, self.start, HEADER + self.msg_size());
        }
    }
}

#[cold]
#[inline(never)]
fn unreachable_store() -> ! {
    unreachable!("an owned end of a destroyed ring")
}

/// Take an end for a fast operation: CAS `FREE` → `BUSY`, spinning while
/// another fast operation owns it; returns the end's mark.
#[inline(always)]
fn take_fast(word: &AtomicUsize) -> Result<usize, Slow> {
    let current = word.load(Ordering::Relaxed);
    if current & STATE == FREE
        && word
            .compare_exchange(
                current,
                current | BUSY,
                Ordering::Acquire,
                Ordering::Relaxed,
            )
            .is_ok()
    {
        return Ok(current & !STATE);
    }
    take_fast_contended(word)
}

/// [`take_fast`] after a first attempt failed: retry, spinning while
/// another fast operation owns the end.
#[cold]
#[inline(never)]
fn take_fast_contended(word: &AtomicUsize) -> Result<usize, Slow> {
    let mut current = word.load(Ordering::Relaxed);
    let backoff = Backoff::new();
    loop {
        match current & STATE {
            FREE => match word.compare_exchange_weak(
                current,
                current | BUSY,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(current & !STATE),
                Err(now) => current = now,
            },
            BUSY => {
                backoff.wait();
                current = word.load(Ordering::Relaxed);
            }
            _ => return Err(Slow),
        }
    }
}

/// Take an end for the slow path: CAS `FREE`/`PARKED` → `HELD`, spinning
/// while anybody else owns it; returns the end's mark.
fn take_slow(word: &AtomicUsize) -> Result<usize, Dead> {
    let mut current = word.load(Ordering::Relaxed);
    loop {
        if is_dead(current) {
            return Err(Dead);
        }
        match current & STATE {
            FREE | PARKED => match word.compare_exchange_weak(
                current,
                (current & !STATE) | HELD,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(current & !STATE),
                Err(now) => current = now,
            },
            _ => {
                // A plain spin, not the backoff of `take_fast_contended`:
                // a backoff's state here cost the uncontended take 42
                // instructions of a block + hand-off + wake round (24 with
                // its wait out of line), and the slow path waits for one
                // bounded copy.
                spin();
                current = word.load(Ordering::Relaxed);
            }
        }
    }
}

/// The tail, owned by one fast write. Dropping it gives the tail back
/// unchanged (nothing written).
///
/// It carries only what it cannot read again: the tail's mark (in its own
/// `BUSY` word) and position (the staging slot's) are read again from the
/// tail it owns. A writer lives across the kernel's copy, and every word it
/// carries is kept in a register or on the stack there.
pub(crate) struct Writer<'a> {
    ring: &'a Ring,
    /// The ring held `capacity` messages when the tail was taken. Only
    /// readers can change that until this writer commits, and only
    /// towards room, so `false` stays true.
    full: bool,
}

impl Writer<'_> {
    /// Whether the ring held `capacity` messages when the tail was taken
    /// (a write that does not discard must not commit then).
    #[inline(always)]
    pub(crate) fn is_full(&self) -> bool {
        self.full
    }

    /// The staging slot's first `len` bytes, to copy the message into;
    /// [`commit`](Self::commit) appends that many. `None` if `len` is
    /// over `msg_size` (nothing changed).
    #[inline(always)]
    pub(crate) fn staging_mut(&mut self, len: usize) -> Option<&mut [u8]> {
        // The size read with the tail owned: this pipe's.
        if len > self.ring.msg_size() {
            return None;
        }
        // SAFETY: this writer owns the tail, so the staging slot is its
        // own and no reader reads it (invariant 2); the borrow of `self`
        // ends before the tail is given back; `len <= msg_size`.
        // The length goes in now, so that only the tail's position is
        // needed after the copy.
        unsafe {
            let slot = self.ring.slot(self.ring.tail.pos());
            slot.set_len_unchecked(len);
            Some(slot.message_within(len))
        }
    }

    /// Append the message staged by [`staging_mut`](Self::staging_mut)
    /// (which must have been called, even for a zero-length one). When the ring was full (only a
    /// discard-oldest write commits then) and still is, the oldest message
    /// is dropped: returns whether it was.
    #[inline(always)]
    pub(crate) fn commit(self) -> bool {
        let ring = self.ring;
        let full = self.full;
        core::mem::forget(self);
        // This writer's own word: its mark and `BUSY`.
        let next = (ring.tail.word.load(Ordering::Relaxed) & !STATE).wrapping_add(UNIT);
        // SAFETY: this writer owns the tail, and the staging slot with it.
        unsafe {
            let seq = ring.tail_counters(|counters| {
                counters.written += 1;
                counters.written
            });
            let pos = ring.tail.pos();
            ring.slot(pos).set_seq(seq);
            ring.tail.set_pos(ring.next_pos(pos));
        }
        if !full {
            ring.tail.word.store(next | FREE, Ordering::Release);
            return false;
        }
        commit_over_full(ring, next)
    }
}

/// Invariant 4: publish the message with the tail still owned, then drop
/// the oldest if the ring still holds more than `capacity`.
#[cold]
fn commit_over_full(ring: &Ring, next: usize) -> bool {
    ring.tail.word.store(next | BUSY, Ordering::Release);
    // A fast writer holding the tail finds the head FREE or BUSY
    // (invariant 3).
    let head = match take_fast(&ring.head.word) {
        Ok(head) => head,
        Err(Slow) => {
            debug_assert!(
                false,
                "the head is parked while a fast writer owns the tail"
            );
            ring.tail.word.store(next | FREE, Ordering::Release);
            return false;
        }
    };
    // Still `capacity + 1` queued (no reader took one meanwhile)?
    let dropped = ring.is_full_gap(next.wrapping_sub(head).wrapping_sub(UNIT));
    let head = if dropped {
        // SAFETY: this writer owns the head now.
        unsafe {
            ring.head_counters(|counters| counters.dropped += 1);
            ring.head.set_pos(ring.next_pos(ring.head.pos()));
        }
        head.wrapping_add(UNIT)
    } else {
        head
    };
    ring.head.word.store(head | FREE, Ordering::Release);
    ring.tail.word.store(next | FREE, Ordering::Release);
    dropped
}

impl Drop for Writer<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        let word = &self.ring.tail.word;
        // This writer's own word, given back unchanged.
        word.store(word.load(Ordering::Relaxed) & !STATE, Ordering::Release);
    }
}

/// The head, owned by one fast read or peek. Dropping it gives the head
/// back unchanged (nothing taken).
pub(crate) struct Reader<'a> {
    ring: &'a Ring,
    /// The slot at `pos`.
    slot: Slot<'a>,
    /// The head's position.
    pos: usize,
    /// The head's mark.
    head: usize,
    /// The tail, read (Acquire) after the head: every message before it
    /// is published, and there is at least one.
    tail: usize,
}

impl Reader<'_> {
    /// The oldest message (a reader exists only for a ring that is not
    /// empty). It stays in place while this reader owns the head: no
    /// reader can take it and no writer overwrites a queued slot.
    #[inline(always)]
    pub(crate) fn front(&self) -> &[u8] {
        debug_assert!(self.tail != self.head);
        // SAFETY: the slot is queued (between head and tail) and this
        // reader owns the head, so nobody writes it (invariant 2); the
        // borrow of `self` ends before the head is given back.
        unsafe { self.slot.message() }
    }

    /// The sequence number of the oldest message, which
    /// [`front`](Self::front) returned.
    #[inline(always)]
    pub(crate) fn front_seq(&self) -> u64 {
        // SAFETY: as in `front`: the slot is queued and this reader owns
        // the head.
        unsafe { self.slot.seq() }
    }

    /// Remove the oldest message (which [`front`](Self::front) returned).
    #[inline(always)]
    pub(crate) fn pop(self) {
        let ring = self.ring;
        let head = self.head;
        let pos = self.pos;
        core::mem::forget(self);
        // SAFETY: this reader owns the head.
        unsafe {
            ring.head_counters(|counters| counters.read += 1);
            ring.head.set_pos(ring.next_pos(pos));
        }
        ring.head
            .word
            .store(head.wrapping_add(UNIT) | FREE, Ordering::Release);
    }
}

impl Drop for Reader<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        self.ring
            .head
            .word
            .store(self.head | FREE, Ordering::Release);
    }
}

/// Both ends, held by the slow path: the ring as a plain sequential FIFO
/// (invariant 6). Dropping it gives both ends back, `PARKED` if
/// [`park`](Self::park) asked for it (the pipe has waiters), else `FREE`.
pub(crate) struct Held<'a> {
    ring: &'a Ring,
    /// The ends' marks and positions, stored back when given back.
    head: usize,
    tail: usize,
    head_pos: usize,
    tail_pos: usize,
    park: bool,
    /// Set by [`destroy`](Self::destroy): the store is gone.
    dead: bool,
}

impl Held<'_> {
    /// Give the ends back `PARKED` (`true`: every fast operation takes the
    /// slow path until some holder gives them back `FREE`).
    pub(crate) fn park(&mut self, park: bool) {
        self.park = park;
    }

    pub(crate) fn msg_size(&self) -> usize {
        self.ring.msg_size()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.ring.capacity()
    }

    pub(crate) fn len(&self) -> usize {
        self.tail.wrapping_sub(self.head) >> SHIFT
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.head == self.tail
    }

    pub(crate) fn is_full(&self) -> bool {
        self.ring.is_full_gap(self.tail.wrapping_sub(self.head))
    }

    /// The slot at `pos`, while not destroyed.
    fn slot(&self, pos: usize) -> Slot<'_> {
        if self.dead {
            unreachable_store();
        }
        // SAFETY: both ends of a live ring are held.
        unsafe { self.ring.slot(pos) }
    }

    /// The head moved one slot on (the oldest message gone).
    fn advance_head(&mut self) {
        self.head = self.head.wrapping_add(UNIT);
        self.head_pos = self.ring.next_pos(self.head_pos);
    }

    /// The counters, exact: no fast operation is in flight.
    pub(crate) fn counters(&self) -> RingCounters {
        // SAFETY: both ends are held.
        let (written, (read, dropped)) = unsafe {
            (
                self.ring.tail_counters(|c| c.written),
                self.ring.head_counters(|c| (c.read, c.dropped)),
            )
        };
        RingCounters {
            written,
            read,
            dropped,
        }
    }

    /// Count a message accepted without passing through the ring (handed
    /// straight to a pending reader, which also counts as read).
    /// Returns the message's sequence number.
    pub(crate) fn count_handed_off(&mut self) -> u64 {
        // SAFETY: both ends are held.
        unsafe {
            self.ring.head_counters(|c| c.read += 1);
            self.ring.tail_counters(|c| {
                c.written += 1;
                c.written
            })
        }
    }

    /// The free slot a new message is copied into before it is committed.
    pub(crate) fn staging_mut(&mut self, len: usize) -> &mut [u8] {
        // SAFETY: both ends are held while `self` is borrowed; the staging
        // slot is not queued, and nobody else can reach it.
        unsafe { self.slot(self.tail_pos).message_mut(len) }
    }

    /// The first `len` bytes of the staging slot.
    pub(crate) fn staged(&self, len: usize) -> &[u8] {
        // SAFETY: both ends are held while `self` is borrowed.
        unsafe { self.slot(self.tail_pos).bytes(len) }
    }

    /// Append the staged message of `len` bytes. When the ring is full the
    /// oldest message is dropped (and counted) to make room; returns
    /// whether one was.
    pub(crate) fn commit_staged(&mut self, len: usize) -> bool {
        debug_assert!(len <= self.ring.msg_size());
        let dropped = self.is_full();
        let slot = self.slot(self.tail_pos);
        // SAFETY: both ends are held.
        unsafe {
            slot.set_len(len);
            let seq = self.ring.tail_counters(|c| {
                c.written += 1;
                c.written
            });
            slot.set_seq(seq);
            if dropped {
                self.ring.head_counters(|c| c.dropped += 1);
            }
        }
        self.tail = self.tail.wrapping_add(UNIT);
        self.tail_pos = self.ring.next_pos(self.tail_pos);
        if dropped {
            self.advance_head();
        }
        dropped
    }

    /// The number the next accepted message gets (`written + 1`).
    pub(crate) fn next_seq(&self) -> u64 {
        // SAFETY: both ends are held.
        unsafe { self.ring.tail_counters(|c| c.written) + 1 }
    }

    /// Put the staged message of `len` bytes at the front (read next): an
    /// urgent write (DESIGN §9). When the ring is full the oldest message
    /// is dropped first (counted); returns whether one was. O(`msg_size`):
    /// the staged message is copied into the free slot before the head,
    /// and the head moves back onto it (one mark back, so the difference
    /// of the marks still counts the messages).
    pub(crate) fn commit_staged_front(&mut self, len: usize) -> bool {
        debug_assert!(len <= self.ring.msg_size() && self.ring.capacity() > 0);
        let dropped = self.is_full();
        if dropped {
            // SAFETY: both ends are held.
            unsafe { self.ring.head_counters(|c| c.dropped += 1) };
            self.advance_head();
        }
        // At most `capacity` queued, so the two spare slots are free and
        // the one before the head is not the staging slot.
        let front = self.ring.prev_pos(self.head_pos);
        debug_assert_ne!(front, self.tail_pos);
        let staging = self.slot(self.tail_pos);
        let target = self.slot(front);
        // SAFETY: both ends are held; `front` and the staging slot differ.
        unsafe {
            staging.set_len(len);
            let seq = self.ring.tail_counters(|c| {
                c.written += 1;
                c.written
            });
            staging.set_seq(seq);
            target.copy_from(staging);
        }
        self.head = self.head.wrapping_sub(UNIT);
        self.head_pos = front;
        dropped
    }

    /// The message `index` places from the front (0 = oldest) and its
    /// sequence number, if that many are queued. O(1).
    pub(crate) fn get(&self, index: usize) -> Option<(&[u8], u64)> {
        if index >= self.len() {
            return None;
        }
        // `index < len <= capacity`, so the offset is within one wrap.
        let pos = self.head_pos + index * self.ring.stride();
        let total = self.ring.total();
        let slot = self.slot(if pos >= total { pos - total } else { pos });
        // SAFETY: both ends are held while `self` is borrowed, and the
        // slot holds a committed message.
        Some(unsafe { (slot.message(), slot.seq()) })
    }

    /// The sequence number of the newest queued message, if any.
    pub(crate) fn back_seq(&self) -> Option<u64> {
        if self.is_empty() {
            return None;
        }
        // SAFETY: both ends are held, and the slot holds a committed
        // message.
        Some(unsafe { self.slot(self.ring.prev_pos(self.tail_pos)).seq() })
    }

    /// Drop every queued message without counting them as read (a purge,
    /// which counts them itself); returns how many there were.
    pub(crate) fn clear(&mut self) -> usize {
        let queued = self.len();
        self.head = self.tail;
        self.head_pos = self.tail_pos;
        queued
    }

    /// Remove the oldest message, counting it as read.
    pub(crate) fn pop_front(&mut self) {
        debug_assert!(!self.is_empty());
        if !self.is_empty() {
            // SAFETY: both ends are held.
            unsafe { self.ring.head_counters(|c| c.read += 1) };
            self.advance_head();
        }
    }

    /// Drop every queued message and free the store (destroy: DESIGN §8);
    /// returns how many messages there were. Both ends stay dead: no
    /// operation reaches the store again (invariant 7); this guard must
    /// not touch the ring after it.
    pub(crate) fn destroy(&mut self) -> usize {
        if self.dead {
            return 0;
        }
        let released = self.len();
        self.dead = true;
        // Free the store while both ends are held: nobody else can be
        // using it.
        let store = self.ring.store.with_mut(|store| {
            // SAFETY: both ends are held, so no slot of the store is
            // borrowed (every slot access happens under an owned end, and
            // this guard makes none after `dead`).
            unsafe { (*store).take() }
        });
        drop(store);
        self.ring.head.word.store(DEAD_HEAD, Ordering::Release);
        self.ring.tail.word.store(DEAD_TAIL, Ordering::Release);
        released
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        if self.dead {
            return;
        }
        let state = if self.park { PARKED } else { FREE };
        // SAFETY: both ends are still held; the positions go back before
        // the words' Release gives the ends away.
        unsafe {
            self.ring.head.set_pos(self.head_pos);
            self.ring.tail.set_pos(self.tail_pos);
        }
        // Head first (invariant 3).
        self.ring
            .head
            .word
            .store(self.head | state, Ordering::Release);
        self.ring
            .tail
            .word
            .store(self.tail | state, Ordering::Release);
    }
}

fn filled<T>(len: usize, make: impl FnMut() -> T) -> Result<Box<[T]>, Status> {
    let mut items = Vec::new();
    items.try_reserve_exact(len).map_err(|_| Status::NoMemory)?;
    items.resize_with(len, make);
    Ok(items.into_boxed_slice())
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn push(ring: &Ring, msg: &[u8]) -> bool {
        let mut writer = ring.writer(true).unwrap();
        writer.staging_mut(msg.len()).unwrap().copy_from_slice(msg);
        writer.commit()
    }

    fn pop(ring: &Ring) -> Option<alloc::vec::Vec<u8>> {
        let reader = match ring.reader() {
            Ok(reader) => reader,
            Err(Miss::Empty) => return None,
            Err(miss) => panic!("{miss:?}"),
        };
        let msg = reader.front().to_vec();
        reader.pop();
        Some(msg)
    }

    #[test]
    fn holds_exactly_capacity_messages_with_their_lengths() {
        let ring = Ring::new(4, 3).unwrap();
        assert!(!push(&ring, b"a"));
        assert!(!push(&ring, b""));
        assert!(!push(&ring, b"cccc"));
        assert_eq!(ring.writer(false).err(), Some(Miss::Full));
        assert!(ring.writer(true).unwrap().is_full());
        assert_eq!(ring.reader().unwrap().front(), b"a");
        assert_eq!(ring.hold().unwrap().len(), 3);
        assert_eq!(pop(&ring).as_deref(), Some(&b"a"[..]));
        assert_eq!(pop(&ring).as_deref(), Some(&b""[..]));
        assert_eq!(pop(&ring).as_deref(), Some(&b"cccc"[..]));
        assert_eq!(pop(&ring), None);
        let counters = ring.hold().unwrap().counters();
        assert_eq!(
            (counters.written, counters.read, counters.dropped),
            (3, 3, 0)
        );
    }

    #[test]
    fn commit_on_full_drops_exactly_the_oldest() {
        let ring = Ring::new(1, 2).unwrap();
        assert!(!push(&ring, b"1"));
        assert!(!push(&ring, b"2"));
        assert!(push(&ring, b"3"));
        assert_eq!(ring.hold().unwrap().len(), 2);
        assert_eq!(ring.hold().unwrap().counters().dropped, 1);
        assert_eq!(pop(&ring).as_deref(), Some(&b"2"[..]));
        assert_eq!(pop(&ring).as_deref(), Some(&b"3"[..]));
    }

    #[test]
    fn wraps_around_many_times() {
        let ring = Ring::new(2, 3).unwrap();
        for round in 0u8..50 {
            assert!(!push(&ring, &[round, round]));
            if round % 2 == 1 {
                assert_eq!(pop(&ring).unwrap(), [round - 1, round - 1]);
                assert_eq!(pop(&ring).unwrap(), [round, round]);
            }
        }
        assert_eq!(pop(&ring), None);
    }

    #[test]
    fn staging_never_aliases_a_queued_message() {
        let ring = Ring::new(2, 2).unwrap();
        push(&ring, b"aa");
        push(&ring, b"bb");
        ring.writer(true)
            .unwrap()
            .staging_mut(2)
            .unwrap()
            .fill(b'x');
        let mut held = ring.hold().unwrap();
        held.staging_mut(2).fill(b'y');
        assert_eq!(held.get(0).map(|m| m.0), Some(&b"aa"[..]));
        held.pop_front();
        assert_eq!(held.get(0).map(|m| m.0), Some(&b"bb"[..]));
    }

    #[test]
    fn a_writer_dropped_without_commit_writes_nothing() {
        let ring = Ring::new(2, 2).unwrap();
        let mut writer = ring.writer(false).unwrap();
        writer.staging_mut(2).unwrap().fill(b'x');
        drop(writer);
        assert_eq!(pop(&ring), None);
        assert_eq!(ring.hold().unwrap().counters().written, 0);
    }

    #[test]
    fn a_message_over_msg_size_is_refused_with_nothing_written() {
        let ring = Ring::new(4, 2).unwrap();
        let mut writer = ring.writer(false).unwrap();
        assert!(writer.staging_mut(5).is_none());
        assert_eq!(writer.staging_mut(4).map(|staging| staging.len()), Some(4));
        drop(writer);
        assert_eq!(pop(&ring), None);
        assert!(!push(&ring, b"four"));
        assert_eq!(pop(&ring).as_deref(), Some(&b"four"[..]));
    }

    #[test]
    fn parked_ends_send_fast_operations_to_the_slow_path() {
        let ring = Ring::new(1, 1).unwrap();
        push(&ring, b"m");
        let mut held = ring.hold().unwrap();
        assert_eq!(ring.writer(true).err(), Some(Miss::Slow));
        assert_eq!(ring.reader().err(), Some(Miss::Slow));
        held.park(true);
        drop(held);
        assert_eq!(ring.writer(true).err(), Some(Miss::Slow));
        assert_eq!(ring.reader().err(), Some(Miss::Slow));
        drop(ring.hold().unwrap());
        assert!(ring.writer(true).is_ok());
        assert!(ring.reader().is_ok());
    }

    #[test]
    fn destroy_frees_the_store_and_kills_both_ends() {
        let ring = Ring::new(8, 4).unwrap();
        push(&ring, b"a");
        push(&ring, b"b");
        let mut held = ring.hold().unwrap();
        assert_eq!(held.destroy(), 2);
        drop(held);
        assert!(!ring.has_store());
        assert_eq!(ring.writer(true).err(), Some(Miss::Slow));
        assert_eq!(ring.reader().err(), Some(Miss::Slow));
        assert_eq!(ring.hold().err(), Some(Dead));
    }

    /// Move both (empty) ends' marks to `mark`, as if that many messages
    /// had passed.
    fn start_at(ring: &Ring, mark: usize) {
        let mut held = ring.hold().unwrap();
        assert!(held.is_empty());
        (held.head, held.tail) = (mark, mark);
    }

    #[test]
    fn marks_count_messages_across_a_wrap_of_the_word() {
        // Two messages before the word wraps: the third write's marks
        // pass through zero.
        let ring = Ring::new(1, 2).unwrap();
        start_at(&ring, 0usize.wrapping_sub(2 * UNIT));
        for round in 0u8..5 {
            assert!(!push(&ring, &[round]));
            assert!(!push(&ring, &[round + 100]));
            assert_eq!(ring.writer(false).err(), Some(Miss::Full), "round {round}");
            assert!(ring.looks_blocked(true));
            assert_eq!(ring.hold().unwrap().len(), 2);
            assert_eq!(pop(&ring).unwrap(), [round]);
            assert_eq!(ring.hold().unwrap().len(), 1);
            assert!(!ring.looks_blocked(true) && !ring.looks_blocked(false));
            assert_eq!(pop(&ring).unwrap(), [round + 100]);
            assert_eq!(ring.reader().err(), Some(Miss::Empty));
            assert!(ring.looks_blocked(false));
        }
        // A discard-oldest write over the wrap drops exactly the oldest.
        start_at(&ring, 0usize.wrapping_sub(UNIT));
        push(&ring, b"a");
        push(&ring, b"b");
        assert!(push(&ring, b"c"));
        assert_eq!(ring.hold().unwrap().len(), 2);
        assert_eq!(pop(&ring).as_deref(), Some(&b"b"[..]));
        assert_eq!(pop(&ring).as_deref(), Some(&b"c"[..]));
        assert_eq!(pop(&ring), None);
    }

    #[test]
    fn no_live_word_reads_as_dead() {
        // The largest mark with every state: the dead bit stays clear.
        let top = usize::MAX & !(UNIT - 1);
        for state in [FREE, BUSY, HELD, PARKED] {
            assert!(!is_dead(top | state));
            assert!(!is_dead(state));
        }
        assert!(is_dead(DEAD_HEAD) && is_dead(DEAD_TAIL));
        assert_ne!(
            DEAD_HEAD & !STATE,
            DEAD_TAIL & !STATE,
            "a dead ring is never empty"
        );
        assert_eq!(DEAD_HEAD & STATE, PARKED);
        assert_eq!(DEAD_TAIL & STATE, PARKED);
    }

    #[test]
    fn urgent_fronts_and_gets_walk_the_positions_around_the_store() {
        let ring = Ring::new(1, 3).unwrap();
        for round in 0u8..7 {
            push(&ring, &[round]);
            let mut held = ring.hold().unwrap();
            held.staging_mut(1)[0] = 200 + round;
            assert!(!held.commit_staged_front(1));
            assert_eq!(held.get(0).map(|m| m.0), Some(&[200 + round][..]));
            assert_eq!(held.get(1).map(|m| m.0), Some(&[round][..]));
            assert_eq!(held.get(2), None);
            assert_eq!(held.back_seq(), held.get(1).map(|m| m.1));
            drop(held);
            assert_eq!(pop(&ring).unwrap(), [200 + round]);
            assert_eq!(pop(&ring).unwrap(), [round]);
        }
    }

    #[test]
    fn empty_and_full_checks_take_no_end() {
        let ring = Ring::new(1, 1).unwrap();
        let held = ring.hold().unwrap();
        // The slow path holds both ends: an empty ring still reads empty
        // without waiting for them.
        assert_eq!(ring.reader().err(), Some(Miss::Empty));
        drop(held);
        push(&ring, b"x");
        assert_eq!(ring.writer(false).err(), Some(Miss::Full));
        assert_eq!(ring.tail.word.load(Ordering::Relaxed) & STATE, FREE);
    }

    #[test]
    fn looks_blocked_reads_empty_and_full_without_taking_an_end() {
        let ring = Ring::new(1, 2).unwrap();
        assert!(ring.looks_blocked(false), "empty");
        assert!(!ring.looks_blocked(true));
        push(&ring, b"x");
        assert!(!ring.looks_blocked(false));
        assert!(!ring.looks_blocked(true));
        push(&ring, b"y");
        assert!(ring.looks_blocked(true), "full");
        let held = ring.hold().unwrap();
        // Held by the slow path: still answered, nothing taken.
        assert!(ring.looks_blocked(true) && !ring.looks_blocked(false));
        drop(held);
        assert_eq!(pop(&ring).as_deref(), Some(&b"x"[..]));
        assert!(!ring.looks_blocked(true), "room again");
        assert_eq!(ring.head.word.load(Ordering::Relaxed) & STATE, FREE);
        assert_eq!(ring.tail.word.load(Ordering::Relaxed) & STATE, FREE);
    }

    #[test]
    fn a_dead_ring_never_looks_blocked() {
        let ring = Ring::new(1, 1).unwrap();
        let mut held = ring.hold().unwrap();
        held.destroy();
        drop(held);
        assert!(!ring.looks_blocked(false) && !ring.looks_blocked(true));
    }

    #[test]
    fn rejects_zero_and_overflowing_sizes() {
        assert_eq!(Ring::new(0, 1).err(), Some(Status::BadParam));
        assert_eq!(Ring::new(2, usize::MAX).err(), Some(Status::BadParam));
        assert_eq!(Ring::new(usize::MAX / 2, 3).err(), Some(Status::BadParam));
    }
}
