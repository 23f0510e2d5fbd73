//! Loom models of the synchronisation core: concurrent write, read, cancel
//! and destroy on one pipe from three threads. Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p ipcm --release --test loom`.
//!
//! Every interleaving of the manager's lock operations is explored. In each,
//! every operation that returned `Blocked` is woken exactly once, a thread
//! has exactly one outcome, and no message is lost or duplicated.

#![cfg(loom)]

use std::sync::Mutex as StdMutex;
use std::sync::OnceLock;

use ipcm::{
    Caller, CancelReason, Fault, Ipcm, Kernel, PipeFlags, ProcessId, Progress, Status, UserAddr,
};
use loom::sync::Arc;

/// A blocking lock on loom's mutex and condition variable, so loom sees
/// every acquire, release and wait (a spinlock would make loom explore
/// unbounded spinning). Loom primitives cannot be built in a `const`, which
/// `RawMutex::INIT` needs, hence the lazy cell; `touch` builds it on the
/// model's main thread, before other threads can race to.
struct LoomRawMutex(OnceLock<(loom::sync::Mutex<bool>, loom::sync::Condvar)>);

impl LoomRawMutex {
    fn parts(&self) -> &(loom::sync::Mutex<bool>, loom::sync::Condvar) {
        self.0
            .get_or_init(|| (loom::sync::Mutex::new(false), loom::sync::Condvar::new()))
    }
}

// SAFETY: the `bool` under loom's mutex says whether the lock is held; it is
// set only by a caller that saw it false, cleared only by the holder, and
// loom's mutex orders every access.
unsafe impl lock_api::RawMutex for LoomRawMutex {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = LoomRawMutex(OnceLock::new());
    type GuardMarker = lock_api::GuardNoSend;

    fn lock(&self) {
        let (mutex, released) = self.parts();
        let mut held = mutex.lock().unwrap();
        while *held {
            held = released.wait(held).unwrap();
        }
        *held = true;
    }

    fn try_lock(&self) -> bool {
        let mut held = self.parts().0.lock().unwrap();
        !std::mem::replace(&mut *held, true)
    }

    unsafe fn unlock(&self) {
        let (mutex, released) = self.parts();
        *mutex.lock().unwrap() = false;
        released.notify_one();
    }
}

/// Threads 0..4, each with 16 bytes of memory; wakes recorded in order.
/// Its locks are never contended under loom (no loom operation inside), so
/// std's mutex is fine here.
#[derive(Default)]
struct LoomKernel {
    memory: [StdMutex<[u8; 16]>; 4],
    wakes: StdMutex<Vec<(usize, Status)>>,
}

impl Kernel for LoomKernel {
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
        self.wakes.lock().unwrap().push((t, status));
    }

    fn process_of(&self, _: &usize) -> ProcessId {
        ProcessId(1)
    }
}

type LoomIpcm = Ipcm<LoomRawMutex, LoomKernel>;

/// Explore every interleaving with up to `LOOM_MAX_PREEMPTIONS` (default 5)
/// preemptions per execution; bounding preemptions keeps the search finite
/// while still covering the races that need few context switches, which is
/// where concurrency bugs live in practice.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(5);
    }
    let executions = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = executions.clone();
    builder.check(move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f();
    });
    println!(
        "loom explored {} executions",
        executions.load(std::sync::atomic::Ordering::Relaxed)
    );
}

const WRITER: usize = 0;
const READER: usize = 1;
const PEEKER: usize = 2;
const READER2: usize = 3;
const MSG: UserAddr = UserAddr(0);
const LEN: UserAddr = UserAddr(8);

fn setup(depth: usize) -> (Arc<LoomIpcm>, ipcm::PipeId) {
    let ipcm = Arc::new(LoomIpcm::new(LoomKernel::default()));
    ipcm.kernel().memory[WRITER].lock().unwrap()[..4].copy_from_slice(b"ping");
    let pipe = ipcm
        .create(Caller::Kernel, None, 4, depth, PipeFlags::empty())
        .unwrap();
    (ipcm, pipe)
}

fn wakes_of(ipcm: &LoomIpcm, thread: usize) -> Vec<Status> {
    let wakes = ipcm.kernel().wakes.lock().unwrap();
    wakes
        .iter()
        .filter(|(t, _)| *t == thread)
        .map(|(_, s)| *s)
        .collect()
}

