//! The futures of `Pipe` under tokio's multi-thread runtime and
//! `futures::executor`: conservation and per-writer order with async and
//! blocking parties mixed, drops racing completions, and timers.

mod common;
use common::*;

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll};
use std::thread;
use std::time::Duration;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::task::{ArcWake, LocalSpawnExt};
use ipcm_host::{Error, Ipc, Pipe};

/// Messages per writer in the many-to-many runs.
const PER_WRITER: u32 = 2_000;
/// A message nobody writes as data: tells one reader to stop.
const STOP: u32 = u32::MAX;
/// Rounds of the drop-while-pending races.
const DROPS: u32 = 10_000;

fn message(writer: u32, seq: u32) -> [u8; 8] {
    let mut msg = [0; 8];
    msg[..4].copy_from_slice(&writer.to_ne_bytes());
    msg[4..].copy_from_slice(&seq.to_ne_bytes());
    msg
}

fn decode(msg: &[u8]) -> (u32, u32) {
    assert_eq!(msg.len(), 8, "every message is 8 bytes");
    let writer = u32::from_ne_bytes(msg[..4].try_into().unwrap());
    let seq = u32::from_ne_bytes(msg[4..].try_into().unwrap());
    (writer, seq)
}

/// Every reader saw each writer's messages in order; all readers together
/// saw every message exactly once.
fn check_conservation_and_order(writers: u32, per_reader: Vec<Vec<(u32, u32)>>) {
    let mut seen = vec![vec![false; PER_WRITER as usize]; writers as usize];
    for received in per_reader {
        let mut last = vec![None; writers as usize];
        for (writer, seq) in received {
            let w = writer as usize;
            assert!(
                last[w].is_none_or(|l| l < seq),
                "writer {writer}: {seq} after {last:?}"
            );
            last[w] = Some(seq);
            assert!(
                !std::mem::replace(&mut seen[w][seq as usize], true),
                "({writer}, {seq}) received twice"
            );
        }
    }
    for (writer, seen) in seen.iter().enumerate() {
        let lost = seen.iter().filter(|s| !**s).count();
        assert_eq!(lost, 0, "writer {writer}: {lost} messages lost");
    }
}

fn sync_reader(pipe: Pipe) -> thread::JoinHandle<Vec<(u32, u32)>> {
    thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = [0; 8];
        loop {
            let len = pipe.read(&mut buf).unwrap();
            let (writer, seq) = decode(&buf[..len]);
            if writer == STOP {
                return got;
            }
            got.push((writer, seq));
        }
    })
}

fn sync_writer(pipe: Pipe, writer: u32) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        for seq in 0..PER_WRITER {
            pipe.write(&message(writer, seq)).unwrap();
        }
    })
}

async fn async_writer(pipe: Pipe, writer: u32) {
    for seq in 0..PER_WRITER {
        pipe.write_async(&message(writer, seq)).await.unwrap();
    }
}

async fn async_reader(pipe: Pipe) -> Vec<(u32, u32)> {
    let mut got = Vec::new();
    let mut buf = [0; 8];
    loop {
        let len = pipe.read_async(&mut buf).await.unwrap();
        let (writer, seq) = decode(&buf[..len]);
        if writer == STOP {
            return got;
        }
        got.push((writer, seq));
    }
}

fn small_pipe() -> Pipe {
    // Depth 2: writers and readers wait often.
    Ipc::new().pipe(8, 2).create().unwrap()
}

#[test]
fn async_writers_to_sync_readers_under_tokio_lose_nothing_and_keep_order() {
    let (writers, readers) = (4, 3);
    let pipe = small_pipe();
    let reading: Vec<_> = (0..readers).map(|_| sync_reader(pipe.clone())).collect();
    multi_thread_runtime().block_on(async {
        let tasks: Vec<_> = (0..writers)
            .map(|w| tokio::spawn(async_writer(pipe.clone(), w)))
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        for _ in 0..readers {
            pipe.write_async(&message(STOP, 0)).await.unwrap();
        }
    });
    let received = reading.into_iter().map(|r| r.join().unwrap()).collect();
    check_conservation_and_order(writers, received);
}

