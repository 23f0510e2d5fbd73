//! The IPC manager: the registry of pipes, who is waiting where, and the
//! locking around each pipe's state machine.
//!
//! Locks: the registry lock (create, destroy, lookup), one lock per pipe,
//! and one lock per shard of the pending-thread table ([`crate::pending`]).
//! The only nesting is pipe → shard (when a thread blocks); kernel hooks other than the bounded copies run with no lock held:
//! `process_of` and `priority_of` are asked before any lock is taken, and
//! `wake` after the pipe's lock is released (DESIGN §8).
//!
//! # Wake before return
//! A call that finishes pending operations (a write serving readers, a read
//! admitting writers, a cancel, a destroy) collects their wait records in
//! its own chain while it holds the pipe's lock (see [`crate::wait`]). It
//! takes the chain before unlocking, then takes its records back a small
//! on-stack batch at a time and wakes each thread, and only then returns.
//! No other call can reach those records, so a call never wakes another's
//! operations and never leaves its own to someone else; and nothing is
//! allocated: each record was reserved when its thread blocked.

use core::ops::Deref;

use lock_api::{Mutex, MutexGuard, RawMutex};

use crate::handle::PipeHandle;
use crate::kernel::{Caller, Kernel, UserAddr};
use crate::pending::PendingThreads;
use crate::pipe::{Attempt, Pipe, PipeInfo, PipeState, Received, Sink, Source, Written};
use crate::prio::PrioQueue;
use crate::registry::{Registry, validate_name};
use crate::ring::Ring;
use crate::slots::SlotTable;
use crate::store::Store;
use crate::wait::{Chain, PendingOp, Ticket, Wake};
use crate::{PipeFlags, PipeId, Priority, Status};

mod local;
mod ops;
mod prio;
mod select;

use prio::{check_prio, with_store};

/// How many finished operations a call takes back under one lock
/// acquisition before it wakes them (on its stack, so kept small).
const WAKE_BATCH: usize = 8;

/// A handle to a pipe of a manager with kernel `K`; see [`Ipcm::open`].
pub type PipeRef<R, K> = PipeHandle<R, <K as Kernel>::Thread>;

/// A pipe found in the by-id table: its header, the id it was found by,
/// and the status a call ends with if the header no longer holds that
/// pipe when the call commits (`NotFound` by id, `Destroyed` by handle).
/// Derefs to the header; [`id`](Self::id) is the id looked up.
pub(crate) struct Opened<'a, R: RawMutex, T> {
    pipe: &'a Pipe<R, T>,
    id: PipeId,
    gone: Status,
}

impl<R: RawMutex, T> Clone for Opened<'_, R, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R: RawMutex, T> Copy for Opened<'_, R, T> {}

impl<R: RawMutex, T> Opened<'_, R, T> {
    /// The id the pipe was looked up by (the header's may have changed).
    #[inline(always)]
    pub(crate) fn id(&self) -> PipeId {
        self.id
    }

    /// Whether the header still holds the pipe looked up.
    #[inline(always)]
    fn is_current(&self) -> bool {
        self.pipe.holds(self.id)
    }
}

impl<R: RawMutex, T> Deref for Opened<'_, R, T> {
    type Target = Pipe<R, T>;

    #[inline(always)]
    fn deref(&self) -> &Pipe<R, T> {
        self.pipe
    }
}

/// The outcome of a call that may block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "a Blocked thread must be parked until the kernel's wake hook is called for it"]
pub enum Progress<T> {
    /// The operation completed now.
    Done(T),
    /// The operation is pending: park the thread; the IPC manager calls
    /// [`Kernel::wake`] for it exactly once with the final status (for a
    /// read, the message and its length are in the thread's buffers by
    /// then). The ticket names this operation for
    /// [`Ipcm::cancel_op`] (e.g. when its deadline passes).
    Blocked(Ticket),
}

/// The type of the `would_block` closure of a form that never blocks
/// (always `None`).
type NeverBlocks<R, K, P> = fn(
    &Pipe<R, <K as Kernel>::Thread>,
    &mut PipeState<<K as Kernel>::Thread>,
    Priority,
) -> Result<P, Status>;

/// Which receive a user read performs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum How {
    Read,
    Peek,
    PeekNewer(u64),
}

/// A receive and where its sequence number goes.
#[derive(Clone, Copy, Debug)]
struct Receive {
    how: How,
    seq_out: Option<UserAddr>,
}

impl From<How> for Receive {
    fn from(how: How) -> Self {
        Receive { how, seq_out: None }
    }
}

impl Receive {
    /// The pending operation this receive waits as.
    fn pending(self, buf: UserAddr, len_out: UserAddr) -> PendingOp {
        let seq_out = self.seq_out;
        match self.how {
            How::Read => PendingOp::Read {
                buf,
                len_out,
                seq_out,
            },
            How::Peek => PendingOp::Peek {
                buf,
                len_out,
                seq_out,
                after: None,
            },
            How::PeekNewer(after) => PendingOp::Peek {
                buf,
                len_out,
                seq_out,
                after: Some(after),
            },
        }
    }
}

