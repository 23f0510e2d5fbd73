//! [`Pipe`]: a handle to one pipe, with blocking, non-blocking and timed
//! reads, peeks and writes.

use std::time::{Duration, Instant};

use ipcm::Caller;
use ipcm::{Outlook, PipeFlags, PipeId, PipeInfo, PipeRef, Progress, Status, Ticket};

use crate::kernel::{HostKernel, HostThread, attempt_if_ready, current};
use crate::sync::Lock;
use crate::waiting::Plan;
use crate::{Error, Ipc, OnFull};
#[cfg(doc)]
use crate::{Receiver, Sender};

/// How long an operation may wait.
#[derive(Clone, Copy)]
enum Wait {
    /// Not at all: `Full` / `Empty` instead.
    Never,
    /// Until the deadline (`None`: for ever).
    Until(Option<Instant>),
}

fn after(timeout: Duration) -> Wait {
    // A timeout too large for an `Instant` is as good as for ever.
    Wait::Until(Instant::now().checked_add(timeout))
}

/// What a successful write did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Written {
    /// The pipe was full and discards: its oldest message was dropped.
    pub dropped_oldest: bool,
    /// The message went straight into a waiting reader's buffer.
    pub handed_off: bool,
}

impl From<ipcm::Written> for Written {
    fn from(written: ipcm::Written) -> Self {
        Written {
            dropped_oldest: written.dropped_oldest,
            handed_off: written.handed_off,
        }
    }
}

/// A handle to a pipe: a FIFO of at most `depth` messages of at most
/// `msg_size` bytes each, message boundaries kept.
///
/// Cheap to clone; clones and handles from [`Ipc::open`] name the same pipe
/// and may be used from any thread.
///
/// **Lifetime.** A pipe lives until it is [destroyed](Pipe::destroy) or
/// until the last handle to it (counting every clone, [`Sender`],
/// [`Receiver`] and pattern type, in every process of its [`Ipc`]) is
/// dropped, whichever comes first. So a named pipe made and dropped in a
/// loop frees its name each time; a pipe you want to keep findable by name
/// needs a live handle somewhere. (The core's kernel API keeps destroy
/// explicit; this rule is the hosted runtime's.)
///
/// Operations that need
/// not wait take the pipe's lock once, make no system call and do not
/// allocate; a waiting thread records its operation, spins for at most what
/// a park costs on this machine, then parks until the operation has been
/// completed for it.
///
/// ```
/// # use ipcm_host::{Error, Ipc};
/// let ipc = Ipc::new();
/// let pipe = ipc.pipe(16, 2).create()?;
/// pipe.write(b"one")?;
/// pipe.write(b"")?; // zero-length messages are messages too
/// assert_eq!(pipe.try_write(b"three"), Err(Error::Full));
///
/// let mut buf = [0; 16];
/// let len = pipe.peek(&mut buf)?; // leaves the message queued
/// assert_eq!(&buf[..len], b"one");
/// assert_eq!(pipe.read(&mut buf)?, 3);
/// assert_eq!(pipe.read(&mut buf)?, 0);
/// assert_eq!(pipe.try_read(&mut buf), Err(Error::Empty));
/// # Ok::<(), Error>(())
/// ```
pub struct Pipe {
    ipc: Ipc,
    pipe: PipeRef<Lock, HostKernel>,
}

impl Clone for Pipe {
    fn clone(&self) -> Self {
        self.ipc.shared.handles.add(self.pipe.id());
        Pipe {
            ipc: self.ipc.clone(),
            pipe: self.pipe.clone(),
        }
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        let shared = &self.ipc.shared;
        let id = self.pipe.id();
        shared.handles.release(id, || {
            // The last handle: free the pipe unless it was destroyed
            // already (then this is NotFound, and nothing is left to do).
            // No thread can be waiting on it: a waiter holds a handle.
            if shared.ipcm.destroy(Caller::Kernel, id).is_ok() {
                shared.pipe_destroyed(id);
            }
        });
    }
}

impl std::fmt::Debug for Pipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipe")
            .field("id", &self.pipe.id())
            .field("name", &self.pipe.name())
            .field("msg_size", &self.pipe.msg_size())
            .field("depth", &self.pipe.max_msgs())
            .field("process", &self.ipc.process)
            .finish()
    }
}

