//! The message store of a `PRIORITY_MESSAGES` pipe (DESIGN §9): read order
//! is higher priority first, FIFO within a priority; every operation but
//! the peeks that look past the front is O(1).
//!
//! `capacity + 1` fixed slots (one is always free: the staging slot a
//! message is copied into before it is committed, as in the ring). Each
//! queued slot is on two doubly linked lists threaded through the slot
//! table: its priority level's list (read order within the level) and the
//! arrival list (sequence order, for discard-oldest). A bitmap of the
//! non-empty levels finds the highest one with one leading-zeros count per
//! 64 levels. Used only under the pipe's lock; such a pipe never takes the
//! lock-free fast path (its ring stays parked).

use alloc::boxed::Box;
use alloc::vec::Vec;

use crate::Status;
use crate::ring::RingCounters;

/// How many message priorities there are: `0..=255`, higher read first.
pub(crate) const LEVELS: usize = 256;
/// The priority an urgent write is stored at (at the front of it): above
/// every other, so the message is read next (DESIGN §9).
pub(crate) const URGENT: u8 = u8::MAX;

/// No slot (an empty list's end).
const NIL: u32 = u32::MAX;
const WORDS: usize = LEVELS / 64;

/// One slot's bookkeeping.
#[derive(Clone, Copy)]
struct Meta {
    len: usize,
    seq: u64,
    prio: u8,
    /// Neighbours in read order within the slot's level (`next` also links
    /// the free list).
    prev: u32,
    next: u32,
    /// Neighbours in arrival order.
    older: u32,
    newer: u32,
}

const FREE_META: Meta = Meta {
    len: 0,
    seq: 0,
    prio: 0,
    prev: NIL,
    next: NIL,
    older: NIL,
    newer: NIL,
};

/// The two ends of a doubly linked list.
#[derive(Clone, Copy)]
struct Ends {
    first: u32,
    last: u32,
}

const EMPTY: Ends = Ends {
    first: NIL,
    last: NIL,
};

/// A priority pipe's messages and counters (see the module docs).
pub(crate) struct PrioQueue {
    msg_size: usize,
    capacity: usize,
    bytes: Box<[u8]>,
    meta: Box<[Meta]>,
    levels: Box<[Ends]>,
    /// Bit `p % 64` of word `p / 64`: level `p` is not empty.
    nonempty: [u64; WORDS],
    /// The free slots, linked by `next`; its first is the staging slot.
    free: u32,
    arrival: Ends,
    len: usize,
    written: u64,
    read: u64,
    dropped: u64,
}

fn filled<T: Clone>(len: usize, value: T) -> Result<Box<[T]>, Status> {
    let mut items = Vec::new();
    items.try_reserve_exact(len).map_err(|_| Status::NoMemory)?;
    items.resize(len, value);
    Ok(items.into_boxed_slice())
}

impl PrioQueue {
    /// Allocate the whole store up front.
    ///
    /// # Errors
    /// `BadParam` for a zero size or capacity (a rendezvous pipe queues
    /// nothing to order) or one that overflows; `NoMemory`.
    pub(crate) fn new(msg_size: usize, capacity: usize) -> Result<PrioQueue, Status> {
        if msg_size == 0 || capacity == 0 {
            return Err(Status::BadParam);
        }
        let slots = capacity.checked_add(1).ok_or(Status::BadParam)?;
        if u32::try_from(slots).map_or(true, |slots| slots == NIL) {
            return Err(Status::BadParam);
        }
        let total = slots.checked_mul(msg_size).ok_or(Status::BadParam)?;
        if total > isize::MAX as usize {
            return Err(Status::BadParam);
        }
        let mut queue = PrioQueue {
            msg_size,
            capacity,
            bytes: filled(total, 0)?,
            meta: filled(slots, FREE_META)?,
            levels: filled(LEVELS, EMPTY)?,
            nonempty: [0; WORDS],
            free: NIL,
            arrival: EMPTY,
            len: 0,
            written: 0,
            read: 0,
            dropped: 0,
        };
        queue.reset();
        Ok(queue)
    }

    /// Every slot free, every list empty.
    fn reset(&mut self) {
        for level in 0..LEVELS {
            if self.level_nonempty(level) {
                self.levels[level] = EMPTY;
            }
        }
        self.nonempty = [0; WORDS];
        self.arrival = EMPTY;
        self.len = 0;
        self.free = NIL;
        for slot in (0..self.meta.len()).rev() {
            self.meta[slot] = Meta {
                next: self.free,
                ..FREE_META
            };
            self.free = slot as u32;
        }
    }

