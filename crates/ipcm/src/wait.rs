//! Pending operations: what a blocked thread asked for, queued per pipe, and
//! the records of operations finished but not yet woken.
//!
//! A pipe's pending operations are mostly of one direction: readers and
//! peekers wait only on an empty pipe, writers only on a full one. Two
//! exceptions share the queue with the other direction (DESIGN §9): a
//! peek-newer waits on a pipe whose queued messages are all too old (full
//! or not), and a rendezvous pipe (capacity 0) is both full and empty. So
//! the code that serves one kind looks for the first record of that kind
//! ([`WaitQueue::first`]).
//!
//! # Wait records and finished chains
//! Every pending operation lives in a *wait record*, a slot of the pipe's
//! record table reserved when the thread blocked (the table only grows, to
//! its high-water mark). Waiting records form the FIFO wait queue, a
//! doubly-linked list by index, so the record a [`Ticket`](crate::Ticket)
//! names is removed in O(1).
//!
//! When the call holding the pipe's lock finishes an operation (completes,
//! fails, cancels or destroys it) its record is not freed but turned into a
//! *finished* record and appended to the *current chain*. Before it
//! releases the lock, that call takes the chain ([`WaitQueue::take_finished`]):
//! from then on the records of the chain belong to it alone (they are in no
//! queue and on no free list), and after unlocking it takes them back one
//! small batch at a time ([`WaitQueue::take_batch`]) and wakes each thread.
//! So a call wakes exactly the operations it finished, before it returns,
//! and waking allocates nothing: the storage was reserved when each thread
//! blocked.

use crate::Shared;
use alloc::collections::TryReserveError;
use alloc::vec::Vec;

use crate::select::{Member, SelectGroup};

use crate::kernel::{Priority, UserAddr};
use crate::{PipeId, Status};

/// Names one pending operation: returned with
/// [`Progress::Blocked`](crate::Progress::Blocked), passed to
/// [`Ipcm::cancel_op`](crate::Ipcm::cancel_op) to cancel that operation and
/// no other.
///
/// A ticket stays unique for the manager's life: its pipe id is never
/// reused and its number never repeats on that pipe. Once its operation has
/// an outcome the ticket is *stale*: cancelling it is `NotFound` and changes
/// nothing, even if the thread is waiting for something else by then.
/// Any value is safe to pass back (a forged ticket is just stale).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ticket {
    pipe: PipeId,
    slot: RecordIndex,
    seq: u64,
}

impl Ticket {
    pub(crate) const fn new(pipe: PipeId, slot: RecordIndex, seq: u64) -> Ticket {
        Ticket { pipe, slot, seq }
    }

    /// The pipe the operation waits on.
    #[must_use]
    pub const fn pipe(self) -> PipeId {
        self.pipe
    }

    /// The ticket as three integers (pipe id, wait record, operation
    /// number), e.g. for the C ABI.
    #[must_use]
    pub const fn to_raw(self) -> (usize, u32, u64) {
        (self.pipe.to_raw(), self.slot, self.seq)
    }

    /// A ticket from the integers [`to_raw`](Self::to_raw) gave. Any
    /// values are accepted; ones that name no pending operation are stale.
    #[must_use]
    pub const fn from_raw(pipe: usize, slot: u32, seq: u64) -> Ticket {
        Ticket {
            pipe: PipeId::from_raw(pipe),
            slot,
            seq,
        }
    }

    pub(crate) const fn slot(self) -> RecordIndex {
        self.slot
    }

    pub(crate) const fn seq(self) -> u64 {
        self.seq
    }
}

/// What a pending operation will do when it completes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PendingOp {
    /// Take the oldest message into `buf`, its length into `len_out` (and
    /// its sequence number into `seq_out`, if given).
    Read {
        buf: UserAddr,
        len_out: UserAddr,
        seq_out: Option<UserAddr>,
    },
    /// Copy the oldest message into `buf` without taking it; with `after`,
    /// only a message numbered above it (peek-newer, DESIGN §9).
    Peek {
        buf: UserAddr,
        len_out: UserAddr,
        seq_out: Option<UserAddr>,
        after: Option<u64>,
    },
    /// Append (or with `urgent`, put at the front) the `len` bytes at `buf`;
    /// on a priority pipe at message priority `prio` (0 otherwise).
    Write {
        buf: UserAddr,
        len: usize,
        urgent: bool,
        prio: u8,
    },
}

