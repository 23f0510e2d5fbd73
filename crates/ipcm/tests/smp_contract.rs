//! DESIGN §8 under real threads: wake before return, cancel by ticket, no
//! hook under an IPC manager lock. Each scenario stalls a hook on one OS
//! thread (a preempted CPU) while another thread calls the manager.

use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use ipcm::{
    Caller, CancelReason, Fault, Ipcm, Kernel, PipeFlags, Priority, ProcessId, Progress, Status,
    Ticket, UserAddr,
};

/// A gate a hook waits at until the test opens it.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    changed: Condvar,
}

impl Gate {
    fn wait(&self) {
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.changed.wait(open).unwrap();
        }
    }

    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.changed.notify_all();
    }
}

/// Threads are small integers with 64 bytes of memory each; `wake` of the
/// thread `stall_wake_of` tells `stalled` and then waits at `gate`.
struct StallKernel {
    memory: Vec<Mutex<[u8; 64]>>,
    wakes: Mutex<Vec<(usize, Status)>>,
    stall_wake_of: Option<usize>,
    stalled: Mutex<Option<mpsc::Sender<()>>>,
    gate: Gate,
}

impl StallKernel {
    fn new(threads: usize, stall_wake_of: Option<usize>) -> (Self, mpsc::Receiver<()>) {
        let (tell, stalled) = mpsc::channel();
        let kernel = StallKernel {
            memory: (0..threads).map(|_| Mutex::new([0; 64])).collect(),
            wakes: Mutex::default(),
            stall_wake_of,
            stalled: Mutex::new(Some(tell)),
            gate: Gate::default(),
        };
        (kernel, stalled)
    }

    fn wakes_of(&self, thread: usize) -> Vec<Status> {
        let wakes = self.wakes.lock().unwrap();
        wakes
            .iter()
            .filter(|(t, _)| *t == thread)
            .map(|(_, s)| *s)
            .collect()
    }
}

impl Kernel for StallKernel {
    type Thread = usize;

    fn copy_from_user(&self, t: &usize, src: UserAddr, dst: &mut [u8]) -> Result<(), Fault> {
        let memory = self.memory[*t].lock().unwrap();
        dst.copy_from_slice(memory.get(src.0..src.0 + dst.len()).ok_or(Fault)?);
        Ok(())
    }

    fn copy_to_user(&self, t: &usize, dst: UserAddr, src: &[u8]) -> Result<(), Fault> {
        let mut memory = self.memory[*t].lock().unwrap();
        memory
            .get_mut(dst.0..dst.0 + src.len())
            .ok_or(Fault)?
            .copy_from_slice(src);
        Ok(())
    }

    fn wake(&self, t: usize, status: Status) {
        if self.stall_wake_of == Some(t) {
            if let Some(tell) = self.stalled.lock().unwrap().take() {
                let _ = tell.send(());
            }
            self.gate.wait();
        }
        self.wakes.lock().unwrap().push((t, status));
    }

    fn process_of(&self, _: &usize) -> ProcessId {
        ProcessId(1)
    }
}

type StallIpcm = Ipcm<spin::Mutex<()>, StallKernel>;

const BUF: UserAddr = UserAddr(0);
const LEN: UserAddr = UserAddr(32);
const WRITER: usize = 0;
const PEEKER: usize = 1;
const READER1: usize = 2;
const READER2: usize = 3;

fn ticket<T: std::fmt::Debug>(progress: Result<Progress<T>, Status>) -> Ticket {
    match progress {
        Ok(Progress::Blocked(ticket)) => ticket,
        other => panic!("expected Blocked, got {other:?}"),
    }
}

/// The thread of a write call.
type WriterThread = thread::JoinHandle<Result<Progress<ipcm::Written>, Status>>;

/// One peeker and two readers wait on an empty pipe; a writer's call is
/// stalled inside the wake of the peeker (the first thread it finished).
/// Returns the manager, the pipe, reader 2's ticket and the writer thread.
fn writer_stalled_in_a_wake() -> (Arc<StallIpcm>, ipcm::PipeId, Ticket, WriterThread) {
    let (kernel, stalled) = StallKernel::new(4, Some(PEEKER));
    let ipcm = Arc::new(StallIpcm::new(kernel));
    let pipe = ipcm
        .create(Caller::Kernel, None, 16, 2, PipeFlags::empty())
        .unwrap();
    let _ = ticket(ipcm.peek(&PEEKER, pipe, BUF, LEN));
    let _ = ticket(ipcm.read(&READER1, pipe, BUF, LEN));
    let reader2 = ticket(ipcm.read(&READER2, pipe, BUF, LEN));
    ipcm.kernel().memory[WRITER].lock().unwrap()[..4].copy_from_slice(b"ping");
    let writer = {
        let ipcm = ipcm.clone();
        thread::spawn(move || ipcm.write(&WRITER, pipe, BUF, 4))
    };
    stalled.recv().unwrap();
    (ipcm, pipe, reader2, writer)
}