/// The one outcome of an operation: its immediate result, or its wake.
fn outcome<T>(ipcm: &LoomIpcm, thread: usize, result: Result<Progress<T>, Status>) -> Status {
    let wakes = wakes_of(ipcm, thread);
    match result {
        Ok(Progress::Done(_)) => {
            assert!(wakes.is_empty(), "a completed call was also woken");
            Status::Ok
        }
        Ok(Progress::Blocked(_)) => {
            assert_eq!(
                wakes.len(),
                1,
                "a pending operation must be woken exactly once"
            );
            wakes[0]
        }
        Err(status) => {
            assert!(wakes.is_empty(), "a failed call was also woken");
            status
        }
    }
}

/// Cancel whatever is still pending, so every Blocked call gets its wake.
fn settle(ipcm: &LoomIpcm) {
    for thread in [WRITER, READER] {
        let _ = ipcm.cancel(&thread, CancelReason::Cancelled);
    }
}

#[test]
fn write_read_and_cancel_race_to_one_outcome() {
    model(|| {
        let (ipcm, pipe) = setup(1);
        let writer = {
            let ipcm = ipcm.clone();
            loom::thread::spawn(move || ipcm.write(&WRITER, pipe, MSG, 4))
        };
        let reader = {
            let ipcm = ipcm.clone();
            loom::thread::spawn(move || ipcm.read(&READER, pipe, MSG, LEN))
        };
        let cancelled = ipcm.cancel(&READER, CancelReason::TimedOut);
        let written = writer.join().unwrap();
        let read = reader.join().unwrap();
        settle(&ipcm);

        assert_eq!(
            outcome(&ipcm, WRITER, written),
            Status::Ok,
            "depth 1, empty: the write fits"
        );
        let read = outcome(&ipcm, READER, read);
        let queued = ipcm.info(pipe).unwrap().queued;
        match read {
            Status::Ok => {
                assert_eq!(&ipcm.kernel().memory[READER].lock().unwrap()[..4], b"ping");
                assert_eq!(queued, 0, "read once, so not also queued");
            }
            Status::TimedOut => {
                assert_eq!(cancelled, Ok(()));
                assert_eq!(queued, 1, "a timed-out read consumed nothing");
            }
            Status::Cancelled => assert_eq!(queued, 1),
            other => panic!("read ended with {other:?}"),
        }
        if cancelled == Ok(()) {
            assert_eq!(
                read,
                Status::TimedOut,
                "cancel succeeded, so that was the outcome"
            );
        }
    });
}

#[test]
fn destroy_racing_a_hand_off_wakes_everyone_once() {
    model(|| {
        let (ipcm, pipe) = setup(1);
        let reader = {
            let ipcm = ipcm.clone();
            loom::thread::spawn(move || ipcm.read(&READER, pipe, MSG, LEN))
        };
        let writer = {
            let ipcm = ipcm.clone();
            loom::thread::spawn(move || ipcm.write(&WRITER, pipe, MSG, 4))
        };
        let destroyed = ipcm.destroy(Caller::Kernel, pipe);
        let read = reader.join().unwrap();
        let written = writer.join().unwrap();
        settle(&ipcm);

        assert_eq!(destroyed, Ok(()));
        let read = outcome(&ipcm, READER, read);
        let written = outcome(&ipcm, WRITER, written);
        assert!(
            matches!(read, Status::Ok | Status::Destroyed | Status::NotFound),
            "{read:?}"
        );
        assert!(
            matches!(written, Status::Ok | Status::Destroyed | Status::NotFound),
            "{written:?}"
        );
        if read == Status::Ok {
            assert_eq!(written, Status::Ok, "a message was read, so it was written");
            assert_eq!(&ipcm.kernel().memory[READER].lock().unwrap()[..4], b"ping");
        }
        assert!(!ipcm.is_pending(&READER) && !ipcm.is_pending(&WRITER));
    });
}

