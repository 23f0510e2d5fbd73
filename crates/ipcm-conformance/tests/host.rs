//! The conformance suite on the hosted runtime (`ipcm-host`): a thread is
//! an OS thread, an operation that waits parks it, and a deadline is the
//! runtime's own timeout.
//!
//! Not run here: `select_times_out_as_a_group` (a host `Select` has no
//! timeout) and `wake_feedback` (the host has no kernel calls or thread
//! priorities), `cancel_ends_pending_op_cancelled_and_loses_nothing` (no
//! call cancels another thread's operation: `Cancelled` is the kernel's,
//! never an ipcm-host error) and
//! `second_operation_of_pending_thread_is_already_pending` (every call acts
//! for the calling thread, which cannot call while it waits).
//!
//! The select behaviours run twice: with `Select::wait` and, in
//! [`async_select`], with `Select::wait_async` (under a minimal executor).
//! Not run async: `write_hands_off_to_exactly_one_of_two_selects`, whose
//! "the older select gets it" an async select does not promise (its read
//! members wait as peeks, so every select woken by a write races to take
//! it; exactly one does).

use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use ipcm_conformance::{
    Admin, Counts, Member, Op, Outcome, Processes, Spec, Status, Substrate, Wait,
};
use ipcm_host::{Error, Ipc, OnFull, Pipe, Select};

/// The deadline of [`Wait::Briefly`].
const BRIEFLY: Duration = Duration::from_millis(30);

/// How long a helper thread may take to be seen pending or finished
/// before the substrate reports it (a hang, not a timing assertion).
const SETTLE_LIMIT: Duration = Duration::from_secs(20);

/// How long a thread an action may have woken gets to finish before
/// [`Substrate::is_pending`] answers.
const GRACE: Duration = Duration::from_millis(50);

struct HostSubstrate {
    ipc: Ipc,
    /// The owners' handles of foreign pipes (the last handle frees a pipe).
    foreign: Vec<Pipe>,
    /// Selects run as `Select::wait_async` futures.
    async_select: bool,
}

impl HostSubstrate {
    fn new() -> Self {
        HostSubstrate {
            ipc: Ipc::new(),
            foreign: Vec::new(),
            async_select: false,
        }
    }

    fn with_async_select() -> Self {
        HostSubstrate {
            async_select: true,
            ..HostSubstrate::new()
        }
    }
}

/// Run `future` to completion on this thread: the smallest executor (a
/// waker that unparks the thread), so the suite needs none of its own.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    struct Unpark(thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::sync::Arc::new(Unpark(thread::current())).into();
    let mut cx = std::task::Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        thread::park();
    }
}

/// Create the pipe `spec` asks for as `ipc`'s process.
fn create_in(ipc: &Ipc, spec: Spec) -> Result<Pipe, Status> {
    let on_full = if spec.discard_oldest {
        OnFull::DiscardOldest
    } else {
        OnFull::Block
    };
    let builder = ipc.pipe(spec.msg_size, spec.depth).on_full(on_full);
    let builder = if spec.by_priority {
        builder.by_message_priority()
    } else {
        builder
    };
    builder.create().map_err(|error| status(&error))
}

fn status(error: &Error) -> Status {
    error.status()
}

fn timeout(wait: Wait) -> Duration {
    match wait {
        Wait::Zero => Duration::ZERO,
        _ => BRIEFLY,
    }
}

