//! The system-call ABI between user programs and the simulated kernel.
//!
//! Arguments are what registers would carry: integers and virtual addresses
//! in the caller's address space, never Rust references. The IPC calls
//! mirror upstream LuKOS's `syscall_ipc_pipe_*` family:
//! `pipe_create(name, msg_size, max_msgs, flags)`, `pipe_id_get(name, &id)`,
//! `pipe_info_get(id, &msg_size, &max_msgs, &flags)`, `pipe_write(id, va,
//! len)`, `pipe_read(id, va, &len)`, plus peek, try (never block), timeout
//! and destroy.

use ipcm::Status;

use crate::machine::Ticks;

/// Whether a pipe call may wait, and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Block until the operation completes (or the pipe is destroyed, or the
    /// thread is killed).
    Forever,
    /// Never block: `Full`/`Empty` instead.
    Never,
    /// Block at most this many ticks, then fail with `TimedOut`. Zero fails
    /// at once if the operation would block.
    Ticks(Ticks),
}

/// A system call, as the kernel receives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Syscall {
    /// Create a pipe. `name` is the address of a NUL-terminated name, or 0
    /// for an anonymous pipe. Replies with the new id.
    PipeCreate {
        /// Address of the NUL-terminated name, or 0.
        name: usize,
        /// Largest message, bytes.
        msg_size: usize,
        /// Capacity, messages.
        max_msgs: usize,
        /// `IPCM_FLAG_*` bits.
        flags: usize,
    },
    /// Store the id of the pipe called `name` at `id_out`.
    PipeIdGet {
        /// Address of the NUL-terminated name.
        name: usize,
        /// Where to store the id (a `usize`).
        id_out: usize,
    },
    /// Store a pipe's `msg_size`, `max_msgs` and `flags` (each a `usize`).
    PipeInfoGet {
        /// The pipe.
        id: usize,
        /// Where to store `msg_size`.
        msg_size_out: usize,
        /// Where to store `max_msgs`.
        max_msgs_out: usize,
        /// Where to store the flags.
        flags_out: usize,
    },
    /// Write the `len` bytes at `src` as one message.
    PipeWrite {
        /// The pipe.
        id: usize,
        /// The message.
        src: usize,
        /// Its length.
        len: usize,
        /// Whether to wait for room.
        wait: Wait,
    },
    /// Read (or peek at) the oldest message into `dst` (`msg_size` bytes),
    /// its length (a `usize`) into `len_out`.
    PipeRead {
        /// The pipe.
        id: usize,
        /// Receive buffer.
        dst: usize,
        /// Where the length goes.
        len_out: usize,
        /// Remove the message (read) or leave it (peek).
        consume: bool,
        /// Whether to wait for a message.
        wait: Wait,
    },
    /// Destroy a pipe the caller's process owns.
    PipeDestroy {
        /// The pipe.
        id: usize,
    },
    /// Sleep for this many ticks.
    Sleep {
        /// How long.
        ticks: Ticks,
    },
    /// Give up the CPU.
    Yield,
    /// Map pages covering `[va, va + len)` in the caller's address space.
    VmMap {
        /// Start.
        va: usize,
        /// Length in bytes.
        len: usize,
        /// Read-write (else read-only).
        writable: bool,
    },
    /// Unmap pages covering `[va, va + len)` in the caller's address space.
    VmUnmap {
        /// Start.
        va: usize,
        /// Length in bytes.
        len: usize,
    },
}

/// What a user program asks of the kernel when it yields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// A system call.
    Syscall(Syscall),
    /// Burn this many ticks of CPU (may be preempted part way).
    Compute(Ticks),
}

/// The kernel's answer to a system call: a status and one value register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    /// `Ok` or why the call failed.
    pub status: Status,
    /// The call's value (a new pipe id), or 0.
    pub value: usize,
}

impl Reply {
    /// A reply with no value.
    #[must_use]
    pub const fn status(status: Status) -> Reply {
        Reply { status, value: 0 }
    }

    /// `Ok` with a value.
    #[must_use]
    pub const fn value(value: usize) -> Reply {
        Reply {
            status: Status::Ok,
            value,
        }
    }

    /// The reply as a `Result`.
    ///
    /// # Errors
    /// The status, when it is not `Ok`.
    pub fn into_result(self) -> Result<usize, Status> {
        match self.status {
            Status::Ok => Ok(self.value),
            status => Err(status),
        }
    }
}
