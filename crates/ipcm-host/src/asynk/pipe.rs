//! The futures of [`Pipe`]: [`Pipe::read_async`], [`Pipe::peek_async`] and
//! [`Pipe::write_async`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use ipcm::{Progress, Status};

use super::op::Op;
use crate::{Error, Pipe, Written};

impl Pipe {
    /// [`read`](Pipe::read) as a future: the oldest message into `buf`
    /// (at least [`msg_size`](Pipe::msg_size) bytes); resolves to its
    /// length. Works under any executor.
    ///
    /// Cancel-safe: dropping it before it resolved took no message. While
    /// the pipe is empty the future waits as a pending peek of the core,
    /// which the next write completes (with a copy, consuming nothing) and
    /// wakes it; the future then takes the message with a non-blocking
    /// read, or waits again if another reader was first. So a message is
    /// consumed only inside a poll that returns it.
    ///
    /// For a deadline, race it with the executor's timer (for example
    /// `tokio::time::timeout`); the drop that ends the race is safe.
    ///
    /// # Errors
    /// As [`read`](Pipe::read).
    pub fn read_async<'a>(&'a self, buf: &'a mut [u8]) -> ReadFuture<'a> {
        ReadFuture {
            pipe: self,
            buf,
            op: None,
            yielded: false,
            done: false,
        }
    }

    /// [`peek`](Pipe::peek) as a future: a copy of the oldest message into
    /// `buf`, waiting while the pipe is empty; resolves to its length.
    /// Dropping it changes nothing in the pipe.
    ///
    /// # Errors
    /// As [`peek`](Pipe::peek).
    pub fn peek_async<'a>(&'a self, buf: &'a mut [u8]) -> PeekFuture<'a> {
        PeekFuture {
            pipe: self,
            buf,
            op: None,
            done: false,
        }
    }

    /// [`write`](Pipe::write) as a future: `msg` as one message, waiting
    /// while the pipe is full.
    ///
    /// While it waits it is a pending write of the core, completed by the
    /// read that makes room (which copies the message into the pipe and
    /// wakes the future). Its message is copied into memory the pending
    /// operation owns, so `msg` is not lent beyond a poll. Dropping it
    /// cancels the write: either it had not happened (nothing written) or
    /// it had completed first (written exactly once); never half.
    ///
    /// # Errors
    /// As [`write`](Pipe::write).
    pub fn write_async<'a>(&'a self, msg: &'a [u8]) -> WriteFuture<'a> {
        self.write_future(msg, WriteHow::Plain)
    }

    pub(super) fn write_future<'a>(&'a self, msg: &'a [u8], how: WriteHow) -> WriteFuture<'a> {
        WriteFuture {
            pipe: self,
            msg,
            how,
            op: None,
            yielded: false,
            done: false,
        }
    }

    /// A record of its own for a future of this pipe.
    pub(super) fn new_op(&self) -> Op {
        Op::new(self.ipc().process, self.msg_size())
    }

    /// Cancel a future's operation, if one is in flight (never blocks for
    /// longer than the pipe's lock is held).
    pub(super) fn cancel(&self, op: Option<Op>) {
        if let Some(op) = op {
            let _ = op.cancel(&self.ipc().shared.ipcm);
        }
    }
}

/// The future of [`Pipe::read_async`].
///
/// Dropping any future of this crate before it resolved is safe and quick:
/// it cancels its pending operation (one pipe lock; it waits for nothing),
/// and
/// - a read or peek consumed nothing: a read waits as a pending *peek* and
///   takes the message with a non-blocking read inside the poll that
///   returns it, so no message is ever handed to a future nobody polls;
/// - a write either did not happen or had completed, exactly once;
/// - no copy can reach freed memory: what a pending operation lends (a copy
///   of the message to write, the buffer a peek fills) is owned by the
///   operation's own record, which the core holds until its wake, not by
///   the future.
///
/// A future that need not wait completes in its first poll on the same
/// fast path as the blocking calls, with no allocation. A read or write
/// that would wait first gives the executor one turn (it wakes itself and
/// answers `Pending`, registering nothing) and looks again, as a blocking
/// call polls before it registers: in a ping-pong between tasks the
/// partner usually answers in that turn, and then nothing waits (p50
/// round trip 0.78 µs → 0.30 µs on a 2-worker tokio runtime). One that
/// still waits takes an idle record of its thread or allocates one. Each waiting future
/// is its own core "thread", so a task may await several at once.
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct ReadFuture<'a> {
    pipe: &'a Pipe,
    buf: &'a mut [u8],
    op: Option<Op>,
    /// Whether it gave the executor one turn before waiting (see
    /// [`yield_once`]).
    yielded: bool,
    done: bool,
}

