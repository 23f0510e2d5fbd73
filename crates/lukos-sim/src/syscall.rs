//! The system-call ABI between user programs and the simulated kernel.
//!
//! Arguments are what registers would carry: integers and virtual addresses
//! in the caller's address space, never Rust references. The IPC calls
//! mirror upstream LuKOS's `syscall_ipc_pipe_*` family:
//! `pipe_create(name, msg_size, max_msgs, flags)`, `pipe_id_get(name, &id)`,
//! `pipe_info_get(id, &msg_size, &max_msgs, &flags)`, `pipe_write(id, va,
//! len)`, `pipe_read(id, va, &len)`, plus peek, try (never block), timeout
//! and destroy. The queue operations of DESIGN §9 follow the same style:
//! `pipe_write_urgent`, `pipe_write_prio` (a message priority, for a
//! `PRIORITY_MESSAGES` pipe), `pipe_read_seq` (read or peek reporting the
//! message's number), `pipe_peek_newer`, `pipe_peek_at`, `pipe_purge`,
//! `pipe_close` and `pipe_select` over an array of [`SelectEntry`] records
//! in the caller's memory.

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
    /// [`PipeWrite`](Self::PipeWrite) to the head of the queue (read next).
    PipeWriteUrgent {
        /// The pipe.
        id: usize,
        /// The message.
        src: usize,
        /// Its length.
        len: usize,
        /// Whether to wait for room.
        wait: Wait,
    },
    /// [`PipeWrite`](Self::PipeWrite) at message priority `prio` (0 to 255,
    /// higher read first, FIFO within a priority) to a pipe created with
    /// `PRIORITY_MESSAGES`; a `prio` above 255, or other than 0 on a pipe
    /// without the flag, is `BadParam`.
    PipeWritePrio {
        /// The pipe.
        id: usize,
        /// The message.
        src: usize,
        /// Its length.
        len: usize,
        /// The message priority (a register: range-checked by the kernel).
        prio: usize,
        /// Whether to wait for room.
        wait: Wait,
    },
    /// [`PipeRead`](Self::PipeRead) that also stores the message's sequence
    /// number (a `u64`) at `seq_out`. The core has no non-blocking form:
    /// `Wait::Never` is `BadParam` (use `Wait::Ticks(0)`).
    PipeReadSeq {
        /// The pipe.
        id: usize,
        /// Receive buffer.
        dst: usize,
        /// Where the length goes.
        len_out: usize,
        /// Where the sequence number goes.
        seq_out: usize,
        /// Remove the message (read) or leave it (peek).
        consume: bool,
        /// Whether to wait for a message.
        wait: Wait,
    },
    /// Peek at the oldest queued message numbered above `after`, waiting
    /// for a write to bring one; its number goes to `seq_out`.
    PipePeekNewer {
        /// The pipe.
        id: usize,
        /// Only a message numbered above this.
        after: u64,
        /// Receive buffer.
        dst: usize,
        /// Where the length goes.
        len_out: usize,
        /// Where the sequence number goes.
        seq_out: usize,
        /// Whether to wait (`Never`: `Empty` when none is newer).
        wait: Wait,
    },
    /// Peek at the message `index` places from the front (0: read next);
    /// never blocks (`Empty` past the end).
    PipePeekAt {
        /// The pipe.
        id: usize,
        /// Position from the front.
        index: usize,
        /// Receive buffer.
        dst: usize,
        /// Where the length goes.
        len_out: usize,
        /// Where the sequence number goes.
        seq_out: usize,
    },
    /// Drop every queued message of a pipe the caller's process owns;
    /// replies with how many.
    PipePurge {
        /// The pipe.
        id: usize,
    },
    /// Close a pipe the caller's process owns: writes fail `Closed`,
    /// readers drain what is queued, then fail `Closed`.
    PipeClose {
        /// The pipe.
        id: usize,
    },
    /// Complete exactly one of `count` operations (at most
    /// [`ipcm::SELECT_MAX`]) described by the [`SelectEntry`] records at
    /// `entries`. Replies with the completed member's status and its index
    /// as the value; a failure of the whole call (bad list, timeout,
    /// cancel) has [`NO_MEMBER`] as the value. `Wait::Never` is
    /// `Wait::Ticks(0)`: `TimedOut` when no member can complete now.
    PipeSelect {
        /// Address of the first record.
        entries: usize,
        /// How many records.
        count: usize,
        /// Whether to wait.
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

/// The value of a select's reply when no member completed it.
pub const NO_MEMBER: usize = usize::MAX;

/// One member of a `pipe_select`, as four `usize` words in user memory:
/// `[kind, pipe id, buffer, len_or_len_out]` (kind 0 read, 1 peek, 2 write;
/// the last word is a read's or peek's length address, a write's length).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelectEntry {
    /// Read the oldest message of `id` into `dst`, its length to `len_out`.
    Read {
        /// The pipe.
        id: usize,
        /// Receive buffer.
        dst: usize,
        /// Where the length goes.
        len_out: usize,
    },
    /// Copy the oldest message of `id` without taking it.
    Peek {
        /// The pipe.
        id: usize,
        /// Receive buffer.
        dst: usize,
        /// Where the length goes.
        len_out: usize,
    },
    /// Write the `len` bytes at `src` to `id`.
    Write {
        /// The pipe.
        id: usize,
        /// The message.
        src: usize,
        /// Its length.
        len: usize,
    },
}

impl SelectEntry {
    /// Bytes one record takes in user memory.
    pub const SIZE: usize = 4 * size_of::<usize>();

    /// The record's four words.
    #[must_use]
    pub fn encode(self) -> [usize; 4] {
        match self {
            SelectEntry::Read { id, dst, len_out } => [0, id, dst, len_out],
            SelectEntry::Peek { id, dst, len_out } => [1, id, dst, len_out],
            SelectEntry::Write { id, src, len } => [2, id, src, len],
        }
    }

    /// A record from its four words; `None` for an unknown kind.
    #[must_use]
    pub fn decode(words: [usize; 4]) -> Option<SelectEntry> {
        let [kind, id, addr, last] = words;
        Some(match kind {
            0 => SelectEntry::Read {
                id,
                dst: addr,
                len_out: last,
            },
            1 => SelectEntry::Peek {
                id,
                dst: addr,
                len_out: last,
            },
            2 => SelectEntry::Write {
                id,
                src: addr,
                len: last,
            },
            _ => return None,
        })
    }
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
