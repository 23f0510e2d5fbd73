//! What can go wrong, with messages that say what to do about it.

use std::fmt;

use ipcm::Status;

/// Why an operation of this crate failed. Each variant is one
/// [`Status`] a hosted caller can see (see [`Error::status`]); nothing
/// happened when an error is returned (no message taken or written, no pipe
/// created or destroyed).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// No live pipe has this name or id: it was never created, or it was
    /// destroyed (ids are never reused).
    NotFound {
        /// The name asked for, when the pipe was looked up by name (boxed,
        /// to keep `Error` at 32 bytes on the fast path's return values).
        name: Option<Box<str>>,
        /// The id asked for, when the pipe was looked up by id.
        id: Option<ipcm::PipeId>,
    },
    /// The message is longer than the pipe's message size.
    TooLarge {
        /// Length of the message given.
        len: usize,
        /// The pipe's message size.
        msg_size: usize,
    },
    /// The pipe has no message (a `try_` read or peek).
    Empty,
    /// The pipe is full and does not discard (a `try_` write), or a token
    /// was released into a full token semaphore.
    Full,
    /// The deadline passed before the operation could happen; it did not
    /// happen.
    TimedOut,
    /// The pipe was destroyed, before or while the operation waited.
    Destroyed,
    /// The pipe restricts this to its owner process, and the handle acts
    /// for another process.
    Denied,
    /// Another live pipe already has this name.
    NameTaken {
        /// The name asked for.
        name: String,
    },
    /// A parameter is invalid; `reason` says which and why, with the
    /// sizes and names involved.
    BadParam {
        /// What was wrong.
        reason: String,
    },
    /// The allocator could not provide memory for the pipe or for a wait
    /// queue entry.
    NoMemory,
    /// The pipe was closed: writes fail, and reads once it is drained.
    Closed,
    /// The IPC manager returned a status this crate never expects
    /// (a bug: please report it).
    Internal(Status),
}

impl Error {
    /// The IPC manager status this error stands for.
    pub fn status(&self) -> Status {
        match self {
            Error::NotFound { .. } => Status::NotFound,
            Error::TooLarge { .. } => Status::TooLarge,
            Error::Empty => Status::Empty,
            Error::Full => Status::Full,
            Error::TimedOut => Status::TimedOut,
            Error::Destroyed => Status::Destroyed,
            Error::Denied => Status::Denied,
            Error::NameTaken { .. } => Status::NameTaken,
            Error::BadParam { .. } => Status::BadParam,
            Error::NoMemory => Status::NoMemory,
            Error::Closed => Status::Closed,
            Error::Internal(status) => *status,
        }
    }

    /// The error for a failed status, without context a caller may add
    /// (message length, name).
    pub(crate) fn from_status(status: Status) -> Error {
        match status {
            Status::NotFound => Error::NotFound {
                name: None,
                id: None,
            },
            Status::TooLarge => Error::TooLarge {
                len: 0,
                msg_size: 0,
            },
            Status::Empty => Error::Empty,
            Status::Full => Error::Full,
            Status::TimedOut => Error::TimedOut,
            Status::Destroyed => Error::Destroyed,
            Status::Denied => Error::Denied,
            Status::NameTaken => Error::NameTaken {
                name: String::new(),
            },
            Status::BadParam => Error::bad_param("rejected by the IPC manager"),
            Status::NoMemory => Error::NoMemory,
            Status::Closed => Error::Closed,
            other => Error::Internal(other),
        }
    }

    /// [`Error::BadParam`] with this reason.
    pub(crate) fn bad_param(reason: impl Into<String>) -> Error {
        Error::BadParam {
            reason: reason.into(),
        }
    }

    /// [`Error::NotFound`] for the pipe named `name`.
    pub(crate) fn no_pipe_named(name: &str) -> Error {
        Error::NotFound {
            name: Some(name.into()),
            id: None,
        }
    }

    /// [`Error::NotFound`] for the pipe with id `id`.
    pub(crate) fn no_pipe_with_id(id: ipcm::PipeId) -> Error {
        Error::NotFound {
            name: None,
            id: Some(id),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotFound { name, id } => {
                match (name, id) {
                    (Some(name), _) => write!(f, "no pipe is named {name:?}")?,
                    (None, Some(id)) => write!(f, "{id} does not exist")?,
                    (None, None) => f.write_str("no such pipe")?,
                }
                f.write_str(
                    ": it was never created or has been destroyed; \
                     check the name or id, or create the pipe first",
                )
            }
            Error::TooLarge { len, msg_size } => write!(
                f,
                "message of {len} bytes is longer than the pipe's message size of \
                 {msg_size} bytes; split it, or create the pipe with a larger msg_size"
            ),
            Error::Empty => {
                f.write_str("the pipe is empty; use a blocking or timed read to wait for a message")
            }
            Error::Full => f.write_str(
                "the pipe is full; use a blocking or timed write to wait for room, \
                 or create the pipe with OnFull::DiscardOldest (for a token semaphore: \
                 a token was released that was never acquired)",
            ),
            Error::TimedOut => {
                f.write_str("timed out: the operation did not happen; retry, or allow more time")
            }
            Error::Destroyed => f.write_str("the pipe was destroyed; create or open another pipe"),
            Error::Denied => f.write_str(
                "this process may not do this to the pipe (owner-only access or destroy); \
                 use a handle of the owner process, or create the pipe with Access::Anyone",
            ),
            Error::NameTaken { name } => write!(
                f,
                "a pipe named {name:?} already exists; open it with Ipc::open, \
                 or choose another name"
            ),
            Error::BadParam { reason } => write!(f, "invalid parameter: {reason}"),
            Error::NoMemory => {
                f.write_str("out of memory; create smaller pipes (msg_size * depth) or fewer")
            }
            Error::Closed => {
                f.write_str("the pipe was closed: no more writes, and nothing left to read")
            }
            Error::Internal(status) => write!(
                f,
                "unexpected IPC manager status {} ({status}); this is a bug in ipcm-host, \
                 please report it",
                status.c_name()
            ),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_visible_status_maps_to_its_own_variant_and_back() {
        for status in Status::ALL {
            let error = Error::from_status(status);
            assert_eq!(error.status(), status, "{error}");
            let internal = matches!(error, Error::Internal(_));
            let visible = !matches!(
                status,
                Status::Ok
                    | Status::Blocked
                    | Status::BadAddress
                    | Status::Cancelled
                    | Status::AlreadyPending
            );
            assert_eq!(internal, !visible, "{status:?}");
        }
    }

    #[test]
    fn errors_stay_small_for_the_fast_path() {
        // Every read and write returns a Result holding an Error: at 40
        // bytes (an unboxed name) a try_write + try_read pair cost 415
        // instructions instead of 407 (callgrind_host).
        assert!(std::mem::size_of::<Error>() <= 32);
    }

    #[test]
    fn messages_say_what_to_do() {
        let too_large = Error::TooLarge {
            len: 100,
            msg_size: 64,
        };
        assert!(too_large.to_string().contains("100 bytes"));
        assert!(too_large.to_string().contains("64 bytes"));
        let taken = Error::NameTaken {
            name: "sensors".into(),
        };
        assert!(taken.to_string().contains("\"sensors\""));
        assert!(Error::Full.to_string().contains("DiscardOldest"));
        assert!(
            Error::Internal(Status::Blocked)
                .to_string()
                .contains("IPCM_STATUS_BLOCKED")
        );
    }
}