impl Pipe {
    /// A handle around `pipe`, which [`Handles::open`] has counted.
    ///
    /// [`Handles::open`]: crate::handles::Handles::open
    pub(crate) fn new(ipc: Ipc, pipe: PipeRef<Lock, HostKernel>) -> Pipe {
        Pipe { ipc, pipe }
    }

    /// The core's handle, for the futures of [`crate::asynk`].
    pub(crate) fn core_pipe(&self) -> &PipeRef<Lock, HostKernel> {
        &self.pipe
    }

    /// The pipe's id; [`Ipc::open_id`] finds it with this until it is
    /// destroyed, and never again after.
    #[must_use]
    pub fn id(&self) -> PipeId {
        self.pipe.id()
    }

    /// The pipe's name, if it has one.
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.pipe.name()
    }

    /// The largest message, in bytes; read buffers must be at least this
    /// long.
    #[must_use]
    pub fn msg_size(&self) -> usize {
        self.pipe.msg_size()
    }

    /// How many messages the pipe holds when full.
    #[must_use]
    pub fn depth(&self) -> usize {
        self.pipe.max_msgs()
    }

    /// What a write to the full pipe does.
    #[must_use]
    pub fn on_full(&self) -> OnFull {
        if self.pipe.flags().contains(PipeFlags::DISCARD_OLDEST) {
            OnFull::DiscardOldest
        } else {
            OnFull::Block
        }
    }

    /// The core's handle of this pipe.
    pub(crate) fn handle(&self) -> &PipeRef<Lock, HostKernel> {
        &self.pipe
    }

    /// The error for a failed status of an operation on `len` bytes.
    pub(crate) fn status_error(&self, status: Status, len: usize) -> Error {
        self.write_error(status, len)
    }

    /// The [`Ipc`] (manager and process) this handle acts through.
    #[must_use]
    pub fn ipc(&self) -> &Ipc {
        &self.ipc
    }

    /// Write `msg` as one message, waiting while the pipe is full (unless
    /// it discards the oldest).
    ///
    /// # Errors
    /// [`Error::TooLarge`], [`Error::Denied`], [`Error::Destroyed`],
    /// [`Error::NoMemory`]; nothing was written then.
    #[inline]
    pub fn write(&self, msg: &[u8]) -> Result<Written, Error> {
        self.write_with(msg, Wait::Until(None))
    }

    /// [`write`](Pipe::write), but [`Error::Full`] instead of waiting.
    ///
    /// # Errors
    /// As `write`, plus [`Error::Full`].
    #[inline]
    pub fn try_write(&self, msg: &[u8]) -> Result<Written, Error> {
        self.write_with(msg, Wait::Never)
    }

    /// [`write`](Pipe::write), waiting at most `timeout`.
    ///
    /// # Errors
    /// As `write`, plus [`Error::TimedOut`]: the message was not written.
    pub fn write_timeout(&self, msg: &[u8], timeout: Duration) -> Result<Written, Error> {
        self.write_with(msg, after(timeout))
    }

    /// [`write`](Pipe::write), waiting until `deadline` at the latest. A
    /// write that can happen at once happens even if the deadline passed.
    ///
    /// # Errors
    /// As `write`, plus [`Error::TimedOut`]: the message was not written.
    pub fn write_deadline(&self, msg: &[u8], deadline: Instant) -> Result<Written, Error> {
        self.write_with(msg, Wait::Until(Some(deadline)))
    }

    /// Take the oldest message into `buf` (at least [`msg_size`] bytes),
    /// waiting while the pipe is empty; returns the message's length.
    ///
    /// [`msg_size`]: Pipe::msg_size
    ///
    /// # Errors
    /// [`Error::BadParam`] when `buf` is shorter than `msg_size`,
    /// [`Error::Denied`], [`Error::Destroyed`], [`Error::NoMemory`];
    /// nothing was taken then.
    #[inline]
    pub fn read(&self, buf: &mut [u8]) -> Result<usize, Error> {
        self.read_with(buf, true, Wait::Until(None))
    }

    /// [`read`](Pipe::read), but [`Error::Empty`] instead of waiting.
    ///
    /// # Errors
    /// As `read`, plus [`Error::Empty`].
    #[inline]
    pub fn try_read(&self, buf: &mut [u8]) -> Result<usize, Error> {
        self.read_with(buf, true, Wait::Never)
    }

    /// [`read`](Pipe::read), waiting at most `timeout`.
    ///
    /// # Errors
    /// As `read`, plus [`Error::TimedOut`]: no message was taken.
    pub fn read_timeout(&self, buf: &mut [u8], timeout: Duration) -> Result<usize, Error> {
        self.read_with(buf, true, after(timeout))
    }

    /// [`read`](Pipe::read), waiting until `deadline` at the latest. A read
    /// that can happen at once happens even if the deadline passed.
    ///
    /// # Errors
    /// As `read`, plus [`Error::TimedOut`]: no message was taken.
    pub fn read_deadline(&self, buf: &mut [u8], deadline: Instant) -> Result<usize, Error> {
        self.read_with(buf, true, Wait::Until(Some(deadline)))
    }

    /// Copy the oldest message into `buf` without taking it, waiting while
    /// the pipe is empty (the next write gives every waiting peeker a copy).
    ///
    /// # Errors
    /// As [`read`](Pipe::read).
    #[inline]
    pub fn peek(&self, buf: &mut [u8]) -> Result<usize, Error> {
        self.read_with(buf, false, Wait::Until(None))
    }

    /// [`peek`](Pipe::peek), but [`Error::Empty`] instead of waiting.
    ///
    /// # Errors
    /// As `peek`, plus [`Error::Empty`].
    #[inline]
    pub fn try_peek(&self, buf: &mut [u8]) -> Result<usize, Error> {
        self.read_with(buf, false, Wait::Never)
    }

    /// [`peek`](Pipe::peek), waiting at most `timeout`.
    ///
    /// # Errors
    /// As `peek`, plus [`Error::TimedOut`].
    pub fn peek_timeout(&self, buf: &mut [u8], timeout: Duration) -> Result<usize, Error> {
        self.read_with(buf, false, after(timeout))
    }

    /// [`peek`](Pipe::peek), waiting until `deadline` at the latest.
    ///
    /// # Errors
    /// As `peek`, plus [`Error::TimedOut`].
    pub fn peek_deadline(&self, buf: &mut [u8], deadline: Instant) -> Result<usize, Error> {
        self.read_with(buf, false, Wait::Until(Some(deadline)))
    }

    /// Destroy the pipe: every thread waiting on it returns
    /// [`Error::Destroyed`], queued messages are dropped, its name is free
    /// again and its id is never valid again. Only the owner process may
    /// destroy.
    ///
    /// # Errors
    /// [`Error::NotFound`] when it was already destroyed, [`Error::Denied`]
    /// when this handle's process is not the owner.
    pub fn destroy(&self) -> Result<(), Error> {
        self.ipc.destroy(self.id())
    }

    /// A snapshot of the pipe: sizes, flags, owner, messages queued,
    /// waiting threads and counters.
    ///
    /// # Errors
    /// [`Error::Destroyed`].
    pub fn info(&self) -> Result<PipeInfo, Error> {
        self.ipc
            .shared
            .ipcm
            .info(&self.pipe)
            .map_err(Error::from_status)
    }

    /// The fast path: one non-blocking attempt from `msg` itself (no
    /// thread record, no lease: [`ipcm::Ipcm::try_write_as`]); only when it
    /// would block and the caller may wait does
    /// [`write_wait`](Pipe::write_wait) wait (kept out of line so the fast
    /// path stays small).
    #[inline]
    fn write_with(&self, msg: &[u8], wait: Wait) -> Result<Written, Error> {
        let ipcm = &self.ipc.shared.ipcm;
        let result = match ipcm.try_write_as(self.ipc.process, &self.pipe, msg) {
            Ok(written) => Ok(written.into()),
            Err(Status::Full) => match wait {
                Wait::Never => Err(Status::Full),
                Wait::Until(deadline) => self.write_wait(msg, deadline),
            },
            Err(status) => Err(status),
        };
        result.map_err(|status| self.write_error(status, msg.len()))
    }

    /// Block, for a write that found the pipe full: lend `msg`, record the
    /// write as pending (unless room appeared meanwhile) and wait for its
    /// wake (which spins first, see [`crate::waiting`]).
    #[cold]
    #[inline(never)]
    fn write_wait(&self, msg: &[u8], deadline: Option<Instant>) -> Result<Written, Status> {
        let ipcm = &self.ipc.shared.ipcm;
        current(|me| {
            let plan = match self.poll_first(me, true, deadline, || {
                match ipcm.try_write_as(self.ipc.process, &self.pipe, msg) {
                    Err(Status::Full) => None,
                    other => Some(other.map(Written::from)),
                }
            }) {
                Ok(result) => return result,
                Err(plan) => plan,
            };
            me.act_for(self.ipc.process);
            let (lease, src) = me.waiter().lease.lend_source(msg);
            let result = match ipcm.write(me, &self.pipe, src, msg.len()) {
                Ok(Progress::Done(written)) => Ok(written.into()),
                // A waiting writer is admitted into a freed slot: it neither
                // drops nor hands off.
                Ok(Progress::Blocked(ticket)) => {
                    wait_for_wake(me, &self.ipc, ticket, deadline, plan)
                        .map(|()| Written::default())
                }
                Err(status) => Err(status),
            };
            drop(lease);
            result
        })
    }

    #[cold]
    #[inline(never)]
    fn write_error(&self, status: Status, len: usize) -> Error {
        match status {
            Status::TooLarge => Error::TooLarge {
                len,
                msg_size: self.msg_size(),
            },
            other => Error::from_status(other),
        }
    }

    /// The fast path, as for writes: one non-blocking attempt into `buf`
    /// itself, then [`read_wait`](Pipe::read_wait) if the pipe is empty and
    /// the caller may wait.
    #[inline]
    fn read_with(&self, buf: &mut [u8], consume: bool, wait: Wait) -> Result<usize, Error> {
        if buf.len() < self.msg_size() {
            return Err(self.short_buffer(buf.len()));
        }
        let ipcm = &self.ipc.shared.ipcm;
        let attempt = if consume {
            ipcm.try_read_as(self.ipc.process, &self.pipe, buf)
        } else {
            ipcm.try_peek_as(self.ipc.process, &self.pipe, buf)
        };
        match attempt {
            Ok(len) => Ok(len),
            Err(Status::Empty) => match wait {
                Wait::Never => Err(Status::Empty),
                Wait::Until(deadline) => self.read_wait(buf, consume, deadline),
            },
            Err(status) => Err(status),
        }
        .map_err(Error::from_status)
    }

    #[cold]
    #[inline(never)]
    fn short_buffer(&self, len: usize) -> Error {
        Error::bad_param(format!(
            "the receive buffer is {len} bytes, shorter than the msg_size of {} bytes of {}; \
             pass a buffer of at least msg_size bytes",
            self.msg_size(),
            self.describe(),
        ))
    }

    /// `pipe 5.1 ("name")`, for messages.
    pub(crate) fn describe(&self) -> String {
        match self.name() {
            Some(name) => format!("{} ({name:?})", self.id()),
            None => self.id().to_string(),
        }
    }

    /// Before a blocking write (`write`) or read registers: poll the
    /// pipe's outlook and retry `attempt` (`None`: it would block) as this
    /// thread's spin plan says ([`HostThread::poll_first`]), unless polling
    /// cannot tell (a rendezvous or priority pipe). While threads outnumber
    /// CPUs it yields and looks `plan.polls` times, then registers and
    /// parks at once (see [`crate::waiting`] for the figures); when no
    /// pausing is planned for another reason (recent pauses failed) it
    /// yields and looks once, then registers and spins as planned. Polling
    /// pipes for the whole plan takes the CPU from the threads that would
    /// complete the wait (4 writers × 4 readers on 2 CPUs: 1.8 M msg/s
    /// polling for the whole plan, 5.7 M msg/s yielding once, 4.1 M msg/s
    /// registering at once, crossbeam-channel 4.6 M msg/s, medians of 15
    /// interleaved runs). `Ok` is the attempt's
    /// result; `Err` the spin plan left for the registered wait.
    fn poll_first<T>(
        &self,
        me: &HostThread,
        write: bool,
        deadline: Option<Instant>,
        attempt: impl FnMut() -> Option<Result<T, Status>>,
    ) -> Result<Result<T, Status>, Plan> {
        let ipcm = &self.ipc.shared.ipcm;
        let plan = me.spin_plan();
        if plan == Plan::PARK_AT_ONCE || ipcm.outlook(&self.pipe, write) == Outlook::Register {
            return Err(plan);
        }
        let outlook = || ipcm.outlook(&self.pipe, write);
        if plan.pause.is_zero() {
            if let Some(result) = yield_then_look(plan.polls.max(1), deadline, outlook, attempt) {
                return Ok(result);
            }
            // Outnumbered: the spin after registering would only take the
            // CPU from the threads that complete the wait.
            return Err(if plan.polls > 0 {
                Plan::PARK_AT_ONCE
            } else {
                plan
            });
        }
        match me.poll_first(plan, deadline, outlook, attempt) {
            Some(result) => Ok(result),
            None => Err(Plan::PARK_AT_ONCE),
        }
    }

    /// Block, for a read or peek that found the pipe empty, as for writes:
    /// lend `buf` and wait; returns the message's length, whether this
    /// call completed the read or a completer did (storing the length in
    /// the lent `len`).
    #[cold]
    #[inline(never)]
    fn read_wait(
        &self,
        buf: &mut [u8],
        consume: bool,
        deadline: Option<Instant>,
    ) -> Result<usize, Status> {
        let ipcm = &self.ipc.shared.ipcm;
        current(|me| {
            let plan = match self.poll_first(me, false, deadline, || {
                let attempt = if consume {
                    ipcm.try_read_as(self.ipc.process, &self.pipe, buf)
                } else {
                    ipcm.try_peek_as(self.ipc.process, &self.pipe, buf)
                };
                match attempt {
                    Err(Status::Empty) => None,
                    other => Some(other),
                }
            }) {
                Ok(result) => return result,
                Err(plan) => plan,
            };
            me.act_for(self.ipc.process);
            let mut len = 0;
            let (lease, dst, len_out) = me.waiter().lease.lend_sink(buf, &mut len);
            let progress = if consume {
                ipcm.read(me, &self.pipe, dst, len_out)
            } else {
                ipcm.peek(me, &self.pipe, dst, len_out)
            };
            let result = match progress {
                Ok(Progress::Done(len)) => Ok(Some(len)),
                Ok(Progress::Blocked(ticket)) => {
                    wait_for_wake(me, &self.ipc, ticket, deadline, plan).map(|()| None)
                }
                Err(status) => Err(status),
            };
            drop(lease);
            // `None`: the completer stored the length in `len`.
            result.map(|done| done.unwrap_or(len))
        })
    }
}

