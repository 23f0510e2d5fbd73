//! [`Select`]: wait on several reads, peeks and writes at once; exactly one
//! of them happens (DESIGN §9).

use std::sync::Arc;

use ipcm::{Progress, SELECT_MAX, SelectOp, Status, UserAddr};

use crate::kernel::current;
use crate::user_copy::Region;
use crate::{Error, Pipe};

/// One operation of a [`Select`].
pub(crate) enum Member<'a> {
    Read(&'a Pipe, &'a mut [u8]),
    Peek(&'a Pipe, &'a mut [u8]),
    Write(&'a Pipe, &'a [u8]),
}

impl Member<'_> {
    pub(crate) fn pipe(&self) -> &Pipe {
        match self {
            Member::Read(pipe, _) | Member::Peek(pipe, _) | Member::Write(pipe, _) => pipe,
        }
    }
}

/// Which operation of a [`Select`] happened, and its result.
#[derive(Debug, PartialEq, Eq)]
pub struct SelectDone {
    /// The operation's index, in the order they were added.
    pub index: usize,
    /// For a read or peek the message's length (in that operation's
    /// buffer); for a write 0. Or the operation's error (e.g.
    /// [`Error::Closed`], [`Error::Destroyed`]): the select completes with
    /// a member that fails.
    pub result: Result<usize, Error>,
}

/// A select over up to [`SELECT_MAX`] operations on pipes of one [`Ipc`]
/// manager: [`wait`](Select::wait) completes exactly one and the others
/// never happen (nothing taken, written or copied to their buffers).
///
/// ```
/// use ipcm_host::{Ipc, Select};
/// let ipc = Ipc::new();
/// let (a, b) = (ipc.pipe(8, 2).create()?, ipc.pipe(8, 2).create()?);
/// b.write(b"to b")?;
/// let (mut buf_a, mut buf_b) = ([0; 8], [0; 8]);
/// let done = Select::new().read(&a, &mut buf_a).read(&b, &mut buf_b).wait()?;
/// assert_eq!((done.index, done.result), (1, Ok(4)));
/// assert_eq!(&buf_b[..4], b"to b");
/// # Ok::<(), ipcm_host::Error>(())
/// ```
///
/// [`Ipc`]: crate::Ipc
#[must_use = "call .wait() to select"]
pub struct Select<'a> {
    pub(crate) members: [Option<Member<'a>>; SELECT_MAX],
    pub(crate) count: usize,
    /// More than `SELECT_MAX` were added.
    pub(crate) overflow: bool,
}