#[test]
fn cancel_returns_only_after_the_cancelled_thread_was_woken() {
    let (ipcm, _pipe, _, writer) = writer_stalled_in_a_wake();
    // The writer finished the peeker and reader 1 and is stuck waking the
    // peeker. Cancelling reader 2 must wake reader 2 itself, now.
    assert_eq!(ipcm.cancel(&READER2, CancelReason::TimedOut), Ok(()));
    assert_eq!(ipcm.kernel().wakes_of(READER2), [Status::TimedOut]);
    assert!(!ipcm.is_pending(&READER2), "woken, so no longer pending");
    assert!(
        ipcm.kernel().wakes_of(READER1).is_empty(),
        "reader 1 is the stalled writer's to wake, not the cancel's"
    );
    ipcm.kernel().gate.open();
    assert!(matches!(writer.join().unwrap(), Ok(Progress::Done(w)) if w.handed_off));
    assert_eq!(ipcm.kernel().wakes_of(PEEKER), [Status::Ok]);
    assert_eq!(ipcm.kernel().wakes_of(READER1), [Status::Ok]);
    assert_eq!(ipcm.kernel().wakes_of(READER2), [Status::TimedOut]);
}

#[test]
fn cancel_op_returns_only_after_the_cancelled_thread_was_woken() {
    let (ipcm, _pipe, reader2, writer) = writer_stalled_in_a_wake();
    assert_eq!(
        ipcm.cancel_op(&READER2, reader2, CancelReason::TimedOut),
        Ok(())
    );
    assert_eq!(ipcm.kernel().wakes_of(READER2), [Status::TimedOut]);
    assert!(!ipcm.is_pending(&READER2));
    ipcm.kernel().gate.open();
    let _ = writer.join().unwrap();
}

#[test]
fn destroy_returns_only_after_every_waiters_wake() {
    let (ipcm, pipe, _, writer) = writer_stalled_in_a_wake();
    // Reader 2 still waits; reader 1 was finished by the stalled writer.
    assert_eq!(ipcm.destroy(Caller::Kernel, pipe), Ok(()));
    assert_eq!(ipcm.kernel().wakes_of(READER2), [Status::Destroyed]);
    assert!(!ipcm.is_pending(&READER2));
    ipcm.kernel().gate.open();
    assert!(matches!(writer.join().unwrap(), Ok(Progress::Done(w)) if w.handed_off));
    assert_eq!(ipcm.kernel().wakes_of(READER1), [Status::Ok]);
    for thread in [PEEKER, READER1, READER2] {
        assert_eq!(ipcm.kernel().wakes_of(thread).len(), 1, "thread {thread}");
        assert!(!ipcm.is_pending(&thread));
    }
}

#[test]
fn a_late_cancel_op_with_a_stale_ticket_changes_nothing() {
    let (kernel, _) = StallKernel::new(4, None);
    let ipcm = StallIpcm::new(kernel);
    let pipe = ipcm
        .create(Caller::Kernel, None, 16, 1, PipeFlags::empty())
        .unwrap();
    let first = ticket(ipcm.read(&READER1, pipe, BUF, LEN));
    ipcm.kernel_write(pipe, b"one").unwrap();
    assert_eq!(ipcm.kernel().wakes_of(READER1), [Status::Ok]);
    // The reader's next operation blocks; then the first one's timer fires.
    let second = ticket(ipcm.read(&READER1, pipe, BUF, LEN));
    assert_ne!(first, second);
    assert_eq!(
        ipcm.cancel_op(&READER1, first, CancelReason::TimedOut),
        Err(Status::NotFound)
    );
    assert!(ipcm.is_pending(&READER1), "the second read still waits");
    assert_eq!(ipcm.kernel().wakes_of(READER1), [Status::Ok]);
    assert_eq!(ipcm.info(pipe).unwrap().pending_readers, 1);
    // Another thread's ticket, and a forged one, are stale too.
    assert_eq!(
        ipcm.cancel_op(&READER2, second, CancelReason::TimedOut),
        Err(Status::NotFound)
    );
    let (raw_pipe, slot, seq) = second.to_raw();
    for forged in [
        Ticket::from_raw(raw_pipe, slot + 1, seq),
        Ticket::from_raw(raw_pipe, slot, seq + 1),
        Ticket::from_raw(raw_pipe ^ 1, slot, seq),
        Ticket::from_raw(0, u32::MAX, u64::MAX),
    ] {
        assert_eq!(
            ipcm.cancel_op(&READER1, forged, CancelReason::Cancelled),
            Err(Status::NotFound)
        );
    }
    assert!(ipcm.is_pending(&READER1));
    ipcm.kernel_write(pipe, b"two").unwrap();
    assert_eq!(ipcm.kernel().wakes_of(READER1), [Status::Ok, Status::Ok]);
    assert_eq!(&ipcm.kernel().memory[READER1].lock().unwrap()[..3], b"two");
    // Once woken, the second ticket is stale as well.
    assert_eq!(
        ipcm.cancel_op(&READER1, second, CancelReason::TimedOut),
        Err(Status::NotFound)
    );
    assert_eq!(
        ipcm.cancel(&READER1, CancelReason::TimedOut),
        Err(Status::NotFound)
    );
}

