//! The C functions of the §9 operations: urgent writes, purge, close,
//! sequence numbers and peek-newer, indexed peek, select, wake feedback.
//! Thin layers over the core, as in [`crate::calls`].

#![allow(unsafe_code)]

use core::ffi::{c_int, c_void};
use core::mem::ManuallyDrop;

use ipcm::{Caller, PipeId, Priority, Progress, SELECT_MAX, SelectGroup, SelectOp, Shared, Status};

use crate::abi::{
    IPCM_SELECT_PEEK, IPCM_SELECT_READ, IPCM_SELECT_WRITE, ipcm_select_group_t, ipcm_select_op_t,
    ipcm_ticket_t, thread_t,
};
use crate::calls::{caller, finished, user_addr};
use crate::global::ipcm;
use crate::{boundary, kptr};

/// Write `len` bytes at `vamsg` to the head of pipe `id` (read next);
/// otherwise as `ipcm_pipe_write_ticket` (hand-off, blocking, discard-
/// oldest). `from` NULL: the kernel writes from its own buffer and never
/// blocks (`FULL`).
///
/// Returns `OK`, `BLOCKED` (ticket at `ticket_out` if not NULL), or a
/// failure status (`CLOSED` once closed).
///
/// # Safety
/// For the kernel, `vamsg` is valid for `len` bytes; `ticket_out` is NULL
/// or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipcm_pipe_write_urgent(
    from: *mut thread_t,
    id: usize,
    vamsg: *mut c_void,
    len: usize,
    ticket_out: *mut ipcm_ticket_t,
) -> c_int {
    boundary::status(|| {
        let ipcm = ipcm();
        let id = PipeId::from_raw(id);
        match caller(from)? {
            // SAFETY: `ticket_out` as the contract says.
            Some(thread) => unsafe {
                finished(
                    ipcm.write_urgent(&thread, id, user_addr(vamsg), len)?,
                    ticket_out,
                )
            },
            None => {
                let pipe = ipcm.open(id)?;
                if len > pipe.msg_size() {
                    return Err(Status::TooLarge);
                }
                // SAFETY: valid for `len` bytes (the contract), `len`
                // bounded by `msg_size`.
                let msg = unsafe { kptr::kernel_bytes(vamsg, len) }?;
                ipcm.kernel_write_urgent(&pipe, msg).map(drop)
            }
        }
    })
}

/// Write `len` bytes at `vamsg` to pipe `id` at message priority `prio`
/// (0 to 255; higher is read first, FIFO within a priority) on a pipe
/// created with `IPCM_FLAG_PRIORITY_MESSAGES`; otherwise as
/// `ipcm_pipe_write_ticket` (a pending reader takes it directly; a full
/// pipe blocks the writer, admitted FIFO with the other blocked writers).
/// `from` NULL: the kernel writes from its own buffer and never blocks
/// (`FULL`).
///
/// Returns `OK`, `BLOCKED` (ticket at `ticket_out` if not NULL), or a
/// failure status; `BAD_PARAM` for a `prio` above 255, or other than 0 on
/// a pipe without the flag.
///
/// # Safety
/// For the kernel, `vamsg` is valid for `len` bytes; `ticket_out` is NULL
/// or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipcm_pipe_write_prio(
    from: *mut thread_t,
    id: usize,
    vamsg: *mut c_void,
    len: usize,
    prio: u32,
    ticket_out: *mut ipcm_ticket_t,
) -> c_int {
    boundary::status(|| {
        let ipcm = ipcm();
        let id = PipeId::from_raw(id);
        let prio = u8::try_from(prio).map_err(|_| Status::BadParam)?;
        match caller(from)? {
            // SAFETY: `ticket_out` as the contract says.
            Some(thread) => unsafe {
                finished(
                    ipcm.write_prio(&thread, id, user_addr(vamsg), len, prio)?,
                    ticket_out,
                )
            },
            None => {
                let pipe = ipcm.open(id)?;
                if len > pipe.msg_size() {
                    return Err(Status::TooLarge);
                }
                // SAFETY: valid for `len` bytes (the contract), `len`
                // bounded by `msg_size`.
                let msg = unsafe { kptr::kernel_bytes(vamsg, len) }?;
                ipcm.kernel_write_prio(&pipe, msg, prio).map(drop)
            }
        }
    })
}

