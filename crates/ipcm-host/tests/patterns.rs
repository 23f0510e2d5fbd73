//! The three usage patterns as typed helpers, across threads.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use bytemuck::{Pod, Zeroable};
use ipcm_host::{Access, Blackboard, Error, Ipc, MessagePipe, OnFull, TokenSemaphore};

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < give_up, "never happened: {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn semaphore_never_admits_more_than_n_holders() {
    const PERMITS: usize = 3;
    let ipc = Ipc::new();
    let semaphore = TokenSemaphore::create(&ipc, Some("slots"), PERMITS).unwrap();
    let holders = Arc::new(AtomicUsize::new(0));
    let high_water = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let semaphore = TokenSemaphore::open(&ipc, "slots").unwrap();
            let (holders, high_water) = (Arc::clone(&holders), Arc::clone(&high_water));
            thread::spawn(move || {
                for round in 0..300 {
                    let permit = match (i + round) % 3 {
                        0 => semaphore.acquire().unwrap(),
                        1 => loop {
                            match semaphore.acquire_timeout(Duration::from_micros(30)) {
                                Ok(permit) => break permit,
                                Err(error) => assert_eq!(error, Error::TimedOut),
                            }
                        },
                        _ => loop {
                            match semaphore.try_acquire() {
                                Ok(permit) => break permit,
                                Err(error) => assert_eq!(error, Error::Empty),
                            }
                            thread::yield_now();
                        },
                    };
                    let now = holders.fetch_add(1, Ordering::SeqCst) + 1;
                    high_water.fetch_max(now, Ordering::SeqCst);
                    if round % 7 == 0 {
                        thread::yield_now();
                    }
                    holders.fetch_sub(1, Ordering::SeqCst);
                    if round % 2 == 0 {
                        permit.release().unwrap();
                    } else {
                        drop(permit);
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let most = high_water.load(Ordering::SeqCst);
    assert!((1..=PERMITS).contains(&most), "{most} holders at once");
    assert_eq!(semaphore.available().unwrap(), PERMITS);
    eprintln!("semaphore high-water mark: {most} of {PERMITS}");
}

#[test]
fn semaphore_release_without_acquire_is_full_not_a_silent_cap() {
    let ipc = Ipc::new();
    let semaphore = TokenSemaphore::create(&ipc, None, 2).unwrap();
    assert_eq!(semaphore.permits(), 2);
    let permit = semaphore.acquire().unwrap();
    // A token forged through the raw pipe refills it.
    semaphore.pipe().try_write(&[1]).unwrap();
    assert_eq!(permit.release(), Err(Error::Full));
    assert_eq!(semaphore.available().unwrap(), 2);
}

#[test]
fn semaphore_waiter_gets_the_released_token() {
    let ipc = Ipc::new();
    let semaphore = TokenSemaphore::create(&ipc, Some("one"), 1).unwrap();
    let permit = semaphore.acquire().unwrap();
    let waiter = {
        let semaphore = semaphore.clone();
        thread::spawn(move || semaphore.acquire().map(|permit| permit.release()))
    };
    wait_until("waiter waits", || {
        semaphore.pipe().info().unwrap().pending_readers == 1
    });
    drop(permit);
    waiter.join().unwrap().unwrap().unwrap();
    assert_eq!(semaphore.available().unwrap(), 1);
}

#[test]
fn semaphore_destroyed_while_waiting_and_bad_open() {
    let ipc = Ipc::new();
    let semaphore = TokenSemaphore::create(&ipc, Some("gone"), 1).unwrap();
    let _permit = semaphore.acquire().unwrap();
    let waiter = {
        let semaphore = semaphore.clone();
        thread::spawn(move || semaphore.acquire().map(|_| ()))
    };
    wait_until("waiter waits", || {
        semaphore.pipe().info().unwrap().pending_readers == 1
    });
    semaphore.pipe().destroy().unwrap();
    assert_eq!(waiter.join().unwrap(), Err(Error::Destroyed));
    let _kept = ipc.pipe(4, 1).name("wide").create().unwrap();
    assert!(matches!(
        TokenSemaphore::open(&ipc, "wide"),
        Err(Error::BadParam { .. })
    ));
    assert!(matches!(
        TokenSemaphore::create(&ipc, None, 0),
        Err(Error::BadParam { .. })
    ));
}

#[test]
fn blackboard_returns_the_freshest_value_written_before_the_read_started() {
    let ipc = Ipc::new();
    let board: Blackboard<u64> = Blackboard::create(&ipc, Some("counter")).unwrap();
    // The value of the last publish that returned.
    let published = Arc::new(AtomicU64::new(0));
    const LAST: u64 = 20_000;
    let publisher = {
        let (board, published) = (board.clone(), Arc::clone(&published));
        thread::spawn(move || {
            for value in 1..=LAST {
                let version = board.publish(&value).unwrap();
                assert_eq!(version, value);
                published.store(value, Ordering::SeqCst);
            }
        })
    };
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let board: Blackboard<u64> = Blackboard::open(&ipc, "counter").unwrap();
            let published = Arc::clone(&published);
            thread::spawn(move || {
                let mut last_seen = 0;
                while last_seen < LAST {
                    let floor = published.load(Ordering::SeqCst);
                    let Some(snapshot) = board.latest().unwrap() else {
                        assert_eq!(floor, 0);
                        continue;
                    };
                    assert!(
                        snapshot.value >= floor,
                        "{} older than {floor}",
                        snapshot.value
                    );
                    assert!(snapshot.value >= last_seen, "went back in time");
                    assert_eq!(snapshot.version, snapshot.value);
                    last_seen = snapshot.value;
                }
            })
        })
        .collect();
    publisher.join().unwrap();
    for reader in readers {
        reader.join().unwrap();
    }
    let info = board.pipe().info().unwrap();
    assert_eq!(
        (info.queued, info.written, info.dropped),
        (1, LAST, LAST - 1)
    );
}

#[test]
fn blackboard_wait_newer_sees_every_publication_it_waits_for() {
    let ipc = Ipc::new();
    let board: Blackboard<[u8; 3]> = Blackboard::create(&ipc, None).unwrap();
    let waiter = {
        let board = board.clone();
        thread::spawn(move || {
            let mut seen = 0;
            let mut versions = Vec::new();
            while seen < 200 {
                let snapshot = board.wait_newer(seen).unwrap();
                assert!(snapshot.version > seen);
                assert_eq!(snapshot.value, [snapshot.version as u8; 3]);
                seen = snapshot.version;
                versions.push(seen);
            }
            versions
        })
    };
    for version in 1..=200_u64 {
        board.publish(&[version as u8; 3]).unwrap();
        if version % 10 == 0 {
            thread::yield_now();
        }
    }
    let versions = waiter.join().unwrap();
    assert_eq!(versions.last(), Some(&200));
    assert_eq!(
        board.wait_newer_timeout(200, Duration::from_millis(2)),
        Err(Error::TimedOut)
    );
    assert_eq!(board.wait_newer(199).unwrap().version, 200);
}

/// Run `f` on its own thread and return its result, or `None` if it has
/// not returned within 20 s: a hang fails the test instead of stalling
/// the suite (the thread is left behind).
fn within_20_s<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> Option<R> {
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || tx.send(f()));
    rx.recv_timeout(Duration::from_secs(20)).ok()
}