#[test]
fn sync_writers_to_async_readers_under_tokio_lose_nothing_and_keep_order() {
    let (writers, readers) = (3, 4);
    let pipe = small_pipe();
    let writing: Vec<_> = (0..writers).map(|w| sync_writer(pipe.clone(), w)).collect();
    let received = multi_thread_runtime().block_on(async {
        let tasks: Vec<_> = (0..readers)
            .map(|_| tokio::spawn(async_reader(pipe.clone())))
            .collect();
        for writer in writing {
            tokio::task::spawn_blocking(move || writer.join().unwrap())
                .await
                .unwrap();
        }
        for _ in 0..readers {
            pipe.write(&message(STOP, 0)).unwrap();
        }
        let mut received = Vec::new();
        for task in tasks {
            received.push(task.await.unwrap());
        }
        received
    });
    check_conservation_and_order(writers, received);
}

#[test]
fn async_writers_to_sync_readers_under_futures_executor_lose_nothing_and_keep_order() {
    // Every writer is a task of one single-threaded pool: one OS thread
    // holds several pending futures at once.
    let (writers, readers) = (4, 2);
    let pipe = small_pipe();
    let reading: Vec<_> = (0..readers).map(|_| sync_reader(pipe.clone())).collect();
    let mut pool = futures::executor::LocalPool::new();
    for w in 0..writers {
        pool.spawner()
            .spawn_local(async_writer(pipe.clone(), w))
            .unwrap();
    }
    pool.run();
    for _ in 0..readers {
        pipe.write(&message(STOP, 0)).unwrap();
    }
    let received = reading.into_iter().map(|r| r.join().unwrap()).collect();
    check_conservation_and_order(writers, received);
}

#[test]
fn sync_writers_to_async_readers_under_futures_executor_lose_nothing_and_keep_order() {
    let (writers, readers) = (2, 4);
    let pipe = small_pipe();
    let writing: Vec<_> = (0..writers).map(|w| sync_writer(pipe.clone(), w)).collect();
    let stopper = {
        let pipe = pipe.clone();
        thread::spawn(move || {
            for writer in writing {
                writer.join().unwrap();
            }
            for _ in 0..readers {
                pipe.write(&message(STOP, 0)).unwrap();
            }
        })
    };
    let mut pool = futures::executor::LocalPool::new();
    let tasks: Vec<_> = (0..readers)
        .map(|_| {
            pool.spawner()
                .spawn_local_with_handle(async_reader(pipe.clone()))
                .unwrap()
        })
        .collect();
    let received = pool.run_until(futures::future::join_all(tasks));
    stopper.join().unwrap();
    check_conservation_and_order(writers, received);
}

#[test]
fn dropping_pending_reads_while_writes_complete_them_loses_and_duplicates_nothing() {
    let pipe = Ipc::new().pipe(8, 1).create().unwrap();
    let writer = {
        let pipe = pipe.clone();
        thread::spawn(move || {
            for seq in 0..DROPS {
                pipe.write(&message(0, seq)).unwrap();
            }
        })
    };
    let mut received = Vec::new();
    let mut buf = [0; 8];
    let mut dropped_pending = 0;
    for round in 0.. {
        // A lost message would leave us waiting: stop once the writer is
        // done and nothing is left, and let the assertion below tell.
        if received.len() == DROPS as usize
            || (writer.is_finished() && pipe.info().unwrap().queued == 0)
        {
            break;
        }
        let mut read = pipe.read_async(&mut buf);
        match poll_to_wait(&mut read) {
            Poll::Ready(len) => {
                let len = len.unwrap();
                drop(read);
                received.push(decode(&buf[..len]).1);
            }
            Poll::Pending => {
                stagger(round);
                // The write may be completing the pending operation now.
                drop(read);
                dropped_pending += 1;
                // Sometimes take what the race left with a blocking read.
                if round % 2 == 0 {
                    match pipe.read_timeout(&mut buf, Duration::from_secs(10)) {
                        Ok(len) => received.push(decode(&buf[..len]).1),
                        Err(Error::TimedOut) => break,
                        Err(other) => panic!("{other}"),
                    }
                }
            }
        }
    }
    writer.join().unwrap();
    assert_eq!(received, (0..DROPS).collect::<Vec<_>>());
    assert!(dropped_pending > 0, "no read was ever pending");
    let info = pipe.info().unwrap();
    assert_eq!(
        (info.queued, info.pending_peekers, info.pending_readers),
        (0, 0, 0)
    );
}

