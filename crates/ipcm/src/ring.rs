//! The message store of one pipe: a ring of fixed-size slots, no locking.
//!
//! The ring has `capacity + 1` slots so that one slot is always free: a new
//! message is copied into that *staging* slot first and only becomes part of
//! the queue when the copy succeeded. A faulting copy therefore never damages
//! a queued message, even when a discard-oldest write meets a full pipe.

use alloc::boxed::Box;
use alloc::vec::Vec;

use crate::Status;

/// A FIFO of at most `capacity` messages of at most `msg_size` bytes each.
pub(crate) struct Ring {
    /// `(capacity + 1) * msg_size` bytes, slot `i` at `i * msg_size`.
    store: Box<[u8]>,
    /// Length of the message in each slot.
    lens: Box<[usize]>,
    msg_size: usize,
    capacity: usize,
    /// Slot of the oldest message.
    head: usize,
    /// The staging slot: where the next message goes, always free.
    tail: usize,
    /// Number of queued messages, `<= capacity`.
    queued: usize,
}

impl Ring {
    /// Allocate the whole store up front.
    ///
    /// # Errors
    /// [`Status::BadParam`] for zero sizes or a size that overflows,
    /// [`Status::NoMemory`] when the allocator refuses.
    pub(crate) fn new(msg_size: usize, capacity: usize) -> Result<Ring, Status> {
        if msg_size == 0 || capacity == 0 {
            return Err(Status::BadParam);
        }
        let slots = capacity.checked_add(1).ok_or(Status::BadParam)?;
        let bytes = slots.checked_mul(msg_size).ok_or(Status::BadParam)?;
        if bytes > isize::MAX as usize {
            return Err(Status::BadParam);
        }
        let store = zeroed_box(bytes)?;
        let lens = zeroed_box(slots)?;
        Ok(Ring {
            store,
            lens,
            msg_size,
            capacity,
            head: 0,
            tail: 0,
            queued: 0,
        })
    }

    pub(crate) fn msg_size(&self) -> usize {
        self.msg_size
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn len(&self) -> usize {
        self.queued
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queued == 0
    }

    pub(crate) fn is_full(&self) -> bool {
        self.queued == self.capacity
    }

    /// The slot after `slot`, wrapping (a compare, not a division: this is
    /// on every read and write).
    #[inline]
    fn next(&self, slot: usize) -> usize {
        if slot == self.capacity { 0 } else { slot + 1 }
    }

    #[inline]
    fn slot(&self, slot: usize, len: usize) -> &[u8] {
        let start = slot * self.msg_size;
        &self.store[start..start + len]
    }

    /// The free slot a new message is copied into before it is committed.
    #[inline]
    pub(crate) fn staging_mut(&mut self, len: usize) -> &mut [u8] {
        let start = self.tail * self.msg_size;
        &mut self.store[start..start + len]
    }

    /// The first `len` bytes of the staging slot.
    #[inline]
    pub(crate) fn staged(&self, len: usize) -> &[u8] {
        self.slot(self.tail, len)
    }

    /// Append the staged message of `len` bytes. When the ring is full the
    /// oldest message is dropped to make room; returns whether one was.
    #[inline]
    pub(crate) fn commit_staged(&mut self, len: usize) -> bool {
        debug_assert!(len <= self.msg_size);
        self.lens[self.tail] = len;
        self.tail = self.next(self.tail);
        if self.is_full() {
            self.head = self.next(self.head);
            true
        } else {
            self.queued += 1;
            false
        }
    }

    /// The oldest message, if any.
    #[inline]
    pub(crate) fn front(&self) -> Option<&[u8]> {
        if self.is_empty() {
            return None;
        }
        Some(self.slot(self.head, self.lens[self.head]))
    }

    /// Remove the oldest message.
    #[inline]
    pub(crate) fn pop_front(&mut self) {
        debug_assert!(!self.is_empty());
        if !self.is_empty() {
            self.head = self.next(self.head);
            self.queued -= 1;
        }
    }

    /// Drop every queued message and free the store (on destroy: DESIGN §8,
    /// a handle held across it keeps only the pipe's small header); returns
    /// how many messages there were. The ring keeps its sizes for `info`
    /// but holds nothing after this: it must not be used again.
    pub(crate) fn release(&mut self) -> usize {
        let released = self.queued;
        self.queued = 0;
        self.head = 0;
        self.tail = 0;
        // Empty boxed slices own no allocation.
        self.store = Box::default();
        self.lens = Box::default();
        released
    }
}

fn zeroed_box<T: Clone + Default>(len: usize) -> Result<Box<[T]>, Status> {
    let mut items = Vec::new();
    items.try_reserve_exact(len).map_err(|_| Status::NoMemory)?;
    items.resize(len, T::default());
    Ok(items.into_boxed_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(ring: &mut Ring, msg: &[u8]) -> bool {
        ring.staging_mut(msg.len()).copy_from_slice(msg);
        ring.commit_staged(msg.len())
    }

    #[test]
    fn holds_exactly_capacity_messages_with_their_lengths() {
        let mut ring = Ring::new(4, 3).unwrap();
        assert!(!push(&mut ring, b"a"));
        assert!(!push(&mut ring, b""));
        assert!(!push(&mut ring, b"cccc"));
        assert!(ring.is_full());
        assert_eq!(ring.len(), 3);
        assert_eq!(ring.front(), Some(&b"a"[..]));
        ring.pop_front();
        assert_eq!(ring.front(), Some(&b""[..]));
        ring.pop_front();
        assert_eq!(ring.front(), Some(&b"cccc"[..]));
        ring.pop_front();
        assert!(ring.is_empty());
        assert_eq!(ring.front(), None);
    }

    #[test]
    fn commit_on_full_drops_exactly_the_oldest() {
        let mut ring = Ring::new(1, 2).unwrap();
        assert!(!push(&mut ring, b"1"));
        assert!(!push(&mut ring, b"2"));
        assert!(push(&mut ring, b"3"));
        assert_eq!(ring.len(), 2);
        assert_eq!(ring.front(), Some(&b"2"[..]));
        ring.pop_front();
        assert_eq!(ring.front(), Some(&b"3"[..]));
    }

    #[test]
    fn staging_never_aliases_a_queued_message() {
        let mut ring = Ring::new(2, 2).unwrap();
        push(&mut ring, b"aa");
        push(&mut ring, b"bb");
        ring.staging_mut(2).fill(b'x');
        assert_eq!(ring.front(), Some(&b"aa"[..]));
        ring.pop_front();
        assert_eq!(ring.front(), Some(&b"bb"[..]));
    }

    #[test]
    fn release_frees_the_store() {
        let mut ring = Ring::new(8, 4).unwrap();
        push(&mut ring, b"a");
        push(&mut ring, b"b");
        assert_eq!(ring.release(), 2);
        assert!(ring.is_empty());
        assert!(ring.store.is_empty() && ring.lens.is_empty());
    }

    #[test]
    fn rejects_zero_and_overflowing_sizes() {
        assert_eq!(Ring::new(0, 1).err(), Some(Status::BadParam));
        assert_eq!(Ring::new(1, 0).err(), Some(Status::BadParam));
        assert_eq!(Ring::new(2, usize::MAX).err(), Some(Status::BadParam));
        assert_eq!(Ring::new(usize::MAX / 2, 3).err(), Some(Status::BadParam));
    }
}