#[test]
fn cancel_op_cancels_only_its_operation() {
    let (kernel, _) = StallKernel::new(4, None);
    let ipcm = StallIpcm::new(kernel);
    let pipe = ipcm
        .create(Caller::Kernel, None, 16, 1, PipeFlags::empty())
        .unwrap();
    let r1 = ticket(ipcm.read(&READER1, pipe, BUF, LEN));
    let r2 = ticket(ipcm.read(&READER2, pipe, BUF, LEN));
    assert_eq!(ipcm.cancel_op(&READER2, r2, CancelReason::TimedOut), Ok(()));
    assert_eq!(ipcm.kernel().wakes_of(READER2), [Status::TimedOut]);
    assert!(ipcm.is_pending(&READER1));
    assert_eq!(
        ipcm.cancel_op(&READER2, r2, CancelReason::TimedOut),
        Err(Status::NotFound),
        "one-shot"
    );
    assert_eq!(
        ipcm.cancel_op(&READER1, r1, CancelReason::Cancelled),
        Ok(())
    );
    assert_eq!(ipcm.kernel().wakes_of(READER1), [Status::Cancelled]);
    assert_eq!(ipcm.info(pipe).unwrap().pending_readers, 0);
}

/// The thread that blocks while the timer path cancels.
const BLOCKING_THREAD: usize = 1;

/// A kernel whose `priority_of` takes its scheduler lock, as a real one
/// would to read a thread's priority.
struct SchedKernel {
    sched: Mutex<()>,
    /// Told when `priority_of` was entered for `BLOCKING_THREAD`, before it
    /// takes the lock.
    entered: Mutex<Option<mpsc::Sender<()>>>,
}

impl Kernel for SchedKernel {
    type Thread = usize;

    fn copy_from_user(&self, _: &usize, _: UserAddr, _: &mut [u8]) -> Result<(), Fault> {
        Ok(())
    }

    fn copy_to_user(&self, _: &usize, _: UserAddr, _: &[u8]) -> Result<(), Fault> {
        Ok(())
    }

    fn wake(&self, _: usize, _: Status) {}

    fn process_of(&self, _: &usize) -> ProcessId {
        ProcessId(1)
    }

    fn priority_of(&self, thread: &usize) -> Priority {
        if *thread == BLOCKING_THREAD
            && let Some(tell) = self.entered.lock().unwrap().take()
        {
            let _ = tell.send(());
        }
        let _sched = self.sched.lock().unwrap();
        Priority(1)
    }
}