#[test]
fn blackboard_wait_newer_timeout_times_out_when_the_value_was_taken_through_the_pipe() {
    let ipc = Ipc::new();
    let board: Blackboard<u32> = Blackboard::create(&ipc, None).unwrap();
    board.publish(&7).unwrap();
    // The published counter (1) is now ahead of what the pipe holds (none).
    assert_eq!(board.pipe().read(&mut [0; 12]), Ok(12));
    let waiter = board.clone();
    let outcome = within_20_s(move || waiter.wait_newer_timeout(0, Duration::from_millis(50)));
    assert_eq!(
        outcome,
        Some(Err(Error::TimedOut)),
        "None: it never returned"
    );
    // And the next publication still wakes a waiter.
    let waiter = board.clone();
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let waiting = thread::spawn(move || {
        started_tx.send(()).unwrap();
        waiter.wait_newer(0).map(|s| (s.version, s.value))
    });
    started_rx.recv().unwrap();
    board.publish(&8).unwrap();
    assert_eq!(waiting.join().unwrap(), Ok((2, 8)));
}

#[test]
fn blackboard_destroy_wakes_waiting_readers() {
    let ipc = Ipc::new();
    let board: Blackboard<u32> = Blackboard::create(&ipc, Some("b")).unwrap();
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let board = board.clone();
            thread::spawn(move || board.wait_newer(0).map(|s| s.value))
        })
        .collect();
    thread::sleep(Duration::from_millis(20));
    board.destroy().unwrap();
    for waiter in waiters {
        assert_eq!(waiter.join().unwrap(), Err(Error::Destroyed));
    }
    assert_eq!(board.latest(), Err(Error::Destroyed));
}

