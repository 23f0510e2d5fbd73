//! One pipe: its fixed configuration and the state machine of the blocking
//! protocol (DESIGN §3), with no locking.
//!
//! The fast path ([`Pipe::fast_write`], [`Pipe::fast_read`]) takes no lock:
//! it owns one end of the pipe's [`Ring`] for one bounded copy, and only
//! while the pipe has no waiter (see the ring's invariants); it never
//! finishes anybody else's operation, so it has nothing to wake.
//! Everything else runs with the pipe's lock held (the manager takes it)
//! and both ends of the ring held ([`Held`]). Data moves through the
//! kernel's copy hooks; threads whose pending operation completes are not
//! woken here: their wait records join the *finished chain* of the call
//! holding the lock (see [`crate::wait`]), which that call takes before
//! unlocking and wakes, after unlocking and before it returns. So the only
//! hooks called under the lock are the bounded copies.

use lock_api::{Mutex, RawMutex};

use crate::kernel::{Caller, Fault, Kernel, Priority, ProcessId, UserAddr};
use crate::prio::PrioQueue;
use crate::ring::{Miss, NewStore, Ring};
use crate::select::{Member, SelectGroup};
use crate::store::Store;
use crate::wait::{Chain, PendingOp, RecordIndex, WaitQueue, Wake};
use crate::{PipeFlags, PipeId, Status};

/// The header of a pipe slot: type-stable, it lives as long as the
/// manager and holds the slot's pipes one after another (see
/// [`crate::slots`]). Its id says which pipe it holds now.
///
/// The id, owner and flags change only at a create or destroy, under
/// `state`'s lock and `name`'s; a call that found the header lock-free by
/// id checks the id again where it commits (after taking a ring end, or
/// under `state`'s lock), so it never acts on a later pipe of the slot.
pub(crate) struct Pipe<R: RawMutex, T> {
    /// The raw id of the pipe held now, or the header's [`vacant_word`].
    id: AtomicUsize,
    owner: AtomicU64,
    flags: AtomicU32,
    /// The ring's capacity, or the priority queue's for a
    /// `PRIORITY_MESSAGES` pipe (whose ring has none).
    max_msgs: AtomicUsize,
    /// The name, read by [`Ipcm::open`](crate::Ipcm::open) (the id is
    /// checked under this lock too).
    pub(crate) name: Mutex<R, crate::handle::Name>,
    /// Set (under `state`'s lock) when the pipe is closed, for the fast
    /// path's empty answer (see [`fast_read`](Self::fast_read)).
    pub(crate) closed: core::sync::atomic::AtomicBool,
    /// The message store; its ends are taken lock-free or under `state`.
    pub(crate) ring: Ring,
    pub(crate) state: Mutex<R, PipeState<T>>,
}

/// The id word of the header of slot `index` while it holds no pipe:
/// generation 0 (no pipe's) and another slot's index, so that no id
/// looked up in this slot, not even a raw one of generation 0, matches
/// it, and a lookup needs no test of its own for a vacant header.
#[inline(always)]
pub(crate) const fn vacant_word(index: usize) -> usize {
    PipeId::new_vacant(index ^ 1).to_raw()
}

/// Whether an id word is a vacant header's (generation 0).
#[inline(always)]
fn is_vacant(word: usize) -> bool {
    PipeId::from_raw(word).generation() == 0
}

#[cfg(not(loom))]
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
#[cfg(loom)]
use loom::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

impl<R: RawMutex, T> Pipe<R, T> {
    /// The header of slot `index`, holding no pipe (its ring is dead).
    pub(crate) fn vacant(index: usize) -> Self {
        Pipe {
            id: AtomicUsize::new(vacant_word(index)),
            owner: AtomicU64::new(0),
            flags: AtomicU32::new(0),
            max_msgs: AtomicUsize::new(0),
            name: Mutex::new(crate::handle::Name::default()),
            closed: core::sync::atomic::AtomicBool::new(false),
            ring: Ring::vacant(),
            state: Mutex::new(PipeState::new(None)),
        }
    }