/// Perform `op` on the calling thread (a select as a future if
/// `async_select`).
fn perform(op: Op<Pipe>, async_select: bool) -> Outcome {
    let done = |result: Result<ipcm_host::Written, Error>| match result {
        Ok(_) => Outcome::ok(),
        Err(error) => Outcome::status(status(&error)),
    };
    let received = |buf: Vec<u8>, result: Result<(usize, Option<u64>), Error>| match result {
        Ok((len, seq)) => Outcome::received(buf[..len].to_vec(), seq),
        Err(error) => Outcome::status(status(&error)),
    };
    match op {
        Op::Write {
            pipe,
            msg,
            urgent,
            wait,
        } => done(match (urgent, wait) {
            (false, Wait::Never) => pipe.try_write(&msg),
            (false, Wait::Forever) => pipe.write(&msg),
            (false, wait) => pipe.write_timeout(&msg, timeout(wait)),
            (true, Wait::Never) => pipe.try_write_urgent(&msg),
            (true, Wait::Forever) => pipe.write_urgent(&msg),
            (true, wait) => panic!("ipcm-host has no timed urgent write ({wait:?})"),
        }),
        Op::WritePrio {
            pipe,
            msg,
            prio,
            wait,
        } => done(match wait {
            Wait::Never => pipe.try_write_prio(&msg, prio),
            Wait::Forever => pipe.write_prio(&msg, prio),
            wait => panic!("ipcm-host has no timed write_prio ({wait:?})"),
        }),
        Op::Read { pipe, wait } => {
            let mut buf = vec![0; pipe.msg_size()];
            let result = match wait {
                Wait::Never => pipe.try_read(&mut buf).map(|len| (len, None)),
                Wait::Forever => pipe.read_seq(&mut buf).map(|n| (n.len, Some(n.seq))),
                wait => pipe
                    .read_timeout(&mut buf, timeout(wait))
                    .map(|len| (len, None)),
            };
            received(buf, result)
        }
        Op::Peek { pipe, wait } => {
            let mut buf = vec![0; pipe.msg_size()];
            let result = match wait {
                Wait::Never => pipe.try_peek(&mut buf),
                Wait::Forever => pipe.peek(&mut buf),
                wait => pipe.peek_timeout(&mut buf, timeout(wait)),
            };
            received(buf, result.map(|len| (len, None)))
        }
        Op::PeekNewer { pipe, after, wait } => {
            let mut buf = vec![0; pipe.msg_size()];
            let result = match wait {
                Wait::Forever => pipe.peek_newer(after, &mut buf),
                wait => pipe.peek_newer_timeout(after, &mut buf, timeout(wait)),
            };
            received(buf, result.map(|n| (n.len, Some(n.seq))))
        }
        Op::PeekAt { pipe, index } => {
            let mut buf = vec![0; pipe.msg_size()];
            let result = pipe.peek_at(index, &mut buf);
            received(buf, result.map(|n| (n.len, Some(n.seq))))
        }
        Op::Select { members, wait } => {
            assert!(
                wait == Wait::Forever || members.is_empty(),
                "ipcm-host's Select has no timeout ({wait:?})"
            );
            let mut bufs: Vec<Vec<u8>> = members
                .iter()
                .map(|member| vec![0; member.pipe().msg_size()])
                .collect();
            let mut select = Select::new();
            for (member, buf) in members.iter().zip(bufs.iter_mut()) {
                select = match member {
                    Member::Read(pipe) => select.read(pipe, buf),
                    Member::Peek(pipe) => select.peek(pipe, buf),
                    Member::Write(pipe, msg) => select.write(pipe, msg),
                };
            }
            let done = if async_select {
                block_on(select.wait_async())
            } else {
                select.wait()
            };
            match done {
                Err(error) => Outcome::status(status(&error)),
                Ok(done) => {
                    let mut outcome = match (&members[done.index], done.result) {
                        (Member::Write(..), Ok(_)) => Outcome::ok(),
                        (_, Ok(len)) => Outcome::received(bufs[done.index][..len].to_vec(), None),
                        (_, Err(error)) => Outcome::status(status(&error)),
                    };
                    outcome.index = Some(done.index);
                    outcome
                }
            }
        }
    }
}

/// The pipes an operation waits on.
fn pipes(op: &Op<Pipe>) -> Vec<Pipe> {
    match op {
        Op::Write { pipe, .. }
        | Op::WritePrio { pipe, .. }
        | Op::Read { pipe, .. }
        | Op::Peek { pipe, .. }
        | Op::PeekNewer { pipe, .. }
        | Op::PeekAt { pipe, .. } => vec![pipe.clone()],
        Op::Select { members, .. } => members.iter().map(|m| m.pipe().clone()).collect(),
    }
}

