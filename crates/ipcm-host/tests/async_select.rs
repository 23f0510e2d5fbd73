//! `Select::wait_async` (and `.await` on a `Select`) under tokio's
//! multi-thread runtime and `futures::executor`: exactly one member
//! completes, a drop racing completions loses and duplicates nothing, and
//! `tokio::select!` against a timer.

mod common;
use common::*;

use std::sync::{Arc, Barrier};
use std::task::Poll;
use std::thread;
use std::time::Duration;

use ipcm_host::{Error, Ipc, Pipe, Select, SelectDone};

/// Rounds of the races.
const ROUNDS: u32 = 10_000;

fn pipes(ipc: &Ipc, n: usize) -> Vec<Pipe> {
    (0..n).map(|_| ipc.pipe(8, 2).create().unwrap()).collect()
}

fn queued(pipe: &Pipe) -> usize {
    pipe.info().unwrap().queued
}

/// Nothing of a finished or dropped select is left waiting in `pipe` (a
/// withdrawn member is freed by the pipe's next operation, which `info` is).
fn nothing_pending(pipe: &Pipe) -> bool {
    let info = pipe.info().unwrap();
    info.pending_readers + info.pending_peekers + info.pending_writers == 0
}

#[test]
fn two_members_ready_at_once_complete_exactly_one_under_futures_executor() {
    let ipc = Ipc::new();
    let p = pipes(&ipc, 2);
    p[0].write(b"first").unwrap();
    p[1].write(b"second").unwrap();
    let (mut a, mut b) = ([0; 8], [0; 8]);
    let done = futures::executor::block_on(
        Select::new()
            .read(&p[0], &mut a)
            .read(&p[1], &mut b)
            .wait_async(),
    )
    .unwrap();
    assert_eq!((done.index, done.result), (0, Ok(5)));
    assert_eq!(&a[..5], b"first");
    assert_eq!(b, [0; 8], "the other member copied nothing");
    assert_eq!((queued(&p[0]), queued(&p[1])), (0, 1));
}

#[test]
fn two_members_made_ready_at_once_while_pending_complete_exactly_one_under_tokio() {
    let ipc = Ipc::new();
    let p = pipes(&ipc, 2);
    let runtime = multi_thread_runtime();
    for round in 0..ROUNDS / 10 {
        let start = Arc::new(Barrier::new(3));
        let writers: Vec<_> = p
            .iter()
            .map(|pipe| {
                let (pipe, start) = (pipe.clone(), start.clone());
                thread::spawn(move || {
                    start.wait();
                    pipe.write(&round.to_ne_bytes()).unwrap();
                })
            })
            .collect();
        let (mut a, mut b) = ([0; 8], [0; 8]);
        let done = runtime.block_on(async {
            let select = Select::new().read(&p[0], &mut a).read(&p[1], &mut b);
            let start = start.clone();
            let (done, ()) = tokio::join!(select, async move {
                tokio::task::spawn_blocking(move || {
                    start.wait();
                })
                .await
                .unwrap();
            });
            done.unwrap()
        });
        writers.into_iter().for_each(|w| w.join().unwrap());
        assert_eq!(done.result, Ok(4));
        let (taken, other) = if done.index == 0 { (&a, 1) } else { (&b, 0) };
        assert_eq!(&taken[..4], &round.to_ne_bytes());
        assert_eq!(queued(&p[done.index]), 0);
        assert_eq!(
            queued(&p[other]),
            1,
            "the other pipe still holds its message"
        );
        let mut drain = [0; 8];
        p[other].try_read(&mut drain).unwrap();
        assert!(p.iter().all(nothing_pending));
    }
}