/// Drop every queued message of pipe `id` (counted in `purged`), then
/// admit pending writers while room remains; the count dropped goes to
/// `*purged_out` (if not NULL). Owner process or kernel (`caller` NULL).
///
/// Returns `OK`, `NOT_FOUND`, `DENIED`.
///
/// # Safety
/// `purged_out` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipcm_pipe_purge(
    caller: *mut thread_t,
    id: usize,
    purged_out: *mut usize,
) -> c_int {
    boundary::status(|| {
        let thread = self::caller(caller)?;
        let who = thread.as_ref().map_or(Caller::Kernel, Caller::Thread);
        let dropped = ipcm().purge(who, PipeId::from_raw(id))?;
        // SAFETY: NULL or valid for a write (the contract).
        unsafe { kptr::store(purged_out, dropped) };
        Ok(())
    })
}

/// Close pipe `id`: writes fail `CLOSED` from now on (pending ones are
/// woken with it), readers drain what is queued, then get `CLOSED`.
/// Owner process or kernel (`caller` NULL).
///
/// Returns `OK`, `NOT_FOUND`, `DENIED`, `CLOSED` (already closed).
#[unsafe(no_mangle)]
pub extern "C" fn ipcm_pipe_close(caller: *mut thread_t, id: usize) -> c_int {
    boundary::status(|| {
        let thread = self::caller(caller)?;
        let who = thread.as_ref().map_or(Caller::Kernel, Caller::Thread);
        ipcm().close(who, PipeId::from_raw(id))
    })
}

/// What a numbered receive does.
#[derive(Clone, Copy)]
enum Numbered {
    Read,
    PeekNewer(u64),
    At(usize),
}

/// A read, peek-newer or indexed peek that reports the sequence number at
/// `vaseq` (a `uint64_t`).
///
/// # Safety
/// As the public functions below.
unsafe fn numbered(
    to: *mut thread_t,
    id: usize,
    vamsg: *mut c_void,
    valen: *mut usize,
    vaseq: *mut u64,
    kind: Numbered,
    ticket_out: *mut ipcm_ticket_t,
) -> Result<(), Status> {
    let ipcm = ipcm();
    let id = PipeId::from_raw(id);
    let (buf, len_out, seq_out) = (user_addr(vamsg), user_addr(valen), user_addr(vaseq));
    match caller(to)? {
        Some(thread) => {
            let progress = match kind {
                Numbered::Read => ipcm.read_seq(&thread, id, buf, len_out, seq_out)?,
                Numbered::PeekNewer(after) => {
                    ipcm.peek_newer(&thread, id, after, buf, len_out, seq_out)?
                }
                Numbered::At(index) => {
                    Progress::Done(ipcm.peek_at(&thread, id, index, buf, len_out, seq_out)?)
                }
            };
            // SAFETY: `ticket_out` as the contract says.
            unsafe { finished(progress, ticket_out) }
        }
        None => {
            if vamsg.is_null() || valen.is_null() || vaseq.is_null() {
                return Err(Status::BadParam);
            }
            let pipe = ipcm.open(id)?;
            // SAFETY: valid for writes of `msg_size` bytes (the contract).
            let buf = unsafe { kptr::kernel_bytes_mut(vamsg, pipe.msg_size()) }?;
            let received = match kind {
                Numbered::Read => ipcm.kernel_read_seq(&pipe, buf),
                Numbered::PeekNewer(after) => ipcm.kernel_peek_newer(&pipe, after, buf),
                Numbered::At(index) => ipcm.kernel_peek_at(&pipe, index, buf),
            }?;
            // SAFETY: non-NULL (checked) and valid for writes (the contract).
            unsafe {
                kptr::store(valen, received.len);
                kptr::store(vaseq, received.seq);
            }
            Ok(())
        }
    }
}

/// `ipcm_pipe_read_ticket` that also stores the message's sequence number
/// (the pipe's `written` count when it was accepted) at `vaseq`.
///
/// # Safety
/// As `ipcm_pipe_read_ticket`; for the kernel `vaseq` is valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipcm_pipe_read_seq(
    to: *mut thread_t,
    id: usize,
    vamsg: *mut c_void,
    valen: *mut usize,
    vaseq: *mut u64,
    ticket_out: *mut ipcm_ticket_t,
) -> c_int {
    // SAFETY: the caller's contract.
    boundary::status(|| unsafe {
        numbered(to, id, vamsg, valen, vaseq, Numbered::Read, ticket_out)
    })
}

