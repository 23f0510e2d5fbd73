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

use alloc::boxed::Box;

use lock_api::{Mutex, RawMutex};

use crate::kernel::{Caller, Fault, Kernel, Priority, ProcessId, UserAddr};
use crate::ring::{Held, Miss, Ring};
use crate::wait::{Chain, PendingOp, RecordIndex, WaitQueue, Wake};
use crate::{PipeFlags, PipeId, Status};

/// A pipe, shared between the registry and any handles to it.
///
/// Obtain one with [`Ipcm::open`](crate::Ipcm::open); pass it to the
/// manager's operations instead of an id to skip the registry lookup.
pub struct Pipe<R: RawMutex, T> {
    id: PipeId,
    name: Option<Box<str>>,
    owner: ProcessId,
    flags: PipeFlags,
    msg_size: usize,
    max_msgs: usize,
    /// The message store; its ends are taken lock-free or under `state`.
    pub(crate) ring: Ring,
    pub(crate) state: Mutex<R, PipeState<T>>,
}

impl<R: RawMutex, T> Pipe<R, T> {
    pub(crate) fn new(
        id: PipeId,
        name: Option<Box<str>>,
        owner: ProcessId,
        flags: PipeFlags,
        ring: Ring,
    ) -> Self {
        Pipe {
            id,
            name,
            owner,
            flags,
            msg_size: ring.msg_size(),
            max_msgs: ring.capacity(),
            ring,
            state: Mutex::new(PipeState::new()),
        }
    }

    /// The pipe's id (stays the same for its whole life, never reused).
    #[must_use]
    pub fn id(&self) -> PipeId {
        self.id
    }

    /// The pipe's name, if it was created with one.
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The process that created the pipe.
    #[must_use]
    pub fn owner(&self) -> ProcessId {
        self.owner
    }

    /// The flags the pipe was created with.
    #[must_use]
    pub fn flags(&self) -> PipeFlags {
        self.flags
    }

    /// The largest message, in bytes.
    #[must_use]
    pub fn msg_size(&self) -> usize {
        self.msg_size
    }

    /// How many messages the pipe holds when full.
    #[must_use]
    pub fn max_msgs(&self) -> usize {
        self.max_msgs
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
        let restricted = restriction.is_empty() || self.flags.intersects(restriction);
        match caller {
            Caller::Kernel => Ok(()),
            Caller::Thread(_) if !restricted => Ok(()),
            Caller::Thread(thread) if kernel.process_of(thread) == self.owner => Ok(()),
            Caller::Thread(_) => Err(Status::Denied),
        }
    }

    /// [`check_access`](Self::check_access) for a caller whose process was
    /// asked already (`None`: the kernel).
    pub(crate) fn check_owner(&self, process: Option<ProcessId>) -> Result<(), Status> {
        match process {
            None => Ok(()),
            Some(process) if process == self.owner => Ok(()),
            Some(_) => Err(Status::Denied),
        }
    }
    /// Write without the lock, when the pipe has no waiter. `None`: take
    /// the lock (the pipe has or may be getting a waiter, or is destroyed;
    /// or it is full, does not `discard`, and the caller `may_block`);
    /// nothing changed then. A full pipe is `Full` for a caller that does
    /// not block.
    #[inline(always)]
    pub(crate) fn fast_write<K: Kernel<Thread = T>>(
        &self,
        kernel: &K,
        src: &Source<'_, T>,
        discard: bool,
        may_block: bool,
    ) -> Option<Result<Written, Status>> {
        let len = src.len();
        if len > self.msg_size {
            // `TooLarge`, unless destroyed: the slow path says which.
            return None;
        }
        let mut writer = match self.ring.writer(discard) {
            Ok(writer) => writer,
            Err(Miss::Full) if !may_block => return Some(Err(Status::Full)),
            Err(_) => return None,
        };
        debug_assert!(discard || !writer.is_full());
        if src.fetch(kernel, writer.staging_mut(len)).is_err() {
            return Some(Err(Status::BadAddress));
        }
        let dropped_oldest = writer.commit();
        Some(Ok(Written {
            dropped_oldest,
            handed_off: false,
        }))
    }

