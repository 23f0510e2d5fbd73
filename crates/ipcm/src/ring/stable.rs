//! The storage of the by-id table ([`crate::slots`]): chunks of pipe
//! headers at addresses that never change while the table lives, and
//! [`Pinned`] references to them that a handle keeps beyond any borrow.
//!
//! A `Pinned` is a pointer and the serial number of the table it points
//! into. Serial numbers are unique (one counter for the whole program), so
//! a table [`resolve`](SlotTable::resolve)s only its own: while the caller
//! holds `&table`, the table lives, and so does every chunk it ever
//! allocated (chunks are freed only when the table is dropped, and never
//! move). A `Pinned` from another table, or from a dropped one, resolves to
//! nothing.

use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering};

use alloc::boxed::Box;
use alloc::vec::Vec;

use once_cell::race::OnceBox;

use crate::Status;

/// Headers per chunk (a header is a few hundred bytes: a chunk is a few
/// KiB). Under loom, two, so that a model builds few loom objects.
#[cfg(not(loom))]
const CHUNK: usize = 16;
#[cfg(loom)]
const CHUNK: usize = 2;
/// Chunks per middle block.
const MID: usize = 1024;
/// Middle blocks in the top table.
const TOP: usize = 64;
/// How many pipes can exist at once; `create` beyond it is
/// [`Status::NoMemory`].
pub const MAX_PIPES: usize = CHUNK * MID * TOP;

type Chunk<P> = [P; CHUNK];
type Middle<P> = [OnceBox<Chunk<P>>; MID];

/// The chunked table of headers, each made by `vacant(index)` when its
/// chunk is allocated.
pub(crate) struct SlotTable<P> {
    top: [OnceBox<Middle<P>>; TOP],
    vacant: fn(usize) -> P,
    /// This table's serial number, for [`Pinned`].
    serial: u64,
}

/// A boxed array of `N` values made by `make`, allocated fallibly.
fn try_boxed_array<T, const N: usize>(make: impl FnMut() -> T) -> Result<Box<[T; N]>, Status> {
    let mut items = Vec::new();
    items.try_reserve_exact(N).map_err(|_| Status::NoMemory)?;
    items.resize_with(N, make);
    items
        .into_boxed_slice()
        .try_into()
        .map_err(|_| Status::NoMemory)
}

/// The next table's serial number (never 0, never reused).
static SERIALS: AtomicU64 = AtomicU64::new(1);

/// A reference to a header of a [`SlotTable`], valid while that table
/// lives; see the module docs.
pub(crate) struct Pinned<P> {
    serial: u64,
    header: NonNull<P>,
}

impl<P> Clone for Pinned<P> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P> Copy for Pinned<P> {}

// SAFETY: a `Pinned` only ever gives out `&P` (through `resolve`), like a
// `&P` it may go to and be shared by other threads when `P` is `Sync`.
unsafe impl<P: Sync> Send for Pinned<P> {}
// SAFETY: as above.
unsafe impl<P: Sync> Sync for Pinned<P> {}

impl<P> SlotTable<P> {
    /// An empty table (512 bytes; nothing allocated until a create), whose
    /// headers start as `vacant(index)`.
    pub(crate) fn new(vacant: fn(usize) -> P) -> Self {
        SlotTable {
            top: [const { OnceBox::new() }; TOP],
            vacant,
            serial: SERIALS.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// The header of slot `index`, allocating its chunk if needed.
    ///
    /// # Errors
    /// `NoMemory` past [`MAX_PIPES`] or when the chunk cannot be
    /// allocated; nothing changed then.
    pub(crate) fn reserve(&self, index: usize) -> Result<&P, Status> {
        let top = self
            .top
            .get(index / (CHUNK * MID))
            .ok_or(Status::NoMemory)?;
        let middle = top.get_or_try_init(|| try_boxed_array(OnceBox::new))?;
        let chunk = middle[index / CHUNK % MID].get_or_try_init(|| {
            let mut next = index - index % CHUNK;
            try_boxed_array(|| {
                next += 1;
                (self.vacant)(next - 1)
            })
        })?;
        Ok(&chunk[index % CHUNK])
    }

    /// The header of slot `index`, if its chunk exists (whatever pipe it
    /// holds: the caller checks the id).
    #[inline(always)]
    pub(crate) fn get(&self, index: usize) -> Option<&P> {
        let middle = self.top.get(index / (CHUNK * MID))?.get()?;
        let chunk = middle[index / CHUNK % MID].get()?;
        Some(&chunk[index % CHUNK])
    }

    /// A reference to the header of slot `index` (reserved before) that
    /// outlives this borrow.
    pub(crate) fn pin(&self, index: usize) -> Option<Pinned<P>> {
        let header = self.get(index)?;
        Some(Pinned {
            serial: self.serial,
            header: NonNull::from(header),
        })
    }

    /// The header `pinned` refers to, if it is one of this table's.
    #[inline(always)]
    pub(crate) fn resolve<'a>(&'a self, pinned: &Pinned<P>) -> Option<&'a P> {
        if pinned.serial != self.serial {
            return None;
        }
        // SAFETY: only `pin` of the table with this serial made `pinned`
        // (serials are unique), from a header in one of its chunks; a
        // chunk is never freed nor moved before its table is dropped, and
        // `&'a self` keeps the table alive for `'a`. Headers are only ever
        // shared (`&P`), never handed out mutably.
        Some(unsafe { pinned.header.as_ref() })
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_header_stays_where_it_was_reserved() {
        let table: SlotTable<usize> = SlotTable::new(|index| index + 7);
        assert!(table.get(70).is_none(), "chunk never allocated");
        let header: *const usize = table.reserve(70).unwrap();
        assert_eq!(table.get(70).copied(), Some(77), "made for its index");
        assert_eq!(table.get(64).copied(), Some(71), "so is the whole chunk");
        assert!(core::ptr::eq(table.get(70).unwrap(), header));
        table.reserve(71).unwrap();
        assert!(core::ptr::eq(table.reserve(70).unwrap(), header));
    }

    #[test]
    fn a_pinned_header_resolves_only_in_its_own_table() {
        let table: SlotTable<u32> = SlotTable::new(|_| 7);
        let other: SlotTable<u32> = SlotTable::new(|_| 8);
        table.reserve(3).unwrap();
        other.reserve(3).unwrap();
        let pinned = table.pin(3).unwrap();
        assert!(core::ptr::eq(
            table.resolve(&pinned).unwrap(),
            table.get(3).unwrap()
        ));
        assert!(other.resolve(&pinned).is_none());
        assert!(table.pin(5000).is_none(), "chunk never allocated");
        drop(table);
        let again: SlotTable<u32> = SlotTable::new(|_| 9);
        again.reserve(3).unwrap();
        assert!(again.resolve(&pinned).is_none(), "a dropped table's");
    }

    #[test]
    fn the_table_is_bounded() {
        let table: SlotTable<u8> = SlotTable::new(|_| 0);
        assert_eq!(table.reserve(MAX_PIPES).err(), Some(Status::NoMemory));
        assert!(table.reserve(MAX_PIPES - 1).is_ok());
        assert!(table.get(MAX_PIPES).is_none());
    }
}