#[test]
fn blocked_writers_are_admitted_in_order_by_concurrent_reads() {
    model(|| {
        // Depth 1, already full: both writes block until the reader makes room.
        let (ipcm, pipe) = setup(1);
        ipcm.kernel_write(pipe, b"0").unwrap();
        ipcm.kernel().memory[READER].lock().unwrap()[..1].copy_from_slice(b"1");
        let first = {
            let ipcm = ipcm.clone();
            loom::thread::spawn(move || ipcm.write(&READER, pipe, MSG, 1))
        };
        let reader = {
            let ipcm = ipcm.clone();
            loom::thread::spawn(move || {
                let mut got = Vec::new();
                let mut buf = [0; 4];
                for _ in 0..2 {
                    if let Ok(len) = ipcm.kernel_read(pipe, &mut buf) {
                        got.push(buf[..len].to_vec());
                    }
                }
                got
            })
        };
        let written = first.join().unwrap();
        let mut got = reader.join().unwrap();
        settle(&ipcm);
        let written = outcome(&ipcm, READER, written);

        let mut buf = [0; 4];
        while let Ok(len) = ipcm.kernel_read(pipe, &mut buf) {
            got.push(buf[..len].to_vec());
        }
        let expected: Vec<Vec<u8>> = match written {
            Status::Ok => vec![b"0".to_vec(), b"1".to_vec()],
            Status::Cancelled => vec![b"0".to_vec()],
            other => panic!("write ended with {other:?}"),
        };
        assert_eq!(got, expected, "nothing lost, duplicated or reordered");
    });
}

fn blocked(progress: Result<Progress<usize>, Status>) -> ipcm::Ticket {
    match progress {
        Ok(Progress::Blocked(ticket)) => ticket,
        other => panic!("expected Blocked, got {other:?}"),
    }
}

/// DESIGN §8, wake before return: a writer finishing a peeker and a reader
/// races a cancel of a second reader. Whenever the cancel returns `Ok`, the
/// second reader has been woken by then (with `TimedOut`), whatever the
/// writer's call is doing; every waiter is woken exactly once.
#[test]
fn cancel_wakes_its_thread_before_it_returns() {
    model(|| {
        let (ipcm, pipe) = setup(1);
        let _ = blocked(ipcm.peek(&PEEKER, pipe, MSG, LEN));
        let _ = blocked(ipcm.read(&READER, pipe, MSG, LEN));
        let second = blocked(ipcm.read(&READER2, pipe, MSG, LEN));
        let writer = {
            let ipcm = ipcm.clone();
            loom::thread::spawn(move || ipcm.write(&WRITER, pipe, MSG, 4))
        };
        let cancelled = ipcm.cancel_op(&READER2, second, CancelReason::TimedOut);
        if cancelled == Ok(()) {
            assert_eq!(wakes_of(&ipcm, READER2), [Status::TimedOut]);
            assert!(!ipcm.is_pending(&READER2));
        }
        let written = writer.join().unwrap();
        assert!(matches!(written, Ok(Progress::Done(_))));
        // The writer's call returned: everything it finished is woken.
        assert_eq!(wakes_of(&ipcm, PEEKER), [Status::Ok]);
        assert_eq!(wakes_of(&ipcm, READER), [Status::Ok]);
        match cancelled {
            Ok(()) => assert_eq!(wakes_of(&ipcm, READER2), [Status::TimedOut]),
            Err(status) => {
                assert_eq!(status, Status::NotFound);
                // Not cancelled: still waiting (depth 1, the message went
                // to the first reader).
                assert!(ipcm.is_pending(&READER2));
                assert!(wakes_of(&ipcm, READER2).is_empty());
            }
        }
    });
}