#[test]
fn dropping_pending_writes_while_reads_complete_them_writes_each_exactly_once() {
    let pipe = Ipc::new().pipe(8, 1).create().unwrap();
    let reader = {
        let pipe = pipe.clone();
        thread::spawn(move || {
            let mut buf = [0; 8];
            (0..DROPS)
                .map(|_| {
                    let len = pipe.read(&mut buf).unwrap();
                    decode(&buf[..len]).1
                })
                .collect::<Vec<_>>()
        })
    };
    let mut dropped_pending = 0;
    let mut dropped_after_completion = 0;
    let mut seq = 0;
    let mut round = 0;
    while seq < DROPS {
        round += 1;
        // Only this thread writes, so the pipe's `written` counter tells
        // whether a dropped write happened.
        let before = pipe.info().unwrap().written;
        let msg = message(0, seq);
        let mut write = pipe.write_async(&msg);
        if let Poll::Ready(written) = poll_to_wait(&mut write) {
            written.unwrap();
            seq += 1;
            continue;
        }
        stagger(round);
        drop(write);
        dropped_pending += 1;
        match pipe.info().unwrap().written - before {
            0 => {} // cancelled: write the same message again
            1 => {
                dropped_after_completion += 1;
                seq += 1;
            }
            n => panic!("one write counted {n} times"),
        }
    }
    assert_eq!(reader.join().unwrap(), (0..DROPS).collect::<Vec<_>>());
    assert!(dropped_pending > 0, "no write was ever pending");
    eprintln!(
        "{dropped_pending} pending writes dropped, {dropped_after_completion} after completing"
    );
    let info = pipe.info().unwrap();
    assert_eq!((info.queued, info.pending_writers), (0, 0));
}

#[test]
fn dropping_a_pending_peek_leaves_the_pipe_unchanged() {
    let pipe = Ipc::new().pipe(8, 1).create().unwrap();
    let mut buf = [0; 8];
    let mut peek = pipe.peek_async(&mut buf);
    assert!(poll_once(&mut peek).is_pending());
    assert_eq!(pipe.info().unwrap().pending_peekers, 1);
    drop(peek);
    assert_eq!(pipe.info().unwrap().pending_peekers, 0);
    pipe.write(b"kept").unwrap();
    let mut buf = [0; 8];
    assert_eq!(pipe.try_read(&mut buf), Ok(4));
}

#[test]
fn a_pending_peek_gets_the_next_write_and_leaves_it_queued() {
    let pipe = Ipc::new().pipe(8, 2).create().unwrap();
    let mut buf = [0; 8];
    let len = futures::executor::block_on(async {
        let mut peek = pin!(pipe.peek_async(&mut buf));
        assert!(futures::poll!(peek.as_mut()).is_pending());
        pipe.write(b"seen").unwrap();
        peek.await
    })
    .unwrap();
    assert_eq!(&buf[..len], b"seen");
    assert_eq!(pipe.info().unwrap().queued, 1);
}

#[test]
fn several_pending_futures_in_one_task_are_each_their_own_operation() {
    let pipe = Ipc::new().pipe(8, 1).create().unwrap();
    let (mut a, mut b) = ([0; 8], [0; 8]);
    futures::executor::block_on(async {
        let reads = futures::future::join(pipe.read_async(&mut a), pipe.read_async(&mut b));
        let writes = async {
            pipe.write_async(b"one").await.unwrap();
            pipe.write_async(b"two").await.unwrap();
        };
        let ((first, second), ()) = futures::join!(reads, writes);
        assert_eq!((first.unwrap(), second.unwrap()), (3, 3));
    });
    let mut got = [a, b].map(|m| m[..3].to_vec());
    got.sort();
    assert_eq!(got, [b"one".to_vec(), b"two".to_vec()]);
}

#[test]
fn destroy_ends_pending_futures_with_destroyed() {
    let pipe = Ipc::new().pipe(8, 1).create().unwrap();
    pipe.write(b"full").unwrap();
    let mut buf = [0; 8];
    futures::executor::block_on(async {
        let mut write = pin!(pipe.write_async(b"waits"));
        // Two polls: the first only gives the executor a turn.
        assert!(futures::poll!(write.as_mut()).is_pending());
        assert!(futures::poll!(write.as_mut()).is_pending());
        assert_eq!(pipe.info().unwrap().pending_writers, 1);
        let other = pipe.ipc().open_id(pipe.id()).unwrap();
        let mut drain = [0; 8];
        other.try_read(&mut drain).unwrap();
        // The pending write was admitted by that read: it completed.
        assert!(write.await.is_ok());
        let mut peek = pin!(pipe.peek_async(&mut buf));
        // The pipe holds "waits", so a peek completes at once; empty it.
        assert!(futures::poll!(peek.as_mut()).is_ready());
        other.try_read(&mut drain).unwrap();
        let mut read = pin!(other.read_async(&mut drain));
        assert!(futures::poll!(read.as_mut()).is_pending());
        assert!(futures::poll!(read.as_mut()).is_pending());
        assert_eq!(pipe.info().unwrap().pending_peekers, 1);
        pipe.destroy().unwrap();
        assert_eq!(read.await, Err(Error::Destroyed));
    });
}

