//! One pending operation of a future, as the core sees it: a waiter record
//! of its own (its identity as a core "thread"), which owns the memory the
//! operation lends and wakes a [`Waker`] instead of unparking.
//!
//! Why no copy can reach freed memory: the bytes the core copies to or from
//! are owned by the record ([`Task::storage`]), and the core holds its own
//! clone of the record (an `Arc`) for as long as the operation is pending
//! and until its wake. Dropping the future drops only the future's clone.
//!
//! Why no copy races the future's own reads and writes of those bytes: the
//! future touches them only while no operation of the record is in flight
//! ([`Op::pending`] is false): before it starts one, after a call that did
//! not block returned, or after it saw the wake's status (an `Acquire` of
//! the `Release` store the wake makes after every copy for the operation).

#![allow(unsafe_code)]

use std::cell::{RefCell, UnsafeCell};
use std::mem::size_of;
use std::task::Waker;

use ipcm::{CancelReason, ProcessId, Progress, Selected, Status, Ticket, UserAddr};

use crate::kernel::{HostThread, Manager};
use crate::user_copy::Region;

/// The future's part of a waiter record (see
/// [`HostThread::for_task`]): the waker to wake and the lent memory.
pub(crate) struct Task {
    waker: parking_lot::Mutex<Option<Waker>>,
    /// `msg_size` bytes of message, then a native `usize` for its length,
    /// then a `u64` for its sequence number. A select's record lays its
    /// members' buffers out in the first `msg_size` bytes instead (see
    /// [`Op::start_select`]).
    storage: Box<[UnsafeCell<u8>]>,
    /// A select's table of lent regions (two per member, into `storage`);
    /// empty for any other operation.
    regions: UnsafeCell<Vec<Region>>,
}

impl std::fmt::Debug for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task")
            .field("msg_size", &self.msg_size())
            .finish_non_exhaustive()
    }
}

// SAFETY: `storage` and `regions` are the only fields that are not `Sync`.
// The storage's bytes are written by the IPC manager's copy hooks only
// while an operation of the record is in flight, and the region table only
// read then; the owning `Op` reads or writes either only while none is
// (module docs); the wake's Release/Acquire on the record's result orders
// the two.
unsafe impl Sync for Task {}

impl Task {
    /// The wake of the record's operation: wake the task, if it registered.
    /// The result is stored before this runs; a poll that registers its
    /// waker after this took the slot sees the result (the mutex orders
    /// them), so no wake-up is lost.
    pub(crate) fn wake(&self) {
        let waker = self.waker.lock().take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn set_waker(&self, waker: &Waker) {
        let mut slot = self.waker.lock();
        match &*slot {
            Some(old) if old.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }

    fn base(&self) -> *mut u8 {
        UnsafeCell::raw_get(self.storage.as_ptr())
    }

    fn msg_size(&self) -> usize {
        self.storage.len() - TRAILER
    }
}

/// Bytes of a record's storage after the message: its length, its number.
const TRAILER: usize = size_of::<usize>() + size_of::<u64>();

/// What one member of a select lends (see [`Op::start_select`]).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Lend<'m> {
    /// A receive buffer of this many bytes, and its length word.
    Sink(usize),
    /// A message to write, copied into the record.
    Source(&'m [u8]),
}

impl Lend<'_> {
    /// The bytes of storage the member takes.
    pub(crate) fn bytes(&self) -> usize {
        match *self {
            Lend::Sink(msg_size) => msg_size + size_of::<usize>(),
            Lend::Source(msg) => msg.len(),
        }
    }
}

/// A future's core "thread" and whether its operation is in flight.
pub(crate) struct Op {
    record: HostThread,
    /// The ticket of the operation the core recorded (it returned
    /// `Blocked`) while its wake has not been seen yet.
    pending: Option<Ticket>,
}

impl std::fmt::Debug for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Op")
            .field("task", self.task())
            .field("pending", &self.pending.is_some())
            .finish()
    }
}

/// Idle records a thread keeps for its next futures: a record whose wake
/// came and that the core no longer holds can serve another operation, so
/// a task that waits again and again allocates once. None under loom: its
/// threads share one OS thread, and its objects must not outlive a model
/// run.
#[cfg(not(loom))]
const IDLE_RECORDS: usize = 4;
#[cfg(loom)]
const IDLE_RECORDS: usize = 0;