/// Wake before return for destroy: a writer finishing a reader races a
/// destroy. When destroy returns, every waiter it ended has been woken
/// with `Destroyed`; a waiter not woken yet is the writer's, woken `Ok`
/// by the time the writer's call returns.
#[test]
fn destroy_wakes_every_waiter_it_ended_before_it_returns() {
    model(|| {
        let (ipcm, pipe) = setup(1);
        let _ = blocked(ipcm.read(&READER, pipe, MSG, LEN));
        let _ = blocked(ipcm.read(&READER2, pipe, MSG, LEN));
        let writer = {
            let ipcm = ipcm.clone();
            loom::thread::spawn(move || ipcm.write(&WRITER, pipe, MSG, 4))
        };
        assert_eq!(ipcm.destroy(Caller::Kernel, pipe), Ok(()));
        let not_yet: Vec<usize> = [READER, READER2]
            .into_iter()
            .filter(|t| wakes_of(&ipcm, *t).is_empty())
            .collect();
        for thread in [READER, READER2] {
            let wakes = wakes_of(&ipcm, thread);
            assert!(wakes.is_empty() || wakes == [Status::Destroyed] || wakes == [Status::Ok]);
        }
        let written = writer.join().unwrap();
        for thread in not_yet {
            assert_eq!(
                wakes_of(&ipcm, thread),
                [Status::Ok],
                "only the writer may still owe a wake after destroy returned"
            );
        }
        for thread in [READER, READER2] {
            assert_eq!(wakes_of(&ipcm, thread).len(), 1);
            assert!(!ipcm.is_pending(&thread));
        }
        match written {
            Ok(Progress::Done(w)) => {
                assert!(w.handed_off, "a reader was waiting");
                assert_eq!(wakes_of(&ipcm, READER), [Status::Ok]);
            }
            Err(status) => {
                assert!(matches!(status, Status::NotFound | Status::Destroyed));
                assert_eq!(wakes_of(&ipcm, READER), [Status::Destroyed]);
            }
            Ok(Progress::Blocked(_)) => panic!("a writer to a depth-1 empty pipe blocked"),
        }
    });
}

// Models of the lock-free fast path (see the invariants in the core's
// `ring` module) against the slow path. The calls below take the fast path
// whenever the pipe has no waiter, so loom interleaves the ring's CAS and
// stores, the slot copies and the pipe lock.

fn message_of(ipcm: &LoomIpcm, thread: usize, len: usize) -> Vec<u8> {
    ipcm.kernel().memory[thread].lock().unwrap()[..len].to_vec()
}

#[test]
fn fast_write_racing_a_registering_reader_reaches_it_once() {
    model(|| {
        // Depth 2: the write always finds room, so it takes the fast path
        // unless the reader registered first.
        let (ipcm, pipe) = setup(2);
        let handle = ipcm.open(pipe).unwrap();
        let reader = {
            let ipcm = ipcm.clone();
            let handle = handle.clone();
            loom::thread::spawn(move || ipcm.read(&READER, &handle, MSG, LEN))
        };
        let written = ipcm.write(&WRITER, &handle, MSG, 4);
        let read = reader.join().unwrap();

        // No settle: a reader left pending with the message queued (a
        // lost wake-up) fails `outcome`.
        assert_eq!(outcome(&ipcm, WRITER, written), Status::Ok);
        assert_eq!(outcome(&ipcm, READER, read), Status::Ok);
        assert_eq!(message_of(&ipcm, READER, 4), b"ping");
        let info = ipcm.info(pipe).unwrap();
        assert_eq!((info.queued, info.written, info.read), (0, 1, 1));
        assert_eq!(info.pending_readers, 0);
        // The ends were given back: the next write takes the fast path and
        // lands in the queue.
        assert_eq!(
            ipcm.kernel_write(pipe, b"next"),
            Ok(ipcm::Written {
                dropped_oldest: false,
                handed_off: false,
            })
        );
        assert_eq!(ipcm.info(pipe).unwrap().queued, 1);
    });
}

#[test]
fn fast_read_racing_a_registering_writer_admits_it_once() {
    model(|| {
        // Depth 1, full: the write blocks unless the read frees the slot
        // first; a read that frees it after must admit the writer.
        let (ipcm, pipe) = setup(1);
        ipcm.kernel_write(pipe, b"0").unwrap();
        let handle = ipcm.open(pipe).unwrap();
        let writer = {
            let ipcm = ipcm.clone();
            let handle = handle.clone();
            loom::thread::spawn(move || ipcm.write(&WRITER, &handle, MSG, 4))
        };
        let mut buf = [0; 4];
        let read = ipcm.kernel_read(&handle, &mut buf);
        let written = writer.join().unwrap();

        assert_eq!(read, Ok(1));
        assert_eq!(&buf[..1], b"0");
        assert_eq!(outcome(&ipcm, WRITER, written), Status::Ok);
        let info = ipcm.info(pipe).unwrap();
        assert_eq!((info.queued, info.written, info.read), (1, 2, 1));
        assert_eq!(info.pending_writers, 0);
        assert_eq!(ipcm.kernel_read(pipe, &mut buf), Ok(4));
        assert_eq!(&buf, b"ping");
    });
}

