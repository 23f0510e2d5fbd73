//! The exported `ipcm_*` functions. Each one is a thin layer: decode the C
//! arguments, call the global [`ipcm::Ipcm`], encode the result, all inside
//! the panic firewall.
//!
//! Unsafe here is only what `extern "C"` needs (`no_mangle`, and taking raw
//! pointers whose validity is the caller's contract, stated in each
//! function's `# Safety`); every dereference goes through [`crate::kptr`].

#![allow(unsafe_code)]

use core::ffi::{c_char, c_int, c_void};
use core::ptr;

use ipcm::{Caller, CancelReason, PipeFlags, PipeId, Progress, Status, Ticket, UserAddr};

use crate::abi::{
    IPCM_STATUS_CANCELLED, IPCM_STATUS_TIMED_OUT, ipc_pipe_t, ipcm_hooks_t, ipcm_pipe_info_t,
    ipcm_ticket_t, thread_t,
};
use crate::global::ipcm;
use crate::hooks::ThreadRef;
use crate::{boundary, kptr};

/// The handle of pipe `id`: its id, as a pointer that is never dereferenced.
fn handle(id: PipeId) -> *mut ipc_pipe_t {
    ptr::without_provenance_mut(id.to_raw())
}

/// Who is calling: NULL is the kernel; a thread needs hooks installed.
pub(crate) fn caller(thread: *mut thread_t) -> Result<Option<ThreadRef>, Status> {
    match ThreadRef::new(thread) {
        None => Ok(None),
        Some(_) if !ipcm().kernel().has_hooks() => Err(Status::BadParam),
        Some(thread) => Ok(Some(thread)),
    }
}

/// A thread's virtual address, as data for the hooks.
pub(crate) fn user_addr<T>(va: *mut T) -> UserAddr {
    UserAddr(va.expose_provenance())
}

/// A call that may block: `Blocked` is reported as a status, and its
/// ticket stored at `ticket_out` (NULL: not wanted).
///
/// # Safety
/// `ticket_out` is NULL or valid for a write of an `ipcm_ticket_t`.
pub(crate) unsafe fn finished<T>(
    progress: Progress<T>,
    ticket_out: *mut ipcm_ticket_t,
) -> Result<(), Status> {
    match progress {
        Progress::Done(_) => Ok(()),
        Progress::Blocked(ticket) => {
            let (pipe, slot, seq) = ticket.to_raw();
            // SAFETY: NULL or valid for a write (the caller's contract).
            unsafe { kptr::store(ticket_out, ipcm_ticket_t { pipe, slot, seq }) };
            Err(Status::Blocked)
        }
    }
}

/// Why a cancel happens, from its C status code.
fn cancel_reason(reason: c_int) -> Result<CancelReason, Status> {
    match reason {
        IPCM_STATUS_TIMED_OUT => Ok(CancelReason::TimedOut),
        IPCM_STATUS_CANCELLED => Ok(CancelReason::Cancelled),
        _ => Err(Status::BadParam),
    }
}

/// Initialise the IPC manager. Optional and idempotent: the manager is
/// created on first use anyway, and a second call changes nothing (no pipe
/// or pending operation is lost). The seed calls it once at boot.
#[unsafe(no_mangle)]
pub extern "C" fn ipcm_init() {
    boundary::value((), || {
        ipcm();
    });
}

/// Install the kernel's hooks, or replace the installed ones (pending
/// operations are then completed through the new hooks). Hooks cannot be
/// removed. Until hooks are installed, only the kernel (`thread_t *` NULL)
/// can use pipes; calls for a thread return `IPCM_STATUS_BAD_PARAM`.
///
/// Returns `IPCM_STATUS_OK`, or `IPCM_STATUS_BAD_PARAM` (nothing installed)
/// when `hooks` or one of its required functions is NULL, or the hosted
/// runtime (`ipcm_host_init`) runs this manager. The struct is copied; it
/// need not outlive the call.
///
/// # Safety
/// `hooks`, if not NULL, points to a valid `ipcm_hooks_t` whose functions
/// keep the hook contract of the header for as long as they are installed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipcm_install_hooks(hooks: *const ipcm_hooks_t) -> c_int {
    boundary::status(|| {
        if hooks.is_null() {
            return Err(Status::BadParam);
        }
        // SAFETY: non-NULL and valid for reads (the caller's contract);
        // read_unaligned copies the struct without keeping a reference.
        let hooks = unsafe { hooks.read_unaligned() };
        if ipcm().kernel().install(&hooks) {
            Ok(())
        } else {
            Err(Status::BadParam)
        }
    })
}