#[test]
fn blackboard_owner_writes_others_read_and_type_is_checked() {
    let owner = Ipc::new();
    let pipe = owner
        .pipe(4 + 8, 1)
        .name("pos")
        .on_full(OnFull::DiscardOldest)
        .access(Access::OwnerWrites)
        .create()
        .unwrap();
    let board: Blackboard<u32> = Blackboard::from_pipe(pipe).unwrap();
    board.publish(&7).unwrap();
    let other = owner.new_process();
    let theirs: Blackboard<u32> = Blackboard::open(&other, "pos").unwrap();
    assert_eq!(theirs.publish(&8), Err(Error::Denied));
    assert_eq!(theirs.latest().unwrap().map(|s| s.value), Some(7));
    assert!(matches!(
        Blackboard::<u64>::open(&other, "pos"),
        Err(Error::BadParam { .. })
    ));
    let _kept = owner.pipe(12, 2).name("deep").create().unwrap();
    assert!(matches!(
        Blackboard::<u32>::open(&owner, "deep"),
        Err(Error::BadParam { .. })
    ));
}

#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
struct Reading {
    sensor: u32,
    seq: u32,
    value: f64,
}

#[test]
fn message_pipe_moves_whole_values_in_order() {
    let ipc = Ipc::new();
    let pipe: MessagePipe<Reading> = MessagePipe::create(&ipc, Some("readings"), 4).unwrap();
    let consumer = {
        let pipe: MessagePipe<Reading> = MessagePipe::open(&ipc.new_process(), "readings").unwrap();
        thread::spawn(move || (0..1000).map(|_| pipe.recv().unwrap()).collect::<Vec<_>>())
    };
    for seq in 0..1000 {
        let reading = Reading {
            sensor: 3,
            seq,
            value: f64::from(seq) / 2.0,
        };
        if seq % 2 == 0 {
            pipe.send(&reading).unwrap();
        } else {
            pipe.send_timeout(&reading, Duration::from_secs(60))
                .unwrap();
        }
    }
    let got = consumer.join().unwrap();
    assert!(
        got.iter()
            .enumerate()
            .all(|(i, r)| r.seq == i as u32 && r.sensor == 3)
    );
    assert_eq!(pipe.try_recv(), Err(Error::Empty));
    assert_eq!(
        pipe.recv_timeout(Duration::from_millis(1)),
        Err(Error::TimedOut)
    );
}

#[test]
fn message_pipe_checks_sizes() {
    let ipc = Ipc::new();
    let _kept = ipc.pipe(3, 1).name("three").create().unwrap();
    assert!(matches!(
        MessagePipe::<u32>::open(&ipc, "three"),
        Err(Error::BadParam { .. })
    ));
    assert!(matches!(
        MessagePipe::<()>::create(&ipc, None, 1),
        Err(Error::BadParam { .. })
    ));
    let pipe = ipc.pipe(4, 2).create().unwrap();
    let typed: MessagePipe<u32> = MessagePipe::from_pipe(pipe.clone()).unwrap();
    pipe.write(b"ab").unwrap();
    assert!(matches!(typed.recv(), Err(Error::BadParam { .. })));
    typed.try_send(&5).unwrap();
    typed.try_send(&6).unwrap();
    assert_eq!(typed.try_send(&7), Err(Error::Full));
    assert_eq!(typed.recv_deadline(Instant::now()), Ok(5));
}
