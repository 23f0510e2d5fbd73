//! Stress across OS threads: several writers and readers on one small pipe,
//! so that operations alternate between the lock-free fast path and the
//! slow path as waiters come and go. Checks conservation (every message
//! arrives exactly once, or was counted dropped), per-writer FIFO order as
//! each reader sees it, and that the pipe's counters agree.
//!
//! Never asserts a timing; the thread counts are small so that it stays
//! quick on a loaded machine.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;

use ipcm::{
    Caller, CancelReason, Fault, Ipcm, Kernel, PipeFlags, PipeId, ProcessId, Progress, Status,
    UserAddr,
};

/// Where each thread keeps its message and the length word.
const MSG: UserAddr = UserAddr(0);
const LEN: UserAddr = UserAddr(32);
const MSG_SIZE: usize = 16;

/// One thread's memory and its wake-up slot.
struct ThreadState {
    memory: Mutex<[u8; 64]>,
    woken: Mutex<Option<Status>>,
    wake: Condvar,
}

/// A kernel whose threads block on a condition variable until the IPC
/// manager wakes them.
struct StressKernel {
    threads: Vec<ThreadState>,
}

impl StressKernel {
    fn new(threads: usize) -> Self {
        StressKernel {
            threads: (0..threads)
                .map(|_| ThreadState {
                    memory: Mutex::new([0; 64]),
                    woken: Mutex::new(None),
                    wake: Condvar::new(),
                })
                .collect(),
        }
    }

    /// Wait for `thread`'s wake and return its status.
    fn wait(&self, thread: usize) -> Status {
        let state = &self.threads[thread];
        let mut woken = state.woken.lock().unwrap();
        loop {
            if let Some(status) = woken.take() {
                return status;
            }
            woken = state.wake.wait(woken).unwrap();
        }
    }
}

impl Kernel for StressKernel {
    type Thread = usize;

    fn copy_from_user(&self, t: &usize, src: UserAddr, dst: &mut [u8]) -> Result<(), Fault> {
        let memory = self.threads[*t].memory.lock().unwrap();
        dst.copy_from_slice(memory.get(src.0..src.0 + dst.len()).ok_or(Fault)?);
        Ok(())
    }

    fn copy_to_user(&self, t: &usize, dst: UserAddr, src: &[u8]) -> Result<(), Fault> {
        let mut memory = self.threads[*t].memory.lock().unwrap();
        memory
            .get_mut(dst.0..dst.0 + src.len())
            .ok_or(Fault)?
            .copy_from_slice(src);
        Ok(())
    }

    fn wake(&self, t: usize, status: Status) {
        let state = &self.threads[t];
        let mut woken = state.woken.lock().unwrap();
        assert!(woken.is_none(), "thread {t} woken twice");
        *woken = Some(status);
        state.wake.notify_one();
    }

    fn process_of(&self, _: &usize) -> ProcessId {
        ProcessId(1)
    }
}

type StressIpcm = Ipcm<spin::Mutex<()>, StressKernel>;

fn encode(writer: usize, seq: u64) -> [u8; MSG_SIZE] {
    let mut msg = [0; MSG_SIZE];
    msg[..8].copy_from_slice(&(writer as u64).to_ne_bytes());
    msg[8..].copy_from_slice(&seq.to_ne_bytes());
    msg
}

fn decode(msg: &[u8]) -> (usize, u64) {
    let writer = u64::from_ne_bytes(msg[..8].try_into().unwrap()) as usize;
    let seq = u64::from_ne_bytes(msg[8..16].try_into().unwrap());
    (writer, seq)
}

/// Write `seq` of `writer` (thread `writer`) and wait if it blocks.
/// Returns whether it dropped the oldest message.
fn write(ipcm: &StressIpcm, writer: usize, pipe: PipeId, seq: u64) -> bool {
    ipcm.kernel().threads[writer].memory.lock().unwrap()[..MSG_SIZE]
        .copy_from_slice(&encode(writer, seq));
    match ipcm.write(&writer, pipe, MSG, MSG_SIZE).unwrap() {
        Progress::Done(written) => written.dropped_oldest,
        Progress::Blocked(_) => {
            assert_eq!(ipcm.kernel().wait(writer), Status::Ok);
            false
        }
    }
}