    /// Make this vacant header hold the new pipe `id` (the caller holds
    /// the registry lock, so no other create or destroy runs on it).
    ///
    /// # Errors
    /// `store` back if the header is not vacant (nothing changed).
    pub(crate) fn revive(
        &self,
        id: PipeId,
        name: Option<&str>,
        owner: ProcessId,
        flags: PipeFlags,
        store: NewStore,
        prio: Option<PrioQueue>,
    ) -> Result<(), NewStore> {
        let mut state = self.state.lock();
        let mut held_name = self.name.lock();
        if !is_vacant(self.id.load(Ordering::Relaxed)) {
            return Err(store);
        }
        self.ring.revive(store)?;
        let max_msgs = prio
            .as_ref()
            .map_or(self.ring.capacity(), PrioQueue::capacity);
        if prio.is_some()
            && let Ok(mut held) = self.ring.hold()
        {
            // A priority pipe's messages are not in its ring: every
            // operation takes the lock (see `PipeState::must_park`).
            held.park(true);
        }
        // The wait table stays: a call that finished operations of the
        // previous pipe may still be taking their records back.
        state.revive(prio);
        self.max_msgs.store(max_msgs, Ordering::Relaxed);
        *held_name = crate::handle::Name::new(name.unwrap_or(""));
        self.owner.store(owner.0, Ordering::Relaxed);
        self.flags.store(flags.bits(), Ordering::Relaxed);
        self.closed
            .store(false, core::sync::atomic::Ordering::Relaxed);
        // Release: a lookup that reads this id sees the pipe's settings.
        self.id.store(id.to_raw(), Ordering::Release);
        Ok(())
    }

    /// Mark the header as holding no pipe; the caller holds `state`'s lock
    /// and has destroyed the ring.
    pub(crate) fn vacate(&self) {
        let _name = self.name.lock();
        let index = self.id().index();
        self.id.store(vacant_word(index), Ordering::Release);
    }

    /// The pipe's id (stays the same for its whole life, never reused).
    #[inline(always)]
    pub(crate) fn id(&self) -> PipeId {
        PipeId::from_raw(self.id.load(Ordering::Relaxed))
    }

    /// Whether the header holds pipe `id` now (Acquire: then its settings
    /// are those of `id`).
    #[inline(always)]
    pub(crate) fn holds(&self, id: PipeId) -> bool {
        self.id.load(Ordering::Acquire) == id.to_raw()
    }

    /// The process that created the pipe.
    #[inline(always)]
    pub(crate) fn owner(&self) -> ProcessId {
        ProcessId(self.owner.load(Ordering::Relaxed))
    }

    /// The flags the pipe was created with.
    #[inline(always)]
    pub(crate) fn flags(&self) -> PipeFlags {
        PipeFlags::from_bits_retain(self.flags.load(Ordering::Relaxed))
    }

    /// The largest message, in bytes.
    #[inline(always)]
    pub(crate) fn msg_size(&self) -> usize {
        self.ring.msg_size()
    }

    /// How many messages the pipe holds when full.
    #[inline(always)]
    pub(crate) fn max_msgs(&self) -> usize {
        self.max_msgs.load(Ordering::Relaxed)
    }

    /// Whether `caller` passes the owner-only check `restriction`
    /// (`OWNER_READ` or `OWNER_WRITE`; the empty set checks ownership, as
    /// destroy needs). Asks [`Kernel::process_of`] only when the answer
    /// depends on it; the caller holds no IPC manager lock.
    pub(crate) fn check_access<K: Kernel<Thread = T>>(
        &self,
        kernel: &K,
        caller: Caller<'_, T>,
        restriction: PipeFlags,
    ) -> Result<(), Status> {
        self.check_access_with(self.flags(), kernel, caller, restriction)
    }

    /// [`check_access`](Self::check_access) with the pipe's `flags` read
    /// already (by a caller that needs them too: one load of the atomic).
    #[inline]
    pub(crate) fn check_access_with<K: Kernel<Thread = T>>(
        &self,
        flags: PipeFlags,
        kernel: &K,
        caller: Caller<'_, T>,
        restriction: PipeFlags,
    ) -> Result<(), Status> {
        match caller {
            Caller::Kernel => Ok(()),
            Caller::Thread(_) if !restricts(flags, restriction) => Ok(()),
            Caller::Thread(thread) if kernel.process_of(thread) == self.owner() => Ok(()),
            Caller::Thread(_) => Err(Status::Denied),
        }
    }

    /// [`check_access`](Self::check_access) for a thread of `process`.
    #[inline]
    pub(crate) fn check_access_of(
        &self,
        process: ProcessId,
        restriction: PipeFlags,
    ) -> Result<(), Status> {
        if self.restricts(restriction) {
            return self.check_owner(Some(process));
        }
        Ok(())
    }

    /// Whether the answer to an owner-only check `restriction` depends on
    /// the caller's process.
    #[inline]
    fn restricts(&self, restriction: PipeFlags) -> bool {
        restricts(self.flags(), restriction)
    }

    /// [`check_access`](Self::check_access) for a caller whose process was
    /// asked already (`None`: the kernel).
    pub(crate) fn check_owner(&self, process: Option<ProcessId>) -> Result<(), Status> {
        match process {
            None => Ok(()),
            Some(process) if process == self.owner() => Ok(()),
            Some(_) => Err(Status::Denied),
        }
    }
    /// Whether an empty ring must not be answered `Empty` without the lock:
    /// the pipe is closed, a rendezvous pipe, or a priority pipe (whose
    /// ring is always empty).
    #[cold]
    fn empty_is_special(&self) -> bool {
        self.bypasses_ring() || self.closed.load(core::sync::atomic::Ordering::Acquire)
    }