#[test]
fn discard_oldest_racing_a_reader_drops_exactly_the_oldest() {
    model(|| {
        // A blackboard: depth 1, discard-oldest, holding "0".
        let ipcm = Arc::new(LoomIpcm::new(LoomKernel::default()));
        ipcm.kernel().memory[WRITER].lock().unwrap()[..1].copy_from_slice(b"1");
        let pipe = ipcm
            .create(Caller::Kernel, None, 4, 1, PipeFlags::DISCARD_OLDEST)
            .unwrap();
        ipcm.kernel_write(pipe, b"0").unwrap();
        let handle = ipcm.open(pipe).unwrap();
        let writer = {
            let ipcm = ipcm.clone();
            let handle = handle.clone();
            loom::thread::spawn(move || ipcm.try_write(&WRITER, &handle, MSG, 1))
        };
        // The pipe is never empty before the read, so the read never
        // fails, whatever it races with.
        let read = ipcm.try_read(&READER, &handle, MSG, LEN);
        let written = writer.join().unwrap().unwrap();

        assert_eq!(read, Ok(1), "a pipe that was never empty read as empty");
        let got = message_of(&ipcm, READER, 1);
        let info = ipcm.info(pipe).unwrap();
        assert_eq!(info.written, 2);
        assert_eq!(
            info.read + info.queued as u64 + info.dropped,
            2,
            "conservation"
        );
        match &got[..] {
            // Read first: the write found room.
            b"0" => {
                assert!(!written.dropped_oldest);
                assert_eq!((info.queued, info.dropped), (1, 0));
            }
            // Written first: it dropped "0", exactly once.
            b"1" => {
                assert!(written.dropped_oldest);
                assert_eq!((info.queued, info.dropped), (0, 1));
            }
            other => panic!("read {other:?}"),
        }
    });
}

#[test]
fn two_writers_racing_for_the_last_slot_fill_it_once() {
    model(|| {
        // Depth 1, empty, no discard: one write finds room, the other
        // (which may find the tail owned and take it after the first
        // commits, the contended take) finds the pipe full.
        let ipcm = Arc::new(LoomIpcm::new(LoomKernel::default()));
        for (thread, byte) in [(WRITER, b"a"), (PEEKER, b"b")] {
            ipcm.kernel().memory[thread].lock().unwrap()[..1].copy_from_slice(byte);
        }
        let pipe = ipcm
            .create(Caller::Kernel, None, 4, 1, PipeFlags::empty())
            .unwrap();
        let handle = ipcm.open(pipe).unwrap();
        let other = {
            let ipcm = ipcm.clone();
            let handle = handle.clone();
            loom::thread::spawn(move || ipcm.try_write(&PEEKER, &handle, MSG, 1))
        };
        let mine = ipcm.try_write(&WRITER, &handle, MSG, 1);
        let theirs = other.join().unwrap();
        let (winner, loser) = match (mine, theirs) {
            (Ok(_), Err(status)) => (b"a", status),
            (Err(status), Ok(_)) => (b"b", status),
            both => panic!("exactly one write finds room: {both:?}"),
        };
        assert_eq!(loser, Status::Full);
        let info = ipcm.info(pipe).unwrap();
        assert_eq!((info.queued, info.written), (1, 1));
        assert_eq!(ipcm.try_read(&READER, &handle, MSG, LEN), Ok(1));
        assert_eq!(message_of(&ipcm, READER, 1), winner);
    });
}