#[test]
fn select_between_a_read_and_a_timer_under_tokio() {
    let pipe = Ipc::new().pipe(8, 2).create().unwrap();
    multi_thread_runtime().block_on(async {
        // The timer wins: the read is dropped while pending.
        let mut buf = [0; 8];
        tokio::select! {
            read = pipe.read_async(&mut buf) => panic!("nothing was written: {read:?}"),
            () = tokio::time::sleep(Duration::from_millis(5)) => {}
        }
        let info = pipe.info().unwrap();
        assert_eq!((info.pending_peekers, info.pending_readers), (0, 0));
        // The read wins against a timer that never fires in a test's life.
        let writer = {
            let pipe = pipe.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(1)).await;
                pipe.write_async(b"late").await.unwrap();
            })
        };
        let len = tokio::select! {
            read = pipe.read_async(&mut buf) => read.unwrap(),
            () = tokio::time::sleep(Duration::from_secs(3600)) => panic!("timer won"),
        };
        assert_eq!(&buf[..len], b"late");
        writer.await.unwrap();
        // A timeout through the executor's timer: nothing consumed.
        let timed_out =
            tokio::time::timeout(Duration::from_millis(2), pipe.read_async(&mut buf)).await;
        assert!(timed_out.is_err());
        pipe.write(b"kept").unwrap();
        assert_eq!(pipe.read_async(&mut buf).await, Ok(4));
    });
}

#[test]
fn read_async_rejects_a_short_buffer_before_waiting() {
    let pipe = Ipc::new().pipe(8, 1).create().unwrap();
    let mut buf = [0; 4];
    let result = futures::executor::block_on(pipe.read_async(&mut buf));
    assert!(matches!(result, Err(Error::BadParam { .. })));
    let info = pipe.info().unwrap();
    assert_eq!(info.pending_peekers, 0);
}

#[test]
fn write_async_of_a_message_too_large_fails_at_once() {
    let pipe = Ipc::new().pipe(4, 1).create().unwrap();
    let result = futures::executor::block_on(pipe.write_async(b"too long"));
    assert!(matches!(
        result,
        Err(Error::TooLarge {
            len: 8,
            msg_size: 4
        })
    ));
}

/// A waker that counts its wakes.
#[derive(Default)]
struct Count(AtomicUsize);

impl ArcWake for Count {
    fn wake_by_ref(count: &Arc<Self>) {
        count.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting_waker() -> (std::task::Waker, Arc<Count>) {
    let count = Arc::new(Count::default());
    (futures::task::waker(Arc::clone(&count)), count)
}

#[test]
fn the_completing_call_wakes_the_task_of_a_pending_future() {
    let pipe = Ipc::new().pipe(8, 1).create().unwrap();
    let (waker, wakes) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    let mut buf = [0; 8];
    let mut read = pipe.read_async(&mut buf);
    // The first Pending only gives the executor a turn (one self-wake);
    // the second waits.
    assert!(std::pin::Pin::new(&mut read).poll(&mut cx).is_pending());
    assert!(std::pin::Pin::new(&mut read).poll(&mut cx).is_pending());
    assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
    // The write completes the pending operation from another thread.
    let writer = pipe.clone();
    thread::spawn(move || writer.write(b"one").unwrap())
        .join()
        .unwrap();
    assert_eq!(wakes.0.load(Ordering::SeqCst), 2);
    assert_eq!(
        std::pin::Pin::new(&mut read).poll(&mut cx),
        Poll::Ready(Ok(3))
    );
    drop(read);

    pipe.write(b"full").unwrap();
    let mut write = pipe.write_async(b"two");
    assert!(std::pin::Pin::new(&mut write).poll(&mut cx).is_pending());
    assert!(std::pin::Pin::new(&mut write).poll(&mut cx).is_pending());
    assert_eq!(wakes.0.load(Ordering::SeqCst), 3);
    let reader = pipe.clone();
    thread::spawn(move || reader.read(&mut [0; 8]).unwrap())
        .join()
        .unwrap();
    assert_eq!(wakes.0.load(Ordering::SeqCst), 4);
    assert!(matches!(
        std::pin::Pin::new(&mut write).poll(&mut cx),
        Poll::Ready(Ok(_))
    ));
}

#[test]
fn async_writers_to_async_readers_under_smol_lose_nothing_and_keep_order() {
    let (writers, readers) = (3, 3);
    let pipe = small_pipe();
    let executor = smol::Executor::new();
    // Two threads run the executor, so tasks migrate between them.
    let (stop, stopped) = smol::channel::unbounded::<()>();
    let received = thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| smol::block_on(executor.run(stopped.recv())));
        }
        let received = smol::block_on(async {
            let reading: Vec<_> = (0..readers)
                .map(|_| executor.spawn(async_reader(pipe.clone())))
                .collect();
            let writing: Vec<_> = (0..writers)
                .map(|w| executor.spawn(async_writer(pipe.clone(), w)))
                .collect();
            for writer in writing {
                writer.await;
            }
            for _ in 0..readers {
                pipe.write_async(&message(STOP, 0)).await.unwrap();
            }
            let mut received = Vec::new();
            for reader in reading {
                received.push(reader.await);
            }
            received
        });
        drop(stop);
        received
    });
    check_conservation_and_order(writers, received);
}