/// Copy, without taking it, the first queued message numbered above
/// `after`, blocking (a thread) until a write brings one; the kernel gets
/// `EMPTY` instead. Number at `vaseq`.
///
/// # Safety
/// As [`ipcm_pipe_read_seq`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipcm_pipe_peek_newer(
    to: *mut thread_t,
    id: usize,
    after: u64,
    vamsg: *mut c_void,
    valen: *mut usize,
    vaseq: *mut u64,
    ticket_out: *mut ipcm_ticket_t,
) -> c_int {
    // SAFETY: the caller's contract.
    boundary::status(|| unsafe {
        numbered(
            to,
            id,
            vamsg,
            valen,
            vaseq,
            Numbered::PeekNewer(after),
            ticket_out,
        )
    })
}

/// Copy the queued message `index` places from the front (0: read next)
/// without taking it; never blocks (`EMPTY` past the end). Number at
/// `vaseq`.
///
/// # Safety
/// As [`ipcm_pipe_read_seq`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipcm_pipe_peek_at(
    to: *mut thread_t,
    id: usize,
    index: usize,
    vamsg: *mut c_void,
    valen: *mut usize,
    vaseq: *mut u64,
) -> c_int {
    // SAFETY: the caller's contract.
    boundary::status(|| unsafe {
        numbered(
            to,
            id,
            vamsg,
            valen,
            vaseq,
            Numbered::At(index),
            core::ptr::null_mut(),
        )
    })
}

/// A kernel write of `len` bytes at `msg` (e.g. from an interrupt handler)
/// that stores at `*woke_higher` (if not NULL) whether it woke a thread of
/// priority above `than`: the handler should reschedule then.
///
/// # Safety
/// `msg` is valid for `len` bytes; `woke_higher` is NULL or valid for a
/// write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipcm_kernel_write_woke(
    id: usize,
    msg: *const c_void,
    len: usize,
    than: u8,
    woke_higher: *mut bool,
) -> c_int {
    boundary::status(|| {
        let ipcm = ipcm();
        let pipe = ipcm.open(PipeId::from_raw(id))?;
        if len > pipe.msg_size() {
            return Err(Status::TooLarge);
        }
        // SAFETY: valid for `len` bytes (the contract), bounded by msg_size.
        let msg = unsafe { kptr::kernel_bytes(msg, len) }?;
        let woke = ipcm.kernel_write_woke(&pipe, msg, Priority(than))?;
        // SAFETY: NULL or valid for a write (the contract).
        unsafe { kptr::store(woke_higher, woke.higher_priority) };
        Ok(())
    })
}

/// A new select group record for one thread (allocated now, never at a
/// select), or NULL when out of memory. Call it when the thread is created.
#[unsafe(no_mangle)]
pub extern "C" fn ipcm_select_group_new() -> *mut ipcm_select_group_t {
    boundary::value(core::ptr::null_mut(), || match SelectGroup::shared() {
        Ok(group) => Shared::into_raw(group).cast_mut().cast(),
        Err(_) => core::ptr::null_mut(),
    })
}

/// Free a group record from [`ipcm_select_group_new`] (NULL: nothing).
/// Wait records of a select still queued keep what they need alive.
///
/// # Safety
/// `group` came from `ipcm_select_group_new`, is not freed twice and not
/// used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipcm_select_group_free(group: *mut ipcm_select_group_t) {
    if !group.is_null() {
        // SAFETY: made by `ipcm_select_group_new` with `into_raw` (the
        // contract), freed once.
        drop(unsafe { Shared::<SelectGroup>::from_raw(group.cast_const().cast()) });
    }
}

/// The group behind a C handle.
///
/// # Safety
/// `group` is NULL or from `ipcm_select_group_new` and not freed.
unsafe fn group(
    group: *const ipcm_select_group_t,
) -> Result<ManuallyDrop<Shared<SelectGroup>>, Status> {
    if group.is_null() {
        return Err(Status::BadParam);
    }
    // SAFETY: per the contract it came from `into_raw` and is live; the
    // `ManuallyDrop` keeps this borrow from dropping its count.
    Ok(ManuallyDrop::new(unsafe {
        Shared::<SelectGroup>::from_raw(group.cast())
    }))
}