    /// Read (`consume`) or peek without the lock, like
    /// [`fast_write`](Self::fast_write); an empty pipe is `Empty` for a
    /// caller that does not block.
    #[inline(always)]
    pub(crate) fn fast_read<K: Kernel<Thread = T>>(
        &self,
        kernel: &K,
        sink: Sink<'_, T>,
        consume: bool,
        may_block: bool,
    ) -> Option<Result<usize, Status>> {
        if let Sink::Kernel(buf) = &sink
            && buf.len() < self.msg_size
        {
            // `BadParam`, unless destroyed: the slow path says which.
            return None;
        }
        let reader = match self.ring.reader() {
            Ok(reader) => reader,
            Err(Miss::Empty) if !may_block => return Some(Err(Status::Empty)),
            Err(_) => return None,
        };
        let msg = reader.front();
        let len = msg.len();
        match sink {
            Sink::User {
                thread,
                buf,
                len_out,
            } => {
                if deliver(kernel, thread, buf, len_out, msg).is_err() {
                    return Some(Err(Status::BadAddress));
                }
            }
            Sink::Kernel(buf) => buf[..len].copy_from_slice(msg),
        }
        if consume {
            reader.pop();
        }
        Some(Ok(len))
    }
}

impl<R: RawMutex, T> crate::slots::HasId for Pipe<R, T> {
    fn id(&self) -> PipeId {
        self.id
    }
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
    /// The message to `buf`, its length (a native `usize`) to `len_out`, in
    /// `thread`'s address space.
    User {
        thread: &'a T,
        buf: UserAddr,
        len_out: UserAddr,
    },
    /// A kernel buffer of at least `msg_size` bytes.
    Kernel(&'a mut [u8]),
}

/// Copy `msg` and its length into `thread`'s address space.
#[inline]
fn deliver<K: Kernel>(
    kernel: &K,
    thread: &K::Thread,
    buf: UserAddr,
    len_out: UserAddr,
    msg: &[u8],
) -> Result<(), Fault> {
    kernel.copy_to_user(thread, buf, msg)?;
    kernel.copy_to_user(thread, len_out, &msg.len().to_ne_bytes())
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
}

impl<T> PipeState<T> {
    fn new() -> Self {
        PipeState {
            waiters: WaitQueue::new(),
            destroyed: false,
        }
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

    /// Whether fast operations must take the lock: some thread waits.
    pub(crate) fn has_waiters(&self) -> bool {
        self.waiters.len() > 0
    }

    pub(crate) fn info(
        &self,
        ring: &Held<'_>,
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
        }
    }

    /// Write a message: to every pending peeker, then to the oldest pending
    /// reader, else into the queue (dropping the oldest when `discard` and
    /// full). `WouldBlock` when full and not `discard`; nothing changed then.
    #[inline]
    pub(crate) fn write<K: Kernel<Thread = T>>(
        &mut self,
        ring: &mut Held<'_>,
        kernel: &K,
        src: Source<'_, T>,
        discard: bool,
    ) -> Result<Attempt<Written>, Status> {
        if self.destroyed {
            return Err(Status::Destroyed);
        }
        let len = src.len();
        if len > ring.msg_size() {
            return Err(Status::TooLarge);
        }
        if ring.is_full() && !discard {
            return Ok(Attempt::WouldBlock);
        }
        src.fetch(kernel, ring.staging_mut(len))
            .map_err(|Fault| Status::BadAddress)?;

        // Waiters on a pipe being written to are peekers and readers (a
        // writer waits only on a full pipe, and this write found room or
        // discards): serve them out of line.
        if self.waiters.len() > 0
            && let Some(written) = self.serve_waiters(ring, kernel, len)
        {
            return Ok(Attempt::Done(written));
        }
        // Counts the message written, and the dropped one if any.
        let dropped_oldest = ring.commit_staged(len);
        Ok(Attempt::Done(Written {
            dropped_oldest,
            handed_off: false,
        }))
    }

