//! Model checks (loom) of a future dropped while its pending operation is
//! being completed by another thread: the drop's cancel lands at every
//! point of the completing call, and the message is never lost, never
//! duplicated; and an async select dropped while a write completes one of
//! its members (nothing taken, every member withdrawn).
//!
//! `RUSTFLAGS="--cfg loom" cargo test -p ipcm-host --release --test loom_async`
#![cfg(loom)]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use ipcm_host::{Error, Ipc, Select, SelectDone};
use loom::thread;

fn model(test: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(test);
}

fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    Pin::new(future).poll(&mut Context::from_waker(Waker::noop()))
}

/// Poll until the future waits: a read or write future's first `Pending`
/// only gives the executor a turn (nothing registered yet).
fn poll_to_wait<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    match poll_once(future) {
        Poll::Pending => poll_once(future),
        ready => ready,
    }
}

#[test]
fn a_read_future_dropped_while_a_write_completes_it_consumed_nothing() {
    model(|| {
        let ipc = Ipc::new();
        let pipe = ipc.pipe(1, 1).create().unwrap();
        let writer = {
            let pipe = pipe.clone();
            thread::spawn(move || pipe.write(&[7]).map(|_| ()))
        };
        let mut buf = [0];
        let mut read = pipe.read_async(&mut buf);
        let taken = match poll_to_wait(&mut read) {
            Poll::Ready(result) => Some(result),
            Poll::Pending => None,
        };
        drop(read);
        writer.join().unwrap().unwrap();
        let mut left = [0];
        match taken {
            Some(Ok(1)) => {
                assert_eq!(buf, [7]);
                assert_eq!(pipe.try_read(&mut left), Err(Error::Empty));
            }
            None => {
                assert_eq!(pipe.try_read(&mut left), Ok(1), "the message was lost");
                assert_eq!(left, [7]);
            }
            Some(other) => panic!("unexpected {other:?}"),
        }
        assert_eq!(pipe.info().unwrap().pending_peekers, 0);
    });
}

#[test]
fn a_write_future_dropped_while_a_read_completes_it_wrote_once_or_never() {
    model(|| {
        let ipc = Ipc::new();
        let pipe = ipc.pipe(1, 1).create().unwrap();
        pipe.write(&[1]).unwrap();
        let reader = {
            let pipe = pipe.clone();
            thread::spawn(move || {
                let mut buf = [0];
                pipe.read(&mut buf).map(|_| buf[0])
            })
        };
        let mut write = pipe.write_async(&[2]);
        let done = poll_to_wait(&mut write).is_ready();
        drop(write);
        assert_eq!(reader.join().unwrap(), Ok(1));
        let written = pipe.info().unwrap().written;
        let mut left = [0];
        if done || written == 2 {
            assert_eq!(written, 2);
            assert_eq!(pipe.try_read(&mut left), Ok(1));
            assert_eq!(left, [2]);
        } else {
            assert_eq!(written, 1);
            assert_eq!(pipe.try_read(&mut left), Err(Error::Empty));
        }
        assert_eq!(pipe.info().unwrap().pending_writers, 0);
    });
}

#[test]
fn an_async_select_dropped_while_a_write_completes_a_member_took_at_most_that_one() {
    model(|| {
        let ipc = Ipc::new();
        let (a, b) = (
            ipc.pipe(1, 1).create().unwrap(),
            ipc.pipe(1, 1).create().unwrap(),
        );
        let writer = {
            let b = b.clone();
            thread::spawn(move || b.write(&[2]).map(|_| ()))
        };
        let (mut buf_a, mut buf_b) = ([0], [0]);
        let mut select = Select::new()
            .read(&a, &mut buf_a)
            .read(&b, &mut buf_b)
            .wait_async();
        let done = poll_once(&mut select);
        drop(select);
        writer.join().unwrap().unwrap();
        let left = [&a, &b].map(|pipe| pipe.info().unwrap().queued);
        match done {
            Poll::Ready(Ok(SelectDone {
                index: 1,
                result: Ok(1),
            })) => assert_eq!((buf_b, left), ([2], [0, 0])),
            Poll::Pending => assert_eq!(left, [0, 1], "a dropped select took a message"),
            Poll::Ready(other) => panic!("unexpected {other:?}"),
        }
        // The withdrawn member of `a` is freed by a's next operation.
        a.write(&[1]).unwrap();
        for pipe in [&a, &b] {
            let info = pipe.info().unwrap();
            assert_eq!((info.pending_peekers, info.pending_readers), (0, 0));
        }
    });
}
