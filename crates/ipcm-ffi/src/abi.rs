//! The C types and constants of `ipcm.h`.
//!
//! C names keep the seed's spelling (`ipc_pipe_t`, `thread_t`), so these
//! types are not Rust-cased. Every constant is a literal (cbindgen copies
//! literals into the header) and is checked at compile time against the core
//! crate's [`Status`] codes and [`PipeFlags`] bits, so the header cannot
//! drift from the Rust enum.

#![allow(non_camel_case_types)]

use core::ffi::{c_int, c_void};
use core::marker::{PhantomData, PhantomPinned};

use ipcm::{PipeFlags, Status};

/// A pipe handle, as the seed's calls return it. Opaque: its value is the
/// pipe's id (`ipcm_pipe_id`) and it is never
/// dereferenced, so a stale or made-up handle cannot crash the library.
pub struct ipc_pipe_t {
    _opaque: [u8; 0],
    _not_send_sync_unpin: PhantomData<(*mut u8, PhantomPinned)>,
}

/// The kernel's own thread type, opaque to the IPC manager: a `thread_t *`
/// is compared by address (it names a thread) and handed back to the hooks,
/// never dereferenced. NULL means "the kernel itself".
///
/// The header declares `typedef struct thread_t thread_t;` unless the
/// including program defines `IPCM_KERNEL_THREAD_T`; then it must itself
/// declare `typedef <its thread type> thread_t;` before including it.
pub struct thread_t {
    _opaque: [u8; 0],
    _not_send_sync_unpin: PhantomData<(*mut u8, PhantomPinned)>,
}

/// Names one pending operation (DESIGN §8): filled in by the `_ticket`
/// forms of the blocking calls when they return `IPCM_STATUS_BLOCKED`, and
/// passed to `ipcm_thread_cancel_op` to cancel that operation and no other
/// (a timer that fires late cannot cancel the thread's next operation).
/// Plain data: copy it freely; any value is safe to pass back (one that
/// names no pending operation is `IPCM_STATUS_NOT_FOUND`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ipcm_ticket_t {
    /// The pipe the operation waits on.
    pub pipe: usize,
    /// The operation's wait record in that pipe.
    pub slot: u32,
    /// The operation's number on that pipe (never reused).
    pub seq: u64,
}

/// Copy `len` bytes from `va` in `thread`'s address space to the kernel
/// buffer `dst`. Returns 0 when every byte was copied, non-zero for a fault
/// (some byte not mapped readable). Must not sleep, page in, or call the
/// IPC manager (a pipe lock is held).
pub type ipcm_copy_from_user_fn = Option<
    unsafe extern "C" fn(
        ctx: *mut c_void,
        thread: *mut thread_t,
        va: *mut c_void,
        dst: *mut c_void,
        len: usize,
    ) -> c_int,
>;

/// Copy `len` bytes from the kernel buffer `src` to `va` in `thread`'s
/// address space. Returns 0 when every byte was copied, non-zero for a
/// fault (some byte not mapped writable; a partial copy is allowed). Must
/// not sleep, page in, or call the IPC manager (a pipe lock is held).
pub type ipcm_copy_to_user_fn = Option<
    unsafe extern "C" fn(
        ctx: *mut c_void,
        thread: *mut thread_t,
        va: *mut c_void,
        src: *const c_void,
        len: usize,
    ) -> c_int,
>;

/// Make `thread`, whose call returned `IPCM_STATUS_BLOCKED`, runnable with
/// the final status of its operation (`IPCM_STATUS_OK`: done, message and
/// length already in its buffers). Called exactly once per blocked call,
/// with no IPC manager lock held; must not block; may call the IPC manager.
pub type ipcm_wake_fn =
    Option<unsafe extern "C" fn(ctx: *mut c_void, thread: *mut thread_t, status: c_int)>;

/// The process `thread` belongs to, for access control. 0 is the kernel's
/// process (it passes every check), so threads should have non-zero ids.
pub type ipcm_process_of_fn =
    Option<unsafe extern "C" fn(ctx: *mut c_void, thread: *mut thread_t) -> u64>;

/// The scheduling priority of `thread` (larger is more urgent); only pipes
/// created with `IPCM_FLAG_PRIORITY_WAITERS` ask.
pub type ipcm_priority_of_fn =
    Option<unsafe extern "C" fn(ctx: *mut c_void, thread: *mut thread_t) -> u8>;

/// The services the IPC manager needs from the kernel (docs/design.md §4), given to
/// `ipcm_install_hooks`. Every hook receives
/// `ctx` first. Hooks are called from whichever CPU/thread calls the IPC
/// manager, so they must be thread-safe.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ipcm_hooks_t {
    /// Passed unchanged to every hook.
    pub ctx: *mut c_void,
    /// Required.
    pub copy_from_user: ipcm_copy_from_user_fn,
    /// Required.
    pub copy_to_user: ipcm_copy_to_user_fn,
    /// Required.
    pub wake: ipcm_wake_fn,
    /// Required.
    pub process_of: ipcm_process_of_fn,
    /// Optional (NULL: every thread has priority 0).
    pub priority_of: ipcm_priority_of_fn,
}

