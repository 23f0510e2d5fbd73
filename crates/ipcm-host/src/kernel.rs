//! The std "kernel" under the IPC manager: a thread is an OS thread, a
//! blocked thread parks, a wake stores the status and unparks, and copies go
//! to and from the buffers the calling thread lent ([`crate::user_copy`]).

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Instant;

use ipcm::{CancelReason, Fault, Ipcm, Kernel, Outlook, ProcessId, Status, Ticket, UserAddr};

use crate::asynk::Task;
use crate::sync::{self, AtomicI32, AtomicU64, Ordering, Thread};
use crate::user_copy::Lease;
use crate::waiting::{self, LiveThread, Outcome, Plan, SpinRecord};

/// The IPC manager as this crate runs it.
pub(crate) type Manager = Ipcm<sync::Lock, HostKernel>;

/// `Waiter::result` while no wake is outstanding.
const NO_RESULT: i32 = -1;

/// Who is told when a wake comes.
enum Notify {
    /// An OS thread, parked in [`HostThread::wait`]: unpark it.
    Thread(Thread),
    /// A future of [`crate::asynk`]: wake the waker of the task awaiting
    /// it. The record also owns the memory the future lends.
    Task(Task),
}

/// The record of one OS thread (made once per thread, see [`current`]) or
/// of one pending future (made by [`HostThread::for_task`]).
pub(crate) struct Waiter {
    /// How the wake reaches whoever waits.
    notify: Notify,
    /// The process the thread acts for in its current call.
    process: AtomicU64,
    /// The status its pending operation ended with, or [`NO_RESULT`].
    result: AtomicI32,
    /// The buffers lent for the current call.
    pub(crate) lease: Lease,
    /// Whether this thread's recent spins paid off: whether it spins.
    spins: SpinRecord,
    /// Counts an OS thread among those that use IPC (a future's record is
    /// not a thread that needs a CPU, so it has none).
    _live: Option<LiveThread>,
    /// This thread's select group record (made with the record, so a
    /// select allocates nothing).
    pub(crate) select: ipcm::Shared<ipcm::SelectGroup>,
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
            notify: Notify::Thread(sync::current_thread()),
            process: AtomicU64::new(0),
            result: AtomicI32::new(NO_RESULT),
            lease: Lease::new(),
            spins: SpinRecord::new(),
            _live: Some(LiveThread::new()),
            select: ipcm::SelectGroup::shared().expect("memory for a select group record"),
        }))
    }

    /// A record of its own for one future (a task may hold several
    /// pending futures, and each is one pending operation of the core),
    /// acting for `process`.
    pub(crate) fn for_task(process: ProcessId, task: Task) -> HostThread {
        HostThread(Arc::new(Waiter {
            notify: Notify::Task(task),
            process: AtomicU64::new(process.0),
            result: AtomicI32::new(NO_RESULT),
            lease: Lease::new(),
            spins: SpinRecord::new(),
            _live: None,
            select: ipcm::SelectGroup::shared().expect("memory for a select group record"),
        }))
    }

    /// The shared record, to count who holds it.
    pub(crate) fn arc(&self) -> &Arc<Waiter> {
        &self.0
    }

    /// The future's part of a record made by
    /// [`for_task`](HostThread::for_task).
    pub(crate) fn task(&self) -> Option<&Task> {
        match &self.0.notify {
            Notify::Task(task) => Some(task),
            Notify::Thread(_) => None,
        }
    }

    /// The waiter record.
    #[inline]
    pub(crate) fn waiter(&self) -> &Waiter {
        &self.0
    }

    /// Set the process this thread acts for until its next call.
    #[inline]
    pub(crate) fn act_for(&self, process: ProcessId) {
        self.0.process.store(process.0, Ordering::Relaxed);
    }

    /// The wake's status, if the wake came; resets for the next operation.
    pub(crate) fn take_result(&self) -> Option<Status> {
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
    /// return its status. Spins first as [`SpinRecord::plan`] says
    /// (polling only this thread's own record), then parks. When `deadline` passes first, the
    /// operation is cancelled; if the cancel loses the race against a
    /// completion, the completion's status is returned: one outcome, and
    /// the lent buffers stay borrowed until it is known.
    pub(crate) fn wait(&self, ipcm: &Manager, ticket: Ticket, deadline: Option<Instant>) -> Status {
        self.wait_as_planned(ipcm, ticket, deadline, self.0.spins.plan())
    }

    /// The spin plan for this thread's next wait ([`SpinRecord::plan`]).
    pub(crate) fn spin_plan(&self) -> Plan {
        self.0.spins.plan()
    }

    /// Before registering a blocked operation: poll `outlook` (plain loads,
    /// see [`ipcm::Ipcm::outlook`]) as `plan` says, and make the
    /// non-blocking `attempt` whenever it looks ready; an attempt that
    /// would block (`None`) polls on. `Some` is the attempt's result; `None`
    /// once the plan ran out (or the deadline passed): register, and park
    /// at once. A thread that registered at once would make its partner's
    /// next call a locked hand-off and a wake instead of a lock-free one.
    pub(crate) fn poll_first<T>(
        &self,
        plan: Plan,
        deadline: Option<Instant>,
        mut outlook: impl FnMut() -> Outlook,
        mut attempt: impl FnMut() -> Option<Result<T, Status>>,
    ) -> Option<Result<T, Status>> {
        if plan == Plan::PARK_AT_ONCE {
            return None;
        }
        let (outcome, result) = spin(plan, deadline, || attempt_if_ready(outlook(), &mut attempt));
        self.0.spins.record(plan, outcome);
        result
    }

    /// [`wait`](Self::wait) with its spin `plan` made already
    /// ([`Plan::PARK_AT_ONCE`] after [`poll_first`](Self::poll_first)).
    pub(crate) fn wait_as_planned(
        &self,
        ipcm: &Manager,
        ticket: Ticket,
        deadline: Option<Instant>,
        plan: Plan,
    ) -> Status {
        if plan != Plan::PARK_AT_ONCE {
            let (outcome, status) = spin(plan, deadline, || self.take_result());
            self.0.spins.record(plan, outcome);
            if let Some(status) = status {
                return status;
            }
        }
        loop {
            if let Some(status) = self.take_result() {
                return status;
            }
            if waiting::parked(|| sync::park_until(deadline)) {
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

/// Make the non-blocking `attempt` unless `outlook` says the pipe is not
/// ready yet; `None` then, or if the attempt would block.
pub(crate) fn attempt_if_ready<R>(
    outlook: Outlook,
    attempt: impl FnOnce() -> Option<R>,
) -> Option<R> {
    if outlook == Outlook::NotYet {
        return None;
    }
    attempt()
}

/// Call `poll` as `plan` (not [`Plan::PARK_AT_ONCE`]: the callers skip
/// the spin then) says, giving up at `deadline`, until it answers.
fn spin<R>(
    plan: Plan,
    deadline: Option<Instant>,
    mut poll: impl FnMut() -> Option<R>,
) -> (Outcome, Option<R>) {
    let start = Instant::now();
    let total = plan.pause + plan.yielding;
    loop {
        let now = Instant::now();
        let spun = now - start;
        if let Some(answer) = poll() {
            let outcome = if spun < plan.pause {
                Outcome::WokenPausing
            } else {
                Outcome::WokenYielding
            };
            return (outcome, Some(answer));
        }
        if spun >= total || deadline.is_some_and(|d| now >= d) {
            return (Outcome::NotInTime, None);
        }
        if spun < plan.pause {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}

impl Waiter {
    /// Deliver the final status of this thread's pending operation, then
    /// rouse the thread.
    fn deliver(&self, status: Status) {
        self.result.store(status.code(), Ordering::Release);
        self.rouse();
    }

    /// Make the waiter notice its delivered result: unpark an OS thread (it
    /// may be spinning, parked, or not yet waiting; an unpark of a thread
    /// that is not parked only makes its next park return at once, and
    /// every park re-checks), or wake the task awaiting a future.
    fn rouse(&self) {
        match &self.notify {
            Notify::Thread(os_thread) => os_thread.unpark(),
            Notify::Task(task) => task.wake(),
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

    #[inline]
    fn copy_from_user(
        &self,
        thread: &HostThread,
        src: UserAddr,
        dst: &mut [u8],
    ) -> Result<(), Fault> {
        thread.0.lease.copy_from(src, dst)
    }

    #[inline]
    fn copy_to_user(&self, thread: &HostThread, dst: UserAddr, src: &[u8]) -> Result<(), Fault> {
        thread.0.lease.copy_to(dst, src)
    }

    fn wake(&self, thread: HostThread, status: Status) {
        // `thread` keeps the record alive even if the woken thread already
        // saw the status and moved on.
        thread.0.deliver(status);
    }

    #[inline]
    fn process_of(&self, thread: &HostThread) -> ProcessId {
        ProcessId(thread.0.process.load(Ordering::Relaxed))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Long enough never to run out in a test.
    const PAUSE: Plan = Plan {
        pause: Duration::from_secs(60),
        yielding: Duration::ZERO,
        polls: 0,
    };

    #[test]
    fn polling_first_attempts_only_when_the_pipe_looks_ready_and_stops_at_an_answer() {
        let me = HostThread::for_current_thread();
        let mut looks = [
            Outlook::NotYet,
            Outlook::Ready,
            Outlook::NotYet,
            Outlook::Ready,
        ]
        .into_iter();
        let mut attempts = 0;
        let result = me.poll_first(
            PAUSE,
            None,
            || looks.next().expect("no poll after the answer"),
            || {
                attempts += 1;
                // The first attempt lost a race (would block), the second
                // completed.
                (attempts == 2).then_some(Ok(7))
            },
        );
        assert_eq!(result, Some(Ok(7)));
        assert_eq!(attempts, 2);
        assert_eq!(looks.next(), None, "every outlook was read");
    }

    #[test]
    fn polling_first_passes_on_a_failure_of_the_attempt() {
        let me = HostThread::for_current_thread();
        let result: Option<Result<(), Status>> =
            me.poll_first(PAUSE, None, || Outlook::Ready, || Some(Err(Status::Closed)));
        assert_eq!(result, Some(Err(Status::Closed)));
    }

    #[test]
    fn polling_first_gives_up_at_the_deadline_and_never_polls_without_a_plan() {
        let me = HostThread::for_current_thread();
        let result: Option<Result<(), Status>> = me.poll_first(
            PAUSE,
            Some(Instant::now()),
            || Outlook::NotYet,
            || unreachable!("the pipe never looked ready"),
        );
        assert_eq!(result, None);
        let mut polled = false;
        let result = me.poll_first(
            Plan::PARK_AT_ONCE,
            None,
            || {
                polled = true;
                Outlook::Ready
            },
            || Some(Ok(())),
        );
        assert_eq!(result, None);
        assert!(!polled, "a thread that parks at once does not poll");
    }
}
