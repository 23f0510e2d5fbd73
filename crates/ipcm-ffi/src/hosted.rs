//! The hosted C runtime (feature `hosted`): the IPC manager for an ordinary
//! C program on POSIX threads, with no hooks for the program to write.
//!
//! A thread is an OS thread; its `thread_t *` ([`ipcm_host_thread`]) is the
//! address of a thread-local record. An address is a plain pointer into the
//! process, so the copy hooks are `memcpy`. A call that returns
//! `IPCM_STATUS_BLOCKED` is finished by [`ipcm_host_finish`]: the thread
//! spins briefly, then parks until the wake hook posts its status, and at
//! its deadline it cancels its own operation (`IPCM_STATUS_TIMED_OUT`).
//!
//! The hosted hooks are sealed (see `FfiKernel::install_sealed`): they are
//! installed only where no kernel installed its own, and never replaced, so
//! the wake hook only ever sees this runtime's threads.

#![allow(unsafe_code)]

use core::ffi::{c_int, c_void};
use core::ptr;
use core::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use crossbeam_utils::Backoff;

use crate::abi::{
    IPCM_STATUS_BAD_PARAM, IPCM_STATUS_BLOCKED, IPCM_STATUS_CANCELLED, IPCM_STATUS_INTERNAL,
    IPCM_STATUS_OK, IPCM_STATUS_TIMED_OUT, ipcm_hooks_t, ipcm_pipe_info_t, thread_t,
};
use crate::boundary;
use crate::calls::{
    ipcm_pipe_info, ipcm_pipe_peek, ipcm_pipe_read, ipcm_pipe_write, ipcm_thread_cancel,
    ipcm_thread_is_pending,
};
use crate::global::ipcm;

/// A timeout that never expires: wait until the operation completes.
/// (Every negative timeout means the same.)
pub const IPCM_HOST_FOREVER: i64 = -1;

/// The process every hosted thread belongs to (0 would be the kernel, which
/// passes every access check and never blocks).
const HOST_PROCESS: u64 = 1;

/// `HostThread::status` while no wake has arrived (no status is negative
/// but `IPCM_STATUS_INTERNAL`, -1).
const NO_WAKE: i32 = i32::MIN;

/// What the hosted runtime knows of one OS thread.
struct HostThread {
    /// The status of the last wake not yet taken by the thread, or
    /// `NO_WAKE`. Written by the wake hook, taken by the thread itself.
    status: AtomicI32,
    /// Whom the wake hook unparks.
    thread: std::thread::Thread,
}

impl HostThread {
    /// This record as the manager names the thread.
    fn as_thread_t(&self) -> *mut thread_t {
        ptr::from_ref(self).cast_mut().cast()
    }

    /// The status a wake left, if one did (taking it).
    fn take_wake(&self) -> Option<c_int> {
        match self.status.swap(NO_WAKE, Ordering::Acquire) {
            NO_WAKE => None,
            status => Some(status),
        }
    }

    /// Wait for the wake of the pending operation, spinning briefly and
    /// then parking; `None` if `deadline` passes first.
    fn wait_for_wake(&self, deadline: Option<Instant>) -> Option<c_int> {
        // Parking and unparking costs microseconds on a VM; a short bounded
        // spin catches a wake that is about to come (docs/design.md §7).
        let backoff = Backoff::new();
        while !backoff.is_completed() {
            if let Some(status) = self.take_wake() {
                return Some(status);
            }
            backoff.snooze();
        }
        loop {
            if let Some(status) = self.take_wake() {
                return Some(status);
            }
            match deadline {
                None => std::thread::park(),
                Some(deadline) => {
                    let left = deadline.checked_duration_since(Instant::now())?;
                    std::thread::park_timeout(left);
                }
            }
        }
    }

    /// The final status of this thread's operation that returned BLOCKED:
    /// its wake, or at the deadline `TIMED_OUT` by cancelling it.
    fn finish(&self, deadline: Option<Instant>) -> c_int {
        if let Some(status) = self.wait_for_wake(deadline) {
            return status;
        }
        // Cancel wakes the thread before it returns (with TIMED_OUT); if the
        // operation completed first, cancel is NOT_FOUND and that
        // completion's wake is on its way. Either way exactly one wake
        // comes, and the thread must take it before its next operation.
        let _ = ipcm_thread_cancel(self.as_thread_t(), IPCM_STATUS_TIMED_OUT);
        loop {
            if let Some(status) = self.take_wake() {
                return status;
            }
            std::thread::park();
        }
    }
}