/// Create a pipe of `max_msgs` messages of at most `msg_size` bytes, owned by
/// the kernel, named `name` (NULL: anonymous, reached by id only). `flags`
/// are `IPCM_FLAG_*` bits. Its whole store is allocated now.
///
/// Returns the new pipe, or NULL on bad parameters (0 sizes,
/// `msg_size * max_msgs` overflow, unknown flag bits, empty/over-long/
/// non-UTF-8 name), a taken name, or no memory. Use
/// [`ipcm_pipe_create_as`] to learn which.
///
/// # Safety
/// `name`, if not NULL, is readable up to its NUL or 65 bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipcm_pipe_create(
    name: *mut c_char,
    msg_size: usize,
    max_msgs: usize,
    flags: usize,
) -> *mut ipc_pipe_t {
    let mut pipe = ptr::null_mut();
    // SAFETY: `name` is passed on under this function's own contract;
    // `pipe` is a valid out-parameter.
    let _status =
        unsafe { ipcm_pipe_create_as(ptr::null_mut(), name, msg_size, max_msgs, flags, &mut pipe) };
    pipe
}

/// Create a pipe like [`ipcm_pipe_create`], owned by `owner`'s process
/// (NULL: the kernel), and say why not if it fails. On `IPCM_STATUS_OK` the
/// new handle is stored at `pipe_out`; otherwise NULL is (when `pipe_out` is
/// not NULL; a NULL `pipe_out` is allowed: use the name or ignore the
/// handle).
///
/// Returns `IPCM_STATUS_OK`, `BAD_PARAM`, `NAME_TAKEN` or `NO_MEMORY`
/// (nothing created), or `BAD_PARAM` for an owner thread when no hooks are
/// installed.
///
/// # Safety
/// `name` as for [`ipcm_pipe_create`]; `pipe_out`, if not NULL, is valid for
/// a write of a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipcm_pipe_create_as(
    owner: *mut thread_t,
    name: *const c_char,
    msg_size: usize,
    max_msgs: usize,
    flags: usize,
    pipe_out: *mut *mut ipc_pipe_t,
) -> c_int {
    // SAFETY: `pipe_out` is NULL or valid for writes (the contract).
    unsafe { kptr::store(pipe_out, ptr::null_mut()) };
    boundary::status(|| {
        let name = if name.is_null() {
            None
        } else {
            // SAFETY: non-NULL `name` is readable to its NUL or 65 bytes.
            Some(unsafe { kptr::name(name) }?)
        };
        let flags = PipeFlags::from_raw(flags)?;
        let owner = caller(owner)?;
        let owner = match &owner {
            None => Caller::Kernel,
            Some(thread) => Caller::Thread(thread),
        };
        let id = ipcm().create(owner, name, msg_size, max_msgs, flags)?;
        // SAFETY: as above.
        unsafe { kptr::store(pipe_out, handle(id)) };
        Ok(())
    })
}

/// The live pipe with this id, or NULL (never created, or destroyed).
#[unsafe(no_mangle)]
pub extern "C" fn ipcm_pipe_lookup_by_id(id: usize) -> *mut ipc_pipe_t {
    boundary::value(ptr::null_mut(), || {
        match ipcm().open(PipeId::from_raw(id)) {
            Ok(pipe) => handle(pipe.id()),
            Err(_) => ptr::null_mut(),
        }
    })
}

