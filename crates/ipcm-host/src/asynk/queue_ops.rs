//! The futures of the §9 operations on a [`Pipe`]:
//! [`Pipe::write_urgent_async`], [`Pipe::write_prio_async`],
//! [`Pipe::read_seq_async`] and [`Pipe::peek_newer_async`]. Their
//! cancellation rules are those of every future of this crate (see
//! [`ReadFuture`](super::ReadFuture)).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use ipcm::{Progress, Status};

use super::op::Op;
use super::pipe::WriteHow;
use crate::{Error, Numbered, Pipe, WriteFuture};

impl Pipe {
    /// [`write_urgent`](Pipe::write_urgent) as a future: `msg` to the head
    /// of the queue (read next), waiting while the pipe is full. Dropping
    /// it cancels the write as [`write_async`](Pipe::write_async)'s drop
    /// does: it did not happen, or it had completed, exactly once.
    ///
    /// # Errors
    /// As `write_urgent`.
    pub fn write_urgent_async<'a>(&'a self, msg: &'a [u8]) -> WriteFuture<'a> {
        self.write_future(msg, WriteHow::Urgent)
    }

    /// [`write_prio`](Pipe::write_prio) as a future: `msg` at message
    /// priority `prio`, waiting while the pipe is full; dropped, as
    /// [`write_urgent_async`](Pipe::write_urgent_async).
    ///
    /// # Errors
    /// As `write_prio`.
    pub fn write_prio_async<'a>(&'a self, msg: &'a [u8], prio: u8) -> WriteFuture<'a> {
        self.write_future(msg, WriteHow::Prio(prio))
    }

    /// [`read_seq`](Pipe::read_seq) as a future: the oldest message into
    /// `buf` and its sequence number. Cancel-safe as
    /// [`read_async`](Pipe::read_async): it waits as a pending peek and
    /// takes the message with a non-blocking read inside the poll that
    /// returns it, so dropping it never loses a message.
    ///
    /// # Errors
    /// As `read_seq`.
    pub fn read_seq_async<'a>(&'a self, buf: &'a mut [u8]) -> ReadSeqFuture<'a> {
        ReadSeqFuture {
            pipe: self,
            buf,
            op: None,
            done: false,
        }
    }

    /// [`peek_newer`](Pipe::peek_newer) as a future: a copy of the first
    /// queued message numbered above `after`, waiting until a write brings
    /// one; resolves to its length and number. While it waits it is a
    /// pending peek-newer of the core, woken by the next write numbered
    /// above `after` and not before. Dropping it changes nothing in the
    /// pipe.
    ///
    /// # Errors
    /// As `peek_newer`.
    pub fn peek_newer_async<'a>(&'a self, after: u64, buf: &'a mut [u8]) -> PeekNewerFuture<'a> {
        PeekNewerFuture {
            pipe: self,
            after,
            buf,
            op: None,
            done: false,
        }
    }
}

/// The future of [`Pipe::read_seq_async`].
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct ReadSeqFuture<'a> {
    pipe: &'a Pipe,
    buf: &'a mut [u8],
    op: Option<Op>,
    done: bool,
}

impl Future for ReadSeqFuture<'_> {
    type Output = Result<Numbered, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "ReadSeqFuture polled after it resolved");
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
            match this.pipe.try_read_seq(this.buf) {
                Err(Error::Empty) => {}
                result => return ready(this, result),
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

impl Drop for ReadSeqFuture<'_> {
    fn drop(&mut self) {
        self.pipe.cancel(self.op.take());
    }
}

/// The future of [`Pipe::peek_newer_async`].
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct PeekNewerFuture<'a> {
    pipe: &'a Pipe,
    after: u64,
    buf: &'a mut [u8],
    op: Option<Op>,
    done: bool,
}

impl PeekNewerFuture<'_> {
    /// Hand over the copy and number the core left in the record.
    fn copy_out(&mut self) -> Result<Numbered, Error> {
        self.done = true;
        let op = self.op.as_ref().expect("the peek is over");
        let (msg, seq) = op
            .received()
            .zip(op.received_seq())
            .expect("the peek is over");
        self.buf[..msg.len()].copy_from_slice(msg);
        Ok(Numbered {
            len: msg.len(),
            seq,
        })
    }

    fn fail(&mut self, status: Status) -> Poll<Result<Numbered, Error>> {
        self.done = true;
        Poll::Ready(Err(Error::from_status(status)))
    }
}

impl Future for PeekNewerFuture<'_> {
    type Output = Result<Numbered, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "PeekNewerFuture polled after it resolved");
        if let Some(op) = &mut this.op {
            return match op.poll_wake(cx.waker()) {
                None => Poll::Pending,
                Some(Status::Ok) => Poll::Ready(this.copy_out()),
                Some(status) => this.fail(status),
            };
        }
        if this.buf.len() < this.pipe.msg_size() {
            this.done = true;
            return Poll::Ready(Err(Error::bad_param(
                "the receive buffer is shorter than the pipe's msg_size",
            )));
        }
        let (pipe, after) = (this.pipe, this.after);
        let op = this.op.insert(pipe.new_op());
        let ipcm = &pipe.ipc().shared.ipcm;
        match op.start_sink_seq(cx.waker(), |me, dst, len_out, seq_out| {
            ipcm.peek_newer(me, pipe.core_pipe(), after, dst, len_out, seq_out)
        }) {
            Ok(Progress::Blocked(_)) => Poll::Pending,
            Ok(Progress::Done(_)) => Poll::Ready(this.copy_out()),
            Err(status) => this.fail(status),
        }
    }
}

impl Drop for PeekNewerFuture<'_> {
    fn drop(&mut self) {
        self.pipe.cancel(self.op.take());
    }
}