    pub(crate) fn msg_size(&self) -> usize {
        self.msg_size
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn is_full(&self) -> bool {
        self.len >= self.capacity
    }

    pub(crate) fn counters(&self) -> RingCounters {
        RingCounters {
            written: self.written,
            read: self.read,
            dropped: self.dropped,
        }
    }

    fn level_nonempty(&self, level: usize) -> bool {
        self.nonempty[level / 64] & (1 << (level % 64)) != 0
    }

    /// The highest non-empty level at or below `below` (exclusive bound),
    /// if any.
    fn highest_below(&self, below: usize) -> Option<usize> {
        let mut word = below / 64;
        let mut mask = if below.is_multiple_of(64) {
            0
        } else {
            (1u64 << (below % 64)) - 1
        };
        loop {
            let bits = self.nonempty.get(word).copied().unwrap_or(0) & mask;
            if bits != 0 {
                return Some(word * 64 + 63 - bits.leading_zeros() as usize);
            }
            if word == 0 {
                return None;
            }
            word -= 1;
            mask = u64::MAX;
        }
    }

    /// The slot read next, if any.
    fn front(&self) -> Option<u32> {
        self.highest_below(LEVELS)
            .map(|level| self.levels[level].first)
    }

    /// The queued slots in read order.
    fn in_order(&self) -> impl Iterator<Item = u32> + '_ {
        let mut level = self.highest_below(LEVELS);
        let mut slot = level.map_or(NIL, |level| self.levels[level].first);
        core::iter::from_fn(move || {
            while slot == NIL {
                level = self.highest_below(level?);
                slot = self.levels[level?].first;
            }
            let this = slot;
            slot = self.meta[this as usize].next;
            Some(this)
        })
    }

    fn bytes_of(&self, slot: u32, len: usize) -> &[u8] {
        let start = slot as usize * self.msg_size;
        &self.bytes[start..start + len]
    }

    fn message(&self, slot: u32) -> (&[u8], u64) {
        let meta = &self.meta[slot as usize];
        (self.bytes_of(slot, meta.len), meta.seq)
    }

    /// The staging slot's first `len` bytes, to copy a new message into.
    pub(crate) fn staging_mut(&mut self, len: usize) -> &mut [u8] {
        let start = self.free as usize * self.msg_size;
        &mut self.bytes[start..start + len]
    }

    /// The first `len` bytes of the staging slot.
    pub(crate) fn staged(&self, len: usize) -> &[u8] {
        self.bytes_of(self.free, len)
    }

    /// The number the next accepted message gets (`written + 1`).
    pub(crate) fn next_seq(&self) -> u64 {
        self.written + 1
    }

    /// Count a message handed straight to a pending reader; returns its
    /// number.
    pub(crate) fn count_handed_off(&mut self) -> u64 {
        self.written += 1;
        self.read += 1;
        self.written
    }

    /// Queue the staged message of `len` bytes at priority `prio`: last
    /// of its level, or first with `front`. When full, the oldest queued
    /// message (lowest number, whatever its priority) is dropped first
    /// (counted); returns whether one was.
    pub(crate) fn commit_staged(&mut self, len: usize, prio: u8, front: bool) -> bool {
        debug_assert!(len <= self.msg_size);
        let slot = self.free;
        self.free = self.meta[slot as usize].next;
        let dropped = self.is_full();
        if dropped {
            let oldest = self.arrival.first;
            self.unlink(oldest);
            self.dropped += 1;
        }
        self.written += 1;
        self.meta[slot as usize] = Meta {
            len,
            seq: self.written,
            prio,
            ..FREE_META
        };
        self.link(slot, front);
        dropped
    }

    /// Put `slot` on its level's list (at the front with `front`) and at
    /// the end of the arrival list.
    fn link(&mut self, slot: u32, front: bool) {
        let level = usize::from(self.meta[slot as usize].prio);
        let ends = self.levels[level];
        if ends.first == NIL {
            self.levels[level] = Ends {
                first: slot,
                last: slot,
            };
            self.nonempty[level / 64] |= 1 << (level % 64);
        } else if front {
            self.meta[slot as usize].next = ends.first;
            self.meta[ends.first as usize].prev = slot;
            self.levels[level].first = slot;
        } else {
            self.meta[slot as usize].prev = ends.last;
            self.meta[ends.last as usize].next = slot;
            self.levels[level].last = slot;
        }
        let newest = self.arrival.last;
        self.meta[slot as usize].older = newest;
        if newest == NIL {
            self.arrival.first = slot;
        } else {
            self.meta[newest as usize].newer = slot;
        }
        self.arrival.last = slot;
        self.len += 1;
    }