impl Drop for HostThread {
    /// A thread that exits with an operation pending (a BLOCKED call never
    /// finished) would leave the manager a dangling `thread_t`: cancel it
    /// and take its wake before the record is freed.
    fn drop(&mut self) {
        let me = self.as_thread_t();
        if ipcm_thread_is_pending(me) && self.status.load(Ordering::Acquire) == NO_WAKE {
            let _ = ipcm_thread_cancel(me, IPCM_STATUS_CANCELLED);
            // Cancel or the completion it lost to wakes before returning
            // or right after; park() may not be usable any more while the
            // thread's locals are being destroyed, so yield instead.
            while self.status.load(Ordering::Acquire) == NO_WAKE {
                std::thread::yield_now();
            }
        }
    }
}

std::thread_local! {
    static HOST_THREAD: HostThread = HostThread {
        status: AtomicI32::new(NO_WAKE),
        thread: std::thread::current(),
    };
}

/// Run `body` with the calling OS thread's record.
fn with_host_thread<T>(body: impl FnOnce(&HostThread) -> T) -> T {
    HOST_THREAD.with(body)
}

/// The deadline `timeout_ns` from now; `None` for "never" (negative, or
/// too far to represent).
fn deadline(timeout_ns: i64) -> Option<Instant> {
    let timeout = Duration::from_nanos(u64::try_from(timeout_ns).ok()?);
    Instant::now().checked_add(timeout)
}

unsafe extern "C" fn host_copy_from_user(
    _ctx: *mut c_void,
    _thread: *mut thread_t,
    va: *mut c_void,
    dst: *mut c_void,
    len: usize,
) -> c_int {
    if va.is_null() {
        return 1;
    }
    // SAFETY: in the hosted runtime an address is a pointer into this
    // process that the calling program vouches for: valid for reads of
    // `len` (at most msg_size) bytes until the call's wake (the header's
    // contract of ipcm_host_write and ipcm_pipe_write). `dst` is the
    // manager's own buffer of `len` bytes, disjoint from the program's.
    unsafe { ptr::copy_nonoverlapping(va.cast::<u8>(), dst.cast::<u8>(), len) };
    0
}

unsafe extern "C" fn host_copy_to_user(
    _ctx: *mut c_void,
    _thread: *mut thread_t,
    va: *mut c_void,
    src: *const c_void,
    len: usize,
) -> c_int {
    if va.is_null() {
        return 1;
    }
    // SAFETY: as in host_copy_from_user, for writes: the reader's buffer
    // holds msg_size bytes and its length word a size_t (any alignment:
    // the copy is bytewise), valid until the call's wake.
    unsafe { ptr::copy_nonoverlapping(src.cast::<u8>(), va.cast::<u8>(), len) };
    0
}

unsafe extern "C" fn host_wake(_ctx: *mut c_void, thread: *mut thread_t, status: c_int) {
    let host = thread.cast_const().cast::<HostThread>();
    // SAFETY: the sealed hosted hooks only ever serve thread_t values from
    // ipcm_host_thread (the header's rule), and such a thread takes this
    // wake before it returns from ipcm_host_finish or exits (its record's
    // Drop), so the record is alive until the status is published below.
    let unpark = unsafe { (*host).thread.clone() };
    // SAFETY: as above. After this store the thread may return and free its
    // record, so nothing below touches it; `unpark` is our own handle.
    unsafe { (*host).status.store(status, Ordering::Release) };
    unpark.unpark();
}

unsafe extern "C" fn host_process_of(_ctx: *mut c_void, _thread: *mut thread_t) -> u64 {
    HOST_PROCESS
}

