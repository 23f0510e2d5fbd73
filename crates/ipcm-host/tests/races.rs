//! Races between threads, pinned down: every operation has exactly one
//! outcome, timeouts lose nothing, destroy wakes everybody.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use ipcm_host::{Error, Ipc, Pipe};

const ROUNDS: usize = 300;

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < give_up, "never happened: {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// A short timeout, different each round, so that the timeout lands
/// before, during and after the other thread's operation.
fn timeout(round: usize) -> Duration {
    Duration::from_micros((round % 17) as u64 * 20)
}

/// Wait a little (varying with `round`, out of step with [`timeout`])
/// before the racing operation. Sleeps rather than spins: on a loaded
/// machine a spinning thread keeps the other one from running at all.
fn stagger(round: usize) {
    match round % 3 {
        0 => {}
        1 => thread::yield_now(),
        _ => thread::sleep(Duration::from_micros((round % 23) as u64 * 15)),
    }
}

#[test]
fn a_read_that_times_out_never_consumed_a_message() {
    let ipc = Ipc::new();
    let pipe = ipc.pipe(8, 1).create().unwrap();
    let start = Arc::new(Barrier::new(2));
    let reader = {
        let (pipe, start) = (pipe.clone(), Arc::clone(&start));
        thread::spawn(move || {
            (0..ROUNDS)
                .map(|round| {
                    start.wait();
                    let mut buf = [0; 8];
                    let result = pipe.read_timeout(&mut buf, timeout(round));
                    start.wait(); // the main thread checks the pipe now
                    result.map(|len| buf[..len].to_vec())
                })
                .collect::<Vec<_>>()
        })
    };
    let mut left_in_pipe = Vec::new();
    for round in 0..ROUNDS {
        start.wait();
        stagger(round);
        pipe.write(&round.to_ne_bytes()).unwrap();
        start.wait();
        let mut left = [0; 8];
        left_in_pipe.push(pipe.try_read(&mut left).map(|_| left));
    }
    let outcomes = reader.join().unwrap();
    let mut timed_out = 0;
    for (round, (outcome, left)) in outcomes.into_iter().zip(left_in_pipe).enumerate() {
        match outcome {
            Ok(msg) => {
                assert_eq!(msg, round.to_ne_bytes());
                assert_eq!(left, Err(Error::Empty), "round {round}: read twice");
            }
            Err(Error::TimedOut) => {
                timed_out += 1;
                assert_eq!(left, Ok(round.to_ne_bytes()), "round {round}: message lost");
            }
            Err(other) => panic!("unexpected {other}"),
        }
    }
    let info = pipe.info().unwrap();
    assert_eq!((info.written, info.read), (ROUNDS as u64, ROUNDS as u64));
    // Both outcomes should occur; report rather than assert (timing).
    eprintln!(
        "read races: {} completed, {timed_out} timed out",
        ROUNDS - timed_out
    );
}

#[test]
fn a_write_that_times_out_never_wrote() {
    let ipc = Ipc::new();
    let pipe = ipc.pipe(8, 1).create().unwrap();
    let start = Arc::new(Barrier::new(2));
    let writer = {
        let (pipe, start) = (pipe.clone(), Arc::clone(&start));
        thread::spawn(move || {
            (0..ROUNDS)
                .map(|round| {
                    start.wait();
                    let result = pipe.write_timeout(&round.to_ne_bytes(), timeout(round));
                    start.wait();
                    result.map(|_| ())
                })
                .collect::<Vec<_>>()
        })
    };
    let mut left_in_pipe = Vec::new();
    for round in 0..ROUNDS {
        pipe.write(b"filler").unwrap();
        start.wait();
        stagger(round);
        let mut buf = [0; 8];
        assert_eq!(pipe.read(&mut buf), Ok(6));
        start.wait();
        left_in_pipe.push(pipe.try_read(&mut buf).map(|_| buf));
    }
    let outcomes = writer.join().unwrap();
    let mut timed_out = 0;
    for (round, (outcome, left)) in outcomes.into_iter().zip(left_in_pipe).enumerate() {
        match outcome {
            Ok(()) => assert_eq!(left, Ok(round.to_ne_bytes()), "round {round}: write lost"),
            Err(Error::TimedOut) => {
                timed_out += 1;
                assert_eq!(
                    left,
                    Err(Error::Empty),
                    "round {round}: a timed-out write wrote"
                );
            }
            Err(other) => panic!("unexpected {other}"),
        }
    }
    let info = pipe.info().unwrap();
    assert_eq!(info.written, (2 * ROUNDS - timed_out) as u64);
    eprintln!(
        "write races: {} completed, {timed_out} timed out",
        ROUNDS - timed_out
    );
}

#[test]
fn destroy_wakes_every_blocked_thread_with_destroyed() {
    let ipc = Ipc::new();
    let empty = ipc.pipe(4, 1).create().unwrap();
    let full = ipc.pipe(4, 1).create().unwrap();
    full.write(b"x").unwrap();
    let mut waiting = Vec::new();
    for i in 0..3 {
        let pipe = empty.clone();
        waiting.push(thread::spawn(move || {
            let mut buf = [0; 4];
            if i == 0 {
                pipe.peek(&mut buf)
            } else {
                pipe.read(&mut buf)
            }
            .map(|_| ())
        }));
        let pipe = full.clone();
        waiting.push(thread::spawn(move || pipe.write(b"y").map(|_| ())));
    }
    // Timed waiters too: destroy wins over their (long) timeouts.
    let pipe = empty.clone();
    waiting.push(thread::spawn(move || {
        pipe.read_timeout(&mut [0; 4], Duration::from_secs(600))
            .map(|_| ())
    }));
    wait_until("everyone waits", || {
        let (e, f) = (empty.info().unwrap(), full.info().unwrap());
        e.pending_readers + e.pending_peekers == 4 && f.pending_writers == 3
    });
    empty.destroy().unwrap();
    full.destroy().unwrap();
    for thread in waiting {
        assert_eq!(thread.join().unwrap(), Err(Error::Destroyed));
    }
}