#[test]
fn destroy_racing_fast_writer_and_reader_leaves_nothing_touching_the_store() {
    model(|| {
        let (ipcm, pipe) = setup(1);
        let handle = ipcm.open(pipe).unwrap();
        let writer = {
            let ipcm = ipcm.clone();
            let handle = handle.clone();
            loom::thread::spawn(move || ipcm.try_write(&WRITER, &handle, MSG, 4))
        };
        let reader = {
            let ipcm = ipcm.clone();
            let handle = handle.clone();
            loom::thread::spawn(move || ipcm.try_read(&READER, &handle, MSG, LEN))
        };
        // Destroy frees the store (loom tracks it: an operation still on
        // it would be a causality violation).
        assert_eq!(ipcm.destroy(Caller::Kernel, pipe), Ok(()));
        let written = writer.join().unwrap();
        let read = reader.join().unwrap();

        assert!(
            matches!(written, Ok(_) | Err(Status::Destroyed)),
            "{written:?}"
        );
        assert!(
            matches!(read, Ok(4) | Err(Status::Empty | Status::Destroyed)),
            "{read:?}"
        );
        if read.is_ok() {
            assert!(written.is_ok(), "a message was read, so it was written");
            assert_eq!(message_of(&ipcm, READER, 4), b"ping");
        }
        // After destroy, everything is refused without reaching the store.
        assert_eq!(
            ipcm.try_write(&WRITER, &handle, MSG, 4),
            Err(Status::Destroyed)
        );
        assert_eq!(
            ipcm.try_read(&READER, &handle, MSG, LEN),
            Err(Status::Destroyed)
        );
        assert_eq!(ipcm.info(&handle), Err(Status::Destroyed));
    });
}

#[test]
fn peek_racing_a_fast_read_and_write_is_never_torn() {
    model(|| {
        // Depth 2 holding "aaaa": a fast write of "ping", a fast read and a
        // peek race on both ends of the ring.
        let (ipcm, pipe) = setup(2);
        ipcm.kernel_write(pipe, b"aaaa").unwrap();
        let handle = ipcm.open(pipe).unwrap();
        let writer = {
            let ipcm = ipcm.clone();
            let handle = handle.clone();
            loom::thread::spawn(move || ipcm.try_write(&WRITER, &handle, MSG, 4))
        };
        let reader = {
            let ipcm = ipcm.clone();
            let handle = handle.clone();
            loom::thread::spawn(move || ipcm.try_read(&READER, &handle, MSG, LEN))
        };
        let peeked = ipcm.try_peek(&PEEKER, &handle, MSG, LEN);
        let written = writer.join().unwrap();
        let read = reader.join().unwrap();

        assert!(written.is_ok());
        assert_eq!(read, Ok(4));
        assert_eq!(message_of(&ipcm, READER, 4), b"aaaa");
        match peeked {
            Ok(4) => {
                let seen = message_of(&ipcm, PEEKER, 4);
                assert!(seen == b"aaaa" || seen == b"ping", "torn peek: {seen:?}");
            }
            // Only between the read and the write.
            Err(Status::Empty) => {}
            other => panic!("peek: {other:?}"),
        }
        let info = ipcm.info(pipe).unwrap();
        assert_eq!((info.queued, info.written, info.read), (1, 2, 1));
    });
}

/// A select of `READER` over reads of pipes `a` and `b` (one shared
/// buffer: only one member may ever write it).
fn select_ab(
    ipcm: &LoomIpcm,
    group: &ipcm::Shared<ipcm::SelectGroup>,
    a: ipcm::PipeId,
    b: ipcm::PipeId,
) -> Result<Progress<ipcm::Selected>, Status> {
    let ops = [
        ipcm::SelectOp::Read {
            pipe: a,
            buf: MSG,
            len_out: LEN,
        },
        ipcm::SelectOp::Read {
            pipe: b,
            buf: MSG,
            len_out: LEN,
        },
    ];
    ipcm.select(&READER, group, &ops)
}

/// The select's one outcome: (member index, status).
fn select_outcome(
    ipcm: &LoomIpcm,
    group: &ipcm::SelectGroup,
    result: Result<Progress<ipcm::Selected>, Status>,
) -> Result<(Option<usize>, Status), Status> {
    let wakes = wakes_of(ipcm, READER);
    match result {
        Ok(Progress::Done(selected)) => {
            assert!(wakes.is_empty(), "a select that completed was also woken");
            Ok((selected.index, selected.status))
        }
        Ok(Progress::Blocked(_)) => {
            assert_eq!(wakes.len(), 1, "a waiting select is woken exactly once");
            let outcome = group.outcome().expect("woken with an outcome");
            assert_eq!(outcome.status, wakes[0]);
            Ok((outcome.index, outcome.status))
        }
        Err(status) => {
            assert!(wakes.is_empty());
            Err(status)
        }
    }
}

