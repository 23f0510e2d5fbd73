//! The one result vocabulary of the IPC manager.
//!
//! Every outcome a caller can see is a [`Status`] with a stable integer, so
//! the C ABI can return it as `int` and a kernel can store it in a saved
//! register. `OK` is 0, every other code is positive and never reused.

use core::fmt;

/// Outcome of an IPC manager operation; the integer codes are the C ABI's
/// `IPCM_STATUS_*` values and never change.
///
/// Rust calls return `Result<_, Status>` (never `Err(Status::Ok)`); the
/// kernel's [`wake`](crate::Kernel::wake) hook receives a `Status` because a
/// woken thread's outcome can be success or an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
#[must_use]
pub enum Status {
    /// The operation completed.
    Ok = 0,
    /// The operation could not complete now; it was recorded as pending and
    /// the thread will be woken exactly once with its final status.
    Blocked = 1,
    /// No pipe has this id (never created, or destroyed: ids are never
    /// reused), no pipe has this name, or the thread has nothing to cancel.
    NotFound = 2,
    /// The message is longer than the pipe's `msg_size`.
    TooLarge = 3,
    /// A buffer in the caller's address space is not mapped with the needed
    /// permission. Nothing was consumed or written.
    BadAddress = 4,
    /// The pipe has no message and the caller asked not to block.
    Empty = 5,
    /// The pipe is full, does not discard, and the caller asked not to block.
    Full = 6,
    /// The pending operation was cancelled because its deadline passed; it
    /// did not happen.
    TimedOut = 7,
    /// The pending operation was cancelled (e.g. the thread was killed); it
    /// did not happen.
    Cancelled = 8,
    /// The pipe was destroyed (while the operation was pending, or before it
    /// was attempted through a handle).
    Destroyed = 9,
    /// The caller's process may not do this to this pipe (owner-only read,
    /// write or destroy). Nothing changed.
    Denied = 10,
    /// Another live pipe already has this name.
    NameTaken = 11,
    /// A parameter is invalid: zero sizes, size overflow, unknown flag bits,
    /// an empty, over-long or non-UTF-8 name, a NULL pointer, or a receive
    /// buffer shorter than `msg_size`.
    BadParam = 12,
    /// The thread already has a pending operation; a thread waits for one
    /// thing at a time.
    AlreadyPending = 13,
    /// The allocator could not provide memory for a pipe, a name or a wait
    /// queue entry. Nothing changed.
    NoMemory = 14,
    /// The pipe was closed: every write fails with this, and a read or peek
    /// once nothing it could return is queued (DESIGN §9).
    Closed = 15,
}

impl Status {
    /// Every status, in code order (`ALL[i].code() == i`).
    pub const ALL: [Status; 16] = [
        Status::Ok,
        Status::Blocked,
        Status::NotFound,
        Status::TooLarge,
        Status::BadAddress,
        Status::Empty,
        Status::Full,
        Status::TimedOut,
        Status::Cancelled,
        Status::Destroyed,
        Status::Denied,
        Status::NameTaken,
        Status::BadParam,
        Status::AlreadyPending,
        Status::NoMemory,
        Status::Closed,
    ];

    /// The stable integer of this status (the C ABI's `IPCM_STATUS_*`).
    #[must_use]
    pub const fn code(self) -> i32 {
        self as i32
    }

    /// The status with this integer code, if any.
    #[must_use]
    pub const fn from_code(code: i32) -> Option<Status> {
        if code >= 0 && (code as usize) < Self::ALL.len() {
            Some(Self::ALL[code as usize])
        } else {
            None
        }
    }

    /// The C ABI's name of this status, e.g. `"IPCM_STATUS_NOT_FOUND"`.
    #[must_use]
    pub const fn c_name(self) -> &'static str {
        match self {
            Status::Ok => "IPCM_STATUS_OK",
            Status::Blocked => "IPCM_STATUS_BLOCKED",
            Status::NotFound => "IPCM_STATUS_NOT_FOUND",
            Status::TooLarge => "IPCM_STATUS_TOO_LARGE",
            Status::BadAddress => "IPCM_STATUS_BAD_ADDRESS",
            Status::Empty => "IPCM_STATUS_EMPTY",
            Status::Full => "IPCM_STATUS_FULL",
            Status::TimedOut => "IPCM_STATUS_TIMED_OUT",
            Status::Cancelled => "IPCM_STATUS_CANCELLED",
            Status::Destroyed => "IPCM_STATUS_DESTROYED",
            Status::Denied => "IPCM_STATUS_DENIED",
            Status::NameTaken => "IPCM_STATUS_NAME_TAKEN",
            Status::BadParam => "IPCM_STATUS_BAD_PARAM",
            Status::AlreadyPending => "IPCM_STATUS_ALREADY_PENDING",
            Status::NoMemory => "IPCM_STATUS_NO_MEMORY",
            Status::Closed => "IPCM_STATUS_CLOSED",
        }
    }

    /// A one-line explanation for logs and error messages.
    #[must_use]
    pub const fn description(self) -> &'static str {
        match self {
            Status::Ok => "completed",
            Status::Blocked => "pending: the thread will be woken with the result",
            Status::NotFound => "no such pipe (or nothing pending to cancel)",
            Status::TooLarge => "message longer than the pipe's message size",
            Status::BadAddress => "buffer not mapped with the needed permission",
            Status::Empty => "pipe is empty",
            Status::Full => "pipe is full",
            Status::TimedOut => "timed out before the operation could happen",
            Status::Cancelled => "cancelled before the operation could happen",
            Status::Destroyed => "pipe was destroyed",
            Status::Denied => "the caller's process may not do this to this pipe",
            Status::NameTaken => "a pipe with this name already exists",
            Status::BadParam => "invalid parameter",
            Status::AlreadyPending => "thread already has a pending operation",
            Status::NoMemory => "out of memory",
            Status::Closed => "pipe was closed",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

impl core::error::Error for Status {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_dense_stable_and_round_trip() {
        for (i, status) in Status::ALL.iter().enumerate() {
            assert_eq!(status.code(), i as i32);
            assert_eq!(Status::from_code(i as i32), Some(*status));
        }
        assert_eq!(Status::Ok.code(), 0);
        assert_eq!(Status::from_code(-1), None);
        assert_eq!(Status::from_code(Status::ALL.len() as i32), None);
    }

    #[test]
    fn c_names_are_unique_and_prefixed() {
        for a in Status::ALL {
            assert!(a.c_name().starts_with("IPCM_STATUS_"));
            for b in Status::ALL {
                if a != b {
                    assert_ne!(a.c_name(), b.c_name());
                }
            }
        }
    }
}