/// Store a select's outcome.
///
/// # Safety
/// Each pointer NULL or valid for a write.
unsafe fn store_outcome(selected: ipcm::Selected, index_out: *mut usize, status_out: *mut c_int) {
    // SAFETY: the contract.
    unsafe {
        kptr::store(index_out, selected.index.unwrap_or(usize::MAX));
        kptr::store(status_out, selected.status.code());
    }
}

/// Select over `count` (1..=`IPCM_SELECT_MAX`) operations of `thread`
/// (DESIGN §9): the first that can complete now completes, returning `OK`
/// with its index at `*index_out` and its status at `*status_out`;
/// otherwise all wait as one group and this returns `BLOCKED` (ticket at
/// `ticket_out`): exactly one member completes later, the others never
/// happen, and the thread is woken once with that member's status;
/// `ipcm_select_outcome` then gives the index. Cancel the ticket to end
/// the whole group.
///
/// Returns `OK`, `BLOCKED`, or (nothing happened) `BAD_PARAM` (NULL
/// pointers, bad count or kind), `NOT_FOUND`, `DENIED`, `TOO_LARGE`,
/// `ALREADY_PENDING`, `NO_MEMORY`.
///
/// # Safety
/// `ops` is valid for reads of `count` entries; `group` as for
/// [`ipcm_select_group_free`]; the out pointers NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipcm_select(
    thread: *mut thread_t,
    group: *mut ipcm_select_group_t,
    ops: *const ipcm_select_op_t,
    count: usize,
    index_out: *mut usize,
    status_out: *mut c_int,
    ticket_out: *mut ipcm_ticket_t,
) -> c_int {
    boundary::status(|| {
        let thread = caller(thread)?.ok_or(Status::BadParam)?;
        // SAFETY: the contract.
        let group = unsafe { self::group(group) }?;
        if ops.is_null() || count == 0 || count > SELECT_MAX {
            return Err(Status::BadParam);
        }
        let mut list = [SelectOp::Read {
            pipe: PipeId::from_raw(0),
            buf: ipcm::UserAddr::NULL,
            len_out: ipcm::UserAddr::NULL,
        }; SELECT_MAX];
        for (i, slot) in list.iter_mut().enumerate().take(count) {
            // SAFETY: valid for `count` reads (the contract), unaligned ok.
            let op = unsafe { ops.add(i).read_unaligned() };
            let pipe = PipeId::from_raw(op.pipe);
            *slot = match op.kind {
                IPCM_SELECT_READ => SelectOp::Read {
                    pipe,
                    buf: user_addr(op.buf),
                    len_out: user_addr(op.len_out),
                },
                IPCM_SELECT_PEEK => SelectOp::Peek {
                    pipe,
                    buf: user_addr(op.buf),
                    len_out: user_addr(op.len_out),
                },
                IPCM_SELECT_WRITE => SelectOp::Write {
                    pipe,
                    buf: user_addr(op.buf),
                    len: op.len,
                },
                _ => return Err(Status::BadParam),
            };
        }
        match ipcm().select(&thread, &group, &list[..count])? {
            Progress::Done(selected) => {
                // SAFETY: the contract.
                unsafe { store_outcome(selected, index_out, status_out) };
                Ok(())
            }
            // SAFETY: the contract.
            blocked => unsafe { finished(blocked, ticket_out) },
        }
    })
}

/// The outcome of the group's last select, once its thread was woken:
/// the member's index at `*index_out` (`SIZE_MAX`: the whole group was
/// cancelled) and its status at `*status_out`. `NOT_FOUND` while it waits.
///
/// # Safety
/// As [`ipcm_select`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipcm_select_outcome(
    group: *const ipcm_select_group_t,
    index_out: *mut usize,
    status_out: *mut c_int,
) -> c_int {
    boundary::status(|| {
        // SAFETY: the contract.
        let group = unsafe { self::group(group) }?;
        let selected = group.outcome().ok_or(Status::NotFound)?;
        // SAFETY: the contract.
        unsafe { store_outcome(selected, index_out, status_out) };
        Ok(())
    })
}
