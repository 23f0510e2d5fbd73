//! The std "kernel" under the IPC manager: a thread is an OS thread, a
//! blocked thread parks, a wake stores the status and unparks, and copies go
//! to and from the buffers the calling thread lent ([`crate::user_copy`]).

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_utils::Backoff;
use ipcm::{CancelReason, Fault, Ipcm, Kernel, ProcessId, Status, Ticket, UserAddr};

use crate::sync::{self, AtomicI32, AtomicU64, Ordering, Thread};
use crate::user_copy::Lease;

/// The IPC manager as this crate runs it.
pub(crate) type Manager = Ipcm<sync::Lock, HostKernel>;

/// `Waiter::result` while no wake is outstanding.
const NO_RESULT: i32 = -1;

/// The record of one OS thread, made once per thread (see [`current`]).
pub(crate) struct Waiter {
    /// To unpark the thread.
    thread: Thread,
    /// The process the thread acts for in its current call.
    process: AtomicU64,
    /// The status its pending operation ended with, or [`NO_RESULT`].
    result: AtomicI32,
    /// The buffers lent for the current call.
    pub(crate) lease: Lease,
    /// This thread's select group record (made with the record, so a
    /// select allocates nothing).
    pub(crate) select: Arc<ipcm::SelectGroup>,
}

/// The IPC manager's name for a thread: its waiter record, compared and
/// hashed by address.
#[derive(Clone)]
pub(crate) struct HostThread(Arc<Waiter>);

impl PartialEq for HostThread {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for HostThread {}

impl Hash for HostThread {
    fn hash<H: Hasher>(&self, state: &mut H) {
        Arc::as_ptr(&self.0).hash(state);
    }
}

impl HostThread {
    fn for_current_thread() -> HostThread {
        HostThread(Arc::new(Waiter {
            thread: sync::current_thread(),
            process: AtomicU64::new(0),
            result: AtomicI32::new(NO_RESULT),
            lease: Lease::new(),
            select: Arc::new(ipcm::SelectGroup::new()),
        }))
    }

    /// The waiter record.
    pub(crate) fn waiter(&self) -> &Waiter {
        &self.0
    }

    /// Set the process this thread acts for until its next call.
    pub(crate) fn act_for(&self, process: ProcessId) {
        self.0.process.store(process.0, Ordering::Relaxed);
    }

    /// The wake's status, if the wake came; resets for the next operation.
    fn take_result(&self) -> Option<Status> {
        let code = self.0.result.load(Ordering::Acquire);
        if code == NO_RESULT {
            return None;
        }
        // Only this thread resets, and only after its wake came; the next
        // wake comes after a new operation is recorded under a pipe lock,
        // which this thread takes after the reset.
        self.0.result.store(NO_RESULT, Ordering::Relaxed);
        // Codes come from `Status::code`, so they always map back.
        Some(Status::from_code(code).unwrap_or(Status::Cancelled))
    }

    /// Wait for the wake of this thread's pending operation `ticket` on `ipcm`, and
    /// return its status. Spins briefly with backoff (a park/unpark
    /// hand-off costs microseconds on a VM), then parks. When `deadline`
    /// passes first, the operation is cancelled; if the cancel loses the
    /// race against a completion, the completion's status is returned: one
    /// outcome, and the lent buffers stay borrowed until it is known.
    pub(crate) fn wait(&self, ipcm: &Manager, ticket: Ticket, deadline: Option<Instant>) -> Status {
        if sync::SPIN {
            let backoff = Backoff::new();
            while !backoff.is_completed() && deadline.is_none_or(|d| Instant::now() < d) {
                if let Some(status) = self.take_result() {
                    return status;
                }
                backoff.snooze();
            }
        }
        loop {
            if let Some(status) = self.take_result() {
                return status;
            }
            if sync::park_until(deadline) {
                break;
            }
        }
        // Ok: our wake (TimedOut) was delivered before cancel_op returned.
        // NotFound: a completion (or destroy) won the race and its wake is
        // on its way. Either way, exactly one wake comes. The ticket names
        // this operation, so the timeout can never cancel another.
        let _ = ipcm.cancel_op(self, ticket, CancelReason::TimedOut);
        loop {
            if let Some(status) = self.take_result() {
                return status;
            }
            sync::park_until(None);
        }
    }
}

#[cfg(not(loom))]
std::thread_local! {
    static CURRENT: HostThread = HostThread::for_current_thread();
}
#[cfg(loom)]
loom::thread_local! {
    static CURRENT: HostThread = HostThread::for_current_thread();
}

/// Run `f` with the calling OS thread's record (made on its first call; no
/// allocation afterwards). While the thread is being torn down its
/// thread-local is gone; a fresh record serves that call.
#[inline]
pub(crate) fn current<R>(f: impl FnOnce(&HostThread) -> R) -> R {
    let mut f = Some(f);
    match CURRENT.try_with(|me| (f.take().expect("called once"))(me)) {
        Ok(result) => result,
        Err(_) => with_fresh_record(f.take().expect("not called yet")),
    }
}

/// [`current`] while the thread-local is gone: rare, so out of line (the
/// fast path then inlines `f` once).
#[cold]
#[inline(never)]
fn with_fresh_record<R>(f: impl FnOnce(&HostThread) -> R) -> R {
    f(&HostThread::for_current_thread())
}

/// The kernel hooks: copies through leases, wake by unparking, the process
/// a thread acts for.
pub(crate) struct HostKernel;

impl Kernel for HostKernel {
    type Thread = HostThread;

    fn copy_from_user(
        &self,
        thread: &HostThread,
        src: UserAddr,
        dst: &mut [u8],
    ) -> Result<(), Fault> {
        thread.0.lease.copy_from(src, dst)
    }

    fn copy_to_user(&self, thread: &HostThread, dst: UserAddr, src: &[u8]) -> Result<(), Fault> {
        thread.0.lease.copy_to(dst, src)
    }

    fn wake(&self, thread: HostThread, status: Status) {
        thread.0.result.store(status.code(), Ordering::Release);
        // `thread` keeps the record alive even if the woken thread already
        // saw the status and moved on; a stray unpark only makes its next
        // park return early, and every park re-checks.
        thread.0.thread.unpark();
    }

    fn process_of(&self, thread: &HostThread) -> ProcessId {
        ProcessId(thread.0.process.load(Ordering::Relaxed))
    }
}
