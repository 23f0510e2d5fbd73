//! Helpers the async tests share.
#![allow(dead_code)] // each test crate uses some of them

use std::future::Future;
use std::task::{Context, Poll};
use std::thread;
use std::time::Duration;

use futures::task::noop_waker;

/// Poll `future` once with a waker that does nothing.
pub fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    let waker = noop_waker();
    std::pin::Pin::new(future).poll(&mut Context::from_waker(&waker))
}

/// Poll `future` until it waits: twice if the first poll was `Pending`,
/// since a read or write future spends its first `Pending` giving the
/// executor a turn, with nothing registered yet; the second registers its
/// wait (unless it completes), which is what the drop races need.
pub fn poll_to_wait<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    match poll_once(future) {
        Poll::Pending => poll_once(future),
        ready => ready,
    }
}

/// Let the other thread run for a moment that varies with `round`, so a
/// drop lands before, during and after the completion it races.
pub fn stagger(round: u32) {
    match round % 4 {
        0 => {}
        1 => thread::yield_now(),
        2 => (0..round % 200).for_each(|_| std::hint::spin_loop()),
        _ => thread::sleep(Duration::from_micros(u64::from(round % 7))),
    }
}

/// A tokio runtime with two worker threads and a timer.
pub fn multi_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap()
}
