//! The async forms of `MessagePipe<T>` and `Blackboard<T>`.

mod common;
use common::*;

use std::future::Future;
use std::task::{Context, Poll};
use std::thread;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::task::{ArcWake, noop_waker};
use ipcm_host::{Blackboard, Error, Ipc, MessagePipe};

/// A waker that counts its wakes.
#[derive(Default)]
struct Count(AtomicUsize);

impl ArcWake for Count {
    fn wake_by_ref(count: &Arc<Self>) {
        count.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Poll `future` once with a counting waker.
fn poll_counted<F: Future + Unpin>(future: &mut F) -> (Poll<F::Output>, Arc<Count>) {
    let count = Arc::new(Count::default());
    let waker = futures::task::waker(Arc::clone(&count));
    let poll = std::pin::Pin::new(future).poll(&mut Context::from_waker(&waker));
    (poll, count)
}

#[test]
fn message_pipe_async_senders_and_receiver_under_tokio_conserve_values() {
    let ipc = Ipc::new();
    let pipe: MessagePipe<u64> = MessagePipe::create(&ipc, None, 2).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let (senders, per_sender) = (3_u64, 1_000_u64);
    let mut got = runtime.block_on(async {
        for s in 0..senders {
            let pipe = pipe.clone();
            tokio::spawn(async move {
                for i in 0..per_sender {
                    pipe.send_async(&(s * per_sender + i)).await.unwrap();
                }
            });
        }
        let mut got = Vec::new();
        for _ in 0..senders * per_sender {
            got.push(pipe.recv_async().await.unwrap());
        }
        got
    });
    got.sort_unstable();
    assert_eq!(got, (0..senders * per_sender).collect::<Vec<_>>());
}

#[test]
fn a_dropped_recv_async_received_nothing() {
    let ipc = Ipc::new();
    let pipe: MessagePipe<u32> = MessagePipe::create(&ipc, None, 1).unwrap();
    {
        let mut recv = Box::pin(pipe.recv_async());
        assert!(
            recv.as_mut()
                .poll(&mut Context::from_waker(&noop_waker()))
                .is_pending()
        );
        pipe.send(&5).unwrap();
    } // dropped after the send completed its pending operation
    assert_eq!(pipe.try_recv(), Ok(5));
}

#[test]
fn wait_newer_async_is_woken_by_each_publication_from_another_thread() {
    let ipc = Ipc::new();
    let board: Blackboard<u32> = Blackboard::create(&ipc, None).unwrap();
    let publisher = {
        let board = board.clone();
        thread::spawn(move || {
            for value in 1..=200 {
                board.publish(&value).unwrap();
            }
        })
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let last = runtime.block_on(async {
        let mut seen = 0;
        let mut value = 0;
        while value < 200 {
            let snapshot = board.wait_newer_async(seen).await.unwrap();
            assert!(snapshot.version > seen);
            // Version n carries value n: publications are numbered 1, 2, …
            assert_eq!(u64::from(snapshot.value), snapshot.version);
            (seen, value) = (snapshot.version, snapshot.value);
        }
        value
    });
    publisher.join().unwrap();
    assert_eq!(last, 200);
}

#[test]
fn wait_newer_async_waits_for_the_next_publication_when_the_pipe_was_emptied() {
    let ipc = Ipc::new();
    let board: Blackboard<u32> = Blackboard::create(&ipc, None).unwrap();
    board.publish(&1).unwrap();
    // Take the value out through the raw pipe: the publication count is
    // now ahead of what the pipe holds.
    board.pipe().try_read(&mut [0; 16]).unwrap();
    let mut newer = board.wait_newer_async(0);
    let (poll, wakes) = poll_counted(&mut newer);
    assert!(poll.is_pending());
    board.publish(&2).unwrap();
    assert_eq!(
        wakes.0.load(Ordering::SeqCst),
        1,
        "the publication woke the task"
    );
    let snapshot = futures::executor::block_on(newer).unwrap();
    assert_eq!((snapshot.version, snapshot.value), (2, 2));
}

#[test]
fn destroying_a_blackboard_ends_wait_newer_async_with_destroyed() {
    let ipc = Ipc::new();
    let board: Blackboard<u32> = Blackboard::create(&ipc, None).unwrap();
    let destroyer = board.clone();
    let mut newer = board.wait_newer_async(0);
    let (poll, wakes) = poll_counted(&mut newer);
    assert!(poll.is_pending());
    thread::spawn(move || destroyer.destroy().unwrap())
        .join()
        .unwrap();
    assert_eq!(
        wakes.0.load(Ordering::SeqCst),
        1,
        "the destroy woke the task"
    );
    assert_eq!(poll_once(&mut newer), Poll::Ready(Err(Error::Destroyed)));
}

#[test]
fn a_dropped_wait_newer_async_is_not_woken_by_later_publications() {
    let ipc = Ipc::new();
    let board: Blackboard<u32> = Blackboard::create(&ipc, None).unwrap();
    let mut newer = board.wait_newer_async(0);
    let (poll, wakes) = poll_counted(&mut newer);
    assert!(poll.is_pending());
    drop(newer);
    board.publish(&1).unwrap();
    assert_eq!(
        wakes.0.load(Ordering::SeqCst),
        0,
        "a dropped future stays registered"
    );
}