    /// Whether the ring's contents do not tell what a read or write finds:
    /// a rendezvous pipe (a write waits for a reader) or a priority pipe
    /// (whose messages are not in the ring).
    #[inline]
    fn bypasses_ring(&self) -> bool {
        self.max_msgs() == 0 || self.flags().contains(PipeFlags::PRIORITY_MESSAGES)
    }

    /// What a thread about to wait for a write (`write`) or a read or peek
    /// of this pipe may expect, read with plain loads: see [`Outlook`].
    #[inline]
    pub(crate) fn outlook(&self, write: bool) -> Outlook {
        if self.bypasses_ring() {
            return Outlook::Register;
        }
        if self.closed.load(core::sync::atomic::Ordering::Acquire)
            || !self.ring.looks_blocked(write)
        {
            return Outlook::Ready;
        }
        Outlook::NotYet
    }

    /// Write without the lock, when the pipe has no waiter. `None`: take
    /// the lock (the pipe has or may be getting a waiter, or is destroyed;
    /// or it is full, does not `discard`, and the caller `may_block`);
    /// nothing changed then. A full pipe is `Full` for a caller that does
    /// not block.
    #[inline(always)]
    pub(crate) fn fast_write<K: Kernel<Thread = T>>(
        &self,
        id: PipeId,
        kernel: &K,
        src: &Source<'_, T>,
        discard: bool,
        may_block: bool,
    ) -> Option<Result<Written, Status>> {
        let len = src.len();
        let mut writer = match self.ring.writer(discard) {
            Ok(writer) => writer,
            Err(Miss::Full) if !may_block => return self.full_unless_too_large(len),
            Err(_) => return None,
        };
        // A destroy and a create may have reused the header since the
        // lookup: the slow path tells which status.
        if !self.holds(id) {
            return None;
        }
        debug_assert!(discard || !writer.is_full());
        // Over `msg_size`: `TooLarge`, unless destroyed; the slow path
        // says which.
        let staging = writer.staging_mut(len)?;
        if src.fetch(kernel, staging).is_err() {
            return Some(Err(Status::BadAddress));
        }
        let dropped_oldest = writer.commit();
        Some(Ok(Written {
            dropped_oldest,
            handed_off: false,
        }))
    }

    /// A non-blocking write of `len` bytes found the ring full: `Full`,
    /// unless the message is too large (`TooLarge` comes first, and the
    /// slow path says it, or `Destroyed`).
    #[cold]
    #[inline(never)]
    fn full_unless_too_large(&self, len: usize) -> Option<Result<Written, Status>> {
        (len <= self.msg_size()).then_some(Err(Status::Full))
    }

    /// Read (`consume`) or peek without the lock, like
    /// [`fast_write`](Self::fast_write); an empty pipe is `Empty` for a
    /// caller that does not block.
    #[inline(always)]
    pub(crate) fn fast_read<K: Kernel<Thread = T>>(
        &self,
        id: PipeId,
        kernel: &K,
        sink: Sink<'_, T>,
        consume: bool,
        may_block: bool,
    ) -> Option<Result<Received, Status>> {
        if let Sink::Kernel(buf) = &sink
            && buf.len() < self.msg_size()
        {
            // `BadParam`, unless destroyed: the slow path says which.
            return None;
        }
        let reader = match self.ring.reader() {
            Ok(reader) => reader,
            // The ring answers "empty" without looking at its state
            // (invariant 8), so the cases where empty is not `Empty` take
            // the lock: a closed pipe (`Closed`), a rendezvous pipe (whose
            // pending writer a read takes).
            Err(Miss::Empty) if !may_block && !self.empty_is_special() => {
                return Some(Err(Status::Empty));
            }
            Err(_) => return None,
        };
        // As in `fast_write`, before the front is read.
        if !self.holds(id) {
            return None;
        }
        let msg = reader.front();
        let len = msg.len();
        let seq = reader.front_seq();
        if sink.deliver(kernel, msg, seq).is_err() {
            return Some(Err(Status::BadAddress));
        }
        if consume {
            reader.pop();
        }
        Some(Ok(Received { len, seq }))
    }
}

/// Whether the answer to an owner-only check `restriction` of a pipe with
/// `flags` depends on the caller's process.
#[inline(always)]
fn restricts(flags: PipeFlags, restriction: PipeFlags) -> bool {
    restriction.is_empty() || flags.intersects(restriction)
}