/// What a kernel call that may wake threads did, with the wake feedback
/// an interrupt handler needs (DESIGN §9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Woke<T> {
    /// The call's own result.
    pub result: T,
    /// The call woke a thread whose priority is above the one given (the
    /// interrupted thread's): the handler should reschedule on return.
    pub higher_priority: bool,
}

/// Why a pending operation is being cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelReason {
    /// Its deadline passed: woken with [`Status::TimedOut`].
    TimedOut,
    /// The thread is being killed or interrupted: woken with
    /// [`Status::Cancelled`].
    Cancelled,
}

impl CancelReason {
    fn status(self) -> Status {
        match self {
            CancelReason::TimedOut => Status::TimedOut,
            CancelReason::Cancelled => Status::Cancelled,
        }
    }
}

/// Which pipe an operation is for: an id or a handle. Both are looked up
/// the same way (one lock-free look at the by-id table).
pub enum Target<'a, R: RawMutex, T> {
    /// Look the pipe up by id; a stale or unknown id is `NotFound`.
    Id(PipeId),
    /// A pipe already opened; a destroyed one is `Destroyed`.
    Pipe(&'a PipeHandle<R, T>),
}

impl<R: RawMutex, T> From<PipeId> for Target<'_, R, T> {
    fn from(id: PipeId) -> Self {
        Target::Id(id)
    }
}

impl<'a, R: RawMutex, T> From<&'a PipeHandle<R, T>> for Target<'a, R, T> {
    fn from(pipe: &'a PipeHandle<R, T>) -> Self {
        Target::Pipe(pipe)
    }
}

/// The IPC manager of one kernel.
///
/// `R` is the kernel's lock (a spinlock in a kernel, a parking lock in a
/// hosted runtime); `K` is the kernel's hooks. There is no global state: a
/// kernel creates one manager (the C ABI keeps one in a static).
pub struct Ipcm<R: RawMutex, K: Kernel> {
    kernel: K,
    /// Names, free slots and generations; taken by create, destroy and
    /// lookup by name only.
    registry: Mutex<R, Registry>,
    /// The pipe headers by slot, read without a lock.
    by_id: SlotTable<Pipe<R, K::Thread>>,
    /// The pending operation of each thread that has one, sharded by
    /// thread. An entry leaves just before its thread is woken.
    pending: PendingThreads<R, K::Thread>,
}

impl<R: RawMutex, K: Kernel> Ipcm<R, K> {
    /// A manager with no pipes, using `kernel`'s hooks. Allocates its
    /// pending-thread table (a few KiB; aborts only if that fails, at boot).
    pub fn new(kernel: K) -> Self {
        Ipcm {
            kernel,
            registry: Mutex::new(Registry::new()),
            by_id: SlotTable::new(Pipe::vacant),
            pending: PendingThreads::new(),
        }
    }

    /// The kernel hooks this manager uses.
    pub fn kernel(&self) -> &K {
        &self.kernel
    }

    /// Create a pipe of `max_msgs` messages of at most `msg_size` bytes,
    /// owned by `caller`'s process. Its whole store is allocated now.
    ///
    /// `max_msgs` 0 makes a rendezvous pipe (DESIGN §9): a write completes
    /// only by hand-off to a pending reader (a try-write with none is
    /// `Full`), and a read takes a pending writer's message.
    ///
    /// # Errors
    /// `BadParam` (zero `msg_size`, `msg_size * max_msgs` overflow, bad
    /// name, `DISCARD_OLDEST` on a rendezvous pipe: it has nothing to
    /// drop), `NameTaken`, `NoMemory`. Nothing is created then.
    pub fn create(
        &self,
        caller: Caller<'_, K::Thread>,
        name: Option<&str>,
        msg_size: usize,
        max_msgs: usize,
        flags: PipeFlags,
    ) -> Result<PipeId, Status> {
        if let Some(name) = name {
            validate_name(name)?;
        }
        let owner = match caller {
            Caller::Kernel => crate::ProcessId::KERNEL,
            Caller::Thread(thread) => self.kernel.process_of(thread),
        };
        if max_msgs == 0 && flags.contains(PipeFlags::DISCARD_OLDEST) {
            return Err(Status::BadParam);
        }
        // Allocate the store before taking the registry lock. A priority
        // pipe's messages live in their own store; its ring is the
        // smallest one and stays parked and empty.
        let (store, prio) = if flags.contains(PipeFlags::PRIORITY_MESSAGES) {
            let prio = PrioQueue::new(msg_size, max_msgs)?;
            (Ring::allocate(msg_size, 0)?, Some(prio))
        } else {
            (Ring::allocate(msg_size, max_msgs)?, None)
        };
        let mut registry = self.registry.lock();
        registry.insert(
            name,
            |index| self.by_id.reserve(index).map(drop),
            |id| {
                let header = self.by_id.get(id.index()).ok_or(Status::NoMemory)?;
                // A free slot's header is vacant (a destroy releases the
                // slot only after vacating it).
                header
                    .revive(id, name, owner, flags, store, prio)
                    .map_err(|_| Status::NoMemory)
            },
        )
    }