fn wakes(count: &Count) -> usize {
    count.0.load(Ordering::SeqCst)
}

/// A read future that finds the pipe empty first gives the executor one
/// turn (it wakes itself, registers nothing), and takes a message that
/// came meanwhile without ever waiting; only its next `Pending` waits.
#[test]
fn a_read_future_gives_the_executor_one_turn_before_it_waits() {
    let pipe = Ipc::new().pipe(8, 2).create().unwrap();
    let (waker, count) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    let mut buf = [0; 8];
    let mut read = pipe.read_async(&mut buf);
    assert!(std::pin::Pin::new(&mut read).poll(&mut cx).is_pending());
    assert_eq!(wakes(&count), 1, "it woke itself for its next turn");
    assert_eq!(
        pipe.info().unwrap().pending_peekers,
        0,
        "nothing registered"
    );
    let written = pipe.write(b"meantime").unwrap();
    assert!(!written.handed_off);
    assert_eq!(
        std::pin::Pin::new(&mut read).poll(&mut cx),
        Poll::Ready(Ok(8))
    );
    drop(read);
    assert_eq!(&buf, b"meantime");

    // Still empty on the second poll: now it waits, and the write wakes it.
    let mut read = pipe.read_async(&mut buf);
    assert!(std::pin::Pin::new(&mut read).poll(&mut cx).is_pending());
    assert!(std::pin::Pin::new(&mut read).poll(&mut cx).is_pending());
    assert_eq!(wakes(&count), 2, "one turn only");
    assert_eq!(pipe.info().unwrap().pending_peekers, 1);
    pipe.write(b"later").unwrap();
    assert_eq!(wakes(&count), 3, "the write woke the waiting read");
    assert_eq!(
        std::pin::Pin::new(&mut read).poll(&mut cx),
        Poll::Ready(Ok(5))
    );
    drop(read);
    assert_eq!(&buf[..5], b"later");
    assert_eq!(pipe.info().unwrap().pending_peekers, 0);
}

/// The same for a write future on a full pipe.
#[test]
fn a_write_future_gives_the_executor_one_turn_before_it_waits() {
    let pipe = Ipc::new().pipe(8, 1).create().unwrap();
    pipe.write(b"first").unwrap();
    let (waker, count) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    let mut write = pipe.write_async(b"second");
    assert!(std::pin::Pin::new(&mut write).poll(&mut cx).is_pending());
    assert_eq!(
        (wakes(&count), pipe.info().unwrap().pending_writers),
        (1, 0)
    );
    assert!(std::pin::Pin::new(&mut write).poll(&mut cx).is_pending());
    assert_eq!(
        (wakes(&count), pipe.info().unwrap().pending_writers),
        (1, 1)
    );
    let mut buf = [0; 8];
    assert_eq!(pipe.read(&mut buf), Ok(5));
    assert_eq!(wakes(&count), 2, "the read admitted the waiting write");
    assert!(std::pin::Pin::new(&mut write).poll(&mut cx).is_ready());
    drop(write);
    assert_eq!(pipe.read(&mut buf), Ok(6));
    assert_eq!(&buf[..6], b"second");
}