#[test]
fn dropping_a_handle_while_another_thread_waits_on_the_pipe_is_safe() {
    let ipc = Ipc::new();
    let pipe = ipc.pipe(8, 1).name("drop-me").create().unwrap();
    let reader = {
        let pipe = pipe.clone();
        thread::spawn(move || {
            let mut buf = [0; 8];
            let len = pipe.read(&mut buf)?;
            Ok::<_, Error>(buf[..len].to_vec())
        })
    };
    wait_until("reader waits", || pipe.info().unwrap().pending_readers == 1);
    let id = pipe.id();
    drop(pipe);
    drop(ipc.clone());
    // The pipe lives on: the waiting thread's handle keeps it.
    let writer = ipc.open_id(id).unwrap();
    writer.write(b"still").unwrap();
    assert_eq!(reader.join().unwrap().unwrap(), b"still");
}

#[test]
fn dropping_the_ipc_while_threads_wait_is_safe() {
    let pipe = {
        let ipc = Ipc::new();
        ipc.pipe(8, 1).create().unwrap()
    };
    let reader = {
        let pipe = pipe.clone();
        thread::spawn(move || pipe.read(&mut [0; 8]))
    };
    wait_until("reader waits", || pipe.info().unwrap().pending_readers == 1);
    pipe.write(b"ok").unwrap();
    assert_eq!(reader.join().unwrap(), Ok(2));
}

#[test]
fn destroy_racing_blocked_and_timed_operations_gives_each_one_outcome() {
    for round in 0..100 {
        let ipc = Ipc::new();
        let pipe = ipc.pipe(8, 1).create().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..2)
            .map(|i| {
                let pipe: Pipe = pipe.clone();
                thread::spawn(move || {
                    let mut got = 0;
                    loop {
                        let result = if i == 0 {
                            pipe.read(&mut [0; 8])
                        } else {
                            pipe.read_timeout(&mut [0; 8], timeout(round))
                        };
                        match result {
                            Ok(_) => got += 1,
                            Err(Error::TimedOut) => {}
                            Err(Error::Destroyed) => return got,
                            Err(other) => panic!("unexpected {other}"),
                        }
                    }
                })
            })
            .collect();
        let writer = {
            let (pipe, stop) = (pipe.clone(), Arc::clone(&stop));
            thread::spawn(move || {
                let mut sent = 0;
                while !stop.load(Ordering::Relaxed) {
                    match pipe.write_timeout(b"m", timeout(round)) {
                        Ok(_) => sent += 1,
                        Err(Error::TimedOut) => {}
                        Err(Error::Destroyed) => break,
                        Err(other) => panic!("unexpected {other}"),
                    }
                }
                sent
            })
        };
        thread::sleep(Duration::from_micros(200));
        pipe.destroy().unwrap();
        stop.store(true, Ordering::Relaxed);
        let sent: u64 = writer.join().unwrap();
        let got: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
        // Destroy releases at most one queued message.
        assert!(
            got == sent || got + 1 == sent,
            "sent {sent}, received {got}"
        );
    }
}

/// Timed peeks racing writes that each owe several wakes (one per pending
/// peeker). A peeker whose timeout fires cancels its operation; its wake
/// then often comes from the writer still draining the wakes it owes, after
/// the cancel returned. A wait that returned on its cancel alone, without
/// that wake, would see the wake land in its next call: that call returns
/// at once while its operation stays pending (then `AlreadyPending`, or a
/// completion into buffers it no longer lends).
#[test]
fn timed_peeks_wait_for_their_own_wake_when_every_write_owes_several() {
    const PEEKERS: usize = 4;
    const WRITES: u64 = 3_000;
    let ipc = Ipc::new();
    let pipe = ipc.pipe(8, 1).create().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let peekers: Vec<_> = (0..PEEKERS)
        .map(|peeker| {
            let (pipe, stop) = (pipe.clone(), Arc::clone(&stop));
            thread::spawn(move || {
                let (mut seen, mut timed_out, mut last) = (0_u64, 0_u64, 0_u64);
                let mut round = peeker;
                while !stop.load(Ordering::Relaxed) {
                    round += 1;
                    let mut buf = [0; 8];
                    match pipe.peek_timeout(&mut buf, timeout(round)) {
                        Ok(len) => {
                            assert_eq!(len, 8, "peeker {peeker}: a short message");
                            let value = u64::from_ne_bytes(buf);
                            assert!(
                                (1..=WRITES).contains(&value) && value >= last,
                                "peeker {peeker}: saw {value} after {last}"
                            );
                            (seen, last) = (seen + 1, value);
                        }
                        Err(Error::TimedOut) => timed_out += 1,
                        Err(other) => panic!("peeker {peeker}: {other}"),
                    }
                }
                (seen, timed_out)
            })
        })
        .collect();
    for value in 1..=WRITES {
        pipe.write(&value.to_ne_bytes()).unwrap();
        if value % 8 == 0 {
            thread::yield_now();
        }
        assert_eq!(pipe.read(&mut [0; 8]), Ok(8));
    }
    stop.store(true, Ordering::Relaxed);
    let outcomes: Vec<(u64, u64)> = peekers.into_iter().map(|p| p.join().unwrap()).collect();
    let info = pipe.info().unwrap();
    assert_eq!(info.pending_peekers, 0);
    assert_eq!((info.written, info.read), (WRITES, WRITES));
    eprintln!("peeks (completed, timed out) per peeker: {outcomes:?}");
}
