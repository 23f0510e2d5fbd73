//! [`Select`] as a future: [`Select::wait_async`] (and `.await` on a
//! `Select` itself).

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};

use ipcm::{LocalSelectOp, Progress, SELECT_MAX, SelectOp, Selected, Status, UserAddr};

use super::op::{Lend, Op};
use crate::{Error, Select, SelectDone};

impl<'a> Select<'a> {
    /// [`wait`](Select::wait) as a future (`.await` on the select does the
    /// same): completes exactly one of the operations, the first that can
    /// in the order added, and resolves to which and its result. Works
    /// under any executor.
    ///
    /// While it waits, the select is one pending operation of the core
    /// (a group of member records, one per operation): the call that
    /// completes a member claims the group, the other members are
    /// withdrawn and never happen, and the task's waker is woken. A read
    /// member waits as a pending *peek* and takes the message with a
    /// non-blocking read inside the poll that returns it (as
    /// [`Pipe::read_async`](crate::Pipe::read_async) does; if another
    /// reader was first, the select waits again). A write member's message
    /// is copied into memory the pending operation owns.
    ///
    /// Dropping it before it resolved cancels the whole group (one pipe
    /// lock, no waiting): nothing was read or peeked, and at most one write
    /// member happened, exactly once (a write that completed before the
    /// drop). No copy can reach freed memory: what the members lend lies in
    /// the pending operation's own record, which every member record in
    /// the core keeps alive.
    ///
    /// ```
    /// use ipcm_host::{Ipc, Select};
    /// let ipc = Ipc::new();
    /// let (a, b) = (ipc.pipe(8, 2).create()?, ipc.pipe(8, 2).create()?);
    /// let (mut buf_a, mut buf_b) = ([0; 8], [0; 8]);
    /// let done = futures::executor::block_on(async {
    ///     let select = Select::new().read(&a, &mut buf_a).read(&b, &mut buf_b);
    ///     let (done, _) = futures::join!(select.wait_async(), async { b.write(b"to b") });
    ///     // Or `.await` on the select itself.
    ///     let mut buf = [0; 8];
    ///     a.write(b"to a")?;
    ///     assert_eq!(Select::new().read(&a, &mut buf).await?.index, 0);
    ///     done
    /// })?;
    /// assert_eq!((done.index, done.result), (1, Ok(4)));
    /// assert_eq!(&buf_b[..4], b"to b");
    /// # Ok::<(), ipcm_host::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`wait`](Select::wait).
    pub fn wait_async(self) -> SelectFuture<'a> {
        SelectFuture {
            select: self,
            op: None,
            done: false,
        }
    }
}

impl<'a> IntoFuture for Select<'a> {
    type Output = Result<SelectDone, Error>;
    type IntoFuture = SelectFuture<'a>;

    fn into_future(self) -> SelectFuture<'a> {
        self.wait_async()
    }
}

/// The future of [`Select::wait_async`].
#[must_use = "futures do nothing unless polled"]
pub struct SelectFuture<'a> {
    select: Select<'a>,
    /// The record the select waits with, once it had to.
    op: Option<Op>,
    done: bool,
}

impl std::fmt::Debug for SelectFuture<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SelectFuture")
            .field("members", &self.select.ops.len())
            .field("op", &self.op)
            .finish_non_exhaustive()
    }
}

impl Future for SelectFuture<'_> {
    type Output = Result<SelectDone, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "SelectFuture polled after it resolved");
        let poll = this.poll_select(cx);
        this.done = poll.is_ready();
        poll
    }
}