std::thread_local! {
    static IDLE: RefCell<Vec<HostThread>> = const { RefCell::new(Vec::new()) };
}

impl Drop for Op {
    fn drop(&mut self) {
        // Pooled only when nothing can reach it any more: no operation in
        // flight or cancelled (`pending`), and the core's own clone, passed
        // to the wake, is gone (`strong_count`).
        if self.pending.is_some() || std::sync::Arc::strong_count(self.record.arc()) != 1 {
            return;
        }
        // Pairs with the release of the core's last clone.
        std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
        // The last waker stays: the thread's next future is most often of
        // the same task, and then registering it is a comparison, not a
        // clone. At most IDLE_RECORDS wakers are kept so per thread.
        let _ = IDLE.try_with(|idle| {
            let mut idle = idle.borrow_mut();
            if idle.len() < IDLE_RECORDS {
                idle.push(self.record.clone());
            }
        });
    }
}

impl Op {
    /// A record acting for `process`, with room for one message of
    /// `msg_size` bytes: an idle one of this thread if one fits, else a
    /// new one.
    pub(crate) fn new(process: ProcessId, msg_size: usize) -> Op {
        let reused = IDLE
            .try_with(|idle| {
                let mut idle = idle.borrow_mut();
                let fits = idle.iter().rposition(|record| {
                    record
                        .task()
                        .is_some_and(|task| task.msg_size() == msg_size)
                })?;
                Some(idle.swap_remove(fits))
            })
            .ok()
            .flatten();
        if let Some(record) = reused {
            record.act_for(process);
            return Op {
                record,
                pending: None,
            };
        }
        let storage = (0..msg_size + TRAILER)
            .map(|_| UnsafeCell::new(0))
            .collect();
        let task = Task {
            waker: parking_lot::Mutex::new(None),
            storage,
            regions: UnsafeCell::new(Vec::new()),
        };
        Op {
            record: HostThread::for_task(process, task),
            pending: None,
        }
    }

    fn task(&self) -> &Task {
        self.record.task().expect("made by HostThread::for_task")
    }

    /// Whether an operation is in flight.
    pub(crate) fn is_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Copy `msg` into the record's storage, lend it as a source, and make
    /// `call` (a write by the core) with the record and the message's
    /// address. `waker` is registered first, so a wake during the call is
    /// not missed.
    pub(crate) fn start_source<T>(
        &mut self,
        waker: &Waker,
        msg: &[u8],
        call: impl FnOnce(&HostThread, UserAddr, usize) -> Result<Progress<T>, Status>,
    ) -> Result<Progress<T>, Status> {
        assert!(self.pending.is_none(), "one operation at a time per record");
        let task = self.task();
        if msg.len() > task.msg_size() {
            return Err(Status::TooLarge);
        }
        task.set_waker(waker);
        // SAFETY: no operation of the record is in flight (`pending` is
        // false), so nobody else touches the storage (module docs), and
        // `msg` fits in it (checked above); `msg` is the caller's memory.
        unsafe { std::ptr::copy_nonoverlapping(msg.as_ptr(), task.base(), msg.len()) };
        // SAFETY: the storage is owned by the record, which the core keeps
        // alive while it can copy; the owner does not touch it until the
        // call returned without blocking or the wake came (module docs).
        let (src, _) = unsafe {
            self.record
                .waiter()
                .lease
                .lend_unguarded(task.base(), msg.len(), None)
        };
        let progress = call(&self.record, src, msg.len());
        self.pending = match progress {
            Ok(Progress::Blocked(ticket)) => Some(ticket),
            _ => None,
        };
        progress
    }

    /// Lend the record's storage as a sink (a message buffer of `msg_size`
    /// bytes and its length) and make `call` (a read or peek by the core)
    /// with the record and the two addresses. `waker` is registered first.
    pub(crate) fn start_sink(
        &mut self,
        waker: &Waker,
        call: impl FnOnce(&HostThread, UserAddr, UserAddr) -> Result<Progress<usize>, Status>,
    ) -> Result<Progress<usize>, Status> {
        self.start_sink_with(waker, false, |record, dst, len_out, _| {
            call(record, dst, len_out)
        })
    }

