//! The §9 queue operations on a [`Pipe`]: urgent writes, purge, close,
//! sequence numbers and peek-newer, indexed peek.

use std::time::{Duration, Instant};

use ipcm::{Caller, Progress, Status};

use crate::Error;
use crate::kernel::current;
use crate::pipe::{Pipe, Written};

/// A message received with its sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Numbered {
    /// The message's length in bytes (it is at the front of the buffer).
    pub len: usize,
    /// Its sequence number: the pipe's `written` count when it was
    /// accepted (1, 2, ...).
    pub seq: u64,
}

impl Pipe {
    /// Write `msg` to the head of the queue (it is read next), waiting
    /// while the pipe is full; otherwise like [`write`](Pipe::write).
    ///
    /// # Errors
    /// As `write`, plus [`Error::Closed`].
    pub fn write_urgent(&self, msg: &[u8]) -> Result<Written, Error> {
        self.urgent(msg, true)
    }

    /// [`write_urgent`](Pipe::write_urgent), but [`Error::Full`] instead
    /// of waiting.
    ///
    /// # Errors
    /// As `write_urgent`, plus [`Error::Full`].
    pub fn try_write_urgent(&self, msg: &[u8]) -> Result<Written, Error> {
        self.urgent(msg, false)
    }

    /// Write `msg` at message priority `prio` (higher is read first, FIFO
    /// within a priority) to a pipe built with
    /// [`by_message_priority`](crate::PipeBuilder::by_message_priority),
    /// waiting while it is full; otherwise like [`write`](Pipe::write). A
    /// waiting reader takes it at once, whatever its priority; a writer
    /// that waits is let in first come, first served, and its message then
    /// takes its place by `prio`.
    ///
    /// # Errors
    /// As `write`, plus [`Error::Closed`]; [`Error::BadParam`] for a `prio`
    /// other than 0 on a pipe that does not order by priority.
    pub fn write_prio(&self, msg: &[u8], prio: u8) -> Result<Written, Error> {
        self.prio(msg, prio, true)
    }

    /// [`write_prio`](Pipe::write_prio), but [`Error::Full`] instead of
    /// waiting.
    ///
    /// # Errors
    /// As `write_prio`, plus [`Error::Full`].
    pub fn try_write_prio(&self, msg: &[u8], prio: u8) -> Result<Written, Error> {
        self.prio(msg, prio, false)
    }

    fn prio(&self, msg: &[u8], prio: u8, wait: bool) -> Result<Written, Error> {
        let ipcm = &self.ipc().shared.ipcm;
        current(|me| {
            me.act_for(self.ipc().process);
            let (lease, src) = me.waiter().lease.lend_source(msg);
            let result = if wait {
                match ipcm.write_prio(me, self.handle(), src, msg.len(), prio) {
                    Ok(Progress::Done(written)) => Ok(written.into()),
                    Ok(Progress::Blocked(ticket)) => match me.wait(ipcm, ticket, None) {
                        Status::Ok => Ok(Written::default()),
                        status => Err(status),
                    },
                    Err(status) => Err(status),
                }
            } else {
                ipcm.try_write_prio(me, self.handle(), src, msg.len(), prio)
                    .map(Written::from)
            };
            drop(lease);
            result
        })
        .map_err(|status| match status {
            Status::BadParam => Error::bad_param(format!(
                "message priority {prio} on a pipe not built with by_message_priority"
            )),
            status => self.status_error(status, msg.len()),
        })
    }

    fn urgent(&self, msg: &[u8], wait: bool) -> Result<Written, Error> {
        let ipcm = &self.ipc().shared.ipcm;
        current(|me| {
            me.act_for(self.ipc().process);
            let (lease, src) = me.waiter().lease.lend_source(msg);
            let result = if wait {
                match ipcm.write_urgent(me, self.handle(), src, msg.len()) {
                    Ok(Progress::Done(written)) => Ok(written.into()),
                    Ok(Progress::Blocked(ticket)) => match me.wait(ipcm, ticket, None) {
                        Status::Ok => Ok(Written::default()),
                        status => Err(status),
                    },
                    Err(status) => Err(status),
                }
            } else {
                ipcm.try_write_urgent(me, self.handle(), src, msg.len())
                    .map(Written::from)
            };
            drop(lease);
            result
        })
        .map_err(|status| self.status_error(status, msg.len()))
    }

    /// Drop every queued message, then admit waiting writers while room
    /// remains; returns how many messages were dropped. Owner only.
    ///
    /// # Errors
    /// [`Error::Denied`], [`Error::Destroyed`].
    pub fn purge(&self) -> Result<usize, Error> {
        let ipcm = &self.ipc().shared.ipcm;
        current(|me| {
            me.act_for(self.ipc().process);
            ipcm.purge(Caller::Thread(me), self.handle())
        })
        .map_err(Error::from_status)
    }