/// A snapshot of a pipe's configuration, contents and counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PipeInfo {
    /// The pipe's id.
    pub id: PipeId,
    /// The largest message, in bytes.
    pub msg_size: usize,
    /// Capacity in messages.
    pub max_msgs: usize,
    /// Flags given at creation.
    pub flags: PipeFlags,
    /// The creating process.
    pub owner: ProcessId,
    /// Messages queued now.
    pub queued: usize,
    /// Threads waiting to read.
    pub pending_readers: usize,
    /// Threads waiting to peek.
    pub pending_peekers: usize,
    /// Threads waiting to write.
    pub pending_writers: usize,
    /// Messages accepted (queued or handed straight to a reader).
    pub written: u64,
    /// Messages taken by readers (peeks not counted).
    pub read: u64,
    /// Messages dropped by discard-oldest writes.
    pub dropped: u64,
    /// Messages dropped by purges.
    pub purged: u64,
    /// The pipe was closed (DESIGN §9).
    pub closed: bool,
}

/// What a successful read or peek delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    /// The message's length in bytes.
    pub len: usize,
    /// The message's sequence number: the pipe's `written` count when it
    /// was accepted (1, 2, ...; DESIGN §9).
    pub seq: u64,
}

/// What a thread about to wait on a pipe may expect, as
/// [`Ipcm::outlook`](crate::Ipcm::outlook) reads it (a hint: only the
/// attempt itself decides).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outlook {
    /// The operation looks able to proceed, or to fail (closed, destroyed):
    /// a non-blocking attempt now tells which.
    Ready,
    /// It would block: the ring is full (a write) or empty (a read), and
    /// nothing but a completing call can change that, so the thread may
    /// poll the outlook again before it registers.
    NotYet,
    /// Polling cannot tell (a rendezvous or priority pipe): register now.
    Register,
}

/// What a successful write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Written {
    /// The write dropped the oldest queued message (discard-oldest pipe that
    /// was full).
    pub dropped_oldest: bool,
    /// The message went straight into a pending reader's buffer.
    pub handed_off: bool,
}

/// Where a message comes from.
pub(crate) enum Source<'a, T> {
    /// `len` bytes at `buf` in `thread`'s address space.
    User {
        thread: &'a T,
        buf: UserAddr,
        len: usize,
    },
    /// A kernel buffer.
    Kernel(&'a [u8]),
}

impl<T> Source<'_, T> {
    #[inline]
    pub(crate) fn len(&self) -> usize {
        match self {
            Source::User { len, .. } => *len,
            Source::Kernel(msg) => msg.len(),
        }
    }

    #[inline]
    fn fetch<K: Kernel<Thread = T>>(&self, kernel: &K, dst: &mut [u8]) -> Result<(), Fault> {
        match self {
            Source::User { thread, buf, .. } => kernel.copy_from_user(thread, *buf, dst),
            Source::Kernel(msg) => {
                dst.copy_from_slice(msg);
                Ok(())
            }
        }
    }
}

/// Where a message goes.
pub(crate) enum Sink<'a, T> {
    /// The message to `buf`, its length (a native `usize`) to `len_out`,
    /// and its sequence number (a native `u64`) to `seq_out` if given, in
    /// `thread`'s address space.
    User {
        thread: &'a T,
        buf: UserAddr,
        len_out: UserAddr,
        seq_out: Option<UserAddr>,
    },
    /// A kernel buffer of at least `msg_size` bytes.
    Kernel(&'a mut [u8]),
}

impl<T> Sink<'_, T> {
    /// Copy message `msg` numbered `seq` where this sink says.
    #[inline(always)]
    fn deliver<K: Kernel<Thread = T>>(self, kernel: &K, msg: &[u8], seq: u64) -> Result<(), Fault> {
        match self {
            Sink::User {
                thread,
                buf,
                len_out,
                seq_out,
            } => deliver(kernel, thread, buf, len_out, seq_out, msg, seq),
            Sink::Kernel(buf) => {
                buf[..msg.len()].copy_from_slice(msg);
                Ok(())
            }
        }
    }
}

/// Copy `msg`, its length and (when asked) its number `seq` into
/// `thread`'s address space.
#[inline]
fn deliver<K: Kernel>(
    kernel: &K,
    thread: &K::Thread,
    buf: UserAddr,
    len_out: UserAddr,
    seq_out: Option<UserAddr>,
    msg: &[u8],
    seq: u64,
) -> Result<(), Fault> {
    kernel.copy_to_user(thread, buf, msg)?;
    kernel.copy_to_user(thread, len_out, &msg.len().to_ne_bytes())?;
    match seq_out {
        Some(seq_out) => kernel.copy_to_user(thread, seq_out, &seq.to_ne_bytes()),
        None => Ok(()),
    }
}