/// Read as `reader`, blocking, or trying when `try_only`; `None` when
/// there was nothing (try) or the read was cancelled.
fn read(ipcm: &StressIpcm, reader: usize, pipe: PipeId, try_only: bool) -> Option<(usize, u64)> {
    let status = if try_only {
        match ipcm.try_read(&reader, pipe, MSG, LEN) {
            Ok(_) => Status::Ok,
            Err(Status::Empty) => return None,
            Err(other) => panic!("try_read: {other:?}"),
        }
    } else {
        match ipcm.read(&reader, pipe, MSG, LEN).unwrap() {
            Progress::Done(_) => Status::Ok,
            Progress::Blocked(_) => ipcm.kernel().wait(reader),
        }
    };
    match status {
        Status::Ok => {
            let memory = ipcm.kernel().threads[reader].memory.lock().unwrap();
            let len = usize::from_ne_bytes(memory[LEN.0..LEN.0 + 8].try_into().unwrap());
            assert_eq!(len, MSG_SIZE);
            Some(decode(&memory[..MSG_SIZE]))
        }
        Status::Cancelled => None,
        other => panic!("read woken with {other:?}"),
    }
}

struct Run {
    /// What each reader received, in order.
    received: Vec<Vec<(usize, u64)>>,
    /// How many writes reported dropping the oldest message.
    drops_reported: u64,
    info: ipcm::PipeInfo,
}

/// `writers` threads write `per_writer` messages each to one pipe of
/// `depth`, while `readers` threads read (blocking on odd turns, trying on
/// even ones) until the writers are done and the pipe is drained.
fn run(writers: usize, readers: usize, per_writer: u64, depth: usize, flags: PipeFlags) -> Run {
    let ipcm = Arc::new(StressIpcm::new(StressKernel::new(writers + readers)));
    let pipe = ipcm
        .create(Caller::Kernel, None, MSG_SIZE, depth, flags)
        .unwrap();
    let writing_done = Arc::new(AtomicBool::new(false));

    let reader_threads: Vec<_> = (0..readers)
        .map(|r| {
            let ipcm = ipcm.clone();
            let writing_done = writing_done.clone();
            let reader = writers + r;
            thread::spawn(move || {
                let mut got = Vec::new();
                let mut turn = 0u64;
                loop {
                    turn += 1;
                    let done = writing_done.load(Ordering::SeqCst);
                    match read(&ipcm, reader, pipe, done || turn.is_multiple_of(2)) {
                        Some(msg) => got.push(msg),
                        None if done => break,
                        None => {}
                    }
                }
                got
            })
        })
        .collect();
    let writer_threads: Vec<_> = (0..writers)
        .map(|writer| {
            let ipcm = ipcm.clone();
            thread::spawn(move || {
                (0..per_writer)
                    .map(|seq| u64::from(write(&ipcm, writer, pipe, seq)))
                    .sum::<u64>()
            })
        })
        .collect();
    let drops_reported = writer_threads.into_iter().map(|w| w.join().unwrap()).sum();
    writing_done.store(true, Ordering::SeqCst);
    // Readers still blocked have nothing left to wait for: cancel them
    // until all have left (a reader may block again before it sees the
    // flag).
    let mut received = Vec::new();
    for (r, handle) in reader_threads.into_iter().enumerate() {
        while !handle.is_finished() {
            let _ = ipcm.cancel(&(writers + r), CancelReason::Cancelled);
            thread::yield_now();
        }
        received.push(handle.join().unwrap());
    }
    let info = ipcm.info(pipe).unwrap();
    Run {
        received,
        drops_reported,
        info,
    }
}

/// Every reader saw each writer's messages in the order written, and no
/// message twice; returns how many arrived.
fn check_order_and_uniqueness(run: &Run, writers: usize) -> u64 {
    let mut seen = HashSet::new();
    for got in &run.received {
        let mut last = vec![None; writers];
        for &(writer, seq) in got {
            assert!(writer < writers, "a message from nowhere: {writer}");
            assert!(
                last[writer].is_none_or(|prev| prev < seq),
                "writer {writer}: {seq} after {:?}",
                last[writer]
            );
            last[writer] = Some(seq);
            assert!(seen.insert((writer, seq)), "{writer}/{seq} arrived twice");
        }
    }
    seen.len() as u64
}

#[test]
fn blocking_writers_and_readers_lose_nothing_and_keep_each_writers_order() {
    let (writers, readers, per_writer) = (3, 3, 20_000);
    let run = run(writers, readers, per_writer, 4, PipeFlags::empty());
    let arrived = check_order_and_uniqueness(&run, writers);
    assert_eq!(arrived, writers as u64 * per_writer, "conservation");
    assert_eq!(run.drops_reported, 0);
    assert_eq!(run.info.written, arrived);
    assert_eq!(run.info.read, arrived);
    assert_eq!((run.info.queued, run.info.dropped), (0, 0));
    assert_eq!(run.info.pending_readers + run.info.pending_writers, 0);
}

