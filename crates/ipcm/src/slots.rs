//! The by-id view of the registry: a table of pipe slots that never moves,
//! read without any lock shared by all pipes (DESIGN §8).
//!
//! Slots live in fixed-size chunks, reached through a fixed top table and
//! a middle level; every chunk and middle block is allocated once
//! (fallibly, by `create`, under the registry lock) and published through
//! a [`OnceBox`]: a lookup finds its chunk with two acquire loads and never
//! sees a chunk move or disappear while the manager lives. Each slot is a
//! lock of its own, on its own cache line, holding the slot's current
//! pipe; a lookup takes only that lock, checks the pipe's id (the
//! generation inside it) and clones the `Arc`. Two pipes never share a
//! slot lock or its cache line, so lookups of disjoint pipes do not meet.
//!
//! A destroy racing a lookup is safe without unsafe code: the destroy
//! empties the slot under the slot's lock; a lookup either cloned the
//! `Arc` before (and then holds a counted reference: it reaches the pipe,
//! sees it destroyed under the pipe's lock, `Destroyed`) or finds the slot
//! empty or holding a newer generation (`NotFound`).

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crossbeam_utils::CachePadded;
use lock_api::{Mutex, RawMutex};
use once_cell::race::OnceBox;

use crate::{PipeId, Status};

/// Slots per chunk (a chunk is 8 KiB: one cache-padded slot is 128 B).
const CHUNK: usize = 64;
/// Chunks per middle block.
const MID: usize = 256;
/// Middle blocks in the top table.
const TOP: usize = 64;
/// How many pipes can exist at once; `create` beyond it is
/// [`Status::NoMemory`].
pub const MAX_PIPES: usize = CHUNK * MID * TOP;

/// Anything the table can hold: it must know its own id.
pub(crate) trait HasId {
    fn id(&self) -> PipeId;
}

type Cell<R, P> = CachePadded<Mutex<R, Option<Arc<P>>>>;
type Chunk<R, P> = [Cell<R, P>; CHUNK];
type Middle<R, P> = [OnceBox<Chunk<R, P>>; MID];

/// The chunked table of slots.
pub(crate) struct SlotTable<R: RawMutex, P> {
    top: [OnceBox<Middle<R, P>>; TOP],
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

impl<R: RawMutex, P: HasId> SlotTable<R, P> {
    /// An empty table (512 bytes; nothing allocated until a create).
    pub(crate) fn new() -> Self {
        SlotTable {
            top: [const { OnceBox::new() }; TOP],
        }
    }

    /// Make sure slot `index` exists (allocating its chunk).
    ///
    /// # Errors
    /// `NoMemory` past [`MAX_PIPES`] or when the chunk cannot be
    /// allocated; nothing changed then.
    pub(crate) fn reserve(&self, index: usize) -> Result<(), Status> {
        let top = self
            .top
            .get(index / (CHUNK * MID))
            .ok_or(Status::NoMemory)?;
        let middle = top.get_or_try_init(|| try_boxed_array(OnceBox::new))?;
        middle[index / CHUNK % MID]
            .get_or_try_init(|| try_boxed_array(|| CachePadded::new(Mutex::new(None))))?;
        Ok(())
    }

    #[inline]
    fn cell(&self, index: usize) -> Option<&Cell<R, P>> {
        let middle = self.top.get(index / (CHUNK * MID))?.get()?;
        let chunk = middle[index / CHUNK % MID].get()?;
        Some(&chunk[index % CHUNK])
    }

    /// Put `pipe` in its slot (reserved before).
    pub(crate) fn publish(&self, pipe: Arc<P>) {
        let index = pipe.id().index();
        match self.cell(index) {
            Some(cell) => *cell.lock() = Some(pipe),
            None => debug_assert!(false, "publish into a slot never reserved"),
        }
    }

    /// Empty slot of `id`, if it holds that pipe.
    pub(crate) fn clear(&self, id: PipeId) {
        if let Some(cell) = self.cell(id.index()) {
            let mut slot = cell.lock();
            if slot.as_ref().is_some_and(|pipe| pipe.id() == id) {
                // Dropped after the slot lock is released.
                let pipe = slot.take();
                drop(slot);
                drop(pipe);
            }
        }
    }

    /// The live pipe `id`: `None` for an id never handed out, or stale.
    #[inline]
    pub(crate) fn get(&self, id: PipeId) -> Option<Arc<P>> {
        let slot = self.cell(id.index())?.lock();
        slot.as_ref().filter(|pipe| pipe.id() == id).cloned()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    struct Named(PipeId);

    impl HasId for Named {
        fn id(&self) -> PipeId {
            self.0
        }
    }

    #[test]
    fn a_stale_id_finds_nothing_even_in_a_reused_slot() {
        let table: SlotTable<spin::Mutex<()>, Named> = SlotTable::new();
        let first = PipeId::new(70, 1);
        assert!(table.get(first).is_none(), "chunk never allocated");
        table.reserve(70).unwrap();
        table.publish(Arc::new(Named(first)));
        assert_eq!(table.get(first).map(|p| p.0), Some(first));
        table.clear(first);
        assert!(table.get(first).is_none());
        let second = PipeId::new(70, 2);
        table.publish(Arc::new(Named(second)));
        assert!(table.get(first).is_none());
        table.clear(first);
        assert!(table.get(second).is_some(), "a stale clear changes nothing");
    }

    #[test]
    fn the_table_is_bounded() {
        let table: SlotTable<spin::Mutex<()>, Named> = SlotTable::new();
        assert_eq!(table.reserve(MAX_PIPES), Err(Status::NoMemory));
        assert_eq!(table.reserve(MAX_PIPES - 1), Ok(()));
    }
}
