//! The by-id view of the registry: a table of pipe headers that never
//! move nor go away while the manager lives, read without any lock
//! (DESIGN §8).
//!
//! Headers live in fixed-size chunks, reached through a fixed top table
//! and a middle level; every chunk and middle block is allocated once
//! (fallibly, by `create`, under the registry lock) and published through
//! a [`OnceBox`]: a lookup finds its chunk with two acquire loads and never
//! sees a chunk move or disappear while the manager lives. A header is
//! *type-stable*: it holds the pipes of its slot one after another, and a
//! lookup by id is one more load, the header's id, compared with the one
//! asked for (the generation is part of the id). No lock is taken and no
//! reference count is touched, so lookups of any pipes never write a
//! shared line.
//!
//! A destroy racing a lookup is safe without unsafe code: the header stays,
//! and every step of an operation that commits anything checks the id
//! again (after taking a ring end, or under the pipe's lock), so an
//! operation that looked up a pipe since destroyed ends with `NotFound`
//! (by id) or `Destroyed` (by handle), never on the slot's next pipe.

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

/// The chunked table of headers, each made by `P::vacant` when its chunk
/// is allocated.
pub(crate) struct SlotTable<P> {
    top: [OnceBox<Middle<P>>; TOP],
    vacant: fn() -> P,
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

impl<P> SlotTable<P> {
    /// An empty table (512 bytes; nothing allocated until a create), whose
    /// headers start as `vacant()`.
    pub(crate) fn new(vacant: fn() -> P) -> Self {
        SlotTable {
            top: [const { OnceBox::new() }; TOP],
            vacant,
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
        let chunk = middle[index / CHUNK % MID].get_or_try_init(|| try_boxed_array(self.vacant))?;
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
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_header_stays_where_it_was_reserved() {
        let table: SlotTable<u32> = SlotTable::new(|| 7);
        assert!(table.get(70).is_none(), "chunk never allocated");
        let header: *const u32 = table.reserve(70).unwrap();
        assert_eq!(table.get(70).copied(), Some(7));
        assert!(core::ptr::eq(table.get(70).unwrap(), header));
        table.reserve(71).unwrap();
        assert!(core::ptr::eq(table.reserve(70).unwrap(), header));
    }

    #[test]
    fn the_table_is_bounded() {
        let table: SlotTable<u8> = SlotTable::new(|| 0);
        assert_eq!(table.reserve(MAX_PIPES).err(), Some(Status::NoMemory));
        assert!(table.reserve(MAX_PIPES - 1).is_ok());
        assert!(table.get(MAX_PIPES).is_none());
    }
}