/// A snapshot of a pipe, filled by `ipcm_pipe_info`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ipcm_pipe_info_t {
    /// The pipe's id.
    pub id: usize,
    /// The largest message, in bytes.
    pub msg_size: usize,
    /// Capacity in messages.
    pub max_msgs: usize,
    /// `IPCM_FLAG_*` bits given at creation.
    pub flags: usize,
    /// The owner's process id (0: the kernel).
    pub owner: u64,
    /// Messages queued now.
    pub queued: usize,
    /// Threads waiting to read.
    pub pending_readers: usize,
    /// Threads waiting to peek.
    pub pending_peekers: usize,
    /// Threads waiting to write.
    pub pending_writers: usize,
    /// Messages accepted (queued or handed straight to a reader).
    pub written: u64,
    /// Messages taken by readers (peeks not counted).
    pub read: u64,
    /// Messages dropped by discard-oldest writes.
    pub dropped: u64,
    /// Messages dropped by `ipcm_pipe_purge`.
    pub purged: u64,
    /// Whether the pipe was closed (`ipcm_pipe_close`).
    pub closed: bool,
}

impl From<ipcm::PipeInfo> for ipcm_pipe_info_t {
    fn from(info: ipcm::PipeInfo) -> Self {
        ipcm_pipe_info_t {
            id: info.id.to_raw(),
            msg_size: info.msg_size,
            max_msgs: info.max_msgs,
            flags: info.flags.bits() as usize,
            owner: info.owner.0,
            queued: info.queued,
            pending_readers: info.pending_readers,
            pending_peekers: info.pending_peekers,
            pending_writers: info.pending_writers,
            written: info.written,
            read: info.read,
            dropped: info.dropped,
            purged: info.purged,
            closed: info.closed,
        }
    }
}

/// The operation completed.
pub const IPCM_STATUS_OK: c_int = 0;
/// Pending: the thread must be parked; the wake hook gives its result.
pub const IPCM_STATUS_BLOCKED: c_int = 1;
/// No pipe has this id or name (or the thread has nothing to cancel).
pub const IPCM_STATUS_NOT_FOUND: c_int = 2;
/// The message is longer than the pipe's `msg_size`.
pub const IPCM_STATUS_TOO_LARGE: c_int = 3;
/// A thread's buffer is not mapped with the needed permission.
pub const IPCM_STATUS_BAD_ADDRESS: c_int = 4;
/// The pipe is empty and the caller does not block.
pub const IPCM_STATUS_EMPTY: c_int = 5;
/// The pipe is full and the caller does not block.
pub const IPCM_STATUS_FULL: c_int = 6;
/// The pending operation was cancelled by a timeout; it did not happen.
pub const IPCM_STATUS_TIMED_OUT: c_int = 7;
/// The pending operation was cancelled; it did not happen.
pub const IPCM_STATUS_CANCELLED: c_int = 8;
/// The pipe was destroyed.
pub const IPCM_STATUS_DESTROYED: c_int = 9;
/// The caller's process may not do this to this pipe.
pub const IPCM_STATUS_DENIED: c_int = 10;
/// Another live pipe has this name.
pub const IPCM_STATUS_NAME_TAKEN: c_int = 11;
/// An invalid parameter (sizes, flags, name, NULL pointer, no hooks).
pub const IPCM_STATUS_BAD_PARAM: c_int = 12;
/// The thread already has a pending operation.
pub const IPCM_STATUS_ALREADY_PENDING: c_int = 13;
/// Out of memory; nothing changed.
pub const IPCM_STATUS_NO_MEMORY: c_int = 14;
/// The pipe was closed: writes fail, reads drain what is queued, then fail.
pub const IPCM_STATUS_CLOSED: c_int = 15;
/// C ABI only: the library caught a panic (a bug in the IPC manager; please
/// report it). Never returned by a correct library.
pub const IPCM_STATUS_INTERNAL: c_int = -1;

/// A write to a full pipe drops the oldest message instead of blocking.
pub const IPCM_FLAG_DISCARD_OLDEST: usize = 1;
/// Only the owner process (and the kernel) may read or peek.
pub const IPCM_FLAG_OWNER_READ: usize = 2;
/// Only the owner process (and the kernel) may write.
pub const IPCM_FLAG_OWNER_WRITE: usize = 4;
/// Waiters are served by thread priority, FIFO within a priority.
pub const IPCM_FLAG_PRIORITY_WAITERS: usize = 8;
/// Messages are read by message priority (`ipcm_pipe_write_prio`: higher
/// first, FIFO within a priority) instead of in arrival order. Not with
/// `max_msgs` 0.
pub const IPCM_FLAG_PRIORITY_MESSAGES: usize = 16;