impl Default for Select<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> Select<'a> {
    /// An empty select.
    pub fn new() -> Self {
        Select {
            members: [const { None }; SELECT_MAX],
            count: 0,
            overflow: false,
        }
    }

    fn add(mut self, member: Member<'a>) -> Self {
        self.push(member);
        self
    }

    fn push(&mut self, member: Member<'a>) -> &mut Self {
        match self.members.get_mut(self.count) {
            Some(slot) => {
                *slot = Some(member);
                self.count += 1;
            }
            None => self.overflow = true,
        }
        self
    }

    /// [`read`](Self::read) in place, for a select built in a loop: the
    /// by-value forms move the whole select (all [`SELECT_MAX`] slots)
    /// through each call, which `select = select.read(..)` in a loop pays
    /// as a copy per member (about 80 instructions of `memcpy` each,
    /// measured with callgrind).
    pub fn push_read(&mut self, pipe: &'a Pipe, buf: &'a mut [u8]) -> &mut Self {
        self.push(Member::Read(pipe, buf))
    }

    /// [`peek`](Self::peek) in place (see [`push_read`](Self::push_read)).
    pub fn push_peek(&mut self, pipe: &'a Pipe, buf: &'a mut [u8]) -> &mut Self {
        self.push(Member::Peek(pipe, buf))
    }

    /// [`write`](Self::write) in place (see [`push_read`](Self::push_read)).
    pub fn push_write(&mut self, pipe: &'a Pipe, msg: &'a [u8]) -> &mut Self {
        self.push(Member::Write(pipe, msg))
    }

    /// Take the oldest message of `pipe` into `buf` (at least its
    /// `msg_size` bytes).
    pub fn read(self, pipe: &'a Pipe, buf: &'a mut [u8]) -> Self {
        self.add(Member::Read(pipe, buf))
    }

    /// Copy the oldest message of `pipe` into `buf` without taking it.
    pub fn peek(self, pipe: &'a Pipe, buf: &'a mut [u8]) -> Self {
        self.add(Member::Peek(pipe, buf))
    }

    /// Write `msg` to `pipe`.
    pub fn write(self, pipe: &'a Pipe, msg: &'a [u8]) -> Self {
        self.add(Member::Write(pipe, msg))
    }

    /// Complete the first operation that can, in the order added, waiting
    /// until one can.
    ///
    /// # Errors
    /// Before anything happens: [`Error::BadParam`] (no operation, more
    /// than [`SELECT_MAX`], pipes of different managers, a receive buffer
    /// shorter than its pipe's `msg_size`), [`Error::TooLarge`],
    /// [`Error::Denied`], [`Error::Destroyed`]/[`Error::NotFound`],
    /// [`Error::NoMemory`].
    pub fn wait(mut self) -> Result<SelectDone, Error> {
        let count = self.count;
        let ipc = self.check()?.clone();
        let members = &mut self.members[..count];
        let first = members
            .iter()
            .flatten()
            .next()
            .map(|member| member.pipe().id());
        let first = first.expect("checked: one member at least");
        let mut lens = [0usize; SELECT_MAX];
        let mut regions = [Region::default(); 2 * SELECT_MAX];
        let mut ops = [SelectOp::Read {
            pipe: first,
            buf: UserAddr::NULL,
            len_out: UserAddr::NULL,
        }; SELECT_MAX];
        for (i, (member, len)) in members.iter_mut().zip(lens.iter_mut()).enumerate() {
            let Some(member) = member else {
                continue;
            };
            let id = member.pipe().id();
            let len_region = Region::sink(bytemuck_usize(len));
            ops[i] = match member {
                Member::Read(..) | Member::Peek(..) => {
                    let is_read = matches!(member, Member::Read(..));
                    let (Member::Read(_, buf) | Member::Peek(_, buf)) = member else {
                        unreachable!()
                    };
                    regions[2 * i] = Region::sink(buf);
                    regions[2 * i + 1] = len_region;
                    let (buf, len_out) = (UserAddr(regions[2 * i].addr), UserAddr(len_region.addr));
                    if is_read {
                        SelectOp::Read {
                            pipe: id,
                            buf,
                            len_out,
                        }
                    } else {
                        SelectOp::Peek {
                            pipe: id,
                            buf,
                            len_out,
                        }
                    }
                }
                Member::Write(_, msg) => {
                    regions[2 * i] = Region::source(msg);
                    SelectOp::Write {
                        pipe: id,
                        buf: UserAddr(regions[2 * i].addr),
                        len: msg.len(),
                    }
                }
            };
        }
        let ipcm = &ipc.shared.ipcm;
        let selected = current(|me| {
            me.act_for(ipc.process);
            let group = &me.waiter().select;
            let lease = me.waiter().lease.lend_regions(&regions[..2 * count]);
            let result = match ipcm.select(me, group, &ops[..count]) {
                Ok(Progress::Done(selected)) => Ok(selected),
                Ok(Progress::Blocked(ticket)) => {
                    let status = me.wait(ipcm, ticket, None);
                    Ok(group.outcome().unwrap_or(ipcm::Selected {
                        index: None,
                        status,
                    }))
                }
                Err(status) => Err(status),
            };
            drop(lease);
            result
        })
        .map_err(Error::from_status)?;
        let Some(index) = selected.index else {
            return Err(Error::from_status(selected.status));
        };
        let result = match selected.status {
            Status::Ok => match members.get(index) {
                Some(Some(Member::Write(..))) => Ok(0),
                _ => Ok(lens[index]),
            },
            status => Err(Error::from_status(status)),
        };
        Ok(SelectDone { index, result })
    }
}

impl Select<'_> {
    /// The checks [`wait`](Select::wait) and its async form make before
    /// anything happens; the manager of the pipes.
    pub(crate) fn check(&self) -> Result<&crate::Ipc, Error> {
        let members = &self.members[..self.count];
        let Some(Some(first)) = members.first() else {
            return Err(Error::bad_param("a select needs at least one operation"));
        };
        if self.overflow {
            return Err(Error::bad_param(
                "a select takes at most SELECT_MAX operations",
            ));
        }
        let ipc = first.pipe().ipc();
        for member in members.iter().flatten() {
            let pipe = member.pipe();
            if !Arc::ptr_eq(&pipe.ipc().shared, &ipc.shared) {
                return Err(Error::bad_param(
                    "every pipe of a select must belong to one Ipc manager",
                ));
            }
            let short = match member {
                Member::Read(_, buf) | Member::Peek(_, buf) => buf.len() < pipe.msg_size(),
                Member::Write(..) => false,
            };
            if short {
                return Err(Error::bad_param(
                    "the receive buffer is shorter than the pipe's msg_size",
                ));
            }
        }
        Ok(ipc)
    }
}

/// The bytes of a `usize` length word, for a region.
fn bytemuck_usize(word: &mut usize) -> &mut [u8] {
    bytemuck::bytes_of_mut(word)
}