#[test]
fn a_write_to_a_pipe_in_two_tasks_selects_completes_exactly_one_of_them() {
    let ipc = Ipc::new();
    let shared = ipc.pipe(8, 2).create().unwrap();
    let own: Vec<Pipe> = pipes(&ipc, 2);
    let runtime = multi_thread_runtime();
    runtime.block_on(async {
        let tasks: Vec<_> = own
            .iter()
            .map(|mine| {
                let (shared, mine) = (shared.clone(), mine.clone());
                tokio::spawn(async move {
                    let (mut a, mut b) = ([0; 8], [0; 8]);
                    let done = Select::new()
                        .read(&shared, &mut a)
                        .read(&mine, &mut b)
                        .await
                        .unwrap();
                    (done.index, if done.index == 0 { a } else { b })
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(5)).await;
        shared.write(b"one").unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        // Whoever did not get it gets its own pipe's message.
        for pipe in &own {
            pipe.write(b"own").unwrap();
        }
        let mut got_shared = 0;
        for task in tasks {
            let (index, buf) = task.await.unwrap();
            if index == 0 {
                got_shared += 1;
                assert_eq!(&buf[..3], b"one");
            } else {
                assert_eq!(&buf[..3], b"own");
            }
        }
        assert_eq!(got_shared, 1, "the write was taken by exactly one select");
        assert_eq!(queued(&shared), 0);
        assert_eq!(own.iter().map(queued).sum::<usize>(), 1);
    });
}

#[test]
fn dropping_a_pending_select_while_writes_and_a_read_race_it_loses_and_duplicates_nothing() {
    let ipc = Ipc::new();
    let (a, b) = (
        ipc.pipe(8, 1).create().unwrap(),
        ipc.pipe(8, 1).create().unwrap(),
    );
    let full = ipc.pipe(8, 1).create().unwrap();
    let mut completed = 0;
    let mut dropped_pending = 0;
    for round in 0..ROUNDS {
        full.write(b"old").unwrap();
        let start = Arc::new(Barrier::new(2));
        let racer = {
            let (a, b, full, start) = (a.clone(), b.clone(), full.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                match round % 3 {
                    0 => a.write(b"to a").map(drop),
                    1 => b.write(b"to b").map(drop),
                    _ => full.read(&mut [0; 8]).map(drop),
                }
                .unwrap();
            })
        };
        let (mut buf_a, mut buf_b) = ([0; 8], [0; 8]);
        let mut select = Select::new()
            .read(&a, &mut buf_a)
            .peek(&b, &mut buf_b)
            .write(&full, b"new")
            .wait_async();
        let mut done = poll_once(&mut select);
        start.wait();
        if done.is_pending() {
            stagger(round);
            if round % 5 == 0 {
                done = poll_once(&mut select);
            }
        }
        drop(select);
        racer.join().unwrap();
        // What the select did: one member, or (dropped) nothing but
        // possibly its write.
        let (a_left, b_left) = (queued(&a), queued(&b));
        let mut drain = [0; 8];
        let mut full_msgs = Vec::new();
        while let Ok(len) = full.try_read(&mut drain) {
            full_msgs.push(drain[..len].to_vec());
        }
        let wrote_new = full_msgs.iter().any(|m| m == b"new");
        assert!(full_msgs.iter().filter(|m| *m == b"new").count() <= 1);
        match done {
            Poll::Ready(Ok(SelectDone { index, result })) => {
                completed += 1;
                match (round % 3, index) {
                    (0, 0) => {
                        assert_eq!((result, &buf_a[..4], a_left), (Ok(4), &b"to a"[..], 0));
                    }
                    (1, 1) => {
                        assert_eq!((result, &buf_b[..4], b_left), (Ok(4), &b"to b"[..], 1));
                    }
                    (2, 2) => assert_eq!((result, wrote_new), (Ok(0), true)),
                    other => panic!("member {other:?} completed"),
                }
                if index != 2 {
                    assert!(!wrote_new, "a second member happened");
                }
            }
            Poll::Ready(Err(error)) => panic!("{error}"),
            Poll::Pending => {
                dropped_pending += 1;
                // Nothing taken; the write happened at most once (above).
                assert_eq!(
                    a_left,
                    usize::from(round % 3 == 0),
                    "a read member took a message"
                );
                assert_eq!(b_left, usize::from(round % 3 == 1));
                assert_eq!(buf_a, [0; 8]);
            }
        }
        assert_eq!(
            full_msgs.len(),
            usize::from(round % 3 != 2) + usize::from(wrote_new),
            "{full_msgs:?}"
        );
        a.try_read(&mut drain).ok();
        b.try_read(&mut drain).ok();
        assert!([&a, &b, &full].into_iter().all(nothing_pending));
    }
    assert!(
        dropped_pending > 0 && completed > 0,
        "{dropped_pending} {completed}"
    );
}

#[test]
fn select_between_an_async_select_and_a_timer_under_tokio() {
    let ipc = Ipc::new();
    let p = pipes(&ipc, 2);
    multi_thread_runtime().block_on(async {
        let (mut a, mut b) = ([0; 8], [0; 8]);
        // The timer wins: the select is dropped while pending.
        tokio::select! {
            done = Select::new().read(&p[0], &mut a).read(&p[1], &mut b) => {
                panic!("nothing was written: {done:?}")
            }
            () = tokio::time::sleep(Duration::from_millis(5)) => {}
        }
        assert!(p.iter().all(nothing_pending));
        // The select wins against a timer that never fires in a test's life.
        let writer = {
            let pipe = p[1].clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(1)).await;
                pipe.write_async(b"late").await.unwrap();
            })
        };
        let done = tokio::select! {
            done = Select::new().read(&p[0], &mut a).read(&p[1], &mut b) => done.unwrap(),
            () = tokio::time::sleep(Duration::from_secs(3600)) => panic!("timer won"),
        };
        assert_eq!((done.index, done.result), (1, Ok(4)));
        assert_eq!(&b[..4], b"late");
        writer.await.unwrap();
        // Through tokio's timeout: nothing consumed.
        p[0].write(b"x").unwrap();
        let timed_out = tokio::time::timeout(
            Duration::from_millis(2),
            Select::new()
                .write(&p[0], b"y")
                .write(&p[0], b"z")
                .wait_async(),
        )
        .await;
        // Room for one more: the first write completed at once.
        assert_eq!(timed_out.map(|d| d.unwrap().index), Ok(0));
        let timed_out = tokio::time::timeout(
            Duration::from_millis(2),
            Select::new().write(&p[0], b"w").wait_async(),
        )
        .await;
        assert!(timed_out.is_err(), "the pipe is full");
        let mut buf = [0; 8];
        let msgs: Vec<_> = (0..2)
            .map(|_| p[0].try_read(&mut buf).map(|len| buf[..len].to_vec()))
            .collect();
        assert_eq!(msgs, [Ok(b"x".to_vec()), Ok(b"y".to_vec())]);
        assert!(p.iter().all(nothing_pending));
    });
}