impl Future for ReadFuture<'_> {
    type Output = Result<usize, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "ReadFuture polled after it resolved");
        let ready = |this: &mut Self, result| {
            this.done = true;
            Poll::Ready(result)
        };
        if let Err(error) = super::refuse_rendezvous_read(this.pipe) {
            return ready(this, Err(error));
        }
        loop {
            if let Some(op) = &mut this.op {
                match op.poll_wake(cx.waker()) {
                    None if op.is_pending() => return Poll::Pending,
                    // A write came (or none was awaited): take the oldest.
                    None | Some(Status::Ok) => {}
                    Some(status) => return ready(this, Err(Error::from_status(status))),
                }
            }
            match this.pipe.try_read(this.buf) {
                Err(Error::Empty) => {}
                result => return ready(this, result),
            }
            if this.op.is_none() && yield_once(&mut this.yielded, cx) {
                return Poll::Pending;
            }
            let pipe = this.pipe;
            let op = this.op.get_or_insert_with(|| pipe.new_op());
            let ipcm = &pipe.ipc().shared.ipcm;
            match op.start_sink(cx.waker(), |me, dst, len_out| {
                ipcm.peek(me, pipe.core_pipe(), dst, len_out)
            }) {
                Ok(Progress::Blocked(_)) => return Poll::Pending,
                // A message arrived in between: take it.
                Ok(Progress::Done(_)) => {}
                Err(status) => return ready(this, Err(Error::from_status(status))),
            }
        }
    }
}

impl Drop for ReadFuture<'_> {
    fn drop(&mut self) {
        self.pipe.cancel(self.op.take());
    }
}

/// The future of [`Pipe::peek_async`].
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct PeekFuture<'a> {
    pipe: &'a Pipe,
    buf: &'a mut [u8],
    op: Option<Op>,
    done: bool,
}

impl PeekFuture<'_> {
    /// Hand over the copy the core left in the record.
    fn copy_out(&mut self) -> Result<usize, Error> {
        self.done = true;
        let msg = self
            .op
            .as_ref()
            .and_then(Op::received)
            .expect("the peek is over");
        self.buf[..msg.len()].copy_from_slice(msg);
        Ok(msg.len())
    }
}

impl Future for PeekFuture<'_> {
    type Output = Result<usize, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "PeekFuture polled after it resolved");
        if let Some(op) = &mut this.op {
            return match op.poll_wake(cx.waker()) {
                None => Poll::Pending,
                Some(Status::Ok) => Poll::Ready(this.copy_out()),
                Some(status) => {
                    this.done = true;
                    Poll::Ready(Err(Error::from_status(status)))
                }
            };
        }
        match this.pipe.try_peek(this.buf) {
            Err(Error::Empty) => {}
            result => {
                this.done = true;
                return Poll::Ready(result);
            }
        }
        let pipe = this.pipe;
        let op = this.op.insert(pipe.new_op());
        let ipcm = &pipe.ipc().shared.ipcm;
        match op.start_sink(cx.waker(), |me, dst, len_out| {
            ipcm.peek(me, pipe.core_pipe(), dst, len_out)
        }) {
            Ok(Progress::Blocked(_)) => Poll::Pending,
            Ok(Progress::Done(_)) => Poll::Ready(this.copy_out()),
            Err(status) => {
                this.done = true;
                Poll::Ready(Err(Error::from_status(status)))
            }
        }
    }
}

impl Drop for PeekFuture<'_> {
    fn drop(&mut self) {
        self.pipe.cancel(self.op.take());
    }
}

