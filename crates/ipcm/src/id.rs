//! Pipe ids: a registry slot index and a generation, so an id is never
//! handed out again once its pipe is destroyed.

use core::fmt;

/// The system-wide id of a pipe.
///
/// The low half of the bits is the registry slot, the high half the slot's
/// generation (never 0, so no valid id is 0). Destroying a pipe bumps its
/// slot's generation; a slot whose generation would wrap is retired, so a
/// stale id can only ever be [`Status::NotFound`](crate::Status::NotFound).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PipeId(usize);

const INDEX_BITS: u32 = usize::BITS / 2;
const INDEX_MASK: usize = (1 << INDEX_BITS) - 1;

/// The largest generation a slot can have; the slot is retired after it.
pub(crate) const MAX_GENERATION: usize = usize::MAX >> INDEX_BITS;
/// The number of registry slots an id can address.
pub(crate) const MAX_SLOTS: usize = INDEX_MASK + 1;

impl PipeId {
    /// The id of generation `generation` (>= 1) of slot `index`.
    pub(crate) const fn new(index: usize, generation: usize) -> PipeId {
        debug_assert!(index <= INDEX_MASK);
        debug_assert!(generation >= 1 && generation <= MAX_GENERATION);
        PipeId((generation << INDEX_BITS) | index)
    }

    /// The word of slot `index` with generation 0, which no pipe has (a
    /// vacant header's, see `pipe::vacant_word`).
    pub(crate) const fn new_vacant(index: usize) -> PipeId {
        PipeId(index & INDEX_MASK)
    }

    /// The id as the C ABI's `size_t`.
    #[must_use]
    pub const fn to_raw(self) -> usize {
        self.0
    }

    /// An id received from outside, e.g. a syscall argument. Any value is
    /// accepted: a value that names no live pipe is `NotFound` when used.
    #[must_use]
    pub const fn from_raw(raw: usize) -> PipeId {
        PipeId(raw)
    }

    pub(crate) const fn index(self) -> usize {
        self.0 & INDEX_MASK
    }

    pub(crate) const fn generation(self) -> usize {
        self.0 >> INDEX_BITS
    }
}

impl fmt::Display for PipeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pipe {}.{}", self.index(), self.generation())
    }
}

/// The same text as `Display` (`pipe 5.1`: slot 5, generation 1), so a
/// `{:?}` of a struct holding an id reads like the logs and error messages
/// instead of showing the packed integer.
impl fmt::Debug for PipeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_and_generation_round_trip() {
        let id = PipeId::new(7, 3);
        assert_eq!(id.index(), 7);
        assert_eq!(id.generation(), 3);
        assert_eq!(PipeId::from_raw(id.to_raw()), id);
        assert_ne!(PipeId::new(0, 1).to_raw(), 0);
        let last = PipeId::new(INDEX_MASK, MAX_GENERATION);
        assert_eq!(last.index(), INDEX_MASK);
        assert_eq!(last.generation(), MAX_GENERATION);
    }

    #[test]
    fn debug_shows_what_display_shows() {
        use alloc::format;
        let id = PipeId::new(5, 1);
        assert_eq!(format!("{id}"), "pipe 5.1");
        assert_eq!(format!("{id:?}"), "pipe 5.1");
        assert_eq!(format!("{:?}", Some(id)), "Some(pipe 5.1)");
    }
}