/// Deliver `msg` numbered `seq` to a pending read or peek `op` of
/// `thread`; a write is not served here.
#[inline]
fn deliver_op<K: Kernel>(
    kernel: &K,
    thread: &K::Thread,
    op: &PendingOp,
    msg: &[u8],
    seq: u64,
) -> Status {
    match *op {
        PendingOp::Read {
            buf,
            len_out,
            seq_out,
        }
        | PendingOp::Peek {
            buf,
            len_out,
            seq_out,
            ..
        } => deliver_status(deliver(kernel, thread, buf, len_out, seq_out, msg, seq)),
        PendingOp::Write { .. } => Status::BadParam,
    }
}

/// Whether message `seq` satisfies a pending peek `op` (a plain peek takes
/// any message, a peek-newer one numbered above its `after`).
fn peek_wants(op: &PendingOp, seq: u64) -> bool {
    match *op {
        PendingOp::Peek { after, .. } => after.is_none_or(|after| seq > after),
        _ => false,
    }
}

/// An attempt that either finished or needs the caller to wait.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Attempt<T> {
    Done(T),
    WouldBlock,
}

/// The mutable part of a pipe, guarded by its lock.
pub(crate) struct PipeState<T> {
    /// Pending operations, and the finished ones not yet woken.
    waiters: WaitQueue<T>,
    destroyed: bool,
    /// Closed (DESIGN §9): writes fail, reads drain then fail.
    closed: bool,
    /// Messages dropped by purges.
    purged: u64,
    /// A priority pipe's messages (taken out by the manager for the
    /// length of each locked call, see [`Store`]).
    pub(crate) prio: Option<PrioQueue>,
}

impl<T> PipeState<T> {
    fn new(prio: Option<PrioQueue>) -> Self {
        PipeState {
            waiters: WaitQueue::new(),
            destroyed: false,
            closed: false,
            purged: 0,
            prio,
        }
    }

    /// Ready for the slot's next pipe: everything but the wait table
    /// (whose records of the destroyed pipe are all finished, and some
    /// may still be in a finishing call's chain) starts afresh.
    fn revive(&mut self, prio: Option<PrioQueue>) {
        self.destroyed = false;
        self.closed = false;
        self.purged = 0;
        self.prio = prio;
    }

    /// Whether the lock holder finished any pending operation.
    #[inline]
    pub(crate) fn has_finished(&self) -> bool {
        self.waiters.has_finished()
    }

    /// The operations finished since the lock was taken; the caller wakes
    /// them after unlocking (DESIGN §8: before it returns).
    #[inline]
    pub(crate) fn take_finished(&mut self) -> Chain {
        self.waiters.take_finished()
    }

    /// Take back the first record of `chain` (see [`WaitQueue::take_one`]).
    #[inline]
    pub(crate) fn take_one(&mut self, chain: &mut Chain) -> Option<Wake<T>> {
        self.waiters.take_one(chain)
    }

    /// Take back up to `out.len()` records of `chain` (see
    /// [`WaitQueue::take_batch`]).
    #[inline]
    pub(crate) fn take_batch(&mut self, chain: &mut Chain, out: &mut [Option<Wake<T>>]) -> usize {
        self.waiters.take_batch(chain, out)
    }
}

impl<T: Clone + PartialEq> PipeState<T> {
    pub(crate) fn is_destroyed(&self) -> bool {
        self.destroyed
    }

    /// Whether fast operations must take the lock: some thread waits, the
    /// pipe is closed (whose every operation the slow path answers), or its
    /// messages are by priority (not in the ring).
    pub(crate) fn must_park(&self) -> bool {
        self.waiters.len() > 0 || self.closed || self.prio.is_some()
    }

    pub(crate) fn info(
        &self,
        ring: &Store<'_, '_>,
        pipe_id: PipeId,
        flags: PipeFlags,
        owner: ProcessId,
    ) -> PipeInfo {
        let waiting = self.waiters.counts();
        let counters = ring.counters();
        PipeInfo {
            id: pipe_id,
            msg_size: ring.msg_size(),
            max_msgs: ring.capacity(),
            flags,
            owner,
            queued: ring.len(),
            pending_readers: waiting.readers,
            pending_peekers: waiting.peekers,
            pending_writers: waiting.writers,
            written: counters.written,
            read: counters.read,
            dropped: counters.dropped,
            purged: self.purged,
            closed: self.closed,
        }
    }