    /// Take `slot` off both lists and put it on the free list, behind the
    /// staging slot (which stays the staging slot).
    fn unlink(&mut self, slot: u32) {
        let meta = self.meta[slot as usize];
        let level = usize::from(meta.prio);
        match meta.prev {
            NIL => self.levels[level].first = meta.next,
            prev => self.meta[prev as usize].next = meta.next,
        }
        match meta.next {
            NIL => self.levels[level].last = meta.prev,
            next => self.meta[next as usize].prev = meta.prev,
        }
        if self.levels[level].first == NIL {
            self.nonempty[level / 64] &= !(1 << (level % 64));
        }
        match meta.older {
            NIL => self.arrival.first = meta.newer,
            older => self.meta[older as usize].newer = meta.newer,
        }
        match meta.newer {
            NIL => self.arrival.last = meta.older,
            newer => self.meta[newer as usize].older = meta.older,
        }
        let after = match self.free {
            NIL => NIL,
            staging => {
                let after = self.meta[staging as usize].next;
                self.meta[staging as usize].next = slot;
                after
            }
        };
        self.meta[slot as usize] = Meta {
            next: after,
            ..FREE_META
        };
        if self.free == NIL {
            self.free = slot;
        }
        self.len -= 1;
    }

    /// The message `index` places from the front in read order and its
    /// number. O(`index`).
    pub(crate) fn get(&self, index: usize) -> Option<(&[u8], u64)> {
        if index >= self.len {
            return None;
        }
        self.in_order().nth(index).map(|slot| self.message(slot))
    }

    /// The first message in read order numbered above `after`. O(1) when
    /// there is none (the newest arrival has the highest number), else
    /// O(len).
    pub(crate) fn first_newer(&self, after: u64) -> Option<(&[u8], u64)> {
        if self.back_seq()? <= after {
            return None;
        }
        self.in_order()
            .find(|&slot| self.meta[slot as usize].seq > after)
            .map(|slot| self.message(slot))
    }

    /// The number of the newest queued message, if any.
    pub(crate) fn back_seq(&self) -> Option<u64> {
        match self.arrival.last {
            NIL => None,
            newest => Some(self.meta[newest as usize].seq),
        }
    }

    /// Remove the message read next, counting it as read.
    pub(crate) fn pop_front(&mut self) {
        if let Some(front) = self.front() {
            self.unlink(front);
            self.read += 1;
        }
    }

    /// Drop every queued message without counting them as read (a purge
    /// counts them itself); returns how many there were.
    pub(crate) fn clear(&mut self) -> usize {
        let queued = self.len;
        self.reset();
        queued
    }

    /// Drop every queued message and free the store (destroy); returns how
    /// many there were.
    pub(crate) fn destroy(&mut self) -> usize {
        let released = self.len;
        self.reset();
        self.bytes = Box::default();
        self.meta = Box::default();
        self.free = NIL;
        released
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use super::*;

    fn push(queue: &mut PrioQueue, byte: u8, prio: u8, front: bool) -> bool {
        queue.staging_mut(1)[0] = byte;
        queue.commit_staged(1, prio, front)
    }

    fn drain(queue: &mut PrioQueue) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some((msg, _)) = queue.get(0) {
            out.push(msg[0]);
            queue.pop_front();
        }
        out
    }

    #[test]
    fn reads_by_priority_then_fifo_with_urgent_in_front_of_its_level() {
        let mut queue = PrioQueue::new(1, 8).unwrap();
        push(&mut queue, b'a', 1, false);
        push(&mut queue, b'b', 200, false);
        push(&mut queue, b'c', 1, false);
        push(&mut queue, b'd', 64, false);
        push(&mut queue, b'e', 1, true);
        push(&mut queue, b'f', 0, false);
        assert_eq!(drain(&mut queue), b"bdeacf");
        assert!(queue.is_empty());
    }

    #[test]
    fn a_full_queue_drops_the_oldest_whatever_its_priority() {
        let mut queue = PrioQueue::new(1, 3).unwrap();
        push(&mut queue, b'a', 9, false);
        push(&mut queue, b'b', 1, false);
        push(&mut queue, b'c', 5, false);
        assert!(push(&mut queue, b'd', 0, false));
        assert_eq!(queue.counters().dropped, 1);
        assert_eq!(drain(&mut queue), b"cbd");
    }

    #[test]
    fn clear_frees_every_slot() {
        let mut queue = PrioQueue::new(1, 2).unwrap();
        push(&mut queue, b'a', 3, false);
        push(&mut queue, b'b', 70, false);
        assert_eq!(queue.clear(), 2);
        assert_eq!(queue.get(0), None);
        push(&mut queue, b'c', 0, false);
        push(&mut queue, b'd', 130, false);
        assert_eq!(drain(&mut queue), b"dc");
    }
}