#[test]
fn discard_oldest_under_contention_counts_every_drop_once() {
    let (writers, readers, per_writer) = (3, 2, 20_000);
    let run = run(writers, readers, per_writer, 2, PipeFlags::DISCARD_OLDEST);
    let arrived = check_order_and_uniqueness(&run, writers);
    let written = writers as u64 * per_writer;
    assert_eq!(run.info.written, written);
    assert_eq!(run.info.read, arrived);
    assert_eq!(run.info.queued, 0, "the readers drained it");
    assert_eq!(
        arrived + run.info.dropped,
        written,
        "every message was read or dropped"
    );
    assert_eq!(
        run.drops_reported, run.info.dropped,
        "each drop reported by exactly one write"
    );
}

/// The lock-free lookup by id against slot reuse: one thread destroys
/// and re-creates pipes in the same slot (alternating sizes) while others
/// keep writing and reading by the first pipe's id and through a handle to
/// it. Every call on the stale pipe ends `NotFound` (by id) or
/// `Destroyed` (handle) once it is gone, and no later pipe of the slot
/// ever sees a message or a waiter.
#[test]
fn stale_ids_and_handles_never_reach_the_next_pipe_of_their_slot() {
    let ipcm = Arc::new(StressIpcm::new(StressKernel::new(4)));
    let old = ipcm
        .create(Caller::Kernel, None, MSG_SIZE, 2, PipeFlags::empty())
        .unwrap();
    let handle = ipcm.open(old).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let hammer = |thread: usize, by_handle: bool| {
        let (ipcm, handle, stop) = (ipcm.clone(), handle.clone(), stop.clone());
        thread::spawn(move || {
            let gone = if by_handle {
                Status::Destroyed
            } else {
                Status::NotFound
            };
            let mut rounds = 0u64;
            while !stop.load(Ordering::Relaxed) || rounds < 1000 {
                rounds += 1;
                let (written, read) = if by_handle {
                    (
                        ipcm.try_write(&thread, &handle, MSG, MSG_SIZE),
                        ipcm.try_read(&thread, &handle, MSG, LEN),
                    )
                } else {
                    (
                        ipcm.try_write(&thread, old, MSG, MSG_SIZE),
                        ipcm.try_read(&thread, old, MSG, LEN),
                    )
                };
                assert!(
                    matches!(written, Ok(_) | Err(Status::Full | Status::Destroyed))
                        || written == Err(gone),
                    "{written:?}"
                );
                assert!(
                    matches!(read, Ok(_) | Err(Status::Empty | Status::Destroyed))
                        || read == Err(gone),
                    "{read:?}"
                );
                // A blocking read never waits on a later pipe.
                if rounds.is_multiple_of(16) {
                    match ipcm.read(&thread, old, MSG, LEN) {
                        Ok(Progress::Blocked(_)) => {
                            let _ = ipcm.cancel(&thread, CancelReason::Cancelled);
                            let _ = ipcm.kernel().wait(thread);
                        }
                        Ok(Progress::Done(_)) => {}
                        Err(status) => {
                            assert!(matches!(status, Status::NotFound | Status::Destroyed))
                        }
                    }
                }
            }
        })
    };
    let workers = [hammer(1, false), hammer(2, true), hammer(3, false)];
    thread::sleep(std::time::Duration::from_millis(5));
    ipcm.destroy(Caller::Kernel, old).unwrap();
    let mut reused = 0;
    for round in 0..2000 {
        let size = if round % 2 == 0 { 8 } else { MSG_SIZE * 2 };
        let new = ipcm
            .create(
                Caller::Kernel,
                None,
                size,
                1 + round % 3,
                PipeFlags::empty(),
            )
            .unwrap();
        if new.to_raw() & 0xffff_ffff == old.to_raw() & 0xffff_ffff {
            reused += 1;
        }
        let info = ipcm.info(new).unwrap();
        assert_eq!(
            (info.written, info.pending_readers, info.pending_writers),
            (0, 0, 0),
            "round {round}: a stale call reached {new}"
        );
        ipcm.destroy(Caller::Kernel, new).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.join().unwrap();
    }
    assert!(reused > 0, "the slot was never reused");
}
