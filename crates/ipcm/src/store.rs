//! What the slow path sees of a pipe's messages: the ring held by the
//! lock, or, for a `PRIORITY_MESSAGES` pipe, its [`PrioQueue`] (whose ring
//! stays parked and empty, so no fast operation ever runs on it). The
//! protocol in [`crate::pipe`] is written once against this view.

use crate::prio::{self, PrioQueue};
use crate::ring::{Held, RingCounters};

/// One slow-path operation's access to a pipe's messages (see the module
/// docs). Built by the manager with the pipe's lock and both ring ends
/// held.
pub(crate) struct Store<'a, 'r> {
    ring: &'a mut Held<'r>,
    prio: Option<&'a mut PrioQueue>,
}

/// Dispatch one call to the priority queue if there is one, else the ring.
macro_rules! either {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match &$self.prio {
            Some(queue) => queue.$method($($arg),*),
            None => $self.ring.$method($($arg),*),
        }
    };
    (mut $self:ident . $method:ident ( $($arg:expr),* )) => {
        match &mut $self.prio {
            Some(queue) => queue.$method($($arg),*),
            None => $self.ring.$method($($arg),*),
        }
    };
}

impl<'a, 'r> Store<'a, 'r> {
    pub(crate) fn new(ring: &'a mut Held<'r>, prio: Option<&'a mut PrioQueue>) -> Self {
        Store { ring, prio }
    }

    pub(crate) fn msg_size(&self) -> usize {
        either!(self.msg_size())
    }

    pub(crate) fn capacity(&self) -> usize {
        either!(self.capacity())
    }

    pub(crate) fn len(&self) -> usize {
        either!(self.len())
    }

    pub(crate) fn is_empty(&self) -> bool {
        either!(self.is_empty())
    }

    pub(crate) fn is_full(&self) -> bool {
        either!(self.is_full())
    }

    /// The counters, exact.
    pub(crate) fn counters(&self) -> RingCounters {
        either!(self.counters())
    }

    /// Count a message handed straight to a pending reader; returns its
    /// number.
    pub(crate) fn count_handed_off(&mut self) -> u64 {
        either!(mut self.count_handed_off())
    }

    /// The free slot a new message is copied into before it is committed.
    pub(crate) fn staging_mut(&mut self, len: usize) -> &mut [u8] {
        either!(mut self.staging_mut(len))
    }

    /// The first `len` bytes of the staging slot.
    pub(crate) fn staged(&self, len: usize) -> &[u8] {
        either!(self.staged(len))
    }

    /// The number the next accepted message gets.
    pub(crate) fn next_seq(&self) -> u64 {
        either!(self.next_seq())
    }

    /// Queue the staged message of `len` bytes: on a plain pipe at the
    /// back, or the front when `urgent`; on a priority pipe by `prio`
    /// (last of its level), or, when `urgent`, first of the highest level
    /// (read next). A full (discard-oldest) store drops its oldest first;
    /// returns whether it did.
    pub(crate) fn commit_staged(&mut self, len: usize, urgent: bool, prio: u8) -> bool {
        match &mut self.prio {
            Some(queue) if urgent => queue.commit_staged(len, prio::URGENT, true),
            Some(queue) => queue.commit_staged(len, prio, false),
            None if urgent => self.ring.commit_staged_front(len),
            None => self.ring.commit_staged(len),
        }
    }

    /// The message `index` places from the front in read order and its
    /// number.
    #[inline(always)]
    pub(crate) fn get(&self, index: usize) -> Option<(&[u8], u64)> {
        either!(self.get(index))
    }

    /// The first message in read order numbered above `after`.
    pub(crate) fn first_newer(&self, after: u64) -> Option<(&[u8], u64)> {
        match &self.prio {
            Some(queue) => queue.first_newer(after),
            // Urgent messages go to the front and the others to the back,
            // each numbered when accepted: the newest is at one of the two
            // ends, so they answer "none" in O(1).
            None if self
                .ring
                .back_seq()
                .max(self.ring.get(0).map(|(_, seq)| seq))
                .is_some_and(|newest| newest > after) =>
            {
                (0..self.ring.len())
                    .filter_map(|index| self.ring.get(index))
                    .find(|&(_, seq)| seq > after)
            }
            None => None,
        }
    }

    /// Drop every queued message without counting them as read; returns
    /// how many there were.
    pub(crate) fn clear(&mut self) -> usize {
        either!(mut self.clear())
    }

    /// Remove the message read next, counting it as read.
    pub(crate) fn pop_front(&mut self) {
        either!(mut self.pop_front())
    }

    /// Drop every queued message and free the store for good; returns how
    /// many messages there were.
    pub(crate) fn destroy(&mut self) -> usize {
        let ring = self.ring.destroy();
        match &mut self.prio {
            Some(queue) => queue.destroy(),
            None => ring,
        }
    }
}
