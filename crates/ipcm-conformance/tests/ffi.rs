//! The conformance suite on the C ABI (`ipcm-ffi`): its `extern "C"`
//! functions called from Rust, with the `hosted` runtime's hooks (a
//! thread is an OS thread, its `thread_t *` is `ipcm_host_thread()`, a
//! `BLOCKED` call is finished by `ipcm_host_finish`, which also applies the
//! deadline). This file is its own process, so `ipcm_host_init` seals the
//! global manager for it alone.
//!
//! The pipes belong to the test's process (`ipcm_pipe_create_as` with the
//! test thread), which purges, closes and destroys them.
//!
//! Not run here: `wake_feedback` (`ipcm_kernel_write_woke` exists, but the
//! hosted runtime gives every thread priority 0, so "woke a thread above
//! `than`" can never be true). An urgent write that must not wait is the
//! kernel's (`from` NULL): the C ABI has no try form of it for a thread;
//! so is a write with a message priority that must not wait. Every hosted
//! thread is of one process, so the stranger of
//! `stranger_may_not_purge_close_or_destroy` is that process acting on a
//! kernel pipe.

use core::ffi::{c_int, c_void};
use core::ptr;
use std::any::Any;
use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use ipcm_conformance::{
    Admin, Cancel, Counts, Member, Op, Outcome, Processes, SameThread, Spec, Status, Substrate,
    Wait,
};
use ipcm_ffi::*;

/// The deadline of [`Wait::Briefly`], in nanoseconds.
const BRIEFLY_NS: i64 = 30_000_000;

/// How long a helper thread may take to be seen pending or finished
/// before the substrate reports it (a hang, not a timing assertion).
const SETTLE_LIMIT: Duration = Duration::from_secs(20);

fn status(code: c_int) -> Status {
    Status::from_code(code).unwrap_or_else(|| panic!("not a status: {code}"))
}

std::thread_local! {
    /// Set when this helper thread's call returned `BLOCKED` (its
    /// operation waits for good, not for a moment inside the call).
    static BLOCKED: RefCell<Option<Arc<AtomicBool>>> = const { RefCell::new(None) };
    /// The buffers of this thread's operations, kept until it exits: a
    /// defect that completed a finished operation again (a withdrawn
    /// select member) then writes into live memory, where the suite sees
    /// the message it took, instead of into freed memory.
    static KEPT: RefCell<Vec<Box<dyn Any>>> = const { RefCell::new(Vec::new()) };
}

fn keep<T: 'static>(value: T) {
    KEPT.with(|kept| kept.borrow_mut().push(Box::new(value)));
}

/// `ipcm_host_finish`, noting first that the call blocked.
fn finish(code: c_int, timeout_ns: i64) -> c_int {
    if code == IPCM_STATUS_BLOCKED {
        BLOCKED.with(|flag| {
            if let Some(flag) = &*flag.borrow() {
                flag.store(true, Ordering::Release);
            }
        });
    }
    ipcm_host_finish(code, timeout_ns)
}

fn me() -> *mut thread_t {
    let thread = ipcm_host_thread();
    assert!(!thread.is_null());
    thread
}

fn timeout_ns(wait: Wait) -> i64 {
    match wait {
        Wait::Forever => IPCM_HOST_FOREVER,
        Wait::Never | Wait::Zero => 0,
        Wait::Briefly => BRIEFLY_NS,
    }
}

fn info(id: usize) -> Result<ipcm_pipe_info_t, Status> {
    let mut info = ipcm_pipe_info_t::default();
    // SAFETY: `info` is a valid out-parameter.
    match status(unsafe { ipcm_pipe_info(id, &mut info) }) {
        Status::Ok => Ok(info),
        failed => Err(failed),
    }
}

fn msg_size(id: usize) -> usize {
    info(id).map_or(64, |info| info.msg_size)
}

/// A receive's buffers, alive until its call (and wake) is over.
struct Sink {
    buf: Vec<u8>,
    len: usize,
    seq: u64,
}

impl Sink {
    /// Boxed, so that its length and number words never move.
    fn new(id: usize) -> Box<Sink> {
        Box::new(Sink {
            buf: vec![0; msg_size(id)],
            len: 0,
            seq: 0,
        })
    }

    fn outcome(&self, code: c_int, seq: bool) -> Outcome {
        match status(code) {
            Status::Ok => Outcome::received(self.buf[..self.len].to_vec(), seq.then_some(self.seq)),
            failed => Outcome::status(failed),
        }
    }
}

