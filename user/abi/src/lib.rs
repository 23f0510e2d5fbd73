//! The LuKOS system-call ABI, shared by the kernel and the user programs.
//!
//! `syscall` with the number in `rax` and arguments in `rdi`, `rsi`, `rdx`,
//! `r10`, `r8` (Linux order; `rcx`/`r11` are clobbered by the instruction).
//! The kernel returns a status in `rax` ([`status`], 0 = OK; the IPCM's
//! stable codes) and a value in `rdx` where a call has one. Every other
//! register, and the SSE state, is preserved.

#![no_std]

/// System-call numbers.
pub mod nr {
    /// `debug_print(ptr, len)`: write a line to the kernel log.
    pub const DEBUG_PRINT: u64 = 0;
    /// `exit(code)`: end the whole process.
    pub const EXIT: u64 = 1;
    /// `thread_exit()`: end the calling thread.
    pub const THREAD_EXIT: u64 = 2;
    /// `yield()`: let the other ready threads of the same priority run.
    pub const YIELD: u64 = 3;
    /// `sleep(ticks)`.
    pub const SLEEP: u64 = 4;
    /// `thread_spawn(entry, arg0, arg1, priority) -> tid`: a new thread in
    /// the caller's process, on a fresh stack, entering `entry(arg0, arg1)`.
    pub const THREAD_SPAWN: u64 = 5;
    /// `ticks() -> ticks since boot`.
    pub const TICKS: u64 = 6;
    /// `pipe_create(name_ptr, name_len, msg_size, max_msgs, flags) -> id`;
    /// `name_len` 0 = anonymous.
    pub const PIPE_CREATE: u64 = 10;
    /// `pipe_id_get(name_ptr, name_len) -> id`.
    pub const PIPE_ID_GET: u64 = 11;
    /// `pipe_info_get(id, info_ptr)`: fills a [`PipeInfo`](super::PipeInfo).
    pub const PIPE_INFO_GET: u64 = 12;
    /// `pipe_write(id, buf, len, timeout)`: blocks while the pipe is full,
    /// at most `timeout` ticks ([`FOREVER`](super::timeout::FOREVER): no limit).
    pub const PIPE_WRITE: u64 = 13;
    /// `pipe_read(id, buf, len_ptr, timeout)`: `buf` holds `msg_size` bytes;
    /// the message length is stored as a `usize` at `len_ptr`.
    pub const PIPE_READ: u64 = 14;
    /// `pipe_peek(id, buf, len_ptr, timeout)`: like read, nothing consumed.
    pub const PIPE_PEEK: u64 = 15;
    /// `pipe_destroy(id)`.
    pub const PIPE_DESTROY: u64 = 16;
    /// `pipe_try_write(id, buf, len)`: FULL instead of blocking.
    pub const PIPE_TRY_WRITE: u64 = 17;
    /// `pipe_try_read(id, buf, len_ptr)`: EMPTY instead of blocking.
    pub const PIPE_TRY_READ: u64 = 18;
    /// `pipe_try_peek(id, buf, len_ptr)`: EMPTY instead of blocking.
    pub const PIPE_TRY_PEEK: u64 = 19;
    /// `pipe_select(members, count, timeout) -> index`: `count` (1 to
    /// [`SELECT_MAX`](super::SELECT_MAX)) [`SelectMember`](super::SelectMember)
    /// records at `members`; completes exactly one of them (DESIGN §9). The
    /// status is that member's (OK, or its failure: BAD_ADDRESS, CLOSED,
    /// DESTROYED, ...) with its index in rdx; TIMED_OUT / CANCELLED (index
    /// `u64::MAX`) when the whole group timed out; a refusal of the call
    /// itself (BAD_PARAM, NOT_FOUND, DENIED, TOO_LARGE, BAD_ADDRESS for the
    /// member list) also has index `u64::MAX`.
    pub const PIPE_SELECT: u64 = 20;
    /// `pipe_write_urgent(id, buf, len, timeout)`: a write to the head of
    /// the queue (read next).
    pub const PIPE_WRITE_URGENT: u64 = 21;
    /// `pipe_purge(id) -> dropped`: drop every queued message, admit
    /// pending writers (owner only).
    pub const PIPE_PURGE: u64 = 22;
    /// `pipe_close(id)`: writes fail CLOSED from now on; readers drain what
    /// is queued, then get CLOSED (owner only).
    pub const PIPE_CLOSE: u64 = 23;
    /// `pipe_read_seq(id, buf, out, timeout)`: a read that also reports the
    /// message's sequence number: `out` is a [`Received`](super::Received)
    /// record (length, then number).
    pub const PIPE_READ_SEQ: u64 = 24;
    /// `pipe_peek_newer(id, after, buf, out, timeout)`: copy the oldest
    /// queued message numbered above `after`, waiting for a write to bring
    /// one; `out` as for `pipe_read_seq`.
    pub const PIPE_PEEK_NEWER: u64 = 25;
    /// `pipe_peek_at(id, index, buf, out)`: copy the message `index` places
    /// from the front without taking it; EMPTY past the end, never blocks.
    pub const PIPE_PEEK_AT: u64 = 26;
    /// `pipe_write_prio(id, buf, len, prio, timeout)`: a write at message
    /// priority `prio` (0 to 255, higher read first, FIFO within a
    /// priority) to a pipe created with `PRIORITY_MESSAGES`; BAD_PARAM for
    /// a `prio` above 255, or other than 0 on a pipe without the flag.
    pub const PIPE_WRITE_PRIO: u64 = 27;
}