/// The live pipe with this name, or NULL (no such pipe, or a NULL,
/// over-long or non-UTF-8 name).
///
/// # Safety
/// `name`, if not NULL, is readable up to its NUL or 65 bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipcm_pipe_lookup_by_name(name: *mut c_char) -> *mut ipc_pipe_t {
    boundary::value(ptr::null_mut(), || {
        // SAFETY: readable to its NUL or 65 bytes (the contract).
        let found = unsafe { kptr::name(name) }.and_then(|name| ipcm().lookup_by_name(name));
        found.map_or(ptr::null_mut(), handle)
    })
}

/// The id of a pipe handle (0 for NULL). Works on any value, also a stale
/// handle: the id of a destroyed pipe names no pipe any more.
#[unsafe(no_mangle)]
pub extern "C" fn ipcm_pipe_id(pipe: *const ipc_pipe_t) -> usize {
    pipe.addr()
}

/// Copy the name of `pipe` and its terminating NUL into `buf` of `buf_len`
/// bytes, and store the name's length (without NUL; 0 for an anonymous
/// pipe) at `name_len` when it is not NULL.
///
/// Returns `IPCM_STATUS_OK`; `NOT_FOUND` (no live pipe); `BAD_PARAM` when
/// `buf` is NULL or shorter than the name plus NUL (`*name_len` is still
/// set, so the caller can retry with a larger buffer).
///
/// # Safety
/// `buf`, if not NULL, is valid for writes of `buf_len` bytes; `name_len`,
/// if not NULL, for a write of a `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipcm_pipe_name(
    pipe: *const ipc_pipe_t,
    buf: *mut c_char,
    buf_len: usize,
    name_len: *mut usize,
) -> c_int {
    boundary::status(|| {
        let pipe = ipcm().open(PipeId::from_raw(ipcm_pipe_id(pipe)))?;
        let name = pipe.name().unwrap_or("").as_bytes();
        // SAFETY: NULL or valid for a write (the contract).
        unsafe { kptr::store(name_len, name.len()) };
        if buf_len <= name.len() {
            return Err(Status::BadParam);
        }
        // SAFETY: valid for writes of `buf_len` bytes (the contract), and
        // `name.len() + 1 <= buf_len` (checked).
        let out = unsafe { kptr::kernel_bytes_mut(buf.cast(), name.len() + 1) }?;
        out[..name.len()].copy_from_slice(name);
        out[name.len()] = 0;
        Ok(())
    })
}

/// Write `len` bytes at `vamsg` as one message into pipe `id`.
///
/// `from` is the writing thread, and `vamsg` a virtual address in its
/// address space, read through the copy hook. If the pipe is full (and does
/// not discard the oldest message) the write becomes pending: the call
/// returns `IPCM_STATUS_BLOCKED`, the kernel parks `from`, and the wake hook
/// later gives the outcome (`OK`: the message is in the pipe or in a
/// reader's buffer).
///
/// `from` NULL is the kernel: `vamsg` is a kernel pointer and a full pipe is
/// `IPCM_STATUS_FULL`.
///
/// Returns `OK`, `BLOCKED`, `NOT_FOUND`, `TOO_LARGE`, `BAD_ADDRESS`,
/// `DENIED`, `ALREADY_PENDING`, `FULL` (kernel), `BAD_PARAM` (kernel NULL
/// buffer, or a thread with no hooks installed), `NO_MEMORY`.
///
/// # Safety
/// For `from` NULL, `vamsg` is NULL or valid for reads of `len` bytes (a
/// `len` above the pipe's `msg_size` is rejected before `vamsg` is used).
/// For a thread, nothing: `vamsg` is only an address.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipcm_pipe_write(
    from: *mut thread_t,
    id: usize,
    vamsg: *mut c_void,
    len: usize,
) -> c_int {
    // SAFETY: this function's contract is send's.
    boundary::status(|| unsafe { send(from, id, vamsg, len, true, ptr::null_mut()) })
}