/// The most operations one `ipcm_select` may name.
pub const IPCM_SELECT_MAX: usize = 16;
/// `ipcm_select_op_t.kind`: take the oldest message.
pub const IPCM_SELECT_READ: c_int = 0;
/// `ipcm_select_op_t.kind`: copy the oldest message without taking it.
pub const IPCM_SELECT_PEEK: c_int = 1;
/// `ipcm_select_op_t.kind`: write a message.
pub const IPCM_SELECT_WRITE: c_int = 2;

// The C constant is the core's bound.
const _: () = assert!(IPCM_SELECT_MAX == ipcm::SELECT_MAX);

/// One operation of an `ipcm_select`: a read or peek into `buf` (its
/// length to `*len_out`), or a write of `len` bytes at `buf`, on pipe
/// `pipe`. Addresses are in the selecting thread's address space.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ipcm_select_op_t {
    /// `IPCM_SELECT_READ`, `IPCM_SELECT_PEEK` or `IPCM_SELECT_WRITE`.
    pub kind: c_int,
    /// The pipe's id.
    pub pipe: usize,
    /// The receive buffer (read, peek) or the message (write).
    pub buf: *mut c_void,
    /// Where a read or peek stores the length (unused by a write).
    pub len_out: *mut usize,
    /// The message's length (write only).
    pub len: usize,
}

/// A thread's select group record (opaque): made once per thread with
/// `ipcm_select_group_new`, passed to each of its selects, freed with
/// `ipcm_select_group_free` when the thread is gone.
pub struct ipcm_select_group_t {
    _opaque: [u8; 0],
    _not_send_sync_unpin: PhantomData<(*mut u8, PhantomPinned)>,
}

/// Every `IPCM_STATUS_*` constant with the core status it must equal.
pub(crate) const STATUS_CONSTANTS: [(c_int, Status); 16] = [
    (IPCM_STATUS_OK, Status::Ok),
    (IPCM_STATUS_BLOCKED, Status::Blocked),
    (IPCM_STATUS_NOT_FOUND, Status::NotFound),
    (IPCM_STATUS_TOO_LARGE, Status::TooLarge),
    (IPCM_STATUS_BAD_ADDRESS, Status::BadAddress),
    (IPCM_STATUS_EMPTY, Status::Empty),
    (IPCM_STATUS_FULL, Status::Full),
    (IPCM_STATUS_TIMED_OUT, Status::TimedOut),
    (IPCM_STATUS_CANCELLED, Status::Cancelled),
    (IPCM_STATUS_DESTROYED, Status::Destroyed),
    (IPCM_STATUS_DENIED, Status::Denied),
    (IPCM_STATUS_NAME_TAKEN, Status::NameTaken),
    (IPCM_STATUS_BAD_PARAM, Status::BadParam),
    (IPCM_STATUS_ALREADY_PENDING, Status::AlreadyPending),
    (IPCM_STATUS_NO_MEMORY, Status::NoMemory),
    (IPCM_STATUS_CLOSED, Status::Closed),
];

// rust-sel4 style: the build fails if a constant and the core enum disagree,
// or if the core grows a status this table does not cover.
const _: () = {
    assert!(STATUS_CONSTANTS.len() == Status::ALL.len());
    let mut i = 0;
    while i < STATUS_CONSTANTS.len() {
        assert!(STATUS_CONSTANTS[i].0 == STATUS_CONSTANTS[i].1.code());
        assert!(STATUS_CONSTANTS[i].1.code() == Status::ALL[i].code());
        i += 1;
    }
    assert!(Status::from_code(IPCM_STATUS_INTERNAL).is_none());
};

/// Every `IPCM_FLAG_*` constant with the core flag it must equal.
pub(crate) const FLAG_CONSTANTS: [(usize, PipeFlags); 5] = [
    (IPCM_FLAG_DISCARD_OLDEST, PipeFlags::DISCARD_OLDEST),
    (IPCM_FLAG_OWNER_READ, PipeFlags::OWNER_READ),
    (IPCM_FLAG_OWNER_WRITE, PipeFlags::OWNER_WRITE),
    (IPCM_FLAG_PRIORITY_WAITERS, PipeFlags::PRIORITY_WAITERS),
    (IPCM_FLAG_PRIORITY_MESSAGES, PipeFlags::PRIORITY_MESSAGES),
];

const _: () = {
    let mut all = 0;
    let mut i = 0;
    while i < FLAG_CONSTANTS.len() {
        assert!(FLAG_CONSTANTS[i].0 == FLAG_CONSTANTS[i].1.bits() as usize);
        all |= FLAG_CONSTANTS[i].0;
        i += 1;
    }
    // Every core flag has a macro.
    assert!(all == PipeFlags::all().bits() as usize);
};