    /// [`start_sink`](Self::start_sink) that also lends the storage's
    /// `u64` for the message's sequence number (see
    /// [`received_seq`](Self::received_seq)).
    pub(crate) fn start_sink_seq<T>(
        &mut self,
        waker: &Waker,
        call: impl FnOnce(&HostThread, UserAddr, UserAddr, UserAddr) -> Result<Progress<T>, Status>,
    ) -> Result<Progress<T>, Status> {
        self.start_sink_with(waker, true, call)
    }

    fn start_sink_with<T>(
        &mut self,
        waker: &Waker,
        with_seq: bool,
        call: impl FnOnce(&HostThread, UserAddr, UserAddr, UserAddr) -> Result<Progress<T>, Status>,
    ) -> Result<Progress<T>, Status> {
        assert!(self.pending.is_none(), "one operation at a time per record");
        let task = self.task();
        task.set_waker(waker);
        let msg_size = task.msg_size();
        // SAFETY: as in `start_source`; the length word is the storage's
        // last `usize` bytes, inside the same allocation.
        let (dst, len_out) = unsafe {
            let base = task.base();
            self.record
                .waiter()
                .lease
                .lend_unguarded(base, msg_size, Some(base.add(msg_size)))
        };
        let seq_out = if with_seq {
            // SAFETY: as above; the `u64` is the storage's last 8 bytes.
            unsafe {
                let seq = task.base().add(msg_size + size_of::<usize>());
                self.record.waiter().lease.lend_unguarded_seq(seq)
            }
        } else {
            UserAddr::NULL
        };
        let progress = call(&self.record, dst, len_out, seq_out);
        self.pending = match progress {
            Ok(Progress::Blocked(ticket)) => Some(ticket),
            _ => None,
        };
        progress
    }