/// [`ipcm_pipe_write`] that never blocks: `IPCM_STATUS_FULL` instead.
///
/// # Safety
/// As [`ipcm_pipe_write`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipcm_pipe_try_write(
    from: *mut thread_t,
    id: usize,
    vamsg: *mut c_void,
    len: usize,
) -> c_int {
    // SAFETY: this function's contract is send's.
    boundary::status(|| unsafe { send(from, id, vamsg, len, false, ptr::null_mut()) })
}

/// Take the oldest message of pipe `id` into `vamsg`, which must hold the
/// pipe's `msg_size` bytes, and store its length (a `size_t`) at `valen`.
///
/// `to` is the reading thread, and `vamsg`/`valen` virtual addresses in its
/// address space, written through the copy hook. If the pipe is empty the
/// read becomes pending (`IPCM_STATUS_BLOCKED`); when the wake hook says
/// `OK`, the message and its length are already in the thread's buffers.
///
/// `to` NULL is the kernel: `vamsg`/`valen` are kernel pointers (NULL:
/// `BAD_PARAM`) and an empty pipe is `IPCM_STATUS_EMPTY`.
///
/// Returns `OK`, `BLOCKED`, `NOT_FOUND`, `BAD_ADDRESS` (nothing consumed),
/// `DENIED`, `ALREADY_PENDING`, `EMPTY` (kernel), `BAD_PARAM`, `NO_MEMORY`.
///
/// # Safety
/// For `to` NULL, `vamsg` is NULL or valid for writes of the pipe's
/// `msg_size` bytes, and `valen` NULL or valid for a write of a `size_t`.
/// For a thread, nothing: they are only addresses.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipcm_pipe_read(
    to: *mut thread_t,
    id: usize,
    vamsg: *mut c_void,
    valen: *mut usize,
) -> c_int {
    // SAFETY: this function's contract is receive's.
    boundary::status(|| unsafe {
        receive(to, id, vamsg, valen, Receive::Read, true, ptr::null_mut())
    })
}

/// [`ipcm_pipe_read`] that never blocks: `IPCM_STATUS_EMPTY` instead.
///
/// # Safety
/// As [`ipcm_pipe_read`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipcm_pipe_try_read(
    to: *mut thread_t,
    id: usize,
    vamsg: *mut c_void,
    valen: *mut usize,
) -> c_int {
    // SAFETY: this function's contract is receive's.
    boundary::status(|| unsafe {
        receive(to, id, vamsg, valen, Receive::Read, false, ptr::null_mut())
    })
}

/// Copy the oldest message of pipe `id` like [`ipcm_pipe_read`] without
/// taking it. Blocks while the pipe is empty; the next write gives every
/// pending peeker a copy.
///
/// # Safety
/// As [`ipcm_pipe_read`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipcm_pipe_peek(
    to: *mut thread_t,
    id: usize,
    vamsg: *mut c_void,
    valen: *mut usize,
) -> c_int {
    // SAFETY: this function's contract is receive's.
    boundary::status(|| unsafe {
        receive(to, id, vamsg, valen, Receive::Peek, true, ptr::null_mut())
    })
}

/// [`ipcm_pipe_peek`] that never blocks: `IPCM_STATUS_EMPTY` instead.
///
/// # Safety
/// As [`ipcm_pipe_read`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipcm_pipe_try_peek(
    to: *mut thread_t,
    id: usize,
    vamsg: *mut c_void,
    valen: *mut usize,
) -> c_int {
    // SAFETY: this function's contract is receive's.
    boundary::status(|| unsafe {
        receive(to, id, vamsg, valen, Receive::Peek, false, ptr::null_mut())
    })
}