impl SelectFuture<'_> {
    fn poll_select(&mut self, cx: &mut Context<'_>) -> Poll<Result<SelectDone, Error>> {
        loop {
            let selected = match &mut self.op {
                Some(op) if op.is_pending() => match op.poll_wake(cx.waker()) {
                    None => return Poll::Pending,
                    Some(status) => op.selected().unwrap_or(Selected {
                        index: None,
                        status,
                    }),
                },
                _ => {
                    if let Err(error) = self.select.check() {
                        return Poll::Ready(Err(error));
                    }
                    let reads = self.select.pipes.iter().zip(&self.select.ops);
                    for (pipe, _) in
                        reads.filter(|(_, op)| matches!(op, LocalSelectOp::Read { .. }))
                    {
                        if let Err(error) = super::refuse_rendezvous_read(pipe) {
                            return Poll::Ready(Err(error));
                        }
                    }
                    match self.try_each() {
                        Ok(Some(done)) => return Poll::Ready(Ok(done)),
                        Ok(None) => {}
                        Err(error) => return Poll::Ready(Err(error)),
                    }
                    match self.start(cx) {
                        Ok(Progress::Blocked(_)) => return Poll::Pending,
                        Ok(Progress::Done(selected)) => selected,
                        Err(status) => return Poll::Ready(Err(Error::from_status(status))),
                    }
                }
            };
            if let Some(result) = self.finish(selected) {
                return Poll::Ready(result);
            }
            // A read member's message went to another reader first: again.
        }
    }

    /// The first pass, with no record: the core's lock-free pass with the
    /// caller's buffers ([`ipcm::Ipcm::try_select_as`], after the same
    /// checks as the core's select). `Ok(None)`: no member completed that
    /// way, nothing happened.
    fn try_each(&mut self) -> Result<Option<SelectDone>, Error> {
        let Some(first) = self.select.pipes.first() else {
            return Ok(None);
        };
        let ipc = first.ipc();
        match ipc
            .shared
            .ipcm
            .try_select_as(ipc.process, &mut self.select.ops)
        {
            Ok(done) => Ok(done.map(|done| SelectDone {
                index: done.index,
                result: done.result.map_err(Error::from_status),
            })),
            Err(status) => Err(Error::from_status(status)),
        }
    }

    /// Make the core's select with the future's record (reads as peeks).
    fn start(&mut self, cx: &mut Context<'_>) -> Result<Progress<Selected>, Status> {
        let (pipes, members) = (&self.select.pipes, &self.select.ops);
        let mut lends = [Lend::Sink(0); SELECT_MAX];
        for ((pipe, member), lend) in pipes.iter().zip(members).zip(lends.iter_mut()) {
            *lend = match member {
                LocalSelectOp::Read { .. } | LocalSelectOp::Peek { .. } => {
                    Lend::Sink(pipe.msg_size())
                }
                LocalSelectOp::Write { msg, .. } => Lend::Source(msg),
            };
        }
        let (Some(&first), count) = (pipes.first(), members.len()) else {
            return Err(Status::BadParam);
        };
        let lends = &lends[..count];
        let op = self.op.get_or_insert_with(|| {
            Op::new(first.ipc().process, lends.iter().map(Lend::bytes).sum())
        });
        let ipcm = &first.ipc().shared.ipcm;
        op.start_select(cx.waker(), lends, |me, regions| {
            let mut ops = [SelectOp::Read {
                pipe: first.id(),
                buf: UserAddr::NULL,
                len_out: UserAddr::NULL,
            }; SELECT_MAX];
            for (i, (member, op)) in members.iter().zip(ops.iter_mut()).enumerate() {
                let (buf, len_word) = (regions[2 * i], regions[2 * i + 1]);
                let pipe = member.pipe();
                *op = match member {
                    LocalSelectOp::Read { .. } | LocalSelectOp::Peek { .. } => SelectOp::Peek {
                        pipe,
                        buf: UserAddr(buf.addr),
                        len_out: UserAddr(len_word.addr),
                    },
                    LocalSelectOp::Write { .. } => SelectOp::Write {
                        pipe,
                        buf: UserAddr(buf.addr),
                        len: buf.len,
                    },
                };
            }
            ipcm.select(me, &me.waiter().select, &ops[..count])
        })
    }

    /// The select's result once member `selected` completed in the core;
    /// `None` when it was a read whose message another reader took first.
    fn finish(&mut self, selected: Selected) -> Option<Result<SelectDone, Error>> {
        let Some(index) = selected.index else {
            return Some(Err(Error::from_status(selected.status)));
        };
        let done = |result| Some(Ok(SelectDone { index, result }));
        if selected.status != Status::Ok {
            return done(Err(Error::from_status(selected.status)));
        }
        let pipe = *self.select.pipes.get(index)?;
        match self.select.ops.get_mut(index)? {
            LocalSelectOp::Read { buf, .. } => match pipe.try_read(buf) {
                Err(Error::Empty) => None,
                result => done(result),
            },
            LocalSelectOp::Peek { buf, .. } => {
                let msg = self.op.as_ref()?.received_by(index)?;
                buf[..msg.len()].copy_from_slice(msg);
                done(Ok(msg.len()))
            }
            LocalSelectOp::Write { .. } => done(Ok(0)),
        }
    }
}

impl Drop for SelectFuture<'_> {
    fn drop(&mut self) {
        if let (Some(op), Some(pipe)) = (self.op.take(), self.select.pipes.first()) {
            let _ = op.cancel(&pipe.ipc().shared.ipcm);
        }
    }
}
