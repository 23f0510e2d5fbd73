//! Pending operations: what a blocked thread asked for, queued per pipe.
//!
//! A pipe's pending operations are all of one direction: readers and
//! peekers wait only on an empty pipe, writers only on a full one, and a pipe
//! (capacity >= 1) is never both. So one queue per pipe suffices.

use alloc::collections::VecDeque;

use crate::kernel::{Priority, UserAddr};

/// What a pending operation will do when it completes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PendingOp {
    /// Take the oldest message into `buf`, its length into `len_out`.
    Read { buf: UserAddr, len_out: UserAddr },
    /// Copy the oldest message into `buf` without taking it.
    Peek { buf: UserAddr, len_out: UserAddr },
    /// Append the `len` bytes at `buf`.
    Write { buf: UserAddr, len: usize },
}

/// One blocked thread and what it waits to do.
#[derive(Debug)]
pub(crate) struct Pending<T> {
    pub(crate) thread: T,
    pub(crate) priority: Priority,
    pub(crate) op: PendingOp,
}

/// The FIFO (optionally priority-ordered) queue of a pipe's pending
/// operations. Its storage grows to its high-water mark and stays there.
pub(crate) struct WaitQueue<T> {
    queue: VecDeque<Pending<T>>,
    peekers: usize,
    writers: usize,
}

/// How many pending operations of each kind a queue holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct WaitCounts {
    pub(crate) readers: usize,
    pub(crate) peekers: usize,
    pub(crate) writers: usize,
}

impl<T> WaitQueue<T> {
    pub(crate) const fn new() -> Self {
        WaitQueue {
            queue: VecDeque::new(),
            peekers: 0,
            writers: 0,
        }
    }
}

impl<T: PartialEq> WaitQueue<T> {
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    pub(crate) fn counts(&self) -> WaitCounts {
        WaitCounts {
            readers: self.queue.len() - self.peekers - self.writers,
            peekers: self.peekers,
            writers: self.writers,
        }
    }

    /// Make room for one more entry so that [`push`](Self::push) does not
    /// allocate.
    pub(crate) fn try_reserve_one(&mut self) -> Result<(), alloc::collections::TryReserveError> {
        self.queue.try_reserve(1)
    }

    /// Queue `pending`: at the back, or with `by_priority` behind every entry
    /// of the same or higher priority.
    pub(crate) fn push(&mut self, pending: Pending<T>, by_priority: bool) {
        self.count(&pending.op, true);
        let at = if by_priority {
            // Scan from the back: equal priorities keep FIFO order, and the
            // common case (all equal) stops at once.
            let mut at = self.queue.len();
            while at > 0 && self.queue[at - 1].priority < pending.priority {
                at -= 1;
            }
            at
        } else {
            self.queue.len()
        };
        self.queue.insert(at, pending);
    }

    /// Remove and return the oldest entry.
    pub(crate) fn pop_front(&mut self) -> Option<Pending<T>> {
        let pending = self.queue.pop_front()?;
        self.count(&pending.op, false);
        Some(pending)
    }

    /// Remove every peeker, oldest first, handing each to `serve` with the
    /// buffer and length word it waits to fill.
    #[inline]
    pub(crate) fn drain_peekers(&mut self, serve: impl FnMut(T, UserAddr, UserAddr)) {
        if self.peekers > 0 {
            self.drain_peekers_slow(serve);
        }
    }

    #[cold]
    fn drain_peekers_slow(&mut self, mut serve: impl FnMut(T, UserAddr, UserAddr)) {
        let mut kept = 0;
        let total = self.queue.len();
        // Rotate through the queue once, keeping non-peekers in order.
        for _ in 0..total {
            let Some(pending) = self.queue.pop_front() else {
                break;
            };
            if let PendingOp::Peek { buf, len_out } = pending.op {
                self.peekers -= 1;
                serve(pending.thread, buf, len_out);
            } else {
                self.queue.push_back(pending);
                kept += 1;
            }
        }
        debug_assert_eq!(self.queue.len(), kept);
    }

    /// Remove `thread`'s entry, if it has one.
    pub(crate) fn remove_thread(&mut self, thread: &T) -> Option<Pending<T>> {
        let at = self.queue.iter().position(|p| p.thread == *thread)?;
        let pending = self.queue.remove(at)?;
        self.count(&pending.op, false);
        Some(pending)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(thread: u32, priority: u8, op: PendingOp) -> Pending<u32> {
        Pending {
            thread,
            priority: Priority(priority),
            op,
        }
    }

    const READ: PendingOp = PendingOp::Read {
        buf: UserAddr(0x1000),
        len_out: UserAddr(0x2000),
    };
    const PEEK: PendingOp = PendingOp::Peek {
        buf: UserAddr(0x1000),
        len_out: UserAddr(0x2000),
    };

    fn order(queue: &mut WaitQueue<u32>) -> alloc::vec::Vec<u32> {
        core::iter::from_fn(|| queue.pop_front().map(|p| p.thread)).collect()
    }

    #[test]
    fn fifo_without_priority() {
        let mut queue = WaitQueue::new();
        for (thread, priority) in [(1, 0), (2, 9), (3, 5)] {
            queue.push(pending(thread, priority, READ), false);
        }
        assert_eq!(order(&mut queue), [1, 2, 3]);
    }

    #[test]
    fn priority_order_is_fifo_within_a_priority() {
        let mut queue = WaitQueue::new();
        for (thread, priority) in [(1, 1), (2, 5), (3, 1), (4, 5), (5, 9)] {
            queue.push(pending(thread, priority, READ), true);
        }
        assert_eq!(order(&mut queue), [5, 2, 4, 1, 3]);
    }

    #[test]
    fn drain_peekers_keeps_readers_in_order() {
        let mut queue = WaitQueue::new();
        queue.push(pending(1, 0, READ), false);
        queue.push(pending(2, 0, PEEK), false);
        queue.push(pending(3, 0, READ), false);
        queue.push(pending(4, 0, PEEK), false);
        let mut served = alloc::vec::Vec::new();
        queue.drain_peekers(|thread, _, _| served.push(thread));
        assert_eq!(served, [2, 4]);
        assert_eq!(queue.counts().peekers, 0);
        assert_eq!(queue.counts().readers, 2);
        assert_eq!(order(&mut queue), [1, 3]);
    }

    #[test]
    fn remove_thread_updates_counts() {
        let mut queue = WaitQueue::new();
        queue.push(pending(1, 0, PEEK), false);
        queue.push(pending(2, 0, READ), false);
        assert!(queue.remove_thread(&1).is_some());
        assert!(queue.remove_thread(&1).is_none());
        assert_eq!(
            queue.counts(),
            WaitCounts {
                readers: 1,
                peekers: 0,
                writers: 0
            }
        );
    }
}