/// The most members one `pipe_select` may name (the IPCM's `SELECT_MAX`).
pub const SELECT_MAX: usize = 16;

/// What a `pipe_select` member does.
pub mod select_op {
    /// Take the oldest message into `buf`; its length goes to the `usize`
    /// at `arg`.
    pub const READ: u64 = 0;
    /// Copy the oldest message without taking it (`arg` as for READ).
    pub const PEEK: u64 = 1;
    /// Write the `arg` bytes at `buf`.
    pub const WRITE: u64 = 2;
}

/// One operation of a `pipe_select`, as the caller lays it out in memory.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SelectMember {
    /// A [`select_op`] code.
    pub op: u64,
    /// The pipe id.
    pub pipe: u64,
    /// The message buffer.
    pub buf: u64,
    /// READ / PEEK: where the length goes; WRITE: the message length.
    pub arg: u64,
}

impl SelectMember {
    /// Its size in bytes in the caller's memory.
    pub const SIZE: usize = core::mem::size_of::<SelectMember>();

    /// The record from the native-endian bytes the kernel copied in.
    pub fn from_bytes(bytes: &[u8; Self::SIZE]) -> SelectMember {
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&bytes[i * 8..i * 8 + 8]);
            u64::from_ne_bytes(w)
        };
        SelectMember {
            op: word(0),
            pipe: word(1),
            buf: word(2),
            arg: word(3),
        }
    }
}

/// Where `pipe_read_seq`, `pipe_peek_newer` and `pipe_peek_at` put what
/// they report besides the message.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Received {
    /// The message's length.
    pub len: u64,
    /// Its sequence number (1, 2, ... in the order the pipe accepted them).
    pub seq: u64,
}

/// Timeout arguments of the blocking read/write/peek, in timer ticks: an
/// operation that could not happen within them returns TIMED_OUT and did
/// not happen. 0 means "now or never": TIMED_OUT at once if it would block
/// (the `pipe_try_*` calls answer EMPTY / FULL instead).
pub mod timeout {
    /// Block until the operation can happen.
    pub const FOREVER: u64 = u64::MAX;
}

/// Status codes (the IPCM's stable `IPCM_STATUS_*` integers; the kernel
/// checks at compile time that they agree with `ipcm::Status`).
pub mod status {
    /// Completed.
    pub const OK: u64 = 0;
    /// Never returned to user space (the thread is parked instead).
    pub const BLOCKED: u64 = 1;
    /// No such pipe / name.
    pub const NOT_FOUND: u64 = 2;
    /// Message longer than the pipe's message size.
    pub const TOO_LARGE: u64 = 3;
    /// A buffer is not mapped with the needed rights.
    pub const BAD_ADDRESS: u64 = 4;
    /// Try-read of an empty pipe.
    pub const EMPTY: u64 = 5;
    /// Try-write to a full pipe.
    pub const FULL: u64 = 6;
    /// The timeout passed; nothing happened.
    pub const TIMED_OUT: u64 = 7;
    /// The operation was cancelled; nothing happened.
    pub const CANCELLED: u64 = 8;
    /// The pipe was destroyed.
    pub const DESTROYED: u64 = 9;
    /// Not allowed for the caller's process.
    pub const DENIED: u64 = 10;
    /// Name in use.
    pub const NAME_TAKEN: u64 = 11;
    /// Invalid parameter.
    pub const BAD_PARAM: u64 = 12;
    /// The thread already waits for something.
    pub const ALREADY_PENDING: u64 = 13;
    /// Out of memory.
    pub const NO_MEMORY: u64 = 14;
    /// The pipe is closed: writes fail, reads fail once it is drained.
    pub const CLOSED: u64 = 15;
    /// Unknown system-call number (kernel-only code, beyond the IPCM's).
    pub const NO_SYSCALL: u64 = 100;