impl PendingOp {
    pub(crate) fn is_read(&self) -> bool {
        matches!(self, PendingOp::Read { .. })
    }

    pub(crate) fn is_write(&self) -> bool {
        matches!(self, PendingOp::Write { .. })
    }
}

/// One blocked thread and what it waits to do.
#[derive(Debug)]
pub(crate) struct Pending<T> {
    pub(crate) thread: T,
    pub(crate) priority: Priority,
    pub(crate) op: PendingOp,
    /// The operation's number on this pipe (never reused): with the pipe id
    /// and the record's index, its ticket.
    pub(crate) seq: u64,
    /// The select this operation is a member of, if any.
    pub(crate) member: Option<Member>,
}

impl<T> Pending<T> {
    /// Whether another call may still complete this operation: a plain
    /// one, or a member of a select that is still waiting.
    fn is_live(&self) -> bool {
        self.member
            .as_ref()
            .is_none_or(|m| m.claimed || m.group.is_armed(m.generation))
    }
}

/// The index of a wait record in its pipe's table.
pub(crate) type RecordIndex = u32;

/// A link between records; `None` ends a list.
type Link = Option<RecordIndex>;

/// What a wait record is used for now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Use {
    /// On the free list (`next`).
    Free,
    /// In the wait queue (`prev`, `next`).
    Waiting,
    /// Finished with this status, on some call's chain (`next`), not yet
    /// woken.
    Finished(Status),
}

/// One slot of a pipe's record table. A record changes use in place: an
/// operation's fields are written once when it blocks and moved out once
/// when its thread is woken (finishing it changes only the use and links),
/// so no step copies the whole record.
struct Record<T> {
    use_: Use,
    prev: Link,
    next: Link,
    /// The operation, while waiting or finished.
    pending: Option<Pending<T>>,
}

impl<T> Record<T> {
    /// The waiting operation, if the record waits.
    #[inline]
    fn waiting(&self) -> Option<&Pending<T>> {
        match self.use_ {
            Use::Waiting => self.pending.as_ref(),
            _ => None,
        }
    }
}

/// The records one call finished, oldest first; it owns them until it has
/// taken them all back with [`WaitQueue::take_batch`].
#[derive(Debug, Default, PartialEq, Eq)]
#[must_use = "every finished record must be taken back and its thread woken"]
pub(crate) struct Chain {
    head: Link,
    tail: Link,
}

impl Chain {
    pub(crate) const EMPTY: Chain = Chain {
        head: None,
        tail: None,
    };

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.head.is_none()
    }

    /// Whether the chain holds exactly one record (the common case: a
    /// hand-off, an admitted writer, a cancel).
    #[inline]
    pub(crate) fn is_single(&self) -> bool {
        self.head.is_some() && self.head == self.tail
    }
}

/// A thread to wake: who, with what status, and which of its operations.
pub(crate) struct Wake<T> {
    pub(crate) thread: T,
    pub(crate) status: Status,
    pub(crate) seq: u64,
    pub(crate) slot: RecordIndex,
    /// The select it completed, whose ticket the thread's wait holds.
    pub(crate) group: Option<Shared<SelectGroup>>,
}

/// The FIFO (optionally priority-ordered) queue of a pipe's pending
/// operations, and the finished records not yet taken back.
pub(crate) struct WaitQueue<T> {
    records: Vec<Record<T>>,
    free: Link,
    head: Link,
    tail: Link,
    len: usize,
    peekers: usize,
    writers: usize,
    /// Waiting records that are select members (maybe withdrawn).
    members: usize,
    next_seq: u64,
    /// Records finished by the call that holds the pipe's lock now.
    current: Chain,
}

/// How many pending operations of each kind a queue holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct WaitCounts {
    pub(crate) readers: usize,
    pub(crate) peekers: usize,
    pub(crate) writers: usize,
}

