//! The futures of the §9 operations (`write_urgent_async`,
//! `write_prio_async`, `read_seq_async`, `peek_newer_async`) under tokio's
//! multi-thread runtime and `futures::executor`: each does what its
//! blocking form does, and dropping a pending one loses no message and
//! writes nothing twice.

mod common;
use common::*;

use std::task::Poll;
use std::thread;
use std::time::Duration;

use ipcm_host::{Error, Ipc, Numbered};

/// Rounds of the drop-while-pending races.
const DROPS: u32 = 5_000;

#[test]
fn write_urgent_async_is_read_next_and_waits_while_full_under_tokio() {
    let pipe = Ipc::new().pipe(8, 2).create().unwrap();
    pipe.write(b"a").unwrap();
    pipe.write(b"b").unwrap();
    multi_thread_runtime().block_on(async {
        let writer = {
            let pipe = pipe.clone();
            tokio::spawn(async move { pipe.write_urgent_async(b"U").await.map(drop) })
        };
        while pipe.info().unwrap().pending_writers == 0 {
            tokio::task::yield_now().await;
        }
        let mut buf = [0; 8];
        assert_eq!(pipe.read_async(&mut buf).await.unwrap(), 1);
        assert_eq!(&buf[..1], b"a");
        writer.await.unwrap().unwrap();
        // Admitted into the freed slot at the front.
        assert_eq!(pipe.read_async(&mut buf).await.unwrap(), 1);
        assert_eq!(&buf[..1], b"U");
    });
}

#[test]
fn write_prio_async_orders_by_priority_under_futures_executor() {
    let pipe = Ipc::new()
        .pipe(8, 4)
        .by_message_priority()
        .create()
        .unwrap();
    futures::executor::block_on(async {
        pipe.write_prio_async(b"low", 1).await.unwrap();
        pipe.write_prio_async(b"high", 9).await.unwrap();
        pipe.write_async(b"zero").await.unwrap();
        let mut buf = [0; 8];
        let mut got = Vec::new();
        for _ in 0..3 {
            let len = pipe.read_async(&mut buf).await.unwrap();
            got.push(buf[..len].to_vec());
        }
        assert_eq!(got, [&b"high"[..], b"low", b"zero"]);
    });
    let plain = Ipc::new().pipe(8, 1).create().unwrap();
    let result = futures::executor::block_on(plain.write_prio_async(b"x", 3));
    assert!(matches!(result, Err(Error::BadParam { .. })));
}

#[test]
fn read_seq_async_reports_the_number_and_waits_for_a_write_under_tokio() {
    let pipe = Ipc::new().pipe(8, 2).create().unwrap();
    pipe.write(b"one").unwrap();
    multi_thread_runtime().block_on(async {
        let mut buf = [0; 8];
        let got = pipe.read_seq_async(&mut buf).await.unwrap();
        assert_eq!(got, Numbered { len: 3, seq: 1 });
        let writer = {
            let pipe = pipe.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                pipe.write_async(b"two").await.map(drop)
            })
        };
        let got = pipe.read_seq_async(&mut buf).await.unwrap();
        assert_eq!((got, &buf[..3]), (Numbered { len: 3, seq: 2 }, &b"two"[..]));
        writer.await.unwrap().unwrap();
    });
    assert_eq!(pipe.info().unwrap().queued, 0);
}

#[test]
fn peek_newer_async_is_woken_by_the_next_write_and_not_before() {
    let pipe = Ipc::new()
        .pipe(8, 1)
        .on_full(ipcm_host::OnFull::DiscardOldest)
        .create()
        .unwrap();
    pipe.write(b"v1").unwrap();
    let mut buf = [0; 8];
    let mut newer = pipe.peek_newer_async(1, &mut buf);
    assert!(poll_once(&mut newer).is_pending());
    assert_eq!(pipe.info().unwrap().pending_peekers, 1);
    assert!(poll_once(&mut newer).is_pending(), "v1 is not newer than 1");
    pipe.write(b"v2").unwrap();
    match poll_once(&mut newer) {
        Poll::Ready(got) => assert_eq!(got.unwrap(), Numbered { len: 2, seq: 2 }),
        Poll::Pending => panic!("the write did not complete the peek"),
    }
    drop(newer);
    assert_eq!(&buf[..2], b"v2");
    // Already newer: at once, under futures::executor; nothing consumed.
    let got = futures::executor::block_on(pipe.peek_newer_async(0, &mut buf)).unwrap();
    assert_eq!(got.seq, 2);
    assert_eq!(pipe.info().unwrap().queued, 1);
}