/// DESIGN §8: a hook may take any kernel lock. The timer path holds the
/// scheduler lock while it cancels; a thread blocking on a priority pipe
/// asks `priority_of`, which takes the scheduler lock. With `priority_of`
/// asked under the pipe and pending-table locks, both threads stop for
/// ever. The test waits for both with a generous bound and fails (instead
/// of hanging) if they do not finish: it asserts progress, not a timing.
#[test]
fn a_hook_taking_a_kernel_lock_held_by_a_cancelling_thread_does_not_deadlock() {
    let (entered_tx, entered) = mpsc::channel();
    let ipcm = Arc::new(Ipcm::<spin::Mutex<()>, SchedKernel>::new(SchedKernel {
        sched: Mutex::new(()),
        entered: Mutex::new(Some(entered_tx)),
    }));
    let pipe = ipcm
        .create(Caller::Kernel, None, 8, 1, PipeFlags::PRIORITY_WAITERS)
        .unwrap();
    // Another thread already waits on the pipe, so cancelling it needs the
    // pipe's lock too.
    let _ = ticket(ipcm.read(&7, pipe, BUF, LEN));
    let (done_tx, done) = mpsc::channel();
    {
        let ipcm = ipcm.clone();
        let done_tx = done_tx.clone();
        thread::spawn(move || {
            // The timer path: scheduler lock held while it cancels.
            let sched = ipcm.kernel().sched.lock().unwrap();
            entered.recv().unwrap();
            let cancelled = ipcm.cancel(&7, CancelReason::TimedOut);
            drop(sched);
            let _ = done_tx.send(("timer", cancelled.map(|()| None)));
        });
    }
    {
        let ipcm = ipcm.clone();
        thread::spawn(move || {
            let read = ipcm.read(&BLOCKING_THREAD, pipe, BUF, LEN);
            let _ = done_tx.send(("reader", read.map(Some)));
        });
    }
    let mut finished = Vec::new();
    for _ in 0..2 {
        match done.recv_timeout(Duration::from_secs(60)) {
            Ok((who, result)) => finished.push((who, result)),
            Err(_) => panic!("deadlock: only {finished:?} finished"),
        }
    }
    for (who, result) in finished {
        match who {
            "timer" => assert_eq!(result, Ok(None)),
            _ => assert!(
                matches!(result, Ok(Some(Progress::Blocked(_)))),
                "{result:?}"
            ),
        }
    }
}

/// Stress across OS threads: a writer's hand-off races a timeout's
/// cancel_op, 2,000 times. Whenever cancel_op returns Ok, the reader's
/// TimedOut wake is already recorded; either way the reader gets exactly
/// one wake per operation, and a message is never both delivered and
/// counted as lost.
#[test]
fn cancel_op_racing_a_hand_off_wakes_before_it_returns_under_stress() {
    const ROUNDS: usize = 2_000;
    let (kernel, _) = StallKernel::new(4, None);
    let ipcm = Arc::new(StallIpcm::new(kernel));
    let pipe = ipcm
        .create(Caller::Kernel, None, 16, 1, PipeFlags::empty())
        .unwrap();
    ipcm.kernel().memory[WRITER].lock().unwrap()[..4].copy_from_slice(b"ping");
    let start = Arc::new(std::sync::Barrier::new(2));
    let writer = {
        let (ipcm, start) = (ipcm.clone(), start.clone());
        thread::spawn(move || {
            for _ in 0..ROUNDS {
                start.wait();
                assert!(matches!(
                    ipcm.try_write(&WRITER, pipe, BUF, 4),
                    Ok(_) | Err(Status::Full)
                ));
                start.wait();
            }
        })
    };
    let (mut timed_out, mut delivered) = (0, 0);
    for round in 0..ROUNDS {
        let ticket = ticket(ipcm.read(&READER1, pipe, BUF, LEN));
        start.wait();
        let cancelled = ipcm.cancel_op(&READER1, ticket, CancelReason::TimedOut);
        let wakes = ipcm.kernel().wakes_of(READER1);
        if cancelled == Ok(()) {
            assert_eq!(
                wakes.last(),
                Some(&Status::TimedOut),
                "round {round}: cancel_op returned before its wake"
            );
        }
        start.wait();
        // The writer's call has returned too: every wake is in.
        let wakes = ipcm.kernel().wakes_of(READER1);
        assert_eq!(wakes.len(), round + 1, "one wake per operation");
        match wakes[round] {
            Status::TimedOut => {
                assert_eq!(cancelled, Ok(()));
                timed_out += 1;
            }
            Status::Ok => {
                assert_eq!(cancelled, Err(Status::NotFound));
                delivered += 1;
            }
            other => panic!("round {round}: woken with {other:?}"),
        }
        // Empty the pipe for the next round (a write that came after the
        // cancel is queued).
        let mut sink = [0; 16];
        let _ = ipcm.kernel_read(pipe, &mut sink);
        assert!(!ipcm.is_pending(&READER1));
    }
    writer.join().unwrap();
    // Which side won varies from run to run; both are legal outcomes.
    eprintln!("{timed_out} timed out, {delivered} delivered");
    assert_eq!(timed_out + delivered, ROUNDS);
    let info = ipcm.info(pipe).unwrap();
    assert_eq!(info.written, info.read, "nothing lost or left");
}
