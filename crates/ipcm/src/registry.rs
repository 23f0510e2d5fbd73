//! Which pipes exist: O(1) lookup by id, O(log n) by name, ids never reused.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::id::{MAX_GENERATION, MAX_SLOTS};
use crate::{PipeId, Status};

/// The longest pipe name, in bytes.
pub const MAX_NAME_LEN: usize = 64;

/// Check a pipe name: 1 to [`MAX_NAME_LEN`] bytes, no NUL (it must survive
/// the trip through a C string).
///
/// # Errors
/// [`Status::BadParam`] otherwise.
pub fn validate_name(name: &str) -> Result<(), Status> {
    if name.is_empty() || name.len() > MAX_NAME_LEN || name.contains('\0') {
        Err(Status::BadParam)
    } else {
        Ok(())
    }
}

/// A copy of `name`, or `NoMemory`.
fn try_box_str(name: &str) -> Result<Box<str>, Status> {
    let mut owned = alloc::string::String::new();
    owned
        .try_reserve_exact(name.len())
        .map_err(|_| Status::NoMemory)?;
    owned.push_str(name);
    Ok(owned.into_boxed_str())
}

struct Slot<P> {
    /// Generation of the current (or next) pipe in this slot, >= 1.
    generation: usize,
    pipe: Option<Arc<P>>,
}

/// Every live pipe, by id and by name.
pub(crate) struct Registry<P> {
    slots: Vec<Slot<P>>,
    /// Slots without a pipe whose generation can still grow.
    free: Vec<usize>,
    /// Sorted by name.
    names: Vec<(Box<str>, PipeId)>,
    /// Number of live pipes.
    live: usize,
}

impl<P> Registry<P> {
    pub(crate) const fn new() -> Self {
        Registry {
            slots: Vec::new(),
            free: Vec::new(),
            names: Vec::new(),
            live: 0,
        }
    }

    pub(crate) fn get(&self, id: PipeId) -> Option<&Arc<P>> {
        let slot = self.slots.get(id.index())?;
        if slot.generation == id.generation() {
            slot.pipe.as_ref()
        } else {
            None
        }
    }

    pub(crate) fn id_by_name(&self, name: &str) -> Option<PipeId> {
        let at = self.names.binary_search_by(|(n, _)| (**n).cmp(name)).ok()?;
        Some(self.names[at].1)
    }

    /// Add a pipe built by `make` for its new id. `reserve` is told the
    /// slot index first and may refuse it (the by-id table cannot hold it).
    ///
    /// # Errors
    /// `NameTaken`, or `NoMemory` when the tables cannot grow (or every id
    /// is used up), or `reserve`'s error; nothing changed then.
    pub(crate) fn insert(
        &mut self,
        name: Option<&str>,
        reserve: impl FnOnce(usize) -> Result<(), Status>,
        make: impl FnOnce(PipeId, Option<Box<str>>) -> P,
    ) -> Result<PipeId, Status> {
        let name_at = match name {
            Some(name) => match self.names.binary_search_by(|(n, _)| (**n).cmp(name)) {
                Ok(_) => return Err(Status::NameTaken),
                Err(at) => Some(at),
            },
            None => None,
        };
        // Two copies of the name (the pipe's and the index's), both
        // allocated fallibly before anything changes.
        let (owned_name, indexed_name) = match name {
            Some(name) => {
                self.names.try_reserve(1).map_err(|_| Status::NoMemory)?;
                (Some(try_box_str(name)?), Some(try_box_str(name)?))
            }
            None => (None, None),
        };
        let (index, reused) = match self.free.pop() {
            Some(index) => (index, true),
            None => {
                if self.slots.len() == MAX_SLOTS {
                    return Err(Status::NoMemory);
                }
                self.slots.try_reserve(1).map_err(|_| Status::NoMemory)?;
                // The free list must be able to take every slot back.
                self.free
                    .try_reserve(self.slots.len() + 1)
                    .map_err(|_| Status::NoMemory)?;
                self.slots.push(Slot {
                    generation: 1,
                    pipe: None,
                });
                (self.slots.len() - 1, false)
            }
        };
        if let Err(status) = reserve(index) {
            // Undo the slot choice: the free list has room for every slot.
            if reused {
                self.free.push(index);
            } else {
                self.slots.pop();
            }
            return Err(status);
        }
        let id = PipeId::new(index, self.slots[index].generation);
        // The one allocation that cannot be fallible on stable Rust
        // (`Arc::try_new` is unstable); see the crate's `alloc_failure`
        // test, which names it.
        let pipe = Arc::new(make(id, owned_name));
        if let (Some(at), Some(name)) = (name_at, indexed_name) {
            self.names.insert(at, (name, id));
        }
        self.slots[index].pipe = Some(pipe);
        self.live += 1;
        Ok(id)
    }