/// Up to `polls` times (or until `deadline`): yield the CPU, then make the
/// non-blocking `attempt` if `outlook` says the pipe looks ready. `Some` is
/// the attempt's result; `None`: register.
fn yield_then_look<T>(
    polls: u32,
    deadline: Option<Instant>,
    outlook: impl Fn() -> Outlook,
    mut attempt: impl FnMut() -> Option<Result<T, Status>>,
) -> Option<Result<T, Status>> {
    for _ in 0..polls {
        std::thread::yield_now();
        if let Some(result) = attempt_if_ready(outlook(), &mut attempt) {
            return Some(result);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
    }
    None
}

/// Wait for the wake of `me`'s pending operation, spinning as `plan`
/// says; `Ok` if it completed.
fn wait_for_wake(
    me: &HostThread,
    ipc: &Ipc,
    ticket: Ticket,
    deadline: Option<Instant>,
    plan: Plan,
) -> Result<(), Status> {
    match me.wait_as_planned(&ipc.shared.ipcm, ticket, deadline, plan) {
        Status::Ok => Ok(()),
        status => Err(status),
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::cell::Cell;

    use super::*;

    #[test]
    fn yield_then_look_polls_as_often_as_planned_and_attempts_only_when_ready() {
        let looks = Cell::new(0);
        let result: Option<Result<(), Status>> = yield_then_look(
            4,
            None,
            || {
                looks.set(looks.get() + 1);
                Outlook::NotYet
            },
            || unreachable!("the pipe never looked ready"),
        );
        assert_eq!(result, None);
        assert_eq!(looks.get(), 4);
        // Ready on the third look; the first attempt there loses a race.
        looks.set(0);
        let mut attempts = 0;
        let result = yield_then_look(
            4,
            None,
            || {
                looks.set(looks.get() + 1);
                if looks.get() >= 3 {
                    Outlook::Ready
                } else {
                    Outlook::NotYet
                }
            },
            || {
                attempts += 1;
                (attempts == 2).then_some(Ok(9))
            },
        );
        assert_eq!(result, Some(Ok(9)));
        assert_eq!((looks.get(), attempts), (4, 2));
    }

    #[test]
    fn yield_then_look_stops_at_the_deadline() {
        let looks = Cell::new(0);
        let result: Option<Result<(), Status>> = yield_then_look(
            4,
            Some(Instant::now()),
            || {
                looks.set(looks.get() + 1);
                Outlook::NotYet
            },
            || None,
        );
        assert_eq!(result, None);
        assert_eq!(looks.get(), 1, "one look, then the deadline had passed");
    }
}