    /// Close the pipe: every write from now on (and every waiting one)
    /// fails [`Error::Closed`]; readers drain what is queued, then get
    /// [`Error::Closed`] too. Owner only.
    ///
    /// # Errors
    /// [`Error::Denied`], [`Error::Destroyed`], [`Error::Closed`] (already
    /// closed).
    pub fn close(&self) -> Result<(), Error> {
        let ipcm = &self.ipc().shared.ipcm;
        current(|me| {
            me.act_for(self.ipc().process);
            ipcm.close(Caller::Thread(me), self.handle())
        })
        .map_err(Error::from_status)
    }

    /// [`read`](Pipe::read), also returning the message's sequence number.
    ///
    /// # Errors
    /// As `read`, plus [`Error::Closed`].
    pub fn read_seq(&self, buf: &mut [u8]) -> Result<Numbered, Error> {
        self.numbered(buf, Kind::Read, None)
    }

    /// [`read_seq`](Pipe::read_seq), but [`Error::Empty`] instead of
    /// waiting.
    ///
    /// # Errors
    /// As `read_seq`, plus [`Error::Empty`].
    pub fn try_read_seq(&self, buf: &mut [u8]) -> Result<Numbered, Error> {
        self.numbered(buf, Kind::TryRead, None)
    }

    /// Copy, without taking it, the first queued message numbered above
    /// `after`, waiting until a write brings one. `peek_newer(0)` is a
    /// peek that reports the number.
    ///
    /// # Errors
    /// As [`peek`](Pipe::peek), plus [`Error::Closed`] once closed with
    /// nothing newer queued.
    pub fn peek_newer(&self, after: u64, buf: &mut [u8]) -> Result<Numbered, Error> {
        self.numbered(buf, Kind::PeekNewer(after), None)
    }

    /// [`peek_newer`](Pipe::peek_newer), waiting at most `timeout`.
    ///
    /// # Errors
    /// As `peek_newer`, plus [`Error::TimedOut`].
    pub fn peek_newer_timeout(
        &self,
        after: u64,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<Numbered, Error> {
        self.peek_newer_until(after, buf, Instant::now().checked_add(timeout))
    }

    /// [`peek_newer`](Pipe::peek_newer) until `deadline` (`None`: for ever).
    pub(crate) fn peek_newer_until(
        &self,
        after: u64,
        buf: &mut [u8],
        deadline: Option<Instant>,
    ) -> Result<Numbered, Error> {
        self.numbered(buf, Kind::PeekNewer(after), deadline)
    }

    /// Copy the queued message `index` places from the front (0: read
    /// next) without taking it; never waits.
    ///
    /// # Errors
    /// [`Error::Empty`] past the end, [`Error::Closed`] (closed and
    /// empty), as `peek` otherwise.
    pub fn peek_at(&self, index: usize, buf: &mut [u8]) -> Result<Numbered, Error> {
        self.numbered(buf, Kind::At(index), None)
    }

    fn numbered(
        &self,
        buf: &mut [u8],
        kind: Kind,
        deadline: Option<Instant>,
    ) -> Result<Numbered, Error> {
        if buf.len() < self.msg_size() {
            return Err(Error::bad_param(
                "the receive buffer is shorter than the pipe's msg_size",
            ));
        }
        let ipcm = &self.ipc().shared.ipcm;
        current(|me| {
            me.act_for(self.ipc().process);
            let (mut len, mut seq) = (0, 0);
            let (lease, dst, len_out, seq_out) =
                me.waiter().lease.lend_sink_seq(buf, &mut len, &mut seq);
            let progress = match kind {
                Kind::Read => ipcm.read_seq(me, self.handle(), dst, len_out, seq_out),
                Kind::TryRead => ipcm
                    .try_read_seq(me, self.handle(), dst, len_out, seq_out)
                    .map(Progress::Done),
                Kind::PeekNewer(after) => {
                    ipcm.peek_newer(me, self.handle(), after, dst, len_out, seq_out)
                }
                Kind::At(index) => ipcm
                    .peek_at(me, self.handle(), index, dst, len_out, seq_out)
                    .map(Progress::Done),
            };
            let result = match progress {
                Ok(Progress::Done(received)) => Ok(Some(Numbered {
                    len: received.len,
                    seq: received.seq,
                })),
                Ok(Progress::Blocked(ticket)) => match me.wait(ipcm, ticket, deadline) {
                    Status::Ok => Ok(None),
                    status => Err(status),
                },
                Err(status) => Err(status),
            };
            drop(lease);
            // `None`: the completer stored the length and number.
            result.map(|done| done.unwrap_or(Numbered { len, seq }))
        })
        .map_err(Error::from_status)
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Read,
    TryRead,
    PeekNewer(u64),
    At(usize),
}