    /// The id of the live pipe called `name`.
    ///
    /// # Errors
    /// `NotFound`; `BadParam` for a name no pipe could have.
    pub fn lookup_by_name(&self, name: &str) -> Result<PipeId, Status> {
        validate_name(name)?;
        self.registry
            .lock()
            .id_by_name(name)
            .ok_or(Status::NotFound)
    }

    /// A handle to the live pipe `id`, to pass as a [`Target`] or to query.
    ///
    /// # Errors
    /// `NotFound` for an unknown or stale id.
    pub fn open(&self, id: PipeId) -> Result<PipeRef<R, K>, Status> {
        let pipe = self.find(id, Status::NotFound)?;
        let header = self.by_id.pin(id.index()).ok_or(Status::NotFound)?;
        // The settings change only under the name's lock, with the id.
        let name = pipe.name.lock();
        if !pipe.is_current() {
            return Err(Status::NotFound);
        }
        Ok(PipeHandle::new(
            id,
            header,
            *name,
            pipe.owner(),
            pipe.flags(),
            pipe.msg_size(),
            pipe.max_msgs(),
        ))
    }

    /// The header holding pipe `id` now, lock-free; `gone` if none does.
    #[inline(always)]
    fn find(&self, id: PipeId, gone: Status) -> Result<Opened<'_, R, K::Thread>, Status> {
        match self.by_id.get(id.index()) {
            // A vacant header's id word matches no id that leads to it
            // (`pipe::vacant_word`).
            Some(pipe) if pipe.holds(id) => Ok(Opened { pipe, id, gone }),
            _ => Err(gone),
        }
    }

    /// How many pipes exist.
    pub fn pipe_count(&self) -> usize {
        self.registry.lock().len()
    }

    /// Whether `thread` has a pending operation (one that has not yet been
    /// handed to [`Kernel::wake`]).
    pub fn is_pending(&self, thread: &K::Thread) -> bool {
        self.pending.contains(thread)
    }

    /// Use every lock of the pending-thread state once from this thread
    /// (loom builds only): a runtime whose loom locks are made on first use
    /// calls it in the thread that built the manager, before sharing it.
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn touch_locks(&self) {
        self.pending.touch();
    }

    /// Write `len` bytes at `src` in `thread`'s address space as one message.
    /// Blocks (returns [`Progress::Blocked`]) while the pipe is full, unless
    /// it discards the oldest message.
    ///
    /// # Errors
    /// `NotFound`/`Destroyed`, `TooLarge`, `Denied`, `BadAddress` (nothing
    /// written), `AlreadyPending`, `NoMemory` (could not record the wait).
    #[inline]
    pub fn write<'a>(
        &self,
        thread: &K::Thread,
        pipe: impl Into<Target<'a, R, K::Thread>>,
        src: UserAddr,
        len: usize,
    ) -> Result<Progress<Written>, Status>
    where
        R: 'a,
        K::Thread: 'a,
    {
        self.user_write(
            thread,
            pipe.into(),
            src,
            len,
            false,
            0,
            Progress::Done,
            Some(|pipe: &_, state: &mut _, priority| {
                self.block(
                    pipe,
                    state,
                    thread,
                    PendingOp::Write {
                        buf: src,
                        len,
                        urgent: false,
                        prio: 0,
                    },
                    priority,
                )
            }),
        )
    }

    /// [`write`](Self::write) that never blocks: `Full` instead.
    ///
    /// # Errors
    /// As `write`, plus `Full`.
    #[inline]
    pub fn try_write<'a>(
        &self,
        thread: &K::Thread,
        pipe: impl Into<Target<'a, R, K::Thread>>,
        src: UserAddr,
        len: usize,
    ) -> Result<Written, Status>
    where
        R: 'a,
        K::Thread: 'a,
    {
        self.user_write(
            thread,
            pipe.into(),
            src,
            len,
            false,
            0,
            |written| written,
            None::<NeverBlocks<R, K, Written>>,
        )
    }

    /// Take the oldest message into `dst` (which must hold `msg_size`
    /// bytes) in `thread`'s address space and store its length as a native
    /// `usize` at `len_out`. Blocks while the pipe is empty.
    ///
    /// # Errors
    /// `NotFound`/`Destroyed`, `Denied`, `BadAddress` (nothing consumed),
    /// `AlreadyPending`, `NoMemory`.
    #[inline]
    pub fn read<'a>(
        &self,
        thread: &K::Thread,
        pipe: impl Into<Target<'a, R, K::Thread>>,
        dst: UserAddr,
        len_out: UserAddr,
    ) -> Result<Progress<usize>, Status>
    where
        R: 'a,
        K::Thread: 'a,
    {
        let op = PendingOp::Read {
            buf: dst,
            len_out,
            seq_out: None,
        };
        self.user_read(
            thread,
            pipe.into(),
            dst,
            len_out,
            How::Read,
            |received: Received| Progress::Done(received.len),
            Some(|pipe: &_, state: &mut _, priority| self.block(pipe, state, thread, op, priority)),
        )
    }

    /// [`read`](Self::read) that never blocks: `Empty` instead.
    ///
    /// # Errors
    /// As `read`, plus `Empty`.
    #[inline]
    pub fn try_read<'a>(
        &self,
        thread: &K::Thread,
        pipe: impl Into<Target<'a, R, K::Thread>>,
        dst: UserAddr,
        len_out: UserAddr,
    ) -> Result<usize, Status>
    where
        R: 'a,
        K::Thread: 'a,
    {
        self.user_read(
            thread,
            pipe.into(),
            dst,
            len_out,
            How::Read,
            |received: Received| received.len,
            None::<NeverBlocks<R, K, usize>>,
        )
    }

    /// Copy the oldest message without taking it, like [`read`](Self::read).
    /// Blocks while the pipe is empty; the next write gives every pending
    /// peeker a copy.
    ///
    /// # Errors
    /// As `read`.
    #[inline]
    pub fn peek<'a>(
        &self,
        thread: &K::Thread,
        pipe: impl Into<Target<'a, R, K::Thread>>,
        dst: UserAddr,
        len_out: UserAddr,
    ) -> Result<Progress<usize>, Status>
    where
        R: 'a,
        K::Thread: 'a,
    {
        let op = PendingOp::Peek {
            buf: dst,
            len_out,
            seq_out: None,
            after: None,
        };
        self.user_read(
            thread,
            pipe.into(),
            dst,
            len_out,
            How::Peek,
            |received: Received| Progress::Done(received.len),
            Some(|pipe: &_, state: &mut _, priority| self.block(pipe, state, thread, op, priority)),
        )
    }

    /// [`peek`](Self::peek) that never blocks: `Empty` instead.
    ///
    /// # Errors
    /// As `peek`, plus `Empty`.
    #[inline]
    pub fn try_peek<'a>(
        &self,
        thread: &K::Thread,
        pipe: impl Into<Target<'a, R, K::Thread>>,
        dst: UserAddr,
        len_out: UserAddr,
    ) -> Result<usize, Status>
    where
        R: 'a,
        K::Thread: 'a,
    {
        self.user_read(
            thread,
            pipe.into(),
            dst,
            len_out,
            How::Peek,
            |received: Received| received.len,
            None::<NeverBlocks<R, K, usize>>,
        )
    }

    /// Write `msg` from a kernel buffer. The kernel never blocks.
    ///
    /// # Errors
    /// `NotFound`/`Destroyed`, `TooLarge`, `Full`.
    #[inline]
    pub fn kernel_write<'a>(
        &self,
        pipe: impl Into<Target<'a, R, K::Thread>>,
        msg: &[u8],
    ) -> Result<Written, Status>
    where
        R: 'a,
        K::Thread: 'a,
    {
        self.with_pipe(pipe.into(), |pipe| self.kernel_write_to(pipe, msg))
    }

    /// Take the oldest message into a kernel buffer of at least `msg_size`
    /// bytes; returns its length. The kernel never blocks.
    ///
    /// # Errors
    /// `NotFound`/`Destroyed`, `BadParam` (buffer too short), `Empty`.
    #[inline]
    pub fn kernel_read<'a>(
        &self,
        pipe: impl Into<Target<'a, R, K::Thread>>,
        buf: &mut [u8],
    ) -> Result<usize, Status>
    where
        R: 'a,
        K::Thread: 'a,
    {
        self.kernel_receive(pipe.into(), buf, true).map(|r| r.len)
    }

    /// Copy the oldest message into a kernel buffer without taking it.
    ///
    /// # Errors
    /// As [`kernel_read`](Self::kernel_read).
    #[inline]
    pub fn kernel_peek<'a>(
        &self,
        pipe: impl Into<Target<'a, R, K::Thread>>,
        buf: &mut [u8],
    ) -> Result<usize, Status>
    where
        R: 'a,
        K::Thread: 'a,
    {
        self.kernel_receive(pipe.into(), buf, false).map(|r| r.len)
    }

    /// End `thread`'s pending operation, whatever it is, without doing it
    /// (for a thread being killed): the thread is woken with `TimedOut` or
    /// `Cancelled` before this returns `Ok`, so the kernel may free it
    /// then. If the operation completed first (or there was none), this
    /// returns `NotFound` and changes nothing: each pending operation has
    /// exactly one outcome. A timeout should use [`cancel_op`](Self::cancel_op)
    /// with the operation's ticket instead, so that a late timer cannot
    /// cancel the thread's next operation.
    ///
    /// # Errors
    /// `NotFound`.
    pub fn cancel(&self, thread: &K::Thread, reason: CancelReason) -> Result<(), Status> {
        let ticket = self.pending.ticket(thread).ok_or(Status::NotFound)?;
        self.cancel_op(thread, ticket, reason)
    }

    /// End `thread`'s pending operation named by `ticket` without doing it:
    /// the thread is woken with `TimedOut` or `Cancelled` before this
    /// returns `Ok`. A stale ticket (the operation has an outcome already,
    /// or never was `thread`'s) is `NotFound` and changes nothing, even if
    /// the thread waits for another operation by then.
    ///
    /// # Errors
    /// `NotFound`.
    pub fn cancel_op(
        &self,
        thread: &K::Thread,
        ticket: Ticket,
        reason: CancelReason,
    ) -> Result<(), Status> {
        let pipe = self.find(ticket.pipe(), Status::NotFound)?;
        self.locked(&pipe, |state, _| {
            if state.cancel(thread, ticket.slot(), ticket.seq(), reason.status()) {
                Ok(())
            } else {
                Err(Status::NotFound)
            }
        })
        // Destroyed meanwhile: its waiters were woken by the destroy.
        .map_err(|_| Status::NotFound)
    }

    /// Destroy pipe `id`: every pending operation is woken with
    /// `Destroyed` before this returns, queued messages and the message
    /// store are freed at once (a handle held across it keeps only the
    /// pipe's header), the name is free again and the id is never valid
    /// again. Only the owner process (or the kernel) may destroy.
    ///
    /// # Errors
    /// `NotFound`, `Denied` (nothing changed).
    pub fn destroy(&self, caller: Caller<'_, K::Thread>, id: PipeId) -> Result<(), Status> {
        // No hook under the registry lock: ask the caller's process first.
        let process = match caller {
            Caller::Kernel => None,
            Caller::Thread(thread) => Some(self.kernel.process_of(thread)),
        };
        let pipe = {
            let mut registry = self.registry.lock();
            if !registry.contains(id) {
                return Err(Status::NotFound);
            }
            let pipe = self.find(id, Status::NotFound)?;
            pipe.check_owner(process)?;
            let name = *pipe.name.lock();
            // The slot is not reused before `release` below.
            registry.remove(id, name.as_str());
            pipe
        };
        let destroyed = self.locked(&pipe, |state, ring| {
            state.destroy(ring);
            pipe.vacate();
            Ok(())
        });
        // Every waiter is woken: the header holds nothing of this pipe
        // that any call still needs, so a create may reuse it.
        self.registry.lock().release(id);
        destroyed
    }

    /// A snapshot of the pipe's sizes, flags, contents, waiters and counters.
    ///
    /// # Errors
    /// `NotFound`/`Destroyed`.
    pub fn info<'a>(&self, pipe: impl Into<Target<'a, R, K::Thread>>) -> Result<PipeInfo, Status>
    where
        R: 'a,
        K::Thread: 'a,
    {
        self.with_pipe(pipe.into(), |pipe| {
            self.locked(pipe, |state, ring| {
                if state.is_destroyed() {
                    return Err(Status::Destroyed);
                }
                Ok(state.info(ring, pipe.id(), pipe.flags(), pipe.owner()))
            })
        })
    }

    /// Run `f` on the pipe `target` names, found lock-free. An error of
    /// `f` from a pipe destroyed meanwhile is that of a destroyed pipe.
    #[inline(always)]
    fn with_pipe<T>(
        &self,
        target: Target<'_, R, K::Thread>,
        f: impl FnOnce(&Opened<'_, R, K::Thread>) -> Result<T, Status>,
    ) -> Result<T, Status> {
        let pipe = self.open_target(target)?;
        let result = f(&pipe);
        if result.is_err() {
            return result.map_err(|status| stale_error(pipe, status));
        }
        result
    }

    /// The pipe `target` names, found lock-free, for a read or write:
    /// as [`open_target`](Self::open_target) but without checking that the
    /// header still holds the pipe, which such a call checks anyway where
    /// it counts (its fast path after taking its ring end, its slow path
    /// under the lock in [`locked`](Self::locked), its errors through
    /// [`stale_error`]), so that it costs one id check, not two. A header
    /// of another pipe or a vacant one is harmless until then: its ring's
    /// ends are another pipe's (the id check after the take fails) or dead.
    #[inline(always)]
    fn open_for_data(
        &self,
        target: Target<'_, R, K::Thread>,
    ) -> Result<Opened<'_, R, K::Thread>, Status> {
        match target {
            Target::Id(id) => match self.by_id.get(id.index()) {
                Some(pipe) => Ok(Opened {
                    pipe,
                    id,
                    gone: Status::NotFound,
                }),
                None => Err(Status::NotFound),
            },
            Target::Pipe(handle) => match self.by_id.resolve(handle.header()) {
                Some(pipe) => Ok(Opened {
                    pipe,
                    id: handle.id(),
                    gone: Status::Destroyed,
                }),
                // Another manager's handle: this one's pipe of that id.
                None => self.find(handle.id(), Status::Destroyed),
            },
        }
    }

    /// The pipe `target` names, found lock-free, if its header holds it.
    #[inline(always)]
    fn open_target(
        &self,
        target: Target<'_, R, K::Thread>,
    ) -> Result<Opened<'_, R, K::Thread>, Status> {
        let pipe = self.open_for_data(target)?;
        if pipe.is_current() {
            Ok(pipe)
        } else {
            Err(pipe.gone)
        }
    }

    /// Run `f` on the pipe's state under its lock with both ends of its
    /// ring held (so no fast operation is in flight), then give the ends
    /// back, parked if the pipe has waiters (so that every operation takes
    /// the lock while any thread waits), and wake every thread whose
    /// operation `f` finished, with the lock released, before returning.
    /// `Destroyed` without calling `f` once the ring is dead. Out of line:
    /// callers inline only their lock-free attempt, so that its result
    /// needs no merging with this one's in registers.
    #[inline(never)]
    fn locked<T>(
        &self,
        pipe: &Opened<'_, R, K::Thread>,
        f: impl FnOnce(&mut PipeState<K::Thread>, &mut Store<'_, '_>) -> Result<T, Status>,
    ) -> Result<T, Status> {
        let mut state = pipe.state.lock();
        if !pipe.is_current() {
            return Err(pipe.gone);
        }
        let Ok(mut ring) = pipe.ring.hold() else {
            return Err(Status::Destroyed);
        };
        let result = with_store(&mut state, &mut ring, f);
        ring.park(state.must_park());
        drop(ring);
        if state.has_finished() {
            let finished = state.take_finished();
            self.wake_finished(pipe, state, finished, None);
        } else {
            drop(state);
        }
        result
    }

    /// [`locked`](Self::locked), also reporting whether a thread it woke
    /// has a priority above `than` (wake feedback: the priorities are
    /// asked after the lock is released, before each wake).
    fn locked_reporting<T>(
        &self,
        pipe: &Opened<'_, R, K::Thread>,
        than: Priority,
        f: impl FnOnce(&mut PipeState<K::Thread>, &mut Store<'_, '_>) -> Result<T, Status>,
    ) -> (Result<T, Status>, bool) {
        let mut state = pipe.state.lock();
        if !pipe.is_current() {
            return (Err(pipe.gone), false);
        }
        let Ok(mut ring) = pipe.ring.hold() else {
            return (Err(Status::Destroyed), false);
        };
        let result = with_store(&mut state, &mut ring, f);
        ring.park(state.must_park());
        drop(ring);
        let higher = if state.has_finished() {
            let finished = state.take_finished();
            self.wake_finished(pipe, state, finished, Some(than))
        } else {
            drop(state);
            false
        };
        (result, higher)
    }

    /// Wake the threads of `chain` (records this call finished), oldest
    /// first: take a batch back under the lock (held on entry, then taken
    /// again per batch), release it, wake the batch. With `than`, returns
    /// whether a woken thread's priority is above it.
    #[inline]
    fn wake_finished(
        &self,
        pipe: &Opened<'_, R, K::Thread>,
        mut state: MutexGuard<'_, R, PipeState<K::Thread>>,
        mut chain: Chain,
        than: Option<Priority>,
    ) -> bool {
        // One operation finished (a hand-off, an admitted writer, a
        // cancel): no batch to fill and drop.
        if chain.is_single() {
            let wake = state.take_one(&mut chain);
            drop(state);
            debug_assert!(chain.is_empty());
            return wake.is_some_and(|wake| self.wake_one(pipe, wake, than));
        }
        self.wake_batches(pipe, state, chain, than)
    }

    /// [`wake_finished`](Self::wake_finished) of a chain of several.
    #[cold]
    fn wake_batches(
        &self,
        pipe: &Opened<'_, R, K::Thread>,
        state: MutexGuard<'_, R, PipeState<K::Thread>>,
        mut chain: Chain,
        than: Option<Priority>,
    ) -> bool {
        let mut higher = false;
        let mut batch: [Option<Wake<K::Thread>>; WAKE_BATCH] = [const { None }; WAKE_BATCH];
        let mut held = Some(state);
        while !chain.is_empty() {
            let mut state = held.take().unwrap_or_else(|| pipe.state.lock());
            let taken = state.take_batch(&mut chain, &mut batch);
            drop(state);
            if taken == 0 {
                debug_assert!(false, "a non-empty chain gave nothing back");
                return higher;
            }
            for wake in batch[..taken].iter_mut().filter_map(Option::take) {
                // Ask the priority only until one is above `than`.
                let than = than.filter(|_| !higher);
                higher |= self.wake_one(pipe, wake, than);
            }
        }
        higher
    }

    /// Wake one finished operation's thread (no lock held): its pending
    /// entry goes first, so that the woken thread may call again at once.
    /// With `than`, returns whether its priority is above it.
    #[inline]
    fn wake_one(
        &self,
        // Opened: its id is the one looked up; a destroy has vacated the
        // header's by the time its waiters are woken.
        pipe: &Opened<'_, R, K::Thread>,
        wake: Wake<K::Thread>,
        than: Option<Priority>,
    ) -> bool {
        // A select's thread waits under its group's ticket.
        let ticket = match &wake.group {
            Some(group) => group.ticket(),
            None => Ticket::new(pipe.id(), wake.slot, wake.seq),
        };
        self.pending.remove(&wake.thread, ticket);
        let higher = than.is_some_and(|than| self.kernel.priority_of(&wake.thread) > than);
        self.kernel.wake(wake.thread, wake.status);
        higher
    }

    /// A user write: `done` wraps what a completed write did; when the pipe
    /// is full (and does not discard), `would_block` decides (record a
    /// pending operation, or fail with `Full`). Both are the caller's
    /// closures, so each public form compiles to its own straight path.
    #[inline]
    #[allow(clippy::too_many_arguments)] // two of them are the caller's closures
    fn user_write<P>(
        &self,
        thread: &K::Thread,
        target: Target<'_, R, K::Thread>,
        src: UserAddr,
        len: usize,
        urgent: bool,
        prio: u8,
        done: impl FnOnce(Written) -> P,
        would_block: Option<
            impl FnOnce(&Pipe<R, K::Thread>, &mut PipeState<K::Thread>, Priority) -> Result<P, Status>,
        >,
    ) -> Result<P, Status> {
        self.check_not_pending(thread)?;
        let pipe = self.open_for_data(target)?;
        let flags = pipe.flags();
        if let Err(status) = pipe
            .check_access_with(
                flags,
                &self.kernel,
                Caller::Thread(thread),
                PipeFlags::OWNER_WRITE,
            )
            .and_then(|()| check_prio(flags, prio))
        {
            return Err(stale_error(pipe, status));
        }
        let discard = flags.contains(PipeFlags::DISCARD_OLDEST);
        let source = Source::User {
            thread,
            buf: src,
            len,
        };
        let may_block = would_block.is_some();
        // An urgent write changes the front: the slow path does it.
        if !urgent
            && let Some(result) =
                pipe.fast_write(pipe.id(), &self.kernel, &source, discard, may_block)
        {
            return fast_result(pipe, result).map(done);
        }
        let priority = self.priority_if_blocking(&pipe, thread, may_block);
        // A copy for the slow path: the fast path's stays in registers.
        let pipe = &{ pipe };
        self.locked(pipe, move |state, ring| {
            match state.write(ring, &self.kernel, source, discard, urgent, prio)? {
                Attempt::Done(written) => Ok(done(written)),
                Attempt::WouldBlock => match would_block {
                    Some(block) => block(pipe, state, priority),
                    None => Err(Status::Full),
                },
            }
        })
        .map_err(|status| stale_error(*pipe, status))
    }

    /// A user read (`consume`) or peek, like [`user_write`](Self::user_write):
    /// `done` wraps the length, `would_block` decides on an empty pipe.
    #[inline]
    #[allow(clippy::too_many_arguments)] // two of them are the caller's closures
    fn user_read<P>(
        &self,
        thread: &K::Thread,
        target: Target<'_, R, K::Thread>,
        dst: UserAddr,
        len_out: UserAddr,
        kind: impl Into<Receive>,
        done: impl FnOnce(Received) -> P,
        would_block: Option<
            impl FnOnce(&Pipe<R, K::Thread>, &mut PipeState<K::Thread>, Priority) -> Result<P, Status>,
        >,
    ) -> Result<P, Status> {
        let Receive { how, seq_out } = kind.into();
        self.check_not_pending(thread)?;
        let pipe = self.open_for_data(target)?;
        if let Err(status) =
            pipe.check_access(&self.kernel, Caller::Thread(thread), PipeFlags::OWNER_READ)
        {
            return Err(stale_error(pipe, status));
        }
        let sink = Sink::User {
            thread,
            buf: dst,
            len_out,
            seq_out,
        };
        let may_block = would_block.is_some();
        let consume = how == How::Read;
        if !matches!(how, How::PeekNewer(_))
            && let Some(result) = pipe.fast_read(pipe.id(), &self.kernel, sink, consume, may_block)
        {
            return fast_result(pipe, result).map(done);
        }
        let priority = self.priority_if_blocking(&pipe, thread, may_block);
        // A copy for the slow path: the fast path's stays in registers.
        let pipe = &{ pipe };
        self.locked(pipe, move |state, ring| {
            let sink = Sink::User {
                thread,
                buf: dst,
                len_out,
                seq_out,
            };
            let attempt = match how {
                How::PeekNewer(after) => state.peek_newer(ring, &self.kernel, sink, after)?,
                _ => state.read(ring, &self.kernel, sink, consume)?,
            };
            match attempt {
                Attempt::Done(received) => Ok(done(received)),
                Attempt::WouldBlock => match would_block {
                    Some(block) => block(pipe, state, priority),
                    None => Err(Status::Empty),
                },
            }
        })
        .map_err(|status| stale_error(*pipe, status))
    }

    fn kernel_receive(
        &self,
        target: Target<'_, R, K::Thread>,
        buf: &mut [u8],
        consume: bool,
    ) -> Result<Received, Status> {
        self.with_pipe(target, |pipe| self.kernel_receive_from(pipe, buf, consume))
    }

    /// A non-blocking write of `msg` from the manager's own memory to
    /// `pipe` (the kernel's, or a hosted thread's: see `local`); an error
    /// as [`with_pipe`](Self::with_pipe) gives it.
    #[inline]
    fn kernel_write_to(
        &self,
        pipe: &Opened<'_, R, K::Thread>,
        msg: &[u8],
    ) -> Result<Written, Status> {
        let discard = pipe.flags().contains(PipeFlags::DISCARD_OLDEST);
        if let Some(result) = pipe.fast_write(
            pipe.id(),
            &self.kernel,
            &Source::Kernel(msg),
            discard,
            false,
        ) {
            return fast_result(*pipe, result);
        }
        // A copy for the slow path: the fast path's stays in registers.
        let pipe = &{ *pipe };
        self.locked(pipe, |state, ring| {
            match state.write(ring, &self.kernel, Source::Kernel(msg), discard, false, 0)? {
                Attempt::Done(written) => Ok(written),
                Attempt::WouldBlock => Err(Status::Full),
            }
        })
        .map_err(|status| stale_error(*pipe, status))
    }

    /// A non-blocking read (`consume`) or peek from `pipe` into the
    /// manager's own memory, as [`kernel_write_to`](Self::kernel_write_to).
    #[inline]
    fn kernel_receive_from(
        &self,
        pipe: &Opened<'_, R, K::Thread>,
        buf: &mut [u8],
        consume: bool,
    ) -> Result<Received, Status> {
        if let Some(result) = pipe.fast_read(
            pipe.id(),
            &self.kernel,
            Sink::Kernel(&mut *buf),
            consume,
            false,
        ) {
            return fast_result(*pipe, result);
        }
        // A copy for the slow path: the fast path's stays in registers.
        let pipe = &{ *pipe };
        self.locked(pipe, |state, ring| {
            match state.read(ring, &self.kernel, Sink::Kernel(buf), consume)? {
                Attempt::Done(received) => Ok(received),
                Attempt::WouldBlock => Err(Status::Empty),
            }
        })
        .map_err(|status| stale_error(*pipe, status))
    }

    /// `AlreadyPending` if `thread` waits for another operation: a thread
    /// waits for one thing at a time, and a call from a waiting thread
    /// changes nothing.
    #[inline]
    fn check_not_pending(&self, thread: &K::Thread) -> Result<(), Status> {
        if self.pending.contains(thread) {
            return Err(Status::AlreadyPending);
        }
        Ok(())
    }

    /// The priority a blocking call on `pipe` would wait with, asked before
    /// any lock is taken (DESIGN §8); only pipes that serve waiters by
    /// priority ask.
    #[inline]
    fn priority_if_blocking(
        &self,
        pipe: &Pipe<R, K::Thread>,
        thread: &K::Thread,
        may_block: bool,
    ) -> Priority {
        if may_block && pipe.flags().contains(PipeFlags::PRIORITY_WAITERS) {
            self.kernel.priority_of(thread)
        } else {
            Priority::default()
        }
    }

    /// Record `thread`'s pending `op` on `pipe` (whose lock is held), with
    /// the `priority` asked before the lock.
    fn block<T>(
        &self,
        pipe: &Pipe<R, K::Thread>,
        state: &mut PipeState<K::Thread>,
        thread: &K::Thread,
        op: PendingOp,
        priority: Priority,
    ) -> Result<Progress<T>, Status> {
        let by_priority = pipe.flags().contains(PipeFlags::PRIORITY_WAITERS);
        let ticket = self.pending.insert_with(thread, || {
            let (slot, seq) = state.enqueue(thread.clone(), priority, op, by_priority, None)?;
            Ok(Ticket::new(pipe.id(), slot, seq))
        })?;
        Ok(Progress::Blocked(ticket))
    }
}