/// Perform `op` as the calling OS thread.
fn perform(op: Op<usize>) -> Outcome {
    perform_as(me(), op)
}

/// Perform `op` on the calling OS thread as `me` (the C ABI names the
/// thread a call is for; a kernel calls for its threads).
fn perform_as(me: *mut thread_t, op: Op<usize>) -> Outcome {
    match op {
        Op::Write {
            pipe,
            msg,
            urgent,
            wait,
        } => {
            let src = msg.as_ptr().cast_mut().cast::<c_void>();
            let len = msg.len();
            // SAFETY: `msg` is readable for `len` bytes and outlives the
            // call and its wake (ipcm_host_finish returns after the wake).
            let code = unsafe {
                match (urgent, wait) {
                    (false, Wait::Never) => ipcm_pipe_try_write(me, pipe, src, len),
                    (true, Wait::Never) => {
                        ipcm_pipe_write_urgent(ptr::null_mut(), pipe, src, len, ptr::null_mut())
                    }
                    (false, wait) => finish(ipcm_pipe_write(me, pipe, src, len), timeout_ns(wait)),
                    (true, wait) => finish(
                        ipcm_pipe_write_urgent(me, pipe, src, len, ptr::null_mut()),
                        timeout_ns(wait),
                    ),
                }
            };
            keep(msg);
            Outcome::status(status(code))
        }
        Op::WritePrio {
            pipe,
            msg,
            prio,
            wait,
        } => {
            let src = msg.as_ptr().cast_mut().cast::<c_void>();
            let (len, prio) = (msg.len(), u32::from(prio));
            // SAFETY: as for a write; the kernel's form (`from` NULL) is
            // the one that never waits.
            let code = unsafe {
                match wait {
                    Wait::Never => {
                        ipcm_pipe_write_prio(ptr::null_mut(), pipe, src, len, prio, ptr::null_mut())
                    }
                    wait => finish(
                        ipcm_pipe_write_prio(me, pipe, src, len, prio, ptr::null_mut()),
                        timeout_ns(wait),
                    ),
                }
            };
            keep(msg);
            Outcome::status(status(code))
        }
        Op::Read { pipe, wait } => {
            let mut sink = Sink::new(pipe);
            let buf = sink.buf.as_mut_ptr().cast::<c_void>();
            // SAFETY: `buf` holds msg_size bytes, `len` and `seq` are
            // writable; all outlive the call and its wake.
            let code = unsafe {
                match wait {
                    Wait::Never => ipcm_pipe_try_read(me, pipe, buf, &mut sink.len),
                    wait => finish(
                        ipcm_pipe_read_seq(
                            me,
                            pipe,
                            buf,
                            &mut sink.len,
                            &mut sink.seq,
                            ptr::null_mut(),
                        ),
                        timeout_ns(wait),
                    ),
                }
            };
            let outcome = sink.outcome(code, wait != Wait::Never);
            keep(sink);
            outcome
        }
        Op::Peek { pipe, wait } => {
            let mut sink = Sink::new(pipe);
            let buf = sink.buf.as_mut_ptr().cast::<c_void>();
            // SAFETY: as for a read.
            let code = unsafe {
                match wait {
                    Wait::Never => ipcm_pipe_try_peek(me, pipe, buf, &mut sink.len),
                    wait => finish(
                        ipcm_pipe_peek(me, pipe, buf, &mut sink.len),
                        timeout_ns(wait),
                    ),
                }
            };
            let outcome = sink.outcome(code, false);
            keep(sink);
            outcome
        }
        Op::PeekNewer { pipe, after, wait } => {
            let mut sink = Sink::new(pipe);
            let buf = sink.buf.as_mut_ptr().cast::<c_void>();
            // SAFETY: as for a read.
            let code = unsafe {
                finish(
                    ipcm_pipe_peek_newer(
                        me,
                        pipe,
                        after,
                        buf,
                        &mut sink.len,
                        &mut sink.seq,
                        ptr::null_mut(),
                    ),
                    timeout_ns(wait),
                )
            };
            let outcome = sink.outcome(code, true);
            keep(sink);
            outcome
        }
        Op::PeekAt { pipe, index } => {
            let mut sink = Sink::new(pipe);
            let buf = sink.buf.as_mut_ptr().cast::<c_void>();
            // SAFETY: as for a read; it never blocks.
            let code =
                unsafe { ipcm_pipe_peek_at(me, pipe, index, buf, &mut sink.len, &mut sink.seq) };
            let outcome = sink.outcome(code, true);
            keep(sink);
            outcome
        }
        Op::Select { members, wait } => {
            let outcome = select(me, &members, wait);
            keep(members);
            outcome
        }
    }
}