/// Use the IPC manager from an ordinary C program: install the hosted
/// runtime's hooks, after which any POSIX thread can call `ipcm_host_*` and,
/// with `ipcm_host_thread()` as its `thread_t *`, the `ipcm_pipe_*` calls.
/// The `ipcm_host_*` calls are in a library built with the `hosted`
/// feature (`cargo build -p ipcm-ffi --release --features hosted`).
///
/// Every hosted thread belongs to process 1 and has priority 0 (so
/// `IPCM_FLAG_PRIORITY_WAITERS` pipes serve it first come, first served);
/// pipes created with `ipcm_pipe_create` belong to the kernel (process 0),
/// so the owner flags then keep hosted threads out.
///
/// Returns `IPCM_STATUS_OK` (also when called again), or
/// `IPCM_STATUS_BAD_PARAM` (nothing changed) when a kernel installed its
/// own hooks with `ipcm_install_hooks`. Once it succeeded,
/// `ipcm_install_hooks` returns `IPCM_STATUS_BAD_PARAM`.
#[unsafe(no_mangle)]
pub extern "C" fn ipcm_host_init() -> c_int {
    let hooks = ipcm_hooks_t {
        ctx: ptr::null_mut(),
        copy_from_user: Some(host_copy_from_user),
        copy_to_user: Some(host_copy_to_user),
        wake: Some(host_wake),
        process_of: Some(host_process_of),
        priority_of: None,
    };
    boundary::status(|| {
        if ipcm().kernel().install_sealed(&hooks) {
            Ok(())
        } else {
            Err(ipcm::Status::BadParam)
        }
    })
}

/// The calling OS thread as the IPC manager's `thread_t *`, for the
/// `ipcm_pipe_*` calls (whose buffers are then ordinary pointers). Created
/// on first use; the same value for the thread's whole life; NULL only
/// while the thread's thread-local storage is being torn down at its exit.
///
/// After `ipcm_host_init`, every non-NULL `thread_t *` given to the IPC
/// manager must come from here, each used only by its own thread, and a
/// call of that thread that returns `IPCM_STATUS_BLOCKED` must be passed to
/// [`ipcm_host_finish`] before the thread's next call.
#[unsafe(no_mangle)]
pub extern "C" fn ipcm_host_thread() -> *mut thread_t {
    boundary::value(ptr::null_mut(), || {
        with_host_thread(HostThread::as_thread_t)
    })
}

/// Finish a call of the calling thread: `status` is what its last
/// `ipcm_pipe_*` call for `ipcm_host_thread()` returned (a `BLOCKED` that
/// is not the thread's own would wait for a wake that never comes, timeout
/// or not). Any status but
/// `IPCM_STATUS_BLOCKED` is returned as it is; for `BLOCKED`, waits until
/// the operation completes and returns its final status (`OK`: the message
/// is written, or in the buffers). When `timeout_ns` nanoseconds have
/// passed (0: at once; negative or `IPCM_HOST_FOREVER`: never), the
/// operation is cancelled and `IPCM_STATUS_TIMED_OUT` returned: it did not
/// happen. An operation that completes as the deadline passes gives its
/// real outcome instead.
///
/// ```c
/// size_t len;
/// int status = ipcm_host_finish(
///     ipcm_pipe_read(ipcm_host_thread(), id, buf, &len), IPCM_HOST_FOREVER);
/// ```
#[unsafe(no_mangle)]
pub extern "C" fn ipcm_host_finish(status: c_int, timeout_ns: i64) -> c_int {
    if status != IPCM_STATUS_BLOCKED {
        return status;
    }
    let deadline = deadline(timeout_ns);
    boundary::value(IPCM_STATUS_INTERNAL, || {
        with_host_thread(|me| me.finish(deadline))
    })
}

/// Write `len` bytes at `msg` as one message into pipe `id`, waiting up to
/// `timeout_ns` (as [`ipcm_host_finish`]) while the pipe is full.
///
/// Returns `OK`, `TIMED_OUT` (not written), `NOT_FOUND`, `TOO_LARGE`,
/// `DENIED`, `DESTROYED` (the pipe was destroyed while waiting),
/// `NO_MEMORY`, or `BAD_PARAM`: `msg` NULL, or `ipcm_host_init` not called.
///
/// # Safety
/// `msg` is NULL or valid for reads of `len` bytes until the call returns.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipcm_host_write(
    id: usize,
    msg: *const c_void,
    len: usize,
    timeout_ns: i64,
) -> c_int {
    if msg.is_null() || !ipcm().kernel().is_sealed() {
        return IPCM_STATUS_BAD_PARAM;
    }
    let me = ipcm_host_thread();
    if me.is_null() {
        // The thread is exiting (its record is gone); NULL would be the kernel.
        return IPCM_STATUS_INTERNAL;
    }
    // SAFETY: `me` is this thread's; under the hosted hooks `msg` is read
    // with memcpy, and this thread does not return before the write's wake,
    // so `msg` is valid for the whole operation (this function's contract).
    let status = unsafe { ipcm_pipe_write(me, id, msg.cast_mut(), len) };
    ipcm_host_finish(status, timeout_ns)
}