#[test]
fn dropping_a_pending_peek_newer_leaves_the_pipe_unchanged() {
    let pipe = Ipc::new().pipe(8, 2).create().unwrap();
    pipe.write(b"old").unwrap();
    let mut buf = [0; 8];
    let mut newer = pipe.peek_newer_async(1, &mut buf);
    assert!(poll_once(&mut newer).is_pending());
    drop(newer);
    let info = pipe.info().unwrap();
    assert_eq!((info.pending_peekers, info.queued), (0, 1));
    pipe.write(b"new").unwrap();
    assert_eq!(pipe.info().unwrap().queued, 2);
}

#[test]
fn dropping_pending_read_seqs_while_writes_complete_them_loses_and_duplicates_nothing() {
    let pipe = Ipc::new().pipe(8, 1).create().unwrap();
    let writer = {
        let pipe = pipe.clone();
        thread::spawn(move || {
            for n in 0..DROPS {
                pipe.write(&n.to_ne_bytes()).unwrap();
            }
        })
    };
    let mut received = Vec::new();
    let mut buf = [0; 8];
    let mut dropped_pending = 0;
    for round in 0.. {
        if received.len() == DROPS as usize
            || (writer.is_finished() && pipe.info().unwrap().queued == 0)
        {
            break;
        }
        let mut read = pipe.read_seq_async(&mut buf);
        match poll_once(&mut read) {
            Poll::Ready(got) => {
                let got = got.unwrap();
                drop(read);
                let n = u32::from_ne_bytes(buf[..4].try_into().unwrap());
                // Numbered 1, 2, ... in write order.
                assert_eq!(got.seq, u64::from(n) + 1);
                received.push(n);
            }
            Poll::Pending => {
                stagger(round);
                drop(read);
                dropped_pending += 1;
            }
        }
    }
    writer.join().unwrap();
    assert_eq!(received, (0..DROPS).collect::<Vec<_>>());
    assert!(dropped_pending > 0, "no read was ever pending");
    let info = pipe.info().unwrap();
    assert_eq!((info.queued, info.pending_peekers), (0, 0));
}

#[test]
fn dropping_pending_urgent_and_prio_writes_writes_each_exactly_once() {
    let pipe = Ipc::new()
        .pipe(8, 1)
        .by_message_priority()
        .create()
        .unwrap();
    let reader = {
        let pipe = pipe.clone();
        thread::spawn(move || {
            let mut buf = [0; 8];
            (0..DROPS)
                .map(|_| {
                    let len = pipe.read(&mut buf).unwrap();
                    u32::from_ne_bytes(buf[..len].try_into().unwrap())
                })
                .collect::<Vec<_>>()
        })
    };
    let (mut n, mut round, mut dropped_pending) = (0, 0, 0);
    while n < DROPS {
        round += 1;
        let before = pipe.info().unwrap().written;
        let msg = n.to_ne_bytes();
        let mut write = if round % 2 == 0 {
            pipe.write_urgent_async(&msg)
        } else {
            pipe.write_prio_async(&msg, (round % 5) as u8)
        };
        if let Poll::Ready(written) = poll_to_wait(&mut write) {
            written.unwrap();
            n += 1;
            continue;
        }
        stagger(round);
        drop(write);
        dropped_pending += 1;
        match pipe.info().unwrap().written - before {
            0 => {}
            1 => n += 1,
            more => panic!("one write counted {more} times"),
        }
    }
    // Depth 1: the reader takes each message before the next is admitted,
    // so arrival order is read order whatever the priorities.
    assert_eq!(reader.join().unwrap(), (0..DROPS).collect::<Vec<_>>());
    assert!(dropped_pending > 0, "no write was ever pending");
    let info = pipe.info().unwrap();
    assert_eq!((info.queued, info.pending_writers), (0, 0));
}
