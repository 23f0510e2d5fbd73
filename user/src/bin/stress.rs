//! SMP stress (scenario `smp-stress`): processes on every CPU move
//! 100,000 messages through one shared pipe, with blocking, timeouts, a
//! discard-oldest board and a process killed mid-run. The role is the
//! argument:
//! - 0, the hub: owns the pipes; three reader threads count every
//!   message per writer (count, sum and sum of squares of its sequence
//!   numbers, and whether one ever went backwards); once every writer is
//!   done it stops the readers, waits until no operation is pending on its
//!   pipes and prints their counters.
//! - 1, 2: two writer threads each, 25,000 messages `(writer, seq)` apiece,
//!   every write with a one-tick timeout, retried (a timed-out write wrote
//!   nothing, so order is kept).
//! - 3: a discard-oldest board: one thread publishes 2,000 increasing
//!   values without ever blocking, one reads them with a timeout and counts
//!   any that went backwards.
//! - 4, the victim: blocks reading a pipe nobody writes and writing into a
//!   full one, then its main thread spins until the kernel kills it at its
//!   CPU budget; both pending operations must be cancelled.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicBool, Ordering};
use lukos_user::{Pipe, flags, pair_from_bytes, pair_to_bytes, println, sleep, spawn, timeout};

lukos_user::entry!(main);

/// Writer threads (two per writer process).
const WRITERS: usize = 4;
/// Messages each writer sends.
const PER_WRITER: u64 = 25_000;
/// Reader threads in the hub.
const READERS: u64 = 3;
/// Values the board publishes.
const BOARD_VALUES: u64 = 2_000;
/// Done notes the hub waits for: every writer and both board threads.
const DONE_NOTES: usize = WRITERS + 2;
/// The writer id of a stop message.
const STOP: u64 = u64::MAX;

/// Set by a process's second thread when it has finished (its main thread
/// waits for it: a process ends when its main thread returns).
static HELPER_DONE: AtomicBool = AtomicBool::new(false);

fn main(role: u64) {
    match role {
        0 => hub(),
        1 | 2 => {
            let first = (role - 1) * 2;
            spawn(writer_thread, first + 1, 2).expect("spawn writer");
            writer(first);
            wait_helper();
        }
        3 => {
            spawn(board_reader, 0, 2).expect("spawn board reader");
            board_writer();
            wait_helper();
        }
        _ => victim(),
    }
}

fn wait_helper() {
    while !HELPER_DONE.load(Ordering::Acquire) {
        sleep(1);
    }
}

fn done() {
    let note = Pipe::wait_for("stress-done");
    if let Err(status) = note.write(&[0u8; 8], timeout::FOREVER) {
        println!("STRESS done note failed: {status}");
    }
}

fn hub() {
    let shared = Pipe::create("stress-a", 16, 8, 0).expect("create stress-a");
    let notes = Pipe::create("stress-done", 8, 8, 0).expect("create stress-done");
    let readers_done = Pipe::create("stress-rdone", 8, 4, 0).expect("create stress-rdone");
    let board = Pipe::create("stress-board", 16, 4, flags::DISCARD_OLDEST).expect("board");
    let sink = Pipe::create("stress-sink", 8, 1, 0).expect("create stress-sink");
    let empty = Pipe::create("stress-empty", 8, 1, 0).expect("create stress-empty");
    for r in 0..READERS {
        spawn(reader, r, 2).expect("spawn reader");
    }
    let mut note = [0u8; 8];
    for _ in 0..DONE_NOTES {
        notes.read(&mut note, timeout::FOREVER).expect("done note");
    }
    println!("STRESS hub stopping readers");
    for _ in 0..READERS {
        shared
            .write(&pair_to_bytes(STOP, 0), timeout::FOREVER)
            .expect("stop");
    }
    for _ in 0..READERS {
        readers_done
            .read(&mut note, timeout::FOREVER)
            .expect("reader done");
    }
    // The victim's cancelled operations must be gone too: wait (by state,
    // not by time) until nothing is pending anywhere.
    let pipes = [
        ("stress-a", shared),
        ("stress-done", notes),
        ("stress-rdone", readers_done),
        ("stress-board", board),
        ("stress-sink", sink),
        ("stress-empty", empty),
    ];
    let pending = |p: Pipe| {
        let i = p.info().expect("info");
        i.pending_readers + i.pending_peekers + i.pending_writers
    };
    while pipes.iter().any(|&(_, p)| pending(p) != 0) {
        sleep(1);
    }
    for (name, pipe) in pipes {
        let i = pipe.info().expect("info");
        println!(
            "STRESS pipe name={name} pending_readers={} pending_peekers={} pending_writers={} queued={} written={} read={} dropped={}",
            i.pending_readers,
            i.pending_peekers,
            i.pending_writers,
            i.queued,
            i.written,
            i.read,
            i.dropped
        );
    }
    println!("STRESS done");
}