/// No room for another wait record.
#[derive(Debug)]
pub(crate) struct NoRoom;

impl From<TryReserveError> for NoRoom {
    fn from(_: TryReserveError) -> Self {
        NoRoom
    }
}

impl<T> WaitQueue<T> {
    pub(crate) const fn new() -> Self {
        WaitQueue {
            records: Vec::new(),
            free: None,
            head: None,
            tail: None,
            len: 0,
            peekers: 0,
            writers: 0,
            members: 0,
            next_seq: 1,
            current: Chain::EMPTY,
        }
    }

    /// Waiting operations (finished ones not counted).
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The waiting records in queue order, with their indices.
    fn iter(&self) -> impl Iterator<Item = (RecordIndex, &Pending<T>)> + '_ {
        let mut at = self.head;
        core::iter::from_fn(move || {
            let index = at?;
            let record = self.at(index);
            let pending = record.waiting()?;
            at = record.next;
            Some((index, pending))
        })
    }

    /// How many operations of each kind wait. Withdrawn select members
    /// (their group completed elsewhere, the record not yet met) are not
    /// counted: they will never happen.
    pub(crate) fn counts(&self) -> WaitCounts {
        let mut counts = WaitCounts {
            readers: self.len - self.peekers - self.writers,
            peekers: self.peekers,
            writers: self.writers,
        };
        if self.members > 0 {
            for (_, pending) in self.iter() {
                if !pending.is_live() {
                    match pending.op {
                        PendingOp::Read { .. } => counts.readers -= 1,
                        PendingOp::Peek { .. } => counts.peekers -= 1,
                        PendingOp::Write { .. } => counts.writers -= 1,
                    }
                }
            }
        }
        counts
    }

    /// Whether some waiting operation of the kind `wanted` accepts could
    /// be completed by another call (not a withdrawn member, nor a member
    /// of `own`, the group of the select asking).
    pub(crate) fn has_live(
        &self,
        wanted: impl Fn(&PendingOp) -> bool,
        own: Option<&Shared<SelectGroup>>,
    ) -> bool {
        self.iter().any(|(_, pending)| {
            let foreign = match (&pending.member, own) {
                (Some(m), Some(own)) => !Shared::ptr_eq(&m.group, own),
                _ => true,
            };
            wanted(&pending.op) && foreign && pending.is_live()
        })
    }

    /// The waiting operation in record `index`.
    pub(crate) fn get(&self, index: RecordIndex) -> Option<&Pending<T>> {
        self.at(index).waiting()
    }

    /// Claim record `index` for completion by this call, before anything
    /// is copied for it: always for a plain operation; for a select member,
    /// only if this call wins its group (DESIGN §9). A member whose group
    /// completed elsewhere is withdrawn here (freed, never woken): returns
    /// false then.
    #[inline(always)]
    pub(crate) fn claim(&mut self, index: RecordIndex) -> bool {
        let record = self.at_mut(index);
        if record.use_ != Use::Waiting {
            return false;
        }
        let Some(member) = record.pending.as_mut().and_then(|p| p.member.as_mut()) else {
            return true;
        };
        if member.claimed || member.group.claim(member.generation) {
            member.claimed = true;
            return true;
        }
        self.discard(index);
        false
    }

    /// Free every waiting select member whose group completed elsewhere.
    #[cold]
    fn discard_withdrawn(&mut self) {
        let mut at = self.head;
        while let Some(index) = at {
            let record = self.at(index);
            let Some(pending) = record.waiting() else {
                return;
            };
            at = record.next;
            if !pending.is_live() {
                self.discard(index);
            }
        }
    }

    /// Free waiting record `index` without finishing it (a withdrawn
    /// member: its operation never happens and nobody wakes for it).
    fn discard(&mut self, index: RecordIndex) {
        if self.unlink(index) {
            self.release(index);
        }
    }

    /// Put record `index` (unlinked) on the free list, dropping what it
    /// still holds.
    fn release(&mut self, index: RecordIndex) {
        let free = self.free;
        let record = self.at_mut(index);
        record.use_ = Use::Free;
        record.next = free;
        record.pending = None;
        self.free = Some(index);
    }

    fn at(&self, index: RecordIndex) -> &Record<T> {
        &self.records[index as usize]
    }

    fn at_mut(&mut self, index: RecordIndex) -> &mut Record<T> {
        &mut self.records[index as usize]
    }

    fn set_next(&mut self, index: Link, to: Link) {
        match index {
            None => self.head = to,
            Some(index) => {
                let record = self.at_mut(index);
                debug_assert_eq!(
                    record.use_,
                    Use::Waiting,
                    "queue link to a record that does not wait"
                );
                record.next = to;
            }
        }
    }

    fn set_prev(&mut self, index: Link, to: Link) {
        match index {
            None => self.tail = to,
            Some(index) => {
                let record = self.at_mut(index);
                debug_assert_eq!(
                    record.use_,
                    Use::Waiting,
                    "queue link to a record that does not wait"
                );
                record.prev = to;
            }
        }
    }

    /// A free record, growing the table when none is (the only allocation
    /// here, fallible).
    fn reserve(&mut self) -> Result<RecordIndex, NoRoom> {
        if let Some(free) = self.free {
            return Ok(free);
        }
        let index = RecordIndex::try_from(self.records.len()).map_err(|_| NoRoom)?;
        if index == RecordIndex::MAX {
            return Err(NoRoom);
        }
        self.records.try_reserve(1)?;
        self.records.push(Record {
            use_: Use::Free,
            prev: None,
            next: None,
            pending: None,
        });
        self.free = Some(index);
        Ok(index)
    }

    /// Queue `thread`'s `op` in a free record: at the back, or with
    /// `by_priority` behind every entry of the same or higher priority.
    /// Returns the record and the operation's number.
    ///
    /// # Errors
    /// [`NoRoom`] when the table cannot grow; nothing changed then.
    #[inline(always)]
    pub(crate) fn push(
        &mut self,
        thread: T,
        priority: Priority,
        op: PendingOp,
        by_priority: bool,
        member: Option<Member>,
    ) -> Result<(RecordIndex, u64), NoRoom> {
        // Withdrawn select members nobody met yet would pile up on a pipe
        // that is only ever selected on: free them first, so the table
        // stays at its high-water mark of live operations.
        if self.members > 0 {
            self.discard_withdrawn();
        }
        let index = self.reserve()?;
        // Insert after `after` (None: at the front). Scan from the back:
        // equal priorities keep FIFO order, and the common case (all equal)
        // stops at once.
        let mut after = self.tail;
        if by_priority {
            while let Some(at) = after {
                let record = self.at(at);
                match record.waiting() {
                    Some(pending) if pending.priority < priority => after = record.prev,
                    _ => break,
                }
            }
        }
        let before = match after {
            None => self.head,
            Some(at) => self.at(at).next,
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        self.count(&op, true);
        self.len += 1;
        self.members += usize::from(member.is_some());
        let record = self.at_mut(index);
        let next_free = record.next;
        record.use_ = Use::Waiting;
        record.prev = after;
        record.next = before;
        record.pending = Some(Pending {
            thread,
            priority,
            op,
            seq,
            member,
        });
        self.free = next_free;
        self.set_next(after, Some(index));
        self.set_prev(before, Some(index));
        Ok((index, seq))
    }

    /// Take record `index` out of the queue (if it waits): its operation
    /// stays in it. Returns whether it waited.
    #[inline(always)]
    fn unlink(&mut self, index: RecordIndex) -> bool {
        let record = self.at(index);
        let Some(pending) = record.waiting() else {
            return false;
        };
        let (prev, next) = (record.prev, record.next);
        let (op, member) = (pending.op, pending.member.is_some());
        self.set_next(prev, next);
        self.set_prev(next, prev);
        self.count(&op, false);
        self.len -= 1;
        self.members -= usize::from(member);
        true
    }

    /// The oldest waiting operation, without removing it.
    #[cfg(test)]
    pub(crate) fn front(&self) -> Option<(RecordIndex, &Pending<T>)> {
        self.iter().next()
    }

    /// End the waiting operation in record `index` with `status`: it moves
    /// to the current call's chain. A select member is claimed first (if
    /// this call has not yet), and withdrawn instead if its group completed
    /// elsewhere; otherwise its select completes with this member. Returns
    /// whether the operation was finished (false: withdrawn).
    pub(crate) fn finish(&mut self, index: RecordIndex, status: Status) -> bool {
        self.finish_as(index, status, false)
    }

    /// [`finish`](Self::finish) for a cancel: a select completes as a
    /// whole (no member index).
    pub(crate) fn finish_group(&mut self, index: RecordIndex, status: Status) -> bool {
        self.finish_as(index, status, true)
    }

    /// [`finish`](Self::finish) of record `index`, which this call has
    /// claimed already ([`claim`](Self::claim) returned true, and the lock
    /// has been held since): no second claim.
    #[inline]
    pub(crate) fn finish_claimed(&mut self, index: RecordIndex, status: Status) -> bool {
        debug_assert!(
            self.get(index)
                .is_some_and(|p| p.member.as_ref().is_none_or(|m| m.claimed)),
            "finish_claimed of a record not claimed"
        );
        self.finish_now(index, status, false)
    }

    fn finish_as(&mut self, index: RecordIndex, status: Status, whole_group: bool) -> bool {
        self.claim(index) && self.finish_now(index, status, whole_group)
    }

    /// Move waiting record `index` (claimed) to the current chain.
    #[inline(always)]
    fn finish_now(&mut self, index: RecordIndex, status: Status, whole_group: bool) -> bool {
        if !self.unlink(index) {
            return false;
        }
        let tail = self.current.tail;
        let record = self.at_mut(index);
        if let Some(member) = record.pending.as_ref().and_then(|p| p.member.as_ref()) {
            let index = (!whole_group).then_some(member.index);
            member.group.set_outcome(index, status);
        }
        record.use_ = Use::Finished(status);
        record.next = None;
        match tail {
            None => self.current.head = Some(index),
            Some(tail) => self.at_mut(tail).next = Some(index),
        }
        self.current.tail = Some(index);
        true
    }

    /// Offer a message to every peeker, oldest first: each one `wants`
    /// accepts (a peek-newer may not) is claimed, then `serve` delivers to
    /// it and returns the status to finish it with.
    #[inline]
    pub(crate) fn drain_peekers(
        &mut self,
        wants: impl Fn(&PendingOp) -> bool,
        serve: impl FnMut(&T, &PendingOp) -> Status,
    ) {
        if self.peekers > 0 {
            self.drain_peekers_slow(wants, serve);
        }
    }

    #[cold]
    fn drain_peekers_slow(
        &mut self,
        wants: impl Fn(&PendingOp) -> bool,
        mut serve: impl FnMut(&T, &PendingOp) -> Status,
    ) {
        let mut at = self.head;
        while let Some(index) = at {
            let record = self.at(index);
            let Some(pending) = record.waiting() else {
                break;
            };
            at = record.next;
            if !(matches!(pending.op, PendingOp::Peek { .. }) && wants(&pending.op)) {
                continue;
            }
            if !self.claim(index) {
                continue;
            }
            if let Some(pending) = self.get(index) {
                let status = serve(&pending.thread, &pending.op);
                self.finish_claimed(index, status);
            }
        }
    }

    /// The oldest waiting operation that `wanted` accepts. A scan: the
    /// records it passes over are peek-newer waiters a message did not
    /// satisfy, or (on a rendezvous pipe) operations of the other kind.
    pub(crate) fn first(
        &self,
        wanted: impl Fn(&PendingOp) -> bool,
    ) -> Option<(RecordIndex, &Pending<T>)> {
        self.iter().find(|(_, pending)| wanted(&pending.op))
    }

    /// Finish every waiting operation with `status` (destroy).
    pub(crate) fn finish_all(&mut self, status: Status) {
        while let Some(index) = self.head {
            self.finish(index, status);
        }
    }

    /// Whether the call holding the lock finished any operation.
    #[inline]
    pub(crate) fn has_finished(&self) -> bool {
        self.current.head.is_some()
    }

    /// The chain of records finished since the last call (by the call that
    /// holds the lock); the caller owns them now.
    #[inline]
    pub(crate) fn take_finished(&mut self) -> Chain {
        core::mem::replace(&mut self.current, Chain::EMPTY)
    }

    /// Take back the record at the front of `chain` (one
    /// [`take_finished`](Self::take_finished) returned), freeing it: its
    /// thread to wake. `None` when the chain is empty.
    #[inline]
    pub(crate) fn take_one(&mut self, chain: &mut Chain) -> Option<Wake<T>> {
        let index = chain.head?;
        let free = self.free;
        let record = self.at_mut(index);
        let Use::Finished(status) = record.use_ else {
            debug_assert!(false, "a chain reached a record that is not finished");
            *chain = Chain::EMPTY;
            return None;
        };
        let pending = record.pending.take()?;
        let next = record.next;
        record.use_ = Use::Free;
        record.next = free;
        self.free = Some(index);
        chain.head = next;
        if next.is_none() {
            chain.tail = None;
        }
        Some(Wake {
            thread: pending.thread,
            status,
            seq: pending.seq,
            slot: index,
            group: pending.member.map(|member| member.group),
        })
    }

    /// Take back up to `out.len()` records from the front of `chain` (one
    /// [`take_finished`](Self::take_finished) returned), freeing them, and
    /// return how many of `out` were filled.
    pub(crate) fn take_batch(&mut self, chain: &mut Chain, out: &mut [Option<Wake<T>>]) -> usize {
        let mut filled = 0;
        while filled < out.len() {
            let Some(wake) = self.take_one(chain) else {
                break;
            };
            out[filled] = Some(wake);
            filled += 1;
        }
        filled
    }

    fn count(&mut self, op: &PendingOp, added: bool) {
        let counter = match op {
            PendingOp::Read { .. } => return,
            PendingOp::Peek { .. } => &mut self.peekers,
            PendingOp::Write { .. } => &mut self.writers,
        };
        if added {
            *counter += 1;
        } else {
            *counter -= 1;
        }
    }
}

