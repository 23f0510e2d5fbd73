//! [`Select`]: wait on several reads, peeks and writes at once; exactly one
//! of them happens (DESIGN §9).

use std::sync::Arc;

use arrayvec::ArrayVec;
use ipcm::{LocalSelectOp, Progress, SELECT_MAX, SelectOp, Status, UserAddr};

use crate::kernel::current;
use crate::user_copy::Region;
use crate::{Error, Pipe};

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
    /// The operations, in the order added.
    pub(crate) ops: ArrayVec<LocalSelectOp<'a>, SELECT_MAX>,
    /// Their pipes.
    pub(crate) pipes: ArrayVec<&'a Pipe, SELECT_MAX>,
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
            ops: ArrayVec::new_const(),
            pipes: ArrayVec::new_const(),
            overflow: false,
        }
    }

    fn add(mut self, pipe: &'a Pipe, op: LocalSelectOp<'a>) -> Self {
        self.push(pipe, op);
        self
    }

    fn push(&mut self, pipe: &'a Pipe, op: LocalSelectOp<'a>) -> &mut Self {
        if self.ops.try_push(op).is_ok() {
            self.pipes.push(pipe);
        } else {
            self.overflow = true;
        }
        self
    }

    /// [`read`](Self::read) in place, for a select built in a loop: the
    /// by-value forms move the whole select (all [`SELECT_MAX`] slots)
    /// through each call, which `select = select.read(..)` in a loop pays
    /// as a copy per member (about 80 instructions of `memcpy` each,
    /// measured with callgrind).
    pub fn push_read(&mut self, pipe: &'a Pipe, buf: &'a mut [u8]) -> &mut Self {
        self.push(
            pipe,
            LocalSelectOp::Read {
                pipe: pipe.id(),
                buf,
            },
        )
    }

    /// [`peek`](Self::peek) in place (see [`push_read`](Self::push_read)).
    pub fn push_peek(&mut self, pipe: &'a Pipe, buf: &'a mut [u8]) -> &mut Self {
        self.push(
            pipe,
            LocalSelectOp::Peek {
                pipe: pipe.id(),
                buf,
            },
        )
    }

    /// [`write`](Self::write) in place (see [`push_read`](Self::push_read)).
    pub fn push_write(&mut self, pipe: &'a Pipe, msg: &'a [u8]) -> &mut Self {
        self.push(
            pipe,
            LocalSelectOp::Write {
                pipe: pipe.id(),
                msg,
            },
        )
    }

    /// Take the oldest message of `pipe` into `buf` (at least its
    /// `msg_size` bytes).
    pub fn read(self, pipe: &'a Pipe, buf: &'a mut [u8]) -> Self {
        self.add(
            pipe,
            LocalSelectOp::Read {
                pipe: pipe.id(),
                buf,
            },
        )
    }

    /// Copy the oldest message of `pipe` into `buf` without taking it.
    pub fn peek(self, pipe: &'a Pipe, buf: &'a mut [u8]) -> Self {
        self.add(
            pipe,
            LocalSelectOp::Peek {
                pipe: pipe.id(),
                buf,
            },
        )
    }

    /// Write `msg` to `pipe`.
    pub fn write(self, pipe: &'a Pipe, msg: &'a [u8]) -> Self {
        self.add(
            pipe,
            LocalSelectOp::Write {
                pipe: pipe.id(),
                msg,
            },
        )
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
    #[inline(always)]
    pub fn wait(mut self) -> Result<SelectDone, Error> {
        // In place: moving the select (its 16 slots) into a call costs a
        // `memcpy` of about 80 instructions.
        self.complete()
    }

    /// [`wait`](Self::wait), on the select where it was built: the checks
    /// and the attempt that needs no thread, inlined into the caller.
    #[inline(always)]
    fn complete(&mut self) -> Result<SelectDone, Error> {
        let first = self.check()?;
        let ipc = first.ipc();
        let ipcm = &ipc.shared.ipcm;
        // First without a thread record or a lease, straight between the
        // callers' slices and the rings (as the `Pipe` calls' non-blocking
        // attempt); only if no member can complete that way, the select of
        // a thread, which can block.
        let ops = &mut self.ops[..];
        match ipcm.try_select_as(ipc.process, ops) {
            Ok(Some(done)) => {
                return Ok(SelectDone {
                    index: done.index,
                    result: done.result.map_err(Error::from_status),
                });
            }
            Ok(None) => {}
            Err(status) => return Err(Error::from_status(status)),
        }
        self.block(first)
    }

    /// The select of a thread, which can block (the checks are done).
    #[inline(never)]
    fn block(&mut self, first: &Pipe) -> Result<SelectDone, Error> {
        let count = self.ops.len();
        let ipc = first.ipc();
        let ipcm = &ipc.shared.ipcm;
        let ops = &mut self.ops[..];
        let mut lens = [0usize; SELECT_MAX];
        let mut regions = [Region::default(); 2 * SELECT_MAX];
        let mut thread_ops = [SelectOp::Read {
            pipe: first.id(),
            buf: UserAddr::NULL,
            len_out: UserAddr::NULL,
        }; SELECT_MAX];
        for (i, (op, len)) in ops.iter_mut().zip(lens.iter_mut()).enumerate() {
            let len_region = Region::sink(bytemuck_usize(len));
            let is_read = matches!(op, LocalSelectOp::Read { .. });
            thread_ops[i] = match op {
                LocalSelectOp::Read { pipe, buf } | LocalSelectOp::Peek { pipe, buf } => {
                    let pipe = *pipe;
                    regions[2 * i] = Region::sink(buf);
                    regions[2 * i + 1] = len_region;
                    let (buf, len_out) = (UserAddr(regions[2 * i].addr), UserAddr(len_region.addr));
                    if is_read {
                        SelectOp::Read { pipe, buf, len_out }
                    } else {
                        SelectOp::Peek { pipe, buf, len_out }
                    }
                }
                LocalSelectOp::Write { pipe, msg } => {
                    regions[2 * i] = Region::source(msg);
                    SelectOp::Write {
                        pipe: *pipe,
                        buf: UserAddr(regions[2 * i].addr),
                        len: msg.len(),
                    }
                }
            };
        }
        let selected = current(|me| {
            me.act_for(ipc.process);
            let group = &me.waiter().select;
            let lease = me.waiter().lease.lend_regions(&regions[..2 * count]);
            let result = match ipcm.select(me, group, &thread_ops[..count]) {
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
            Status::Ok => match ops.get(index) {
                Some(LocalSelectOp::Write { .. }) => Ok(0),
                _ => Ok(lens[index]),
            },
            status => Err(Error::from_status(status)),
        };
        Ok(SelectDone { index, result })
    }
}

impl<'a> Select<'a> {
    /// The checks [`wait`](Select::wait) and its async form make before
    /// anything happens (the core checks the rest); the first member's pipe.
    #[inline(always)]
    pub(crate) fn check(&self) -> Result<&'a Pipe, Error> {
        let Some(&first) = self.pipes.first() else {
            return Err(Error::bad_param("a select needs at least one operation"));
        };
        if self.overflow {
            return Err(Error::bad_param(
                "a select takes at most SELECT_MAX operations",
            ));
        }
        for (pipe, op) in self.pipes.iter().zip(&self.ops) {
            if !Arc::ptr_eq(&pipe.ipc().shared, &first.ipc().shared) {
                return Err(Error::bad_param(
                    "every pipe of a select must belong to one Ipc manager",
                ));
            }
            if let LocalSelectOp::Read { buf, .. } | LocalSelectOp::Peek { buf, .. } = op
                && buf.len() < pipe.msg_size()
            {
                return Err(Error::bad_param(
                    "the receive buffer is shorter than the pipe's msg_size",
                ));
            }
        }
        Ok(first)
    }
}

/// The bytes of a `usize` length word, for a region.
fn bytemuck_usize(word: &mut usize) -> &mut [u8] {
    bytemuck::bytes_of_mut(word)
}
