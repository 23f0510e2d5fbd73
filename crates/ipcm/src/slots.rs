//! The by-id view of the registry: a table of pipe slots that never moves,
//! read without any lock shared by all pipes (DESIGN §8).
//!
//! Slots live in fixed-size chunks, each allocated once (fallibly, by
//! `create`, under the registry lock) and published through a
//! [`OnceBox`]: a lookup finds its chunk with one acquire load and never
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

/// Slots per chunk.
const CHUNK: usize = 64;
/// Chunks in the table: the table holds at most `CHUNKS * CHUNK` pipes at
/// once (more is `NoMemory`).
const CHUNKS: usize = 1024;
/// How many pipes can exist at once; `create` beyond it is
/// [`Status::NoMemory`].
pub const MAX_PIPES: usize = CHUNK * CHUNKS;

/// Anything the table can hold: it must know its own id.
pub(crate) trait HasId {
    fn id(&self) -> PipeId;
}

type Cell<R, P> = CachePadded<Mutex<R, Option<Arc<P>>>>;
type Chunk<R, P> = [Cell<R, P>; CHUNK];

/// The chunked table of slots.
pub(crate) struct SlotTable<R: RawMutex, P> {
    chunks: Box<[OnceBox<Chunk<R, P>>]>,
}

impl<R: RawMutex, P: HasId> SlotTable<R, P> {
    /// An empty table (its chunk index, 8 KiB, on the heap).
    pub(crate) fn new() -> Self {
        let mut chunks = Vec::with_capacity(CHUNKS);
        chunks.resize_with(CHUNKS, OnceBox::new);
        SlotTable {
            chunks: chunks.into_boxed_slice(),
        }
    }

    /// Make sure slot `index` exists (allocating its chunk).
    ///
    /// # Errors
    /// `NoMemory` past [`MAX_PIPES`] or when the chunk cannot be
    /// allocated; nothing changed then.
    pub(crate) fn reserve(&self, index: usize) -> Result<(), Status> {
        let chunk = self.chunks.get(index / CHUNK).ok_or(Status::NoMemory)?;
        chunk.get_or_try_init(|| {
            let mut cells = Vec::new();
            cells
                .try_reserve_exact(CHUNK)
                .map_err(|_| Status::NoMemory)?;
            cells.resize_with(CHUNK, || CachePadded::new(Mutex::new(None)));
            cells
                .into_boxed_slice()
                .try_into()
                .map_err(|_| Status::NoMemory)
        })?;
        Ok(())
    }

    fn cell(&self, index: usize) -> Option<&Cell<R, P>> {
        let chunk = self.chunks.get(index / CHUNK)?.get()?;
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