    /// Remove the pipe `id` (and its name); its slot gets a new generation.
    pub(crate) fn remove(&mut self, id: PipeId, name: Option<&str>) -> Option<Arc<P>> {
        self.get(id)?;
        let slot = &mut self.slots[id.index()];
        let pipe = slot.pipe.take();
        self.live -= 1;
        if let Some(name) = name
            && let Ok(at) = self.names.binary_search_by(|(n, _)| (**n).cmp(name))
        {
            self.names.remove(at);
        }
        if slot.generation < MAX_GENERATION {
            slot.generation += 1;
            // Capacity reserved when the slot was created.
            self.free.push(id.index());
        }
        // else: the slot is retired, so its ids are never handed out again.
        pipe
    }

    pub(crate) fn len(&self) -> usize {
        self.live
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_ids_never_reach_a_new_pipe() {
        let mut registry = Registry::new();
        let first = registry.insert(Some("a"), |_| Ok(()), |_, _| 1).unwrap();
        assert!(registry.remove(first, Some("a")).is_some());
        let second = registry.insert(Some("a"), |_| Ok(()), |_, _| 2).unwrap();
        assert_eq!(first.index(), second.index());
        assert_ne!(first, second);
        assert!(registry.get(first).is_none());
        assert_eq!(registry.get(second).map(|p| **p), Some(2));
        assert_eq!(registry.id_by_name("a"), Some(second));
    }

    #[test]
    fn names_are_unique_and_sorted_lookup_works() {
        let mut registry = Registry::new();
        for name in ["m", "c", "x", "a"] {
            registry.insert(Some(name), |_| Ok(()), |_, _| ()).unwrap();
        }
        assert_eq!(
            registry.insert(Some("c"), |_| Ok(()), |_, _| ()),
            Err(Status::NameTaken)
        );
        for name in ["m", "c", "x", "a"] {
            let id = registry.id_by_name(name).unwrap();
            assert!(registry.get(id).is_some());
        }
        assert_eq!(registry.id_by_name("b"), None);
        assert_eq!(registry.len(), 4);
    }

    #[test]
    fn a_slot_at_the_last_generation_is_retired() {
        let mut registry: Registry<()> = Registry::new();
        let id = registry.insert(None, |_| Ok(()), |_, _| ()).unwrap();
        registry.slots[id.index()].generation = MAX_GENERATION;
        let last = PipeId::new(id.index(), MAX_GENERATION);
        assert!(registry.remove(last, None).is_some());
        let next = registry.insert(None, |_| Ok(()), |_, _| ()).unwrap();
        assert_ne!(next.index(), id.index());
    }

    #[test]
    fn a_refused_slot_changes_nothing() {
        let mut registry: Registry<()> = Registry::new();
        let kept = registry
            .insert(Some("kept"), |_| Ok(()), |_, _| ())
            .unwrap();
        assert_eq!(
            registry.insert(Some("new"), |_| Err(Status::NoMemory), |_, _| ()),
            Err(Status::NoMemory)
        );
        assert!(registry.remove(kept, Some("kept")).is_some());
        assert_eq!(
            registry.insert(None, |_| Err(Status::NoMemory), |_, _| ()),
            Err(Status::NoMemory),
            "a reused slot goes back on the free list"
        );
        assert_eq!(registry.len(), 0);
        assert_eq!(registry.id_by_name("new"), None);
        let again = registry.insert(None, |_| Ok(()), |_, _| ()).unwrap();
        assert_eq!(again.index(), kept.index());
        assert_eq!(registry.slots.len(), 1);
    }

    #[test]
    fn name_rules() {
        assert_eq!(validate_name(""), Err(Status::BadParam));
        assert_eq!(validate_name("a\0b"), Err(Status::BadParam));
        assert_eq!(
            validate_name(&"n".repeat(MAX_NAME_LEN + 1)),
            Err(Status::BadParam)
        );
        assert_eq!(validate_name(&"n".repeat(MAX_NAME_LEN)), Ok(()));
        assert_eq!(validate_name("dummy-pipe"), Ok(()));
    }
}