/// [`ipcm_pipe_write`] that also stores the pending operation's ticket at
/// `ticket_out` when it returns `IPCM_STATUS_BLOCKED` (untouched
/// otherwise; NULL: not wanted). Pass the ticket to
/// [`ipcm_thread_cancel_op`] when the write's deadline passes.
///
/// # Safety
/// As [`ipcm_pipe_write`], and `ticket_out` is NULL or valid for a write of
/// an `ipcm_ticket_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipcm_pipe_write_ticket(
    from: *mut thread_t,
    id: usize,
    vamsg: *mut c_void,
    len: usize,
    ticket_out: *mut ipcm_ticket_t,
) -> c_int {
    // SAFETY: this function's contract is send's.
    boundary::status(|| unsafe { send(from, id, vamsg, len, true, ticket_out) })
}

/// [`ipcm_pipe_read`] that also stores the pending operation's ticket at
/// `ticket_out` when it returns `IPCM_STATUS_BLOCKED` (untouched
/// otherwise; NULL: not wanted).
///
/// # Safety
/// As [`ipcm_pipe_read`], and `ticket_out` is NULL or valid for a write of
/// an `ipcm_ticket_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipcm_pipe_read_ticket(
    to: *mut thread_t,
    id: usize,
    vamsg: *mut c_void,
    valen: *mut usize,
    ticket_out: *mut ipcm_ticket_t,
) -> c_int {
    // SAFETY: this function's contract is receive's.
    boundary::status(|| unsafe { receive(to, id, vamsg, valen, Receive::Read, true, ticket_out) })
}

/// [`ipcm_pipe_peek`] that also stores the pending operation's ticket at
/// `ticket_out` when it returns `IPCM_STATUS_BLOCKED` (untouched
/// otherwise; NULL: not wanted).
///
/// # Safety
/// As [`ipcm_pipe_read_ticket`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipcm_pipe_peek_ticket(
    to: *mut thread_t,
    id: usize,
    vamsg: *mut c_void,
    valen: *mut usize,
    ticket_out: *mut ipcm_ticket_t,
) -> c_int {
    // SAFETY: this function's contract is receive's.
    boundary::status(|| unsafe { receive(to, id, vamsg, valen, Receive::Peek, true, ticket_out) })
}

/// End the one pending operation of `thread` that `ticket` names, without
/// doing it: the thread is woken with `reason` (`IPCM_STATUS_TIMED_OUT` or
/// `IPCM_STATUS_CANCELLED`) before this returns `OK`, so the kernel may
/// free the thread then. A stale ticket (the operation completed, was
/// cancelled or destroyed, or is another thread's) returns `NOT_FOUND` and
/// changes nothing, even when the thread waits for another operation by
/// then: use this for timeouts.
///
/// Returns `OK`, `NOT_FOUND`, or `BAD_PARAM` (other `reason`, NULL thread
/// or ticket).
///
/// # Safety
/// `ticket` is NULL or valid for a read of an `ipcm_ticket_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipcm_thread_cancel_op(
    thread: *mut thread_t,
    ticket: *const ipcm_ticket_t,
    reason: c_int,
) -> c_int {
    boundary::status(|| {
        let reason = cancel_reason(reason)?;
        let thread = ThreadRef::new(thread).ok_or(Status::BadParam)?;
        if ticket.is_null() {
            return Err(Status::BadParam);
        }
        // SAFETY: non-NULL (checked) and valid for a read (the contract);
        // read_unaligned makes no alignment assumption.
        let ticket = unsafe { ticket.read_unaligned() };
        let ticket = Ticket::from_raw(ticket.pipe, ticket.slot, ticket.seq);
        ipcm().cancel_op(&thread, ticket, reason)
    })
}