fn reader(r: u64) {
    let shared = Pipe::wait_for("stress-a");
    let empty = Pipe::wait_for("stress-empty");
    let mut buf = [0u8; 16];
    // A timeout on a pipe nobody writes: TIMED_OUT, nothing read.
    match empty.read(&mut buf, 1) {
        Err(status) if status.0 == lukos_user::status::TIMED_OUT => {}
        other => {
            println!("STRESS reader r={r} empty read gave {other:?} failed: expected TIMED_OUT")
        }
    }
    let mut count = [0u64; WRITERS];
    let mut sum = [0u64; WRITERS];
    let mut squares = [0u64; WRITERS];
    let mut last: [Option<u64>; WRITERS] = [None; WRITERS];
    let mut backwards = 0u64;
    let mut timeouts = 0u64;
    loop {
        match shared.read(&mut buf, 2) {
            Ok(_) => {
                let (writer, seq) = pair_from_bytes(&buf);
                if writer == STOP {
                    break;
                }
                let Some(w) = usize::try_from(writer).ok().filter(|&w| w < WRITERS) else {
                    println!("STRESS reader r={r} bad writer {writer} failed:");
                    continue;
                };
                if last[w].is_some_and(|l| seq <= l) {
                    backwards += 1;
                }
                last[w] = Some(seq);
                count[w] += 1;
                sum[w] = sum[w].wrapping_add(seq);
                squares[w] = squares[w].wrapping_add(seq.wrapping_mul(seq));
            }
            Err(status) if status.0 == lukos_user::status::TIMED_OUT => timeouts += 1,
            Err(status) => {
                println!("STRESS reader r={r} read failed: {status}");
                break;
            }
        }
    }
    for w in 0..WRITERS {
        println!(
            "STRESS got r={r} w={w} count={} sum={} squares={}",
            count[w], sum[w], squares[w]
        );
    }
    println!("STRESS reader r={r} backwards={backwards} timeouts={timeouts}");
    let readers_done = Pipe::wait_for("stress-rdone");
    readers_done
        .write(&r.to_le_bytes(), timeout::FOREVER)
        .expect("reader done");
}

fn writer_thread(w: u64) {
    writer(w);
    HELPER_DONE.store(true, Ordering::Release);
}

fn writer(w: u64) {
    let shared = Pipe::wait_for("stress-a");
    let mut timeouts = 0u64;
    for seq in 0..PER_WRITER {
        loop {
            match shared.write(&pair_to_bytes(w, seq), 1) {
                Ok(()) => break,
                Err(status) if status.0 == lukos_user::status::TIMED_OUT => timeouts += 1,
                Err(status) => {
                    println!("STRESS writer w={w} seq={seq} failed: {status}");
                    return;
                }
            }
        }
    }
    println!("STRESS writer w={w} sent={PER_WRITER} timeouts={timeouts}");
    done();
}

fn board_writer() {
    let board = Pipe::wait_for("stress-board");
    for v in 1..=BOARD_VALUES {
        let last = u64::from(v == BOARD_VALUES);
        // Discard-oldest: a full board drops its oldest value, never blocks.
        if let Err(status) = board.write(&pair_to_bytes(v, last), 0) {
            println!("STRESS board write v={v} failed: {status}");
        }
    }
    println!("STRESS board published={BOARD_VALUES}");
    done();
}

fn board_reader(_arg: u64) {
    let board = Pipe::wait_for("stress-board");
    let mut buf = [0u8; 16];
    let (mut got, mut backwards, mut newest) = (0u64, 0u64, 0u64);
    loop {
        match board.read(&mut buf, 1) {
            Ok(_) => {
                let (v, last) = pair_from_bytes(&buf);
                got += 1;
                if v <= newest {
                    backwards += 1;
                }
                newest = v;
                if last == 1 {
                    break;
                }
            }
            Err(status) if status.0 == lukos_user::status::TIMED_OUT => {}
            Err(status) => {
                println!("STRESS board read failed: {status}");
                break;
            }
        }
    }
    println!("STRESS board-reader got={got} backwards={backwards} newest={newest}");
    done();
    HELPER_DONE.store(true, Ordering::Release);
}

fn victim() {
    spawn(victim_reader, 0, 2).expect("spawn reader");
    spawn(victim_sink_writer, 0, 2).expect("spawn sink writer");
    // Spin only once both are blocked (by state, not by time: a slow vCPU
    // must not let the budget run out first).
    let sink = Pipe::wait_for("stress-sink");
    let empty = Pipe::wait_for("stress-empty");
    while sink.info().map_or(0, |i| i.pending_writers) == 0
        || empty.info().map_or(0, |i| i.pending_readers) == 0
    {
        sleep(1);
    }
    println!("STRESS victim spinning");
    let mut x = 0u64;
    loop {
        x = core::hint::black_box(x.wrapping_add(1));
    }
}

fn victim_reader(_arg: u64) {
    // Nobody writes this pipe: the read is pending when the kernel kills
    // the process (and must then be cancelled).
    let empty = Pipe::wait_for("stress-empty");
    let mut buf = [0u8; 8];
    let _ = empty.read(&mut buf, timeout::FOREVER);
}

fn victim_sink_writer(_arg: u64) {
    let sink = Pipe::wait_for("stress-sink");
    // The second write blocks for ever (depth 1, nobody reads): pending
    // when the kernel kills the process.
    for _ in 0..2 {
        if sink.write(&[1u8; 8], timeout::FOREVER).is_err() {
            break;
        }
    }
}