    /// Write a message: to every pending peeker, then to the oldest pending
    /// reader, else into the queue (at the front when `urgent`; dropping
    /// the oldest when `discard` and full). `WouldBlock` when full and not
    /// `discard` (a rendezvous pipe is always full: it completes only by
    /// hand-off); nothing was accepted then.
    #[inline]
    pub(crate) fn write<K: Kernel<Thread = T>>(
        &mut self,
        ring: &mut Store<'_, '_>,
        kernel: &K,
        src: Source<'_, T>,
        discard: bool,
        urgent: bool,
        prio: u8,
    ) -> Result<Attempt<Written>, Status> {
        if self.destroyed {
            return Err(Status::Destroyed);
        }
        if self.closed {
            return Err(Status::Closed);
        }
        let len = src.len();
        if len > ring.msg_size() {
            return Err(Status::TooLarge);
        }
        let rendezvous = ring.capacity() == 0;
        if ring.is_full() && !discard && !(rendezvous && self.waiters.counts().readers > 0) {
            return Ok(Attempt::WouldBlock);
        }
        src.fetch(kernel, ring.staging_mut(len))
            .map_err(|Fault| Status::BadAddress)?;

        // Waiters on a pipe being written to are peekers and readers (a
        // writer waits only on a full pipe, and this write found room or
        // discards) and unsatisfied peek-newers: serve them out of line.
        if self.waiters.len() > 0
            && let Some(written) = self.serve_waiters(ring, kernel, len, rendezvous)
        {
            return Ok(Attempt::Done(written));
        }
        if rendezvous {
            // Every pending reader's buffer faulted: nobody took it.
            return Ok(Attempt::WouldBlock);
        }
        // Counts the message written, and the dropped one if any.
        let dropped_oldest = ring.commit_staged(len, urgent, prio);
        Ok(Attempt::Done(Written {
            dropped_oldest,
            handed_off: false,
        }))
    }

    /// Give the staged message of `len` bytes to every pending peeker it
    /// satisfies, then to the oldest pending reader whose buffer takes it.
    /// `Some` when a reader took it (nothing queued); `None`: queue it. On
    /// a `rendezvous` pipe the peekers get a copy only of a message a
    /// reader took (nothing else is ever accepted).
    #[inline]
    fn serve_waiters<K: Kernel<Thread = T>>(
        &mut self,
        ring: &mut Store<'_, '_>,
        kernel: &K,
        len: usize,
        rendezvous: bool,
    ) -> Option<Written> {
        let seq = ring.next_seq();
        let Self { waiters, .. } = self;
        let msg = ring.staged(len);
        let serve_peekers = |waiters: &mut WaitQueue<T>| {
            waiters.drain_peekers(
                |op| peek_wants(op, seq),
                |peeker, op| deliver_op(kernel, peeker, op, msg, seq),
            );
        };
        if !rendezvous {
            serve_peekers(waiters);
        }
        while let Some((index, _)) = waiters.first(PendingOp::is_read) {
            // A withdrawn select member is freed here; try the next.
            if !waiters.claim(index) {
                continue;
            }
            let Some(reader) = waiters.get(index) else {
                continue;
            };
            match deliver_op(kernel, &reader.thread, &reader.op, msg, seq) {
                Status::Ok => {
                    waiters.finish_claimed(index, Status::Ok);
                    if rendezvous {
                        serve_peekers(waiters);
                    }
                    let numbered = ring.count_handed_off();
                    debug_assert_eq!(numbered, seq);
                    return Some(Written {
                        dropped_oldest: false,
                        handed_off: true,
                    });
                }
                // The reader's buffer is bad: it alone fails; the message
                // goes on to the next reader or the queue.
                status => {
                    waiters.finish_claimed(index, status);
                }
            }
        }
        None
    }

    /// Copy the oldest message to `sink`, and when `consume`, remove it and
    /// admit the oldest pending writer into the freed slot. `WouldBlock`
    /// when empty; nothing changed then. On a closed pipe an empty queue is
    /// `Closed`. A read of a rendezvous pipe takes the oldest pending
    /// writer's message straight into `sink`.
    #[inline(always)]
    pub(crate) fn read<K: Kernel<Thread = T>>(
        &mut self,
        ring: &mut Store<'_, '_>,
        kernel: &K,
        sink: Sink<'_, T>,
        consume: bool,
    ) -> Result<Attempt<Received>, Status> {
        if self.destroyed {
            return Err(Status::Destroyed);
        }
        if let Sink::Kernel(buf) = &sink
            && buf.len() < ring.msg_size()
        {
            return Err(Status::BadParam);
        }
        let Some((msg, seq)) = ring.get(0) else {
            if consume && ring.capacity() == 0 && self.waiters.counts().writers > 0 {
                return self.rendezvous(ring, kernel, sink);
            }
            return if self.closed {
                Err(Status::Closed)
            } else {
                Ok(Attempt::WouldBlock)
            };
        };
        let len = msg.len();
        sink.deliver(kernel, msg, seq)
            .map_err(|Fault| Status::BadAddress)?;
        if consume {
            // Counts the message read.
            ring.pop_front();
            if self.waiters.len() > 0 {
                self.admit_writers(ring, kernel);
            }
        }
        Ok(Attempt::Done(Received { len, seq }))
    }