/// Pending operations on `pipes` (a pipe listed twice counts twice).
fn pending_on(pipes: &[Pipe]) -> usize {
    pipes
        .iter()
        .map(|pipe| pipe.info().map_or(0, |info| Counts::from(&info).pending()))
        .sum()
}

impl Substrate for HostSubstrate {
    type Pipe = Pipe;
    type Pending = JoinHandle<Outcome>;

    fn create(&mut self, spec: Spec) -> Result<Pipe, Status> {
        create_in(&self.ipc, spec)
    }

    /// On a helper too, so that an operation that waits when it should
    /// not fails the test (at the join's limit) instead of hanging it.
    fn run(&mut self, op: Op<Pipe>) -> Outcome {
        let async_select = self.async_select;
        let helper = thread::spawn(move || perform(op, async_select));
        self.join(helper)
    }

    fn spawn(&mut self, op: Op<Pipe>) -> JoinHandle<Outcome> {
        let pipes = pipes(&op);
        let before = pending_on(&pipes);
        let async_select = self.async_select;
        let helper = thread::spawn(move || perform(op, async_select));
        let start = Instant::now();
        while !helper.is_finished() && pending_on(&pipes) <= before {
            assert!(
                start.elapsed() < SETTLE_LIMIT,
                "the operation neither waits nor finishes"
            );
            thread::yield_now();
        }
        helper
    }

    fn is_pending(&mut self, helper: &JoinHandle<Outcome>) -> bool {
        thread::sleep(GRACE);
        !helper.is_finished()
    }

    fn join(&mut self, helper: JoinHandle<Outcome>) -> Outcome {
        let start = Instant::now();
        while !helper.is_finished() {
            // A missing wake fails the test instead of hanging it.
            assert!(start.elapsed() < SETTLE_LIMIT, "the operation still waits");
            thread::sleep(Duration::from_millis(1));
        }
        helper.join().expect("the helper thread panicked")
    }

    fn purge(&mut self, pipe: &Pipe) -> Result<usize, Status> {
        pipe.purge().map_err(|error| status(&error))
    }

    fn close(&mut self, pipe: &Pipe) -> Result<(), Status> {
        pipe.close().map_err(|error| status(&error))
    }

    fn destroy(&mut self, pipe: &Pipe) -> Result<(), Status> {
        pipe.destroy().map_err(|error| status(&error))
    }

    fn counts(&mut self, pipe: &Pipe) -> Result<Counts, Status> {
        pipe.info()
            .map(|info| Counts::from(&info))
            .map_err(|error| status(&error))
    }
}

/// A foreign pipe is one of [`Ipc::new_process`]'s, opened by id.
impl Processes for HostSubstrate {
    fn create_foreign(&mut self, spec: Spec) -> Result<Pipe, Status> {
        let owned = create_in(&self.ipc.new_process(), spec)?;
        let pipe = self
            .ipc
            .open_id(owned.id())
            .map_err(|error| status(&error))?;
        self.foreign.push(owned);
        Ok(pipe)
    }

    fn admin_as_user(&mut self, admin: Admin, pipe: &Pipe) -> Result<usize, Status> {
        match admin {
            Admin::Purge => self.purge(pipe),
            Admin::Close => self.close(pipe).map(|()| 0),
            Admin::Destroy => self.destroy(pipe).map(|()| 0),
        }
    }
}

ipcm_conformance::common_conformance_tests!(HostSubstrate::new());
ipcm_conformance::conformance_tests!(HostSubstrate::new(); stranger_may_not_purge_close_or_destroy);

/// The select behaviours with `Select::wait_async` (see the module docs).
mod async_select {
    use super::HostSubstrate;

    ipcm_conformance::conformance_tests!(HostSubstrate::with_async_select();
        select_completes_first_ready_member,
        select_completes_exactly_one_and_withdraws_the_rest,
        select_write_member_admitted_by_read,
        select_same_pipe_twice_completes_one,
        select_member_closed_or_destroyed_completes_select,
        select_bad_parameters,
    );
}