impl<T: PartialEq> WaitQueue<T> {
    /// The record of `thread`'s waiting operation number `seq`, if it is
    /// still waiting in record `index`.
    pub(crate) fn find(&self, index: RecordIndex, seq: u64, thread: &T) -> Option<RecordIndex> {
        let pending = self.records.get(index as usize)?.waiting()?;
        (pending.seq == seq && pending.thread == *thread).then_some(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const READ: PendingOp = PendingOp::Read {
        buf: UserAddr(0x1000),
        len_out: UserAddr(0x2000),
        seq_out: None,
    };
    const PEEK: PendingOp = PendingOp::Peek {
        buf: UserAddr(0x1000),
        len_out: UserAddr(0x2000),
        seq_out: None,
        after: None,
    };

    fn push(queue: &mut WaitQueue<u32>, thread: u32, priority: u8, op: PendingOp, by: bool) {
        queue
            .push(thread, Priority(priority), op, by, None)
            .unwrap();
    }

    /// Finish everything in queue order and return the threads.
    fn order(queue: &mut WaitQueue<u32>) -> Vec<u32> {
        queue.finish_all(Status::Ok);
        drain(queue)
    }

    fn drain(queue: &mut WaitQueue<u32>) -> Vec<u32> {
        let mut chain = queue.take_finished();
        let mut out: [Option<Wake<u32>>; 2] = [const { None }; 2];
        let mut threads = Vec::new();
        loop {
            let n = queue.take_batch(&mut chain, &mut out);
            if n == 0 {
                break;
            }
            threads.extend(out[..n].iter_mut().map(|w| w.take().unwrap().thread));
        }
        assert!(chain.is_empty());
        threads
    }

    #[test]
    fn withdrawn_members_are_freed_before_the_table_grows() {
        let group = SelectGroup::shared().unwrap();
        let mut queue: WaitQueue<u32> = WaitQueue::new();
        for _ in 0..100 {
            let generation = group.arm().unwrap();
            let member = Member {
                group: group.clone(),
                generation,
                index: 0,
                claimed: false,
            };
            queue
                .push(1, Priority(0), READ, false, Some(member))
                .unwrap();
            // The select completes through another pipe.
            assert!(group.claim(generation));
        }
        assert_eq!(queue.records.len(), 1, "one record, reused");
        assert_eq!(queue.counts().readers, 0);
    }

    #[test]
    fn fifo_without_priority() {
        let mut queue = WaitQueue::new();
        for (thread, priority) in [(1, 0), (2, 9), (3, 5)] {
            push(&mut queue, thread, priority, READ, false);
        }
        assert_eq!(order(&mut queue), [1, 2, 3]);
    }

    #[test]
    fn priority_order_is_fifo_within_a_priority() {
        let mut queue = WaitQueue::new();
        for (thread, priority) in [(1, 1), (2, 5), (3, 1), (4, 5), (5, 9)] {
            push(&mut queue, thread, priority, READ, true);
        }
        assert_eq!(order(&mut queue), [5, 2, 4, 1, 3]);
    }

    #[test]
    fn drain_peekers_keeps_readers_in_order() {
        let mut queue = WaitQueue::new();
        push(&mut queue, 1, 0, READ, false);
        push(&mut queue, 2, 0, PEEK, false);
        push(&mut queue, 3, 0, READ, false);
        push(&mut queue, 4, 0, PEEK, false);
        let mut served = Vec::new();
        queue.drain_peekers(
            |_| true,
            |thread, _| {
                served.push(*thread);
                Status::Ok
            },
        );
        assert_eq!(served, [2, 4]);
        assert_eq!(drain(&mut queue), [2, 4]);
        assert_eq!(queue.counts().peekers, 0);
        assert_eq!(queue.counts().readers, 2);
        assert_eq!(order(&mut queue), [1, 3]);
    }

    #[test]
    fn a_record_is_found_only_by_its_own_ticket() {
        let mut queue = WaitQueue::new();
        let (slot, seq) = queue.push(1, Priority(0), PEEK, false, None).unwrap();
        let (_, other) = queue.push(2, Priority(0), READ, false, None).unwrap();
        assert_eq!(queue.find(slot, seq, &1), Some(slot));
        assert_eq!(queue.find(slot, seq, &2), None, "another thread");
        assert_eq!(queue.find(slot, other, &1), None, "another operation");
        queue.finish(slot, Status::Cancelled);
        assert_eq!(queue.find(slot, seq, &1), None, "finished");
        assert_eq!(
            queue.counts(),
            WaitCounts {
                readers: 1,
                peekers: 0,
                writers: 0
            }
        );
        assert_eq!(drain(&mut queue), [1]);
        // The freed record is reused with a new number: the old ticket
        // stays stale.
        let (again, seq2) = queue.push(1, Priority(0), PEEK, false, None).unwrap();
        assert_eq!(again, slot);
        assert_ne!(seq2, seq);
        assert_eq!(queue.find(slot, seq, &1), None);
    }

    #[test]
    fn each_chain_holds_only_what_its_call_finished() {
        let mut queue = WaitQueue::new();
        for thread in 1..=4 {
            push(&mut queue, thread, 0, READ, false);
        }
        let serve_front = |queue: &mut WaitQueue<u32>| {
            let (index, _) = queue.front().unwrap();
            queue.finish(index, Status::Ok);
        };
        serve_front(&mut queue);
        let mut first = queue.take_finished();
        serve_front(&mut queue);
        serve_front(&mut queue);
        let second = queue.take_finished();
        let mut out: [Option<Wake<u32>>; 4] = [const { None }; 4];
        assert_eq!(queue.take_batch(&mut first, &mut out), 1);
        assert_eq!(out[0].take().unwrap().thread, 1);
        assert!(first.is_empty());
        let mut second = second;
        assert_eq!(queue.take_batch(&mut second, &mut out), 2);
        assert_eq!(out[0].take().unwrap().thread, 2);
        assert_eq!(out[1].take().unwrap().thread, 3);
        assert_eq!(queue.len(), 1);
    }
}