/// Where a [`WriteFuture`] puts its message.
#[derive(Clone, Copy, Debug)]
pub(super) enum WriteHow {
    /// At the back ([`Pipe::write_async`]).
    Plain,
    /// At the front ([`Pipe::write_urgent_async`]).
    Urgent,
    /// By message priority ([`Pipe::write_prio_async`]).
    Prio(u8),
}

/// The future of [`Pipe::write_async`], [`Pipe::write_urgent_async`] and
/// [`Pipe::write_prio_async`].
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct WriteFuture<'a> {
    pipe: &'a Pipe,
    msg: &'a [u8],
    how: WriteHow,
    op: Option<Op>,
    /// As [`ReadFuture`]'s.
    yielded: bool,
    done: bool,
}

impl Future for WriteFuture<'_> {
    type Output = Result<Written, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "WriteFuture polled after it resolved");
        let result = if let Some(op) = &mut this.op {
            match op.poll_wake(cx.waker()) {
                None => return Poll::Pending,
                // A waiting writer is admitted into a freed slot: it
                // neither drops nor hands off.
                Some(Status::Ok) => Ok(Written::default()),
                Some(status) => Err(Error::from_status(status)),
            }
        } else {
            let attempt = match this.how {
                WriteHow::Plain => this.pipe.try_write(this.msg),
                WriteHow::Urgent => this.pipe.try_write_urgent(this.msg),
                WriteHow::Prio(prio) => this.pipe.try_write_prio(this.msg, prio),
            };
            match attempt {
                Err(Error::Full) if yield_once(&mut this.yielded, cx) => return Poll::Pending,
                Err(Error::Full) => {
                    let (pipe, how) = (this.pipe, this.how);
                    let op = this.op.insert(pipe.new_op());
                    let ipcm = &pipe.ipc().shared.ipcm;
                    match op.start_source(cx.waker(), this.msg, |me, src, len| match how {
                        WriteHow::Plain => ipcm.write(me, pipe.core_pipe(), src, len),
                        WriteHow::Urgent => ipcm.write_urgent(me, pipe.core_pipe(), src, len),
                        WriteHow::Prio(prio) => {
                            ipcm.write_prio(me, pipe.core_pipe(), src, len, prio)
                        }
                    }) {
                        Ok(Progress::Blocked(_)) => return Poll::Pending,
                        Ok(Progress::Done(written)) => Ok(written.into()),
                        Err(status) => Err(Error::from_status(status)),
                    }
                }
                result => result,
            }
        };
        this.done = true;
        Poll::Ready(result)
    }
}

impl Drop for WriteFuture<'_> {
    fn drop(&mut self) {
        self.pipe.cancel(self.op.take());
    }
}

/// Before a future registers its first wait: give the executor one turn
/// (wake itself, answer `Pending`) and look again when polled next, as a
/// blocking call polls before it registers ([`crate::waiting`]). A task on
/// another worker (or the next one on this thread) often completes the
/// wait meanwhile, and then nothing was registered: no record, no locked
/// hand-off for the partner, no wake. `true` the first time only.
///
/// The price: a task that woke itself lands in its worker's stealable run
/// queue, so tokio's multi-thread scheduler keeps a producer and a
/// consumer on two workers where a registered wait would have brought the
/// woken task to the waker's worker (tokio mpsc's SPSC runs at 1.0 CPU,
/// this at 1.5–1.8). Tried and dropped (2026-12-03, `ab.sh async` and
/// `throughput async-pingpong`, 2-worker tokio runtime, M msg/s and µs):
/// no yield at all, SPSC 9.95 against 8.55 with it (tokio mpsc 12.74), but
/// ping-pong p50 1.08 µs against 0.30; a yield before reads only, SPSC
/// 7.95. An hour later the same two builds measured alike (SPSC 9.94 and
/// 9.82, p50 0.75 and 0.74 µs; tokio mpsc 12.37 and 0.32): which wins
/// moves with the VM's cross-CPU cost. On one thread, where placement
/// plays no part, a message costs fewer instructions than tokio mpsc's
/// (`callgrind.sh 64 async`), a ping-pong round trip more (4,141 against
/// 2,372).
fn yield_once(yielded: &mut bool, cx: &Context<'_>) -> bool {
    if *yielded {
        return false;
    }
    *yielded = true;
    cx.waker().wake_by_ref();
    true
}
