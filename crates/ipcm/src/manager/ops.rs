//! The queue operations beyond the seed (DESIGN §9): urgent writes, purge,
//! close, sequence numbers and peek-newer, indexed peek, and the wake
//! feedback of kernel calls. Rendezvous pipes are made by
//! [`Ipcm::create`] with `max_msgs` 0.
//!
//! None of these takes the lock-free fast path: each changes the front of
//! the queue, looks past it, or waits on a condition the fast path does not
//! know, so each runs under the pipe's lock with both ends of its ring
//! held. A closed pipe parks its ring for good, so that every later
//! operation on it takes the lock and sees it closed.

use lock_api::RawMutex;

use super::{How, Ipcm, NeverBlocks, Progress, Receive, Target, Woke};
use crate::kernel::{Caller, Kernel, Priority, UserAddr};
use crate::pipe::{Attempt, Received, Sink, Source, Written};
use crate::wait::PendingOp;
use crate::{PipeFlags, Status};

impl<R: RawMutex, K: Kernel> Ipcm<R, K> {
    /// [`write`](Self::write) to the head of the queue: the message is read
    /// next. Otherwise like a write: it is handed to a pending reader if
    /// one waits, blocks on a full pipe, and on a full discard-oldest pipe
    /// still drops the oldest queued message (then goes in front).
    ///
    /// # Errors
    /// As `write`, plus `Closed`.
    pub fn write_urgent<'a>(
        &self,
        thread: &K::Thread,
        pipe: impl Into<Target<'a, R, K::Thread>>,
        src: UserAddr,
        len: usize,
    ) -> Result<Progress<Written>, Status>
    where
        R: 'a,
        K::Thread: 'a,
    {
        self.user_write(
            thread,
            pipe.into(),
            src,
            len,
            true,
            0,
            Progress::Done,
            Some(|pipe: &_, state: &mut _, priority| {
                self.block(
                    pipe,
                    state,
                    thread,
                    PendingOp::Write {
                        buf: src,
                        len,
                        urgent: true,
                        prio: 0,
                    },
                    priority,
                )
            }),
        )
    }

    /// [`write_urgent`](Self::write_urgent) that never blocks: `Full`
    /// instead.
    ///
    /// # Errors
    /// As `write_urgent`, plus `Full`.
    pub fn try_write_urgent<'a>(
        &self,
        thread: &K::Thread,
        pipe: impl Into<Target<'a, R, K::Thread>>,
        src: UserAddr,
        len: usize,
    ) -> Result<Written, Status>
    where
        R: 'a,
        K::Thread: 'a,
    {
        self.user_write(
            thread,
            pipe.into(),
            src,
            len,
            true,
            0,
            |written| written,
            None::<NeverBlocks<R, K, Written>>,
        )
    }

    /// [`kernel_write`](Self::kernel_write) to the head of the queue.
    ///
    /// # Errors
    /// As `kernel_write`, plus `Closed`.
    pub fn kernel_write_urgent<'a>(
        &self,
        pipe: impl Into<Target<'a, R, K::Thread>>,
        msg: &[u8],
    ) -> Result<Written, Status>
    where
        R: 'a,
        K::Thread: 'a,
    {
        self.with_pipe(pipe.into(), |pipe| {
            let discard = pipe.flags().contains(PipeFlags::DISCARD_OLDEST);
            self.locked(pipe, |state, ring| {
                match state.write(ring, &self.kernel, Source::Kernel(msg), discard, true, 0)? {
                    Attempt::Done(written) => Ok(written),
                    Attempt::WouldBlock => Err(Status::Full),
                }
            })
        })
    }

    /// [`read`](Self::read) that also reports the message's sequence
    /// number: returned when it completes now, and stored as a native
    /// `u64` at `seq_out` in `thread`'s address space either way (so a
    /// woken reader finds it there).
    ///
    /// # Errors
    /// As `read`, plus `Closed` (closed and drained).
    pub fn read_seq<'a>(
        &self,
        thread: &K::Thread,
        pipe: impl Into<Target<'a, R, K::Thread>>,
        dst: UserAddr,
        len_out: UserAddr,
        seq_out: UserAddr,
    ) -> Result<Progress<Received>, Status>
    where
        R: 'a,
        K::Thread: 'a,
    {
        self.receive_blocking(thread, pipe.into(), dst, len_out, How::Read, seq_out)
    }

    /// [`read_seq`](Self::read_seq) that never blocks: `Empty` instead.
    ///
    /// # Errors
    /// As `read_seq`, plus `Empty`.
    pub fn try_read_seq<'a>(
        &self,
        thread: &K::Thread,
        pipe: impl Into<Target<'a, R, K::Thread>>,
        dst: UserAddr,
        len_out: UserAddr,
        seq_out: UserAddr,
    ) -> Result<Received, Status>
    where
        R: 'a,
        K::Thread: 'a,
    {
        let kind = Receive {
            how: How::Read,
            seq_out: Some(seq_out),
        };
        self.user_read(
            thread,
            pipe.into(),
            dst,
            len_out,
            kind,
            |received| received,
            None::<NeverBlocks<R, K, Received>>,
        )
    }

    /// [`peek`](Self::peek) that also reports the sequence number, like
    /// [`read_seq`](Self::read_seq).
    ///
    /// # Errors
    /// As `read_seq`.
    pub fn peek_seq<'a>(
        &self,
        thread: &K::Thread,
        pipe: impl Into<Target<'a, R, K::Thread>>,
        dst: UserAddr,
        len_out: UserAddr,
        seq_out: UserAddr,
    ) -> Result<Progress<Received>, Status>
    where
        R: 'a,
        K::Thread: 'a,
    {
        self.receive_blocking(thread, pipe.into(), dst, len_out, How::Peek, seq_out)
    }

    /// Copy, without taking it, the first queued message (in read order)
    /// numbered above `after`; block until a write brings one. A write
    /// numbered at most `after` leaves it waiting. With `after` 0 it is a
    /// peek that reports the number. Sequence number as
    /// [`read_seq`](Self::read_seq).
    ///
    /// # Errors
    /// As `read_seq`; `Closed` once closed and nothing newer is queued.
    pub fn peek_newer<'a>(
        &self,
        thread: &K::Thread,
        pipe: impl Into<Target<'a, R, K::Thread>>,
        after: u64,
        dst: UserAddr,
        len_out: UserAddr,
        seq_out: UserAddr,
    ) -> Result<Progress<Received>, Status>
    where
        R: 'a,
        K::Thread: 'a,
    {
        let how = How::PeekNewer(after);
        self.receive_blocking(thread, pipe.into(), dst, len_out, how, seq_out)
    }

    /// [`peek_newer`](Self::peek_newer) that never blocks: `Empty` when no
    /// queued message is newer.
    ///
    /// # Errors
    /// As `peek_newer`, plus `Empty`.
    pub fn try_peek_newer<'a>(
        &self,
        thread: &K::Thread,
        pipe: impl Into<Target<'a, R, K::Thread>>,
        after: u64,
        dst: UserAddr,
        len_out: UserAddr,
        seq_out: UserAddr,
    ) -> Result<Received, Status>
    where
        R: 'a,
        K::Thread: 'a,
    {
        let kind = Receive {
            how: How::PeekNewer(after),
            seq_out: Some(seq_out),
        };
        self.user_read(
            thread,
            pipe.into(),
            dst,
            len_out,
            kind,
            |received| received,
            None::<NeverBlocks<R, K, Received>>,
        )
    }

    /// Copy the queued message `index` places from the front (0: the one
    /// read next) without taking it; never blocks. Sequence number as
    /// [`read_seq`](Self::read_seq).
    ///
    /// # Errors
    /// `Empty` when fewer than `index + 1` messages are queued (`Closed`
    /// when closed and empty); `NotFound`/`Destroyed`, `Denied`,
    /// `BadAddress`, `AlreadyPending`.
    pub fn peek_at<'a>(
        &self,
        thread: &K::Thread,
        pipe: impl Into<Target<'a, R, K::Thread>>,
        index: usize,
        dst: UserAddr,
        len_out: UserAddr,
        seq_out: UserAddr,
    ) -> Result<Received, Status>
    where
        R: 'a,
        K::Thread: 'a,
    {
        self.check_not_pending(thread)?;
        self.with_pipe(pipe.into(), |pipe| {
            pipe.check_access(&self.kernel, Caller::Thread(thread), PipeFlags::OWNER_READ)?;
            self.locked(pipe, |state, ring| {
                let sink = Sink::User {
                    thread,
                    buf: dst,
                    len_out,
                    seq_out: Some(seq_out),
                };
                state.peek_at(ring, &self.kernel, sink, index)
            })
        })
    }

    /// [`kernel_read`](Self::kernel_read), reporting the sequence number.
    ///
    /// # Errors
    /// As `kernel_read`, plus `Closed`.
    pub fn kernel_read_seq<'a>(
        &self,
        pipe: impl Into<Target<'a, R, K::Thread>>,
        buf: &mut [u8],
    ) -> Result<Received, Status>
    where
        R: 'a,
        K::Thread: 'a,
    {
        self.kernel_receive(pipe.into(), buf, true)
    }

    /// [`kernel_peek`](Self::kernel_peek), reporting the sequence number.
    ///
    /// # Errors
    /// As `kernel_peek`, plus `Closed`.
    pub fn kernel_peek_seq<'a>(
        &self,
        pipe: impl Into<Target<'a, R, K::Thread>>,
        buf: &mut [u8],
    ) -> Result<Received, Status>
    where
        R: 'a,
        K::Thread: 'a,
    {
        self.kernel_receive(pipe.into(), buf, false)
    }

    /// [`peek_at`](Self::peek_at) into a kernel buffer of at least
    /// `msg_size` bytes.
    ///
    /// # Errors
    /// As `peek_at`, `BadParam` for a short buffer.
    pub fn kernel_peek_at<'a>(
        &self,
        pipe: impl Into<Target<'a, R, K::Thread>>,
        index: usize,
        buf: &mut [u8],
    ) -> Result<Received, Status>
    where
        R: 'a,
        K::Thread: 'a,
    {
        self.with_pipe(pipe.into(), |pipe| {
            self.locked(pipe, |state, ring| {
                state.peek_at(ring, &self.kernel, Sink::Kernel(buf), index)
            })
        })
    }

    /// [`try_peek_newer`](Self::try_peek_newer) into a kernel buffer of at
    /// least `msg_size` bytes.
    ///
    /// # Errors
    /// As `try_peek_newer`, `BadParam` for a short buffer.
    pub fn kernel_peek_newer<'a>(
        &self,
        pipe: impl Into<Target<'a, R, K::Thread>>,
        after: u64,
        buf: &mut [u8],
    ) -> Result<Received, Status>
    where
        R: 'a,
        K::Thread: 'a,
    {
        self.with_pipe(pipe.into(), |pipe| {
            self.locked(pipe, |state, ring| {
                match state.peek_newer(ring, &self.kernel, Sink::Kernel(buf), after)? {
                    Attempt::Done(received) => Ok(received),
                    Attempt::WouldBlock => Err(Status::Empty),
                }
            })
        })
    }

    /// Drop every queued message (counted in the `purged` counter), then
    /// admit pending writers, oldest first, while room remains; pending
    /// readers stay pending. Only the owner process (or the kernel) may
    /// purge. Returns how many messages it dropped; every writer it
    /// admitted is woken before it returns.
    ///
    /// # Errors
    /// `NotFound`/`Destroyed`, `Denied` (nothing changed).
    pub fn purge<'a>(
        &self,
        caller: Caller<'_, K::Thread>,
        pipe: impl Into<Target<'a, R, K::Thread>>,
    ) -> Result<usize, Status>
    where
        R: 'a,
        K::Thread: 'a,
    {
        self.with_pipe(pipe.into(), |pipe| {
            pipe.check_access(&self.kernel, caller, PipeFlags::empty())?;
            self.locked(pipe, |state, ring| state.purge(ring, &self.kernel))
        })
    }

    /// Close the pipe: from now on every write, pending or new, fails
    /// `Closed`; readers and peekers drain what is queued, and once nothing
    /// they could return is queued every read or peek, pending or new,
    /// fails `Closed`. Every operation pending now is woken with `Closed`
    /// before this returns (each waits on an empty pipe, on a full one to
    /// write, or for a message newer than any: no write can serve it any
    /// more). Destroy still frees the pipe. Only the owner process (or the
    /// kernel) may close.
    ///
    /// # Errors
    /// `NotFound`/`Destroyed`, `Denied`; `Closed` if it was already closed
    /// (nothing changed).
    pub fn close<'a>(
        &self,
        caller: Caller<'_, K::Thread>,
        pipe: impl Into<Target<'a, R, K::Thread>>,
    ) -> Result<(), Status>
    where
        R: 'a,
        K::Thread: 'a,
    {
        self.with_pipe(pipe.into(), |pipe| {
            pipe.check_access(&self.kernel, caller, PipeFlags::empty())?;
            self.locked(pipe, |state, _| {
                state.close()?;
                // Under the lock: the fast path's empty answer looks here.
                pipe.closed
                    .store(true, core::sync::atomic::Ordering::Release);
                Ok(())
            })
        })
    }

    /// [`kernel_write`](Self::kernel_write) with wake feedback: whether the
    /// write woke (handed its message to, or made room for) a thread whose
    /// priority is above `than`, e.g. the thread an interrupt handler
    /// interrupted, which should then reschedule.
    ///
    /// # Errors
    /// As `kernel_write`.
    pub fn kernel_write_woke<'a>(
        &self,
        pipe: impl Into<Target<'a, R, K::Thread>>,
        msg: &[u8],
        than: Priority,
    ) -> Result<Woke<Written>, Status>
    where
        R: 'a,
        K::Thread: 'a,
    {
        self.with_pipe(pipe.into(), |pipe| {
            let discard = pipe.flags().contains(PipeFlags::DISCARD_OLDEST);
            // No waiter means nobody to wake: the fast path answers.
            if let Some(result) = pipe.fast_write(
                pipe.id(),
                &self.kernel,
                &Source::Kernel(msg),
                discard,
                false,
            ) {
                return result.map(|result| Woke {
                    result,
                    higher_priority: false,
                });
            }
            let (result, higher_priority) = self.locked_reporting(pipe, than, |state, ring| {
                match state.write(ring, &self.kernel, Source::Kernel(msg), discard, false, 0)? {
                    Attempt::Done(written) => Ok(written),
                    Attempt::WouldBlock => Err(Status::Full),
                }
            });
            result.map(|result| Woke {
                result,
                higher_priority,
            })
        })
    }

    /// [`kernel_read`](Self::kernel_read) with wake feedback, like
    /// [`kernel_write_woke`](Self::kernel_write_woke): whether the read
    /// admitted a pending writer of priority above `than`.
    ///
    /// # Errors
    /// As `kernel_read_seq`.
    pub fn kernel_read_woke<'a>(
        &self,
        pipe: impl Into<Target<'a, R, K::Thread>>,
        buf: &mut [u8],
        than: Priority,
    ) -> Result<Woke<Received>, Status>
    where
        R: 'a,
        K::Thread: 'a,
    {
        self.with_pipe(pipe.into(), |pipe| {
            if let Some(result) = pipe.fast_read(
                pipe.id(),
                &self.kernel,
                Sink::Kernel(&mut *buf),
                true,
                false,
            ) {
                return result.map(|result| Woke {
                    result,
                    higher_priority: false,
                });
            }
            let (result, higher_priority) = self.locked_reporting(pipe, than, |state, ring| {
                match state.read(ring, &self.kernel, Sink::Kernel(buf), true)? {
                    Attempt::Done(received) => Ok(received),
                    Attempt::WouldBlock => Err(Status::Empty),
                }
            });
            result.map(|result| Woke {
                result,
                higher_priority,
            })
        })
    }

    /// A user receive that may block, its number stored at `seq_out`.
    fn receive_blocking(
        &self,
        thread: &K::Thread,
        target: Target<'_, R, K::Thread>,
        dst: UserAddr,
        len_out: UserAddr,
        how: How,
        seq_out: UserAddr,
    ) -> Result<Progress<Received>, Status> {
        let kind = Receive {
            how,
            seq_out: Some(seq_out),
        };
        let op = kind.pending(dst, len_out);
        self.user_read(
            thread,
            target,
            dst,
            len_out,
            kind,
            Progress::Done,
            Some(|pipe: &_, state: &mut _, priority| self.block(pipe, state, thread, op, priority)),
        )
    }
}
