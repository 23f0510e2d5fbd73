//! Handles to pipes: a pipe's id, a reference to its header in the by-id
//! table ([`crate::slots`]) and a copy of its fixed settings, for a caller
//! to keep. An operation through a handle goes to the header directly and
//! checks the id there, as a lookup by id does; a destroyed pipe is
//! [`Status::Destroyed`](crate::Status::Destroyed) through a handle where
//! it is `NotFound` by id.

use core::fmt;

use lock_api::RawMutex;

use crate::pipe::Pipe;
use crate::registry::MAX_NAME_LEN;
use crate::slots::Pinned;
use crate::{PipeFlags, PipeId, ProcessId};

/// A pipe name kept inline (no allocation): at most [`MAX_NAME_LEN`]
/// bytes, empty for an anonymous pipe.
#[derive(Clone, Copy)]
pub(crate) struct Name {
    len: u8,
    bytes: [u8; MAX_NAME_LEN],
}

impl Default for Name {
    fn default() -> Self {
        Name {
            len: 0,
            bytes: [0; MAX_NAME_LEN],
        }
    }
}

impl Name {
    /// `name`, cut at [`MAX_NAME_LEN`] bytes (a validated name never is).
    pub(crate) fn new(name: &str) -> Name {
        let mut out = Name::default();
        let len = name.len().min(MAX_NAME_LEN);
        out.bytes[..len].copy_from_slice(&name.as_bytes()[..len]);
        out.len = len as u8;
        out
    }

    /// The name, `None` for an anonymous pipe.
    pub(crate) fn as_str(&self) -> Option<&str> {
        let bytes = &self.bytes[..usize::from(self.len)];
        if bytes.is_empty() {
            return None;
        }
        core::str::from_utf8(bytes).ok()
    }
}

/// A handle to a pipe, from [`Ipcm::open`](crate::Ipcm::open): its id and
/// its settings as they were at creation (they never change). Pass it as a
/// [`Target`](crate::Target); it works exactly like the id, except that a
/// destroyed pipe is `Destroyed` instead of `NotFound`. Cloning copies it
/// (about 100 bytes, no allocation, no reference count). `R` and `T` are
/// the manager's lock and thread types. A handle used with another manager
/// than its own is looked up there by its id.
pub struct PipeHandle<R: RawMutex, T> {
    id: PipeId,
    header: Pinned<Pipe<R, T>>,
    name: Name,
    owner: ProcessId,
    flags: PipeFlags,
    msg_size: usize,
    max_msgs: usize,
}

impl<R: RawMutex, T> Clone for PipeHandle<R, T> {
    fn clone(&self) -> Self {
        PipeHandle { ..*self }
    }
}

impl<R: RawMutex, T> fmt::Debug for PipeHandle<R, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipeHandle")
            .field("id", &self.id)
            .field("name", &self.name())
            .field("msg_size", &self.msg_size)
            .field("max_msgs", &self.max_msgs)
            .finish_non_exhaustive()
    }
}

impl<R: RawMutex, T> PipeHandle<R, T> {
    pub(crate) fn new(
        id: PipeId,
        header: Pinned<Pipe<R, T>>,
        name: Name,
        owner: ProcessId,
        flags: PipeFlags,
        msg_size: usize,
        max_msgs: usize,
    ) -> Self {
        PipeHandle {
            id,
            header,
            name,
            owner,
            flags,
            msg_size,
            max_msgs,
        }
    }

    /// The pipe's header, for the manager to resolve.
    #[inline(always)]
    pub(crate) fn header(&self) -> &Pinned<Pipe<R, T>> {
        &self.header
    }

    /// The pipe's id (stays the same for its whole life, never reused).
    #[must_use]
    pub fn id(&self) -> PipeId {
        self.id
    }

    /// The pipe's name, if it was created with one.
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.name.as_str()
    }

    /// The process that created the pipe.
    #[must_use]
    pub fn owner(&self) -> ProcessId {
        self.owner
    }

    /// The flags the pipe was created with.
    #[must_use]
    pub fn flags(&self) -> PipeFlags {
        self.flags
    }

    /// The largest message, in bytes.
    #[must_use]
    pub fn msg_size(&self) -> usize {
        self.msg_size
    }

    /// How many messages the pipe holds when full.
    #[must_use]
    pub fn max_msgs(&self) -> usize {
        self.max_msgs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_inline() {
        assert_eq!(Name::new("").as_str(), None);
        assert_eq!(Name::new("sensors").as_str(), Some("sensors"));
        let longest = "n".repeat(MAX_NAME_LEN);
        assert_eq!(Name::new(&longest).as_str(), Some(longest.as_str()));
    }
}