    /// The `IPCM_STATUS_*`-style name of a code, for logs.
    pub fn name(code: u64) -> &'static str {
        match code {
            OK => "OK",
            BLOCKED => "BLOCKED",
            NOT_FOUND => "NOT_FOUND",
            TOO_LARGE => "TOO_LARGE",
            BAD_ADDRESS => "BAD_ADDRESS",
            EMPTY => "EMPTY",
            FULL => "FULL",
            TIMED_OUT => "TIMED_OUT",
            CANCELLED => "CANCELLED",
            DESTROYED => "DESTROYED",
            DENIED => "DENIED",
            NAME_TAKEN => "NAME_TAKEN",
            BAD_PARAM => "BAD_PARAM",
            ALREADY_PENDING => "ALREADY_PENDING",
            NO_MEMORY => "NO_MEMORY",
            CLOSED => "CLOSED",
            NO_SYSCALL => "NO_SYSCALL",
            _ => "UNKNOWN",
        }
    }
}

/// Pipe flags (the IPCM's `IPCM_FLAG_*` bits).
pub mod flags {
    /// A write to a full pipe drops the oldest message instead of blocking.
    pub const DISCARD_OLDEST: u64 = 1 << 0;
    /// Only the owner process may read or peek.
    pub const OWNER_READ: u64 = 1 << 1;
    /// Only the owner process may write.
    pub const OWNER_WRITE: u64 = 1 << 2;
    /// Waiters served by thread priority.
    pub const PRIORITY_WAITERS: u64 = 1 << 3;
    /// Messages read by message priority (`pipe_write_prio`), not in
    /// arrival order. Not with `max_msgs` 0.
    pub const PRIORITY_MESSAGES: u64 = 1 << 4;
}

/// What `pipe_info_get` fills in.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PipeInfo {
    /// The pipe id.
    pub id: u64,
    /// Largest message in bytes.
    pub msg_size: u64,
    /// Capacity in messages.
    pub max_msgs: u64,
    /// Creation flags.
    pub flags: u64,
    /// Owner process id (0 = kernel).
    pub owner: u64,
    /// Messages queued now.
    pub queued: u64,
    /// Threads waiting to read.
    pub pending_readers: u64,
    /// Threads waiting to peek.
    pub pending_peekers: u64,
    /// Threads waiting to write.
    pub pending_writers: u64,
    /// Messages accepted so far.
    pub written: u64,
    /// Messages taken by readers so far.
    pub read: u64,
    /// Messages dropped by discard-oldest writes so far.
    pub dropped: u64,
    /// Messages dropped by purges so far.
    pub purged: u64,
    /// 1 once the pipe is closed.
    pub closed: u64,
}

impl PipeInfo {
    /// Its size in bytes, as copied to user space.
    pub const SIZE: usize = core::mem::size_of::<PipeInfo>();

    /// The native-endian bytes the kernel copies out.
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let fields = [
            self.id,
            self.msg_size,
            self.max_msgs,
            self.flags,
            self.owner,
            self.queued,
            self.pending_readers,
            self.pending_peekers,
            self.pending_writers,
            self.written,
            self.read,
            self.dropped,
            self.purged,
            self.closed,
        ];
        let mut bytes = [0u8; Self::SIZE];
        for (chunk, field) in bytes.chunks_exact_mut(8).zip(fields) {
            chunk.copy_from_slice(&field.to_ne_bytes());
        }
        bytes
    }
}

/// Longest `debug_print` line in bytes (longer lines are cut).
pub const MAX_PRINT: usize = 256;