/// Take the oldest message of pipe `id` into `buf` (`buf_len` bytes, at
/// least the pipe's `msg_size`) and store its length at `len` (NULL:
/// not stored), waiting up to `timeout_ns` (as [`ipcm_host_finish`]) while
/// the pipe is empty.
///
/// Returns `OK`, `TIMED_OUT` (nothing taken), `NOT_FOUND`, `DENIED`,
/// `DESTROYED`, `NO_MEMORY`, or `BAD_PARAM`: `buf` NULL, `buf_len` shorter
/// than `msg_size` (nothing taken), or `ipcm_host_init` not called.
///
/// # Safety
/// `buf` is NULL or valid for writes of `buf_len` bytes, and `len` NULL or
/// valid for a write of a `size_t`, until the call returns.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipcm_host_read(
    id: usize,
    buf: *mut c_void,
    buf_len: usize,
    len: *mut usize,
    timeout_ns: i64,
) -> c_int {
    // SAFETY: this function's contract is receive's.
    unsafe { receive(id, buf, buf_len, len, timeout_ns, Receive::Read) }
}

/// [`ipcm_host_read`] that copies the oldest message without taking it
/// (waiting while the pipe is empty; the next write gives every waiting
/// peeker a copy).
///
/// # Safety
/// As [`ipcm_host_read`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipcm_host_peek(
    id: usize,
    buf: *mut c_void,
    buf_len: usize,
    len: *mut usize,
    timeout_ns: i64,
) -> c_int {
    // SAFETY: this function's contract is receive's.
    unsafe { receive(id, buf, buf_len, len, timeout_ns, Receive::Peek) }
}

/// Which receiving call.
#[derive(Clone, Copy)]
enum Receive {
    Read,
    Peek,
}

/// Read or peek through the hosted hooks.
///
/// # Safety
/// As [`ipcm_host_read`].
unsafe fn receive(
    id: usize,
    buf: *mut c_void,
    buf_len: usize,
    len: *mut usize,
    timeout_ns: i64,
    how: Receive,
) -> c_int {
    if buf.is_null() || !ipcm().kernel().is_sealed() {
        return IPCM_STATUS_BAD_PARAM;
    }
    let mut info = ipcm_pipe_info_t::default();
    // SAFETY: `info` is a valid out-parameter.
    let status = unsafe { ipcm_pipe_info(id, &mut info) };
    if status != IPCM_STATUS_OK {
        return status;
    }
    // A pipe's msg_size never changes, so a buffer long enough now is long
    // enough when a writer fills it later.
    if buf_len < info.msg_size {
        return IPCM_STATUS_BAD_PARAM;
    }
    let me = ipcm_host_thread();
    if me.is_null() {
        return IPCM_STATUS_INTERNAL;
    }
    // The manager stores the length here; it stays alive (this frame does
    // not return before the wake), and is copied out only on success.
    let mut received: usize = 0;
    let valen = ptr::from_mut(&mut received);
    // SAFETY: `me` is this thread's; under the hosted hooks `buf` (at least
    // msg_size bytes, checked above) and `valen` are written with memcpy
    // before the wake, and both outlive the operation (see above and this
    // function's contract).
    let status = unsafe {
        match how {
            Receive::Read => ipcm_pipe_read(me, id, buf, valen),
            Receive::Peek => ipcm_pipe_peek(me, id, buf, valen),
        }
    };
    let status = ipcm_host_finish(status, timeout_ns);
    if status == IPCM_STATUS_OK && !len.is_null() {
        // SAFETY: `valen` points to `received`, alive and written (by
        // whichever thread completed the read) before the wake this thread
        // took with Acquire; `len` is valid for a write of a size_t (the
        // contract), and write_unaligned makes no alignment assumption.
        unsafe { len.write_unaligned(valen.read()) };
    }
    status
}