#[test]
fn select_racing_two_writers_on_its_two_members_completes_exactly_one() {
    model(|| {
        let ipcm = Arc::new(LoomIpcm::new(LoomKernel::default()));
        let a = ipcm
            .create(Caller::Kernel, None, 4, 1, PipeFlags::empty())
            .unwrap();
        let b = ipcm
            .create(Caller::Kernel, None, 4, 1, PipeFlags::empty())
            .unwrap();
        let group = ipcm::SelectGroup::shared().unwrap();
        let selector = {
            let (ipcm, group) = (ipcm.clone(), group.clone());
            loom::thread::spawn(move || select_ab(&ipcm, &group, a, b))
        };
        let writer = {
            let ipcm = ipcm.clone();
            loom::thread::spawn(move || ipcm.kernel_write(a, b"AAAA"))
        };
        assert!(ipcm.kernel_write(b, b"BBBB").is_ok());
        assert!(writer.join().unwrap().is_ok());
        let result = selector.join().unwrap();
        let (index, status) = select_outcome(&ipcm, &group, result).expect("select");
        assert_eq!(status, Status::Ok);
        let queued = |p| ipcm.info(p).unwrap().queued;
        let (expected, taken, other) = match index {
            Some(0) => (b"AAAA", a, b),
            Some(1) => (b"BBBB", b, a),
            other => panic!("completed {other:?}"),
        };
        assert_eq!((queued(taken), queued(other)), (0, 1), "exactly one taken");
        assert_eq!(&ipcm.kernel().memory[READER].lock().unwrap()[..4], expected);
        assert!(!ipcm.is_pending(&READER));
    });
}

#[test]
fn select_withdrawal_racing_destroy_has_one_outcome() {
    model(|| {
        let ipcm = Arc::new(LoomIpcm::new(LoomKernel::default()));
        let a = ipcm
            .create(Caller::Kernel, None, 4, 1, PipeFlags::empty())
            .unwrap();
        let b = ipcm
            .create(Caller::Kernel, None, 4, 1, PipeFlags::empty())
            .unwrap();
        let group = ipcm::SelectGroup::shared().unwrap();
        let selector = {
            let (ipcm, group) = (ipcm.clone(), group.clone());
            loom::thread::spawn(move || select_ab(&ipcm, &group, a, b))
        };
        let destroyer = {
            let ipcm = ipcm.clone();
            loom::thread::spawn(move || ipcm.destroy(Caller::Kernel, b))
        };
        assert!(ipcm.kernel_write(a, b"AAAA").is_ok());
        assert_eq!(destroyer.join().unwrap(), Ok(()));
        let result = selector.join().unwrap();
        let queued_a = ipcm.info(a).unwrap().queued;
        match select_outcome(&ipcm, &group, result) {
            Ok((Some(0), Status::Ok)) => {
                assert_eq!(queued_a, 0);
                assert_eq!(&ipcm.kernel().memory[READER].lock().unwrap()[..4], b"AAAA");
            }
            Ok((Some(1), Status::Destroyed)) | Err(Status::NotFound) => {
                assert_eq!(queued_a, 1, "the read member of `a` never happened");
            }
            other => panic!("select ended with {other:?}"),
        }
        assert!(!ipcm.is_pending(&READER));
        assert_eq!(ipcm.info(a).unwrap().pending_readers, 0);
    });
}

/// The lock-free lookup by id (an id check on a type-stable header)
/// racing a destroy and a create that reuses the header for a pipe of
/// another size: the write reaches the old pipe or nothing, never the new
/// one, and its status says which.
#[test]
fn destroy_and_reuse_racing_a_by_id_write_never_reach_the_new_pipe() {
    model(|| {
        let (ipcm, old) = setup(1);
        let writer = {
            let ipcm = ipcm.clone();
            loom::thread::spawn(move || ipcm.try_write(&WRITER, old, MSG, 4))
        };
        assert_eq!(ipcm.destroy(Caller::Kernel, old), Ok(()));
        let new = ipcm
            .create(Caller::Kernel, None, 8, 2, PipeFlags::empty())
            .unwrap();
        let written = writer.join().unwrap();
        assert!(
            matches!(written, Ok(_) | Err(Status::NotFound | Status::Destroyed)),
            "{written:?}"
        );
        assert_eq!(
            format!("{old}").split('.').next(),
            format!("{new}").split('.').next(),
            "the header is reused"
        );
        let info = ipcm.info(new).unwrap();
        assert_eq!(
            (info.written, info.queued),
            (0, 0),
            "nothing reached the new pipe"
        );
        assert_eq!(ipcm.try_write(&WRITER, old, MSG, 4), Err(Status::NotFound));
    });
}