fn select(me: *mut thread_t, members: &[Member<usize>], wait: Wait) -> Outcome {
    let mut sinks: Vec<Box<Sink>> = members.iter().map(|m| Sink::new(*m.pipe())).collect();
    let ops: Vec<ipcm_select_op_t> = members
        .iter()
        .zip(sinks.iter_mut())
        .map(|(member, sink)| match member {
            Member::Read(pipe) | Member::Peek(pipe) => ipcm_select_op_t {
                kind: if matches!(member, Member::Read(_)) {
                    IPCM_SELECT_READ
                } else {
                    IPCM_SELECT_PEEK
                },
                pipe: *pipe,
                buf: sink.buf.as_mut_ptr().cast(),
                len_out: &mut sink.len,
                len: 0,
            },
            Member::Write(pipe, msg) => ipcm_select_op_t {
                kind: IPCM_SELECT_WRITE,
                pipe: *pipe,
                buf: msg.as_ptr().cast_mut().cast(),
                len_out: ptr::null_mut(),
                len: msg.len(),
            },
        })
        .collect();
    let group = ipcm_select_group_new();
    let (mut index, mut member_status) = (usize::MAX, 0);
    // SAFETY: `ops` holds `ops.len()` entries whose buffers (in `sinks`
    // and `members`) outlive the select and its wake; `group` is live
    // and this thread's; the out pointers are writable.
    let code = unsafe {
        ipcm_select(
            me,
            group,
            ops.as_ptr(),
            ops.len(),
            &mut index,
            &mut member_status,
            ptr::null_mut(),
        )
    };
    let outcome = match status(code) {
        Status::Ok => Some(()),
        Status::Blocked => {
            finish(code, timeout_ns(wait));
            // SAFETY: as above.
            let found = unsafe { ipcm_select_outcome(group, &mut index, &mut member_status) };
            assert_eq!(status(found), Status::Ok, "a woken select has an outcome");
            Some(())
        }
        _ => None,
    };
    // SAFETY: made above, not used afterwards.
    unsafe { ipcm_select_group_free(group) };
    keep(ops);
    if outcome.is_none() {
        keep(sinks);
        return Outcome::status(status(code));
    }
    let index = (index != usize::MAX).then_some(index);
    let mut outcome = match index {
        Some(i) if !matches!(members[i], Member::Write(..)) => {
            sinks[i].outcome(member_status, false)
        }
        _ => Outcome::status(status(member_status)),
    };
    outcome.index = index;
    keep(sinks);
    outcome
}

/// An operation on its own OS thread, which stays alive (so that its
/// `thread_t` names no other thread) until it is joined.
struct Helper {
    thread: usize,
    /// Its call returned `BLOCKED`.
    blocked: Arc<AtomicBool>,
    finished: Arc<AtomicBool>,
    release: mpsc::Sender<()>,
    handle: JoinHandle<Outcome>,
}

impl Helper {
    fn is_pending(&self) -> bool {
        let thread = ptr::without_provenance_mut(self.thread);
        self.blocked.load(Ordering::Acquire)
            && !self.finished.load(Ordering::Acquire)
            && ipcm_thread_is_pending(thread)
    }
}

struct FfiSubstrate;

/// `ipcm_pipe_create_as(from, ...)`: `from` NULL makes a kernel pipe.
fn create_as(from: *mut thread_t, spec: Spec) -> Result<usize, Status> {
    let mut flags = 0;
    if spec.discard_oldest {
        flags |= IPCM_FLAG_DISCARD_OLDEST;
    }
    if spec.by_priority {
        flags |= IPCM_FLAG_PRIORITY_MESSAGES;
    }
    let mut pipe = ptr::null_mut();
    // SAFETY: NULL name (anonymous); `pipe` is a valid out-parameter.
    let code = unsafe {
        ipcm_pipe_create_as(
            from,
            ptr::null(),
            spec.msg_size,
            spec.depth,
            flags,
            &mut pipe,
        )
    };
    match status(code) {
        Status::Ok => Ok(ipcm_pipe_id(pipe)),
        failed => Err(failed),
    }
}

impl FfiSubstrate {
    fn new() -> Self {
        assert_eq!(ipcm_host_init(), IPCM_STATUS_OK);
        FfiSubstrate
    }
}

impl Substrate for FfiSubstrate {
    type Pipe = usize;
    type Pending = Helper;

    fn create(&mut self, spec: Spec) -> Result<usize, Status> {
        create_as(me(), spec)
    }