/// End `thread`'s pending operation, whichever it is, without doing it (a
/// thread being killed; for timeouts prefer [`ipcm_thread_cancel_op`]):
/// the thread is woken with `reason`, which must be
/// `IPCM_STATUS_TIMED_OUT` or `IPCM_STATUS_CANCELLED`, before this returns
/// `OK`, so the kernel may free the thread then. One-shot: if the
/// operation completed first or there is none, returns `NOT_FOUND` and
/// changes nothing, so a thread never gets two outcomes.
///
/// Threads are known by address: cancel a thread's pending operation
/// before its `thread_t` is freed or reused (a killed thread), or the new
/// thread at that address would inherit it.
///
/// Returns `OK`, `NOT_FOUND`, or `BAD_PARAM` (other `reason`, NULL thread).
#[unsafe(no_mangle)]
pub extern "C" fn ipcm_thread_cancel(thread: *mut thread_t, reason: c_int) -> c_int {
    boundary::status(|| {
        let reason = cancel_reason(reason)?;
        let thread = ThreadRef::new(thread).ok_or(Status::BadParam)?;
        ipcm().cancel(&thread, reason)
    })
}

/// Whether `thread` has a pending operation (its wake hook call is still
/// to come). False for NULL.
#[unsafe(no_mangle)]
pub extern "C" fn ipcm_thread_is_pending(thread: *mut thread_t) -> bool {
    boundary::value(false, || {
        ThreadRef::new(thread).is_some_and(|thread| ipcm().is_pending(&thread))
    })
}

/// Destroy pipe `id`: every pending operation is woken with
/// `IPCM_STATUS_DESTROYED`, queued messages are dropped, the name is free
/// again, and the id (and its handle) never names a pipe again. Only the
/// owner's process or the kernel (`caller` NULL) may destroy.
///
/// Returns `OK`, `NOT_FOUND`, `DENIED` (nothing changed), or `BAD_PARAM` (a
/// thread with no hooks installed).
#[unsafe(no_mangle)]
pub extern "C" fn ipcm_pipe_destroy(caller: *mut thread_t, id: usize) -> c_int {
    boundary::status(|| {
        let thread = self::caller(caller)?;
        let caller = match &thread {
            None => Caller::Kernel,
            Some(thread) => Caller::Thread(thread),
        };
        ipcm().destroy(caller, PipeId::from_raw(id))
    })
}

/// Fill `*info` with a snapshot of pipe `id` (sizes, flags, owner, queued
/// messages, waiters, counters).
///
/// Returns `OK`, `NOT_FOUND` (`*info` untouched), `BAD_PARAM` (NULL `info`).
///
/// # Safety
/// `info`, if not NULL, is valid for a write of an `ipcm_pipe_info_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipcm_pipe_info(id: usize, info: *mut ipcm_pipe_info_t) -> c_int {
    boundary::status(|| {
        if info.is_null() {
            return Err(Status::BadParam);
        }
        let snapshot = match ipcm().info(PipeId::from_raw(id)) {
            // Destroyed between lookup and snapshot: gone, as for the id.
            Err(Status::Destroyed) => Err(Status::NotFound),
            other => other,
        }?;
        // SAFETY: non-NULL and valid for a write (the contract).
        unsafe { kptr::store(info, snapshot.into()) };
        Ok(())
    })
}

/// The C name of a status code (`"IPCM_STATUS_FULL"`), or
/// `"IPCM_STATUS_UNKNOWN"`. The string is static.
#[unsafe(no_mangle)]
pub extern "C" fn ipcm_status_name(status: c_int) -> *const c_char {
    const NAMES: [&core::ffi::CStr; 16] = [
        c"IPCM_STATUS_OK",
        c"IPCM_STATUS_BLOCKED",
        c"IPCM_STATUS_NOT_FOUND",
        c"IPCM_STATUS_TOO_LARGE",
        c"IPCM_STATUS_BAD_ADDRESS",
        c"IPCM_STATUS_EMPTY",
        c"IPCM_STATUS_FULL",
        c"IPCM_STATUS_TIMED_OUT",
        c"IPCM_STATUS_CANCELLED",
        c"IPCM_STATUS_DESTROYED",
        c"IPCM_STATUS_DENIED",
        c"IPCM_STATUS_NAME_TAKEN",
        c"IPCM_STATUS_BAD_PARAM",
        c"IPCM_STATUS_ALREADY_PENDING",
        c"IPCM_STATUS_NO_MEMORY",
        c"IPCM_STATUS_CLOSED",
    ];
    let name = match status {
        crate::abi::IPCM_STATUS_INTERNAL => c"IPCM_STATUS_INTERNAL",
        _ => usize::try_from(status)
            .ok()
            .and_then(|i| NAMES.get(i).copied())
            .unwrap_or(c"IPCM_STATUS_UNKNOWN"),
    };
    name.as_ptr()
}