/// What a hosted runtime's thread does before it registers (`ipcm-host`'s
/// pre-registration poll): look at the outlook, and try a lock-free read
/// only when it looks ready. `None`: it saw nothing to take.
fn poll_once(ipcm: &LoomIpcm, handle: &ipcm::PipeRef<LoomRawMutex, LoomKernel>) -> Option<Vec<u8>> {
    if ipcm.outlook(handle, false) == ipcm::Outlook::NotYet {
        return None;
    }
    let mut buf = [0; 4];
    match ipcm.try_read_as(ProcessId(1), handle, &mut buf) {
        Ok(len) => Some(buf[..len].to_vec()),
        Err(Status::Empty) => None,
        Err(other) => panic!("a poll of a live pipe failed {other:?}"),
    }
}

#[test]
fn a_poller_never_takes_the_message_of_a_registered_reader() {
    model(|| {
        let (ipcm, pipe) = setup(2);
        let handle = ipcm.open(pipe).unwrap();
        // Registered before the write and the poll begin.
        let read = ipcm.read(&READER, &handle, MSG, LEN);
        assert!(matches!(read, Ok(Progress::Blocked(_))));
        let poller = {
            let ipcm = ipcm.clone();
            let handle = handle.clone();
            loom::thread::spawn(move || [poll_once(&ipcm, &handle), poll_once(&ipcm, &handle)])
        };
        let written = ipcm.write(&WRITER, &handle, MSG, 4);
        let polled = poller.join().unwrap();

        assert_eq!(outcome(&ipcm, WRITER, written), Status::Ok);
        assert_eq!(
            outcome(&ipcm, READER, read),
            Status::Ok,
            "the reader was served"
        );
        assert_eq!(message_of(&ipcm, READER, 4), b"ping");
        assert_eq!(polled, [None, None], "the poller took nothing");
        let info = ipcm.info(pipe).unwrap();
        assert_eq!((info.queued, info.written, info.read), (0, 1, 1));
    });
}

#[test]
fn a_lock_free_try_racing_a_slow_read_and_a_write_takes_the_message_once() {
    model(|| {
        let (ipcm, pipe) = setup(2);
        let handle = ipcm.open(pipe).unwrap();
        let reader = {
            let ipcm = ipcm.clone();
            let handle = handle.clone();
            loom::thread::spawn(move || ipcm.read(&READER, &handle, MSG, LEN))
        };
        let poller = {
            let ipcm = ipcm.clone();
            let handle = handle.clone();
            // A plain lock-free try (as any runtime's try_read): the race
            // below needs no outlook.
            loom::thread::spawn(move || {
                let mut buf = [0; 4];
                match ipcm.try_read_as(ProcessId(1), &handle, &mut buf) {
                    Ok(len) => Some(buf[..len].to_vec()),
                    Err(Status::Empty) => None,
                    Err(other) => panic!("a try of a live pipe failed {other:?}"),
                }
            })
        };
        let written = ipcm.write(&WRITER, &handle, MSG, 4);
        let polled = poller.join().unwrap();
        let read = reader.join().unwrap();
        settle(&ipcm);

        assert_eq!(outcome(&ipcm, WRITER, written), Status::Ok);
        let reader_got = outcome(&ipcm, READER, read) == Status::Ok;
        assert_eq!(
            usize::from(reader_got) + usize::from(polled.is_some()),
            1,
            "exactly one of them took it (reader {reader_got}, poller {polled:?})"
        );
        if let Some(msg) = polled {
            assert_eq!(msg, b"ping");
        } else {
            assert_eq!(message_of(&ipcm, READER, 4), b"ping");
        }
        let info = ipcm.info(pipe).unwrap();
        assert_eq!((info.queued, info.read, info.pending_readers), (0, 1, 0));
    });
}
