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

pub use crate::ring::stable::MAX_PIPES;
pub(crate) use crate::ring::stable::{Pinned, SlotTable};
