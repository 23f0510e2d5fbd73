//! Which pipes exist: O(1) lookup by id, O(log n) by name, ids never reused.

use alloc::boxed::Box;
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

#[derive(Clone, Copy)]
struct Slot {
    /// Generation of the current (or next) pipe in this slot, >= 1.
    generation: usize,
    /// A live pipe is in the slot.
    used: bool,
}

/// Which pipes exist: free slots, generations and names. The pipes
/// themselves are in the by-id table ([`crate::slots`]).
pub(crate) struct Registry {
    slots: Vec<Slot>,
    /// Slots without a pipe whose generation can still grow.
    free: Vec<usize>,
    /// Sorted by name.
    names: Vec<(Box<str>, PipeId)>,
    /// Number of live pipes.
    live: usize,
}

impl Registry {
    pub(crate) const fn new() -> Self {
        Registry {
            slots: Vec::new(),
            free: Vec::new(),
            names: Vec::new(),
            live: 0,
        }
    }

    /// Whether `id` is a live pipe.
    pub(crate) fn contains(&self, id: PipeId) -> bool {
        self.slots
            .get(id.index())
            .is_some_and(|slot| slot.used && slot.generation == id.generation())
    }

    pub(crate) fn id_by_name(&self, name: &str) -> Option<PipeId> {
        let at = self.names.binary_search_by(|(n, _)| (**n).cmp(name)).ok()?;
        Some(self.names[at].1)
    }

    /// Add a pipe: `reserve` is told the slot index first and may refuse
    /// it (the by-id table cannot hold it); `make` then builds the pipe
    /// for its new id and may fail too.
    ///
    /// # Errors
    /// `NameTaken`, or `NoMemory` when the tables cannot grow (or every id
    /// is used up), or `reserve`'s or `make`'s error; nothing changed then.
    pub(crate) fn insert(
        &mut self,
        name: Option<&str>,
        reserve: impl FnOnce(usize) -> Result<(), Status>,
        make: impl FnOnce(PipeId) -> Result<(), Status>,
    ) -> Result<PipeId, Status> {
        let name_at = match name {
            Some(name) => match self.names.binary_search_by(|(n, _)| (**n).cmp(name)) {
                Ok(_) => return Err(Status::NameTaken),
                Err(at) => Some(at),
            },
            None => None,
        };
        // The index's copy of the name, allocated fallibly before anything
        // changes (the pipe keeps its own inline).
        let indexed_name = match name {
            Some(name) => {
                self.names.try_reserve(1).map_err(|_| Status::NoMemory)?;
                Some(try_box_str(name)?)
            }
            None => None,
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
                    used: false,
                });
                (self.slots.len() - 1, false)
            }
        };
        let id = PipeId::new(index, self.slots[index].generation);
        if let Err(status) = reserve(index).and_then(|()| make(id)) {
            // Undo the slot choice: the free list has room for every slot.
            if reused {
                self.free.push(index);
            } else {
                self.slots.pop();
            }
            return Err(status);
        }
        if let (Some(at), Some(name)) = (name_at, indexed_name) {
            self.names.insert(at, (name, id));
        }
        self.slots[index].used = true;
        self.live += 1;
        Ok(id)
    }

    /// Remove the pipe `id` (and its name `name`); its slot gets a new
    /// generation but is not reused before [`release`](Self::release).
    /// Returns whether `id` was live.
    pub(crate) fn remove(&mut self, id: PipeId, name: Option<&str>) -> bool {
        if !self.contains(id) {
            return false;
        }
        let slot = &mut self.slots[id.index()];
        slot.used = false;
        slot.generation = slot.generation.saturating_add(1);
        self.live -= 1;
        if let Some(name) = name
            && let Ok(at) = self.names.binary_search_by(|(n, _)| (**n).cmp(name))
        {
            self.names.remove(at);
        }
        true
    }

    /// Let creates reuse the slot of `id`, removed before (once the pipe's
    /// header holds nothing any call of the destroy still needs).
    pub(crate) fn release(&mut self, id: PipeId) {
        let index = id.index();
        // A slot past its last generation is retired: its ids are never
        // handed out again.
        if self.slots[index].generation <= MAX_GENERATION && !self.slots[index].used {
            // Capacity reserved when the slot was created.
            self.free.push(index);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.live
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(registry: &mut Registry, name: Option<&str>) -> Result<PipeId, Status> {
        registry.insert(name, |_| Ok(()), |_| Ok(()))
    }

    fn destroy(registry: &mut Registry, id: PipeId, name: Option<&str>) -> bool {
        let removed = registry.remove(id, name);
        if removed {
            registry.release(id);
        }
        removed
    }

    #[test]
    fn stale_ids_never_reach_a_new_pipe() {
        let mut registry = Registry::new();
        let first = add(&mut registry, Some("a")).unwrap();
        assert!(destroy(&mut registry, first, Some("a")));
        let second = add(&mut registry, Some("a")).unwrap();
        assert_eq!(first.index(), second.index());
        assert_ne!(first, second);
        assert!(!registry.contains(first));
        assert!(registry.contains(second));
        assert_eq!(registry.id_by_name("a"), Some(second));
        assert!(
            !registry.remove(first, Some("a")),
            "a stale id removes nothing"
        );
        assert!(registry.contains(second));
    }

    #[test]
    fn a_removed_slot_waits_for_its_release() {
        let mut registry = Registry::new();
        let first = add(&mut registry, None).unwrap();
        assert!(registry.remove(first, None));
        let second = add(&mut registry, None).unwrap();
        assert_ne!(second.index(), first.index(), "not released yet");
        registry.release(first);
        let third = add(&mut registry, None).unwrap();
        assert_eq!(third.index(), first.index());
    }

    #[test]
    fn names_are_unique_and_sorted_lookup_works() {
        let mut registry = Registry::new();
        for name in ["m", "c", "x", "a"] {
            add(&mut registry, Some(name)).unwrap();
        }
        assert_eq!(add(&mut registry, Some("c")), Err(Status::NameTaken));
        for name in ["m", "c", "x", "a"] {
            let id = registry.id_by_name(name).unwrap();
            assert!(registry.contains(id));
        }
        assert_eq!(registry.id_by_name("b"), None);
        assert_eq!(registry.len(), 4);
    }

    #[test]
    fn a_slot_at_the_last_generation_is_retired() {
        let mut registry = Registry::new();
        let id = add(&mut registry, None).unwrap();
        registry.slots[id.index()].generation = MAX_GENERATION;
        let last = PipeId::new(id.index(), MAX_GENERATION);
        assert!(destroy(&mut registry, last, None));
        let next = add(&mut registry, None).unwrap();
        assert_ne!(next.index(), id.index());
    }

    #[test]
    fn a_refused_slot_changes_nothing() {
        let mut registry = Registry::new();
        let kept = add(&mut registry, Some("kept")).unwrap();
        assert_eq!(
            registry.insert(Some("new"), |_| Err(Status::NoMemory), |_| Ok(())),
            Err(Status::NoMemory)
        );
        assert_eq!(
            registry.insert(Some("new"), |_| Ok(()), |_| Err(Status::NoMemory)),
            Err(Status::NoMemory)
        );
        assert!(destroy(&mut registry, kept, Some("kept")));
        assert_eq!(
            registry.insert(None, |_| Err(Status::NoMemory), |_| Ok(())),
            Err(Status::NoMemory),
            "a reused slot goes back on the free list"
        );
        assert_eq!(registry.len(), 0);
        assert_eq!(registry.id_by_name("new"), None);
        let again = add(&mut registry, None).unwrap();
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