/// A write (`wait`: may block) by `from` (NULL: the kernel); a blocked
/// write's ticket goes to `ticket_out` (NULL: not wanted).
///
/// # Safety
/// As [`ipcm_pipe_write_ticket`].
unsafe fn send(
    from: *mut thread_t,
    id: usize,
    vamsg: *mut c_void,
    len: usize,
    wait: bool,
    ticket_out: *mut ipcm_ticket_t,
) -> Result<(), Status> {
    let ipcm = ipcm();
    let id = PipeId::from_raw(id);
    match caller(from)? {
        // SAFETY: `ticket_out` as the caller's contract says.
        Some(thread) if wait => unsafe {
            finished(ipcm.write(&thread, id, user_addr(vamsg), len)?, ticket_out)
        },
        Some(thread) => ipcm.try_write(&thread, id, user_addr(vamsg), len).map(drop),
        None => {
            if vamsg.is_null() {
                return Err(Status::BadParam);
            }
            let pipe = ipcm.open(id)?;
            if len > pipe.msg_size() {
                return Err(Status::TooLarge);
            }
            // SAFETY: valid for `len` bytes (the contract); `len` is at most
            // `msg_size`, which bounded an allocation, so <= isize::MAX.
            let msg = unsafe { kptr::kernel_bytes(vamsg, len) }?;
            ipcm.kernel_write(&pipe, msg).map(drop)
        }
    }
}

/// Whether a receive takes the message.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Receive {
    Read,
    Peek,
}

/// A read or peek (`wait`: may block) by `to` (NULL: the kernel); a
/// blocked one's ticket goes to `ticket_out` (NULL: not wanted).
///
/// # Safety
/// As [`ipcm_pipe_read_ticket`].
unsafe fn receive(
    to: *mut thread_t,
    id: usize,
    vamsg: *mut c_void,
    valen: *mut usize,
    kind: Receive,
    wait: bool,
    ticket_out: *mut ipcm_ticket_t,
) -> Result<(), Status> {
    let ipcm = ipcm();
    let id = PipeId::from_raw(id);
    let (buf, len_out) = (user_addr(vamsg), user_addr(valen));
    match (caller(to)?, kind, wait) {
        // SAFETY: `ticket_out` as the caller's contract says.
        (Some(thread), Receive::Read, true) => unsafe {
            finished(ipcm.read(&thread, id, buf, len_out)?, ticket_out)
        },
        (Some(thread), Receive::Read, false) => ipcm.try_read(&thread, id, buf, len_out).map(drop),
        // SAFETY: `ticket_out` as the caller's contract says.
        (Some(thread), Receive::Peek, true) => unsafe {
            finished(ipcm.peek(&thread, id, buf, len_out)?, ticket_out)
        },
        (Some(thread), Receive::Peek, false) => ipcm.try_peek(&thread, id, buf, len_out).map(drop),
        (None, ..) => {
            if vamsg.is_null() || valen.is_null() {
                return Err(Status::BadParam);
            }
            let pipe = ipcm.open(id)?;
            // SAFETY: valid for writes of `msg_size` bytes (the contract);
            // `msg_size` bounded an allocation, so <= isize::MAX.
            let buf = unsafe { kptr::kernel_bytes_mut(vamsg, pipe.msg_size()) }?;
            let len = match kind {
                Receive::Read => ipcm.kernel_read(&pipe, buf),
                Receive::Peek => ipcm.kernel_peek(&pipe, buf),
            }?;
            // SAFETY: non-NULL (checked) and valid for a write (the
            // contract).
            unsafe { kptr::store(valen, len) };
            Ok(())
        }
    }
}