    /// Lay the members of a select out in the record's storage (made with
    /// [`new`](Self::new) for at least the sum of their
    /// [`Lend::bytes`]), copy each message to write there, lend them all,
    /// and make `call` (a select by the core) with the record and the
    /// region table: member `i` lends `regions[2 * i]` (its buffer or
    /// message) and, for a sink, `regions[2 * i + 1]` (its length word).
    /// `waker` is registered first.
    pub(crate) fn start_select(
        &mut self,
        waker: &Waker,
        lends: &[Lend<'_>],
        call: impl FnOnce(&HostThread, &[Region]) -> Result<Progress<Selected>, Status>,
    ) -> Result<Progress<Selected>, Status> {
        assert!(self.pending.is_none(), "one operation at a time per record");
        let task = self.task();
        let total: usize = lends.iter().map(Lend::bytes).sum();
        assert!(total <= task.msg_size(), "the record fits the select");
        task.set_waker(waker);
        let base = task.base();
        // SAFETY: no operation of the record is in flight (`pending` is
        // false), so nobody else reads the table or the storage (module
        // docs); every offset stays below `total`, inside the storage; the
        // messages are the caller's memory.
        let regions = unsafe {
            let regions = &mut *task.regions.get();
            regions.clear();
            regions.reserve(2 * lends.len());
            let mut at = 0;
            for lend in lends {
                let buf = base.add(at);
                match *lend {
                    Lend::Sink(msg_size) => {
                        regions.push(Region {
                            addr: buf as usize,
                            len: msg_size,
                            writable: true,
                        });
                        regions.push(Region {
                            addr: buf.add(msg_size) as usize,
                            len: size_of::<usize>(),
                            writable: true,
                        });
                    }
                    Lend::Source(msg) => {
                        std::ptr::copy_nonoverlapping(msg.as_ptr(), buf, msg.len());
                        regions.push(Region {
                            addr: buf as usize,
                            len: msg.len(),
                            writable: false,
                        });
                        regions.push(Region::default());
                    }
                }
                at += lend.bytes();
            }
            &*regions
        };
        // SAFETY: the table and the storage it points into are owned by
        // the record, which the core keeps alive while it can copy; the
        // owner does not touch them until the call returned without
        // blocking or the wake came (module docs).
        unsafe {
            self.record
                .waiter()
                .lease
                .lend_regions_unguarded(regions.as_ptr(), regions.len());
        }
        let progress = call(&self.record, regions);
        self.pending = match progress {
            Ok(Progress::Blocked(ticket)) => Some(ticket),
            _ => None,
        };
        progress
    }

    /// Which member of the record's last select completed, once it is
    /// over.
    pub(crate) fn selected(&self) -> Option<Selected> {
        if self.pending.is_some() {
            return None;
        }
        self.record.waiter().select.outcome()
    }

    /// The message member `index` of the record's last select received
    /// (a sink), once it is over.
    pub(crate) fn received_by(&self, index: usize) -> Option<&[u8]> {
        if self.pending.is_some() {
            return None;
        }
        // SAFETY: no operation is in flight (checked above), so nobody
        // writes the table or the storage while they are borrowed here
        // (module docs); the regions point into the storage.
        unsafe {
            let regions = &*self.task().regions.get();
            let (buf, len_word) = (regions.get(2 * index)?, regions.get(2 * index + 1)?);
            if !buf.writable || len_word.len != size_of::<usize>() {
                return None;
            }
            let mut len = [0; size_of::<usize>()];
            std::ptr::copy_nonoverlapping(len_word.addr as *const u8, len.as_mut_ptr(), len.len());
            let bytes = std::slice::from_raw_parts(buf.addr as *const u8, buf.len);
            // The core wrote at most the buffer; never trust a length beyond.
            Some(&bytes[..usize::from_ne_bytes(len).min(buf.len)])
        }
    }

    /// The wake's status once it came (the operation is over then), or
    /// `None` after registering `waker` to be woken by it.
    pub(crate) fn poll_wake(&mut self, waker: &Waker) -> Option<Status> {
        self.pending?;
        // Usually the wake came (that is why we are polled): look first,
        // and register the waker only if it did not.
        let status = self.record.take_result().or_else(|| {
            self.task().set_waker(waker);
            self.record.take_result()
        })?;
        self.pending = None;
        Some(status)
    }

    /// The message the last sink operation left in the storage, once it is
    /// over: `None` while one is in flight.
    pub(crate) fn received(&self) -> Option<&[u8]> {
        if self.pending.is_some() {
            return None;
        }
        let task = self.task();
        let msg_size = task.msg_size();
        let mut len = [0; size_of::<usize>()];
        // SAFETY: no operation is in flight (checked above), so nobody
        // writes the storage while it is borrowed here (module docs); the
        // length word lies inside it.
        let bytes = unsafe {
            std::ptr::copy_nonoverlapping(task.base().add(msg_size), len.as_mut_ptr(), len.len());
            std::slice::from_raw_parts(task.base().cast_const(), msg_size)
        };
        // The core wrote at most `msg_size`; never trust a length beyond.
        Some(&bytes[..usize::from_ne_bytes(len).min(msg_size)])
    }

    /// The sequence number the last [`start_sink_seq`](Self::start_sink_seq)
    /// operation left in the storage, once it is over.
    pub(crate) fn received_seq(&self) -> Option<u64> {
        if self.pending.is_some() {
            return None;
        }
        let task = self.task();
        let mut seq = [0; size_of::<u64>()];
        // SAFETY: no operation is in flight (checked above), so nobody
        // writes the storage meanwhile (module docs); the word lies inside
        // it.
        unsafe {
            std::ptr::copy_nonoverlapping(
                task.base().add(task.msg_size() + size_of::<usize>()),
                seq.as_mut_ptr(),
                seq.len(),
            );
        }
        Some(u64::from_ne_bytes(seq))
    }

    /// Cancel the operation in flight, if any. Returns immediately: after
    /// the cancel, the core makes no further copy for the operation (every
    /// copy happens under the pipe's lock while the operation is queued,
    /// and the cancel takes that lock), and the storage belongs to the
    /// record, so nothing waits for the wake. `Ok(true)`: cancelled, the
    /// operation did not happen; `Ok(false)`: it had completed (or failed)
    /// first, or nothing was in flight.
    /// The ticket kept by `start_*` names the operation (DESIGN §8), so
    /// the cancel can only end this one.
    pub(crate) fn cancel(self, ipcm: &Manager) -> bool {
        // Taking `self`, and leaving `pending` set so that `drop` does not
        // pool it: the record is never reused after a cancel, so a late
        // wake of it cannot be mistaken for another operation's.
        self.pending.is_some_and(|ticket| {
            ipcm.cancel_op(&self.record, ticket, CancelReason::Cancelled)
                .is_ok()
        })
    }
}