    /// On a helper too, so that an operation that waits when it should
    /// not fails the test (at the join's limit) instead of hanging it.
    fn run(&mut self, op: Op<usize>) -> Outcome {
        let helper = self.spawn(op);
        self.join(helper)
    }

    fn spawn(&mut self, op: Op<usize>) -> Helper {
        let (thread_tx, thread_rx) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        let finished = Arc::new(AtomicBool::new(false));
        let done = Arc::clone(&finished);
        let blocked = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&blocked);
        let handle = thread::spawn(move || {
            BLOCKED.with(|blocked| *blocked.borrow_mut() = Some(flag));
            thread_tx
                .send(me().expose_provenance())
                .expect("the test waits");
            let outcome = perform(op);
            done.store(true, Ordering::Release);
            let _ = released.recv();
            outcome
        });
        let thread = thread_rx.recv().expect("the helper started");
        let helper = Helper {
            thread,
            blocked,
            finished,
            release,
            handle,
        };
        let start = Instant::now();
        while !helper.finished.load(Ordering::Acquire) && !helper.is_pending() {
            assert!(
                start.elapsed() < SETTLE_LIMIT,
                "the operation neither waits nor finishes"
            );
            thread::yield_now();
        }
        helper
    }

    fn is_pending(&mut self, helper: &Helper) -> bool {
        helper.is_pending()
    }

    fn join(&mut self, helper: Helper) -> Outcome {
        let start = Instant::now();
        while !helper.finished.load(Ordering::Acquire) {
            // A missing wake fails the test instead of hanging it.
            assert!(start.elapsed() < SETTLE_LIMIT, "the operation still waits");
            thread::sleep(Duration::from_millis(1));
        }
        let _ = helper.release.send(());
        helper.handle.join().expect("the helper thread panicked")
    }

    fn purge(&mut self, pipe: &usize) -> Result<usize, Status> {
        let mut purged = 0;
        // SAFETY: `purged` is a valid out-parameter.
        match status(unsafe { ipcm_pipe_purge(me(), *pipe, &mut purged) }) {
            Status::Ok => Ok(purged),
            failed => Err(failed),
        }
    }

    fn close(&mut self, pipe: &usize) -> Result<(), Status> {
        match status(ipcm_pipe_close(me(), *pipe)) {
            Status::Ok => Ok(()),
            failed => Err(failed),
        }
    }

    fn destroy(&mut self, pipe: &usize) -> Result<(), Status> {
        match status(ipcm_pipe_destroy(me(), *pipe)) {
            Status::Ok => Ok(()),
            failed => Err(failed),
        }
    }

    fn counts(&mut self, pipe: &usize) -> Result<Counts, Status> {
        info(*pipe).map(|info| Counts {
            queued: info.queued,
            pending_readers: info.pending_readers,
            pending_peekers: info.pending_peekers,
            pending_writers: info.pending_writers,
            written: info.written,
            read: info.read,
            dropped: info.dropped,
            purged: info.purged,
            closed: info.closed,
        })
    }
}

/// Every hosted thread is of one process: a foreign pipe is the kernel's.
impl Processes for FfiSubstrate {
    fn create_foreign(&mut self, spec: Spec) -> Result<usize, Status> {
        create_as(ptr::null_mut(), spec)
    }

    fn admin_as_user(&mut self, admin: Admin, pipe: &usize) -> Result<usize, Status> {
        match admin {
            Admin::Purge => self.purge(pipe),
            Admin::Close => self.close(pipe).map(|()| 0),
            Admin::Destroy => self.destroy(pipe).map(|()| 0),
        }
    }
}

impl Cancel for FfiSubstrate {
    fn cancel(&mut self, helper: &Helper) -> Result<(), Status> {
        let thread = ptr::with_exposed_provenance_mut(helper.thread);
        match status(ipcm_thread_cancel(thread, IPCM_STATUS_CANCELLED)) {
            Status::Ok => Ok(()),
            failed => Err(failed),
        }
    }
}

impl SameThread for FfiSubstrate {
    fn run_as(&mut self, helper: &Helper, op: Op<usize>) -> Outcome {
        perform_as(ptr::with_exposed_provenance_mut(helper.thread), op)
    }
}

ipcm_conformance::common_conformance_tests!(FfiSubstrate::new());
ipcm_conformance::conformance_tests!(FfiSubstrate::new();
    select_times_out_as_a_group,
    stranger_may_not_purge_close_or_destroy,
    cancel_ends_pending_op_cancelled_and_loses_nothing,
    second_operation_of_pending_thread_is_already_pending,
);
