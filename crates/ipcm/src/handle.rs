//! Handles to pipes: a pipe's id and a copy of its fixed settings, for a
//! caller to keep. A handle holds no reference into the manager: an
//! operation through it finds the pipe by its id, as an operation by id
//! does (one lock-free look at the slot table, [`crate::slots`]), and a
//! destroyed pipe is [`Status::Destroyed`](crate::Status::Destroyed)
//! through a handle where it is `NotFound` by id.

use core::fmt;
use core::marker::PhantomData;

use crate::registry::MAX_NAME_LEN;
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
/// (about 100 bytes, no allocation). `R` and `T` are the manager's lock and
/// thread types, so a handle is used with the kind of manager it came from.
pub struct PipeHandle<R, T> {
    id: PipeId,
    name: Name,
    owner: ProcessId,
    flags: PipeFlags,
    msg_size: usize,
    max_msgs: usize,
    _manager: PhantomData<fn() -> (R, T)>,
}

impl<R, T> Clone for PipeHandle<R, T> {
    fn clone(&self) -> Self {
        PipeHandle {
            name: self.name,
            _manager: PhantomData,
            ..*self
        }
    }
}

impl<R, T> fmt::Debug for PipeHandle<R, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipeHandle")
            .field("id", &self.id)
            .field("name", &self.name())
            .field("msg_size", &self.msg_size)
            .field("max_msgs", &self.max_msgs)
            .finish_non_exhaustive()
    }
}

impl<R, T> PipeHandle<R, T> {
    pub(crate) fn new(
        id: PipeId,
        name: Name,
        owner: ProcessId,
        flags: PipeFlags,
        msg_size: usize,
        max_msgs: usize,
    ) -> Self {
        PipeHandle {
            id,
            name,
            owner,
            flags,
            msg_size,
            max_msgs,
            _manager: PhantomData,
        }
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