/// A fast path's answer on `pipe`, its error as
/// [`stale_error`] gives it. A success passes as it is: no test after a
/// merge with the slow path's result, so that the data path's result stays
/// in registers as the fast path built it.
#[inline(always)]
fn fast_result<R: RawMutex, T, U>(
    pipe: Opened<'_, R, T>,
    result: Result<U, Status>,
) -> Result<U, Status> {
    match result {
        Ok(done) => Ok(done),
        Err(status) => Err(stale_error(pipe, status)),
    }
}

/// The error a call on `pipe` ends with: `status`, or the pipe's `gone`
/// status if it was destroyed meanwhile (the error may be about a later
/// pipe of its header, e.g. `Full`).
#[inline(always)]
fn stale_error<R: RawMutex, T>(pipe: Opened<'_, R, T>, status: Status) -> Status {
    // The parts as scalars: an `Opened` passed by value is passed in
    // memory, which made every call store one on its fast path.
    stale_error_of(pipe.pipe, pipe.id, pipe.gone, status)
}

/// [`stale_error`] of the pipe in `header` looked up as `id`.
#[cold]
#[inline(never)]
fn stale_error_of<R: RawMutex, T>(
    header: &Pipe<R, T>,
    id: PipeId,
    gone: Status,
    status: Status,
) -> Status {
    if status != gone && !header.holds(id) {
        gone
    } else {
        status
    }
}