#[test]
fn a_pending_write_member_is_completed_by_the_read_that_makes_room() {
    let ipc = Ipc::new();
    let (full, empty) = (
        ipc.pipe(8, 1).create().unwrap(),
        ipc.pipe(8, 1).create().unwrap(),
    );
    full.write(b"old").unwrap();
    let mut buf = [0; 8];
    let mut select = Select::new()
        .read(&empty, &mut buf)
        .write(&full, b"new")
        .wait_async();
    assert!(poll_once(&mut select).is_pending());
    let mut out = [0; 8];
    assert_eq!(full.read(&mut out), Ok(3));
    let done = futures::executor::block_on(select).unwrap();
    assert_eq!((done.index, done.result), (1, Ok(0)));
    assert_eq!(full.try_read(&mut out), Ok(3));
    assert_eq!(&out[..3], b"new");
    empty.write(b"e").unwrap();
    assert_eq!(queued(&empty), 1, "the withdrawn read took nothing");
}

#[test]
fn a_pending_peek_member_copies_and_leaves_the_message() {
    let ipc = Ipc::new();
    let p = pipes(&ipc, 2);
    let (mut a, mut b) = ([0; 8], [0; 8]);
    let mut select = Select::new()
        .peek(&p[0], &mut a)
        .read(&p[1], &mut b)
        .wait_async();
    assert!(poll_once(&mut select).is_pending());
    p[0].write(b"seen").unwrap();
    let done = futures::executor::block_on(select).unwrap();
    assert_eq!((done.index, done.result), (0, Ok(4)));
    assert_eq!(&a[..4], b"seen");
    assert_eq!(queued(&p[0]), 1);
}

#[test]
fn a_read_member_whose_message_another_reader_took_waits_again() {
    let ipc = Ipc::new();
    let p = pipes(&ipc, 2);
    let (mut a, mut b) = ([0; 8], [0; 8]);
    let mut select = Select::new()
        .read(&p[0], &mut a)
        .read(&p[1], &mut b)
        .wait_async();
    assert!(poll_once(&mut select).is_pending());
    p[0].write(b"stolen").unwrap();
    let mut out = [0; 8];
    assert_eq!(p[0].try_read(&mut out), Ok(6));
    assert!(
        poll_once(&mut select).is_pending(),
        "woken, found nothing, waits again"
    );
    p[1].write(b"mine").unwrap();
    let done = futures::executor::block_on(select).unwrap();
    assert_eq!((done.index, done.result), (1, Ok(4)));
    assert!(p.iter().all(nothing_pending));
}

#[test]
fn a_member_that_fails_completes_the_select_with_its_error() {
    let ipc = Ipc::new();
    let p = pipes(&ipc, 2);
    let (mut a, mut b) = ([0; 8], [0; 8]);
    let mut select = Select::new()
        .read(&p[0], &mut a)
        .read(&p[1], &mut b)
        .wait_async();
    assert!(poll_once(&mut select).is_pending());
    p[1].close().unwrap();
    let done = futures::executor::block_on(select).unwrap();
    assert_eq!((done.index, done.result), (1, Err(Error::Closed)));
}

#[test]
fn an_async_select_checks_what_the_blocking_one_checks() {
    let ipc = Ipc::new();
    let p = pipes(&ipc, 1);
    let block_on = futures::executor::block_on;
    assert!(matches!(
        block_on(Select::new().wait_async()),
        Err(Error::BadParam { .. })
    ));
    let mut short = [0; 4];
    assert!(matches!(
        block_on(Select::new().read(&p[0], &mut short).wait_async()),
        Err(Error::BadParam { .. })
    ));
    let other = Ipc::new().pipe(8, 1).create().unwrap();
    let (mut a, mut b) = ([0; 8], [0; 8]);
    assert!(matches!(
        block_on(
            Select::new()
                .read(&p[0], &mut a)
                .read(&other, &mut b)
                .wait_async()
        ),
        Err(Error::BadParam { .. })
    ));
    assert_eq!(
        block_on(Select::new().write(&p[0], &[0; 9]).wait_async()).map_err(|e| e.status()),
        Err(ipcm_host::Status::TooLarge)
    );
}