    /// Give the staged message of `len` bytes to every pending peeker,
    /// then to the oldest pending reader whose buffer takes it. `Some`
    /// when a reader took it (nothing queued); `None`: queue it.
    #[cold]
    fn serve_waiters<K: Kernel<Thread = T>>(
        &mut self,
        ring: &mut Held<'_>,
        kernel: &K,
        len: usize,
    ) -> Option<Written> {
        let Self { waiters, .. } = self;
        let msg = ring.staged(len);
        waiters.drain_peekers(|peeker, buf, len_out| {
            deliver_status(deliver(kernel, peeker, buf, len_out, msg))
        });
        // Readers wait only on an empty pipe, so what is left is readers.
        while let Some((index, reader)) = waiters.front() {
            let PendingOp::Read { buf, len_out } = reader.op else {
                debug_assert!(false, "a writer waits on a pipe that is not full");
                waiters.finish(index, Status::BadParam);
                continue;
            };
            match deliver(kernel, &reader.thread, buf, len_out, msg) {
                Ok(()) => {
                    ring.count_handed_off();
                    waiters.finish(index, Status::Ok);
                    return Some(Written {
                        dropped_oldest: false,
                        handed_off: true,
                    });
                }
                // The reader's buffer is bad: it alone fails; the message
                // goes on to the next reader or the queue.
                Err(Fault) => waiters.finish(index, Status::BadAddress),
            }
        }
        None
    }

    /// Copy the oldest message to `sink`, and when `consume`, remove it and
    /// admit the oldest pending writer into the freed slot. `WouldBlock`
    /// when empty; nothing changed then.
    #[inline]
    pub(crate) fn read<K: Kernel<Thread = T>>(
        &mut self,
        ring: &mut Held<'_>,
        kernel: &K,
        sink: Sink<'_, T>,
        consume: bool,
    ) -> Result<Attempt<usize>, Status> {
        if self.destroyed {
            return Err(Status::Destroyed);
        }
        if let Sink::Kernel(buf) = &sink
            && buf.len() < ring.msg_size()
        {
            return Err(Status::BadParam);
        }
        let Some(msg) = ring.front() else {
            return Ok(Attempt::WouldBlock);
        };
        let len = msg.len();
        match sink {
            Sink::User {
                thread,
                buf,
                len_out,
            } => deliver(kernel, thread, buf, len_out, msg).map_err(|Fault| Status::BadAddress)?,
            Sink::Kernel(buf) => buf[..len].copy_from_slice(msg),
        }
        if consume {
            // Counts the message read.
            ring.pop_front();
            if self.waiters.len() > 0 {
                self.admit_writers(ring, kernel);
            }
        }
        Ok(Attempt::Done(len))
    }

    /// Fill free slots from pending writers, oldest first; a writer whose
    /// buffer faults is woken with `BadAddress` and the next one is tried.
    #[cold]
    fn admit_writers<K: Kernel<Thread = T>>(&mut self, ring: &mut Held<'_>, kernel: &K) {
        while !ring.is_full() {
            let Some((index, writer)) = self.waiters.front() else {
                return;
            };
            let PendingOp::Write { buf, len } = writer.op else {
                debug_assert!(false, "a reader waits on a pipe that is not empty");
                self.waiters.finish(index, Status::BadParam);
                continue;
            };
            let copied = kernel.copy_from_user(&writer.thread, buf, ring.staging_mut(len));
            let status = deliver_status(copied);
            if status == Status::Ok {
                // Counts the message written.
                ring.commit_staged(len);
            }
            self.waiters.finish(index, status);
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
    ) -> Result<(RecordIndex, u64), Status> {
        self.waiters
            .push(thread, priority, op, by_priority)
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
            Some(index) => {
                self.waiters.finish(index, status);
                true
            }
            None => false,
        }
    }

    /// Mark destroyed, free the message store and end every pending
    /// operation with `Destroyed`. Returns how many messages were released.
    pub(crate) fn destroy(&mut self, ring: &mut Held<'_>) -> usize {
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