    /// A read of a rendezvous pipe: the oldest pending writer whose buffer
    /// can be read hands its message to `sink` (a writer whose buffer
    /// faults is woken with `BadAddress`; a `sink` that faults fails the
    /// read and leaves the writer pending). Pending peekers get a copy.
    #[cold]
    fn rendezvous<K: Kernel<Thread = T>>(
        &mut self,
        ring: &mut Store<'_, '_>,
        kernel: &K,
        sink: Sink<'_, T>,
    ) -> Result<Attempt<Received>, Status> {
        loop {
            let Some((index, _)) = self.waiters.first(PendingOp::is_write) else {
                return Ok(Attempt::WouldBlock);
            };
            if !self.waiters.claim(index) {
                continue;
            }
            let Some(writer) = self.waiters.get(index) else {
                continue;
            };
            let PendingOp::Write { buf, len, .. } = writer.op else {
                return Ok(Attempt::WouldBlock);
            };
            let copied = kernel.copy_from_user(&writer.thread, buf, ring.staging_mut(len));
            if copied.is_err() {
                self.waiters.finish_claimed(index, Status::BadAddress);
                continue;
            }
            let seq = ring.next_seq();
            let msg = ring.staged(len);
            // A sink that faults fails this read. A plain writer stays
            // pending. A select member cannot: its claim withdrew the other
            // members, the one its select's ticket names among them, so no
            // cancel could reach it; its select ends as a select's own
            // write does when every reader faulted (tried, nobody took it).
            if sink.deliver(kernel, msg, seq).is_err() {
                if writer.member.is_some() {
                    self.waiters.finish_claimed(index, Status::Full);
                }
                return Err(Status::BadAddress);
            }
            self.waiters.finish_claimed(index, Status::Ok);
            self.waiters.drain_peekers(
                |op| peek_wants(op, seq),
                |peeker, op| deliver_op(kernel, peeker, op, msg, seq),
            );
            ring.count_handed_off();
            return Ok(Attempt::Done(Received { len, seq }));
        }
    }

    /// Copy the queued message `index` places from the front (0: the
    /// oldest) to `sink`, without taking it. `Empty` past the end (`Closed`
    /// when the pipe is closed and empty). Never blocks.
    pub(crate) fn peek_at<K: Kernel<Thread = T>>(
        &mut self,
        ring: &mut Store<'_, '_>,
        kernel: &K,
        sink: Sink<'_, T>,
        index: usize,
    ) -> Result<Received, Status> {
        if self.destroyed {
            return Err(Status::Destroyed);
        }
        if let Sink::Kernel(buf) = &sink
            && buf.len() < ring.msg_size()
        {
            return Err(Status::BadParam);
        }
        let Some((msg, seq)) = ring.get(index) else {
            return Err(if self.closed && ring.is_empty() {
                Status::Closed
            } else {
                Status::Empty
            });
        };
        let len = msg.len();
        sink.deliver(kernel, msg, seq)
            .map_err(|Fault| Status::BadAddress)?;
        Ok(Received { len, seq })
    }

    /// Copy the first queued message (in read order) numbered above
    /// `after` to `sink`, without taking it. `WouldBlock` when there is
    /// none (`Closed` on a closed pipe: no write can bring one).
    pub(crate) fn peek_newer<K: Kernel<Thread = T>>(
        &mut self,
        ring: &mut Store<'_, '_>,
        kernel: &K,
        sink: Sink<'_, T>,
        after: u64,
    ) -> Result<Attempt<Received>, Status> {
        if self.destroyed {
            return Err(Status::Destroyed);
        }
        if let Sink::Kernel(buf) = &sink
            && buf.len() < ring.msg_size()
        {
            return Err(Status::BadParam);
        }
        let Some((msg, seq)) = ring.first_newer(after) else {
            return if self.closed {
                Err(Status::Closed)
            } else {
                Ok(Attempt::WouldBlock)
            };
        };
        let len = msg.len();
        sink.deliver(kernel, msg, seq)
            .map_err(|Fault| Status::BadAddress)?;
        Ok(Attempt::Done(Received { len, seq }))
    }

    /// Fill free slots from pending writers, oldest first; a writer whose
    /// buffer faults is woken with `BadAddress` and the next one is tried.
    /// Each admitted message is offered to pending peek-newers.
    #[cold]
    fn admit_writers<K: Kernel<Thread = T>>(&mut self, ring: &mut Store<'_, '_>, kernel: &K) {
        while !ring.is_full() {
            let Some((index, _)) = self.waiters.first(PendingOp::is_write) else {
                return;
            };
            if !self.waiters.claim(index) {
                continue;
            }
            let Some(writer) = self.waiters.get(index) else {
                return;
            };
            let PendingOp::Write {
                buf,
                len,
                urgent,
                prio,
            } = writer.op
            else {
                return;
            };
            let copied = kernel.copy_from_user(&writer.thread, buf, ring.staging_mut(len));
            let status = deliver_status(copied);
            if status == Status::Ok {
                let seq = ring.next_seq();
                let msg = ring.staged(len);
                self.waiters.drain_peekers(
                    |op| peek_wants(op, seq),
                    |peeker, op| deliver_op(kernel, peeker, op, msg, seq),
                );
                // Counts the message written.
                ring.commit_staged(len, urgent, prio);
            }
            self.waiters.finish_claimed(index, status);
        }
    }

    /// Drop every queued message (counted in `purged`), then admit pending
    /// writers while room remains; pending readers stay pending. Returns
    /// how many messages were dropped.
    pub(crate) fn purge<K: Kernel<Thread = T>>(
        &mut self,
        ring: &mut Store<'_, '_>,
        kernel: &K,
    ) -> Result<usize, Status> {
        if self.destroyed {
            return Err(Status::Destroyed);
        }
        let dropped = ring.clear();
        self.purged += dropped as u64;
        if self.waiters.len() > 0 {
            self.admit_writers(ring, kernel);
        }
        Ok(dropped)
    }

    /// Close: every pending operation ends with `Closed` (a pending writer
    /// can no longer write; a pending reader or peeker waits on an empty
    /// pipe, or for a message newer than any, which no write can bring).
    /// Queued messages stay to be drained. Closing twice is `Closed`.
    pub(crate) fn close(&mut self) -> Result<(), Status> {
        if self.destroyed {
            return Err(Status::Destroyed);
        }
        if self.closed {
            return Err(Status::Closed);
        }
        self.closed = true;
        self.waiters.finish_all(Status::Closed);
        Ok(())
    }

    /// Whether a select member `op` of group `own` could complete now,
    /// i.e. [`write`](Self::write) or [`read`](Self::read) would not answer
    /// `WouldBlock` (a failure such as `Closed` completes it too).
    pub(crate) fn member_ready(
        &self,
        ring: &Store<'_, '_>,
        op: &PendingOp,
        discard: bool,
        own: &crate::Shared<SelectGroup>,
    ) -> bool {
        if self.destroyed || self.closed {
            return true;
        }
        let rendezvous = ring.capacity() == 0;
        match op {
            PendingOp::Write { .. } => {
                !ring.is_full()
                    || discard
                    || (rendezvous && self.waiters.has_live(PendingOp::is_read, Some(own)))
            }
            PendingOp::Read { .. } => {
                !ring.is_empty()
                    || (rendezvous && self.waiters.has_live(PendingOp::is_write, Some(own)))
            }
            PendingOp::Peek { .. } => !ring.is_empty(),
        }
    }

    /// Record `thread` as waiting to do `op`; returns its wait record and
    /// operation number. On error nothing changed.
    pub(crate) fn enqueue(
        &mut self,
        thread: T,
        priority: Priority,
        op: PendingOp,
        by_priority: bool,
        member: Option<Member>,
    ) -> Result<(RecordIndex, u64), Status> {
        self.waiters
            .push(thread, priority, op, by_priority, member)
            .map_err(|_| Status::NoMemory)
    }

    /// End `thread`'s pending operation number `seq` in record `slot` with
    /// `status` (it did not happen). Returns whether it was still pending.
    pub(crate) fn cancel(
        &mut self,
        thread: &T,
        slot: RecordIndex,
        seq: u64,
        status: Status,
    ) -> bool {
        match self.waiters.find(slot, seq, thread) {
            // A select member cancels its whole select, unless the select
            // completed elsewhere (then this record was withdrawn).
            Some(index) => self.waiters.finish_group(index, status),
            None => false,
        }
    }

    /// Mark destroyed, free the message store and end every pending
    /// operation with `Destroyed`. Returns how many messages were released.
    pub(crate) fn destroy(&mut self, ring: &mut Store<'_, '_>) -> usize {
        self.destroyed = true;
        self.waiters.finish_all(Status::Destroyed);
        ring.destroy()
    }
}

fn deliver_status(copied: Result<(), Fault>) -> Status {
    match copied {
        Ok(()) => Status::Ok,
        Err(Fault) => Status::BadAddress,
    }
}
