//! Non-blocking calls for a runtime whose threads share the IPC manager's
//! address space (the hosted runtime): the buffer is the caller's own
//! memory, so the message is copied with no copy hook and no lease, and the
//! caller names the process whose permissions apply instead of a thread.
//!
//! They are the [`try_write`](Ipcm::try_write)/[`try_read`](Ipcm::try_read)/
//! [`try_peek`](Ipcm::try_peek) of a thread of `process`, with two
//! differences a runtime must know: there is no thread, so no
//! `AlreadyPending` check (call them only from a thread that has no pending
//! operation, which is every thread a runtime lets run), and a bad address
//! cannot happen. A runtime falls back to the thread calls to block.

use lock_api::RawMutex;

use super::{Ipcm, Target, stale_error};
use crate::kernel::{Kernel, ProcessId};
use crate::pipe::{Outlook, Written};
use crate::{PipeFlags, Status};

impl<R: RawMutex, K: Kernel> Ipcm<R, K> {
    /// [`try_write`](Self::try_write) of `msg` by a thread of `process`.
    ///
    /// # Errors
    /// `NotFound`/`Destroyed`, `TooLarge`, `Denied`, `Closed`, `Full`.
    #[inline]
    pub fn try_write_as<'a>(
        &self,
        process: ProcessId,
        pipe: impl Into<Target<'a, R, K::Thread>>,
        msg: &[u8],
    ) -> Result<Written, Status>
    where
        R: 'a,
        K::Thread: 'a,
    {
        let pipe = &self.open_for_data(pipe.into())?;
        if let Err(status) = pipe.check_access_of(process, PipeFlags::OWNER_WRITE) {
            return Err(stale_error(*pipe, status));
        }
        self.kernel_write_to(pipe, msg)
    }

    /// [`try_read`](Self::try_read) into `buf` (at least `msg_size` bytes)
    /// by a thread of `process`; returns the message's length.
    ///
    /// # Errors
    /// `NotFound`/`Destroyed`, `Denied`, `BadParam` (buffer too short),
    /// `Closed`, `Empty`.
    #[inline]
    pub fn try_read_as<'a>(
        &self,
        process: ProcessId,
        pipe: impl Into<Target<'a, R, K::Thread>>,
        buf: &mut [u8],
    ) -> Result<usize, Status>
    where
        R: 'a,
        K::Thread: 'a,
    {
        self.receive_as(process, pipe.into(), buf, true)
    }

    /// [`try_peek`](Self::try_peek) into `buf` by a thread of `process`,
    /// as [`try_read_as`](Self::try_read_as).
    ///
    /// # Errors
    /// As `try_read_as`.
    #[inline]
    pub fn try_peek_as<'a>(
        &self,
        process: ProcessId,
        pipe: impl Into<Target<'a, R, K::Thread>>,
        buf: &mut [u8],
    ) -> Result<usize, Status>
    where
        R: 'a,
        K::Thread: 'a,
    {
        self.receive_as(process, pipe.into(), buf, false)
    }

    /// For a thread about to block in a write (`write`) or a read or peek
    /// of `pipe` that just failed `Full`/`Empty`: whether the operation
    /// looks able to proceed now, read with plain loads (no lock, no
    /// read-modify-write, whoever waits on the pipe). A runtime may poll it
    /// for a while before it registers the thread, and make its
    /// non-blocking attempt again on [`Outlook::Ready`]: a registered
    /// waiter makes every operation on the pipe take its lock (the ring's
    /// handshake), so a thread that registers at once turns its partner's
    /// next lock-free call into a locked hand-off and a wake. Registered
    /// waiters are still served first: while one waits, a message goes to
    /// it, not into the ring a poller looks at. A pipe that is gone looks
    /// [`Outlook::Ready`] (the attempt says `Destroyed`).
    #[inline]
    pub fn outlook<'a>(&self, pipe: impl Into<Target<'a, R, K::Thread>>, write: bool) -> Outlook
    where
        R: 'a,
        K::Thread: 'a,
    {
        // Checked at the lookup: a header that holds another pipe now
        // must look ready too.
        match self.open_target(pipe.into()) {
            Ok(pipe) => pipe.outlook(write),
            Err(_) => Outlook::Ready,
        }
    }

    /// A read (`consume`) or peek into `buf` by a thread of `process`.
    #[inline(always)]
    fn receive_as(
        &self,
        process: ProcessId,
        target: Target<'_, R, K::Thread>,
        buf: &mut [u8],
        consume: bool,
    ) -> Result<usize, Status> {
        let pipe = &self.open_for_data(target)?;
        if let Err(status) = pipe.check_access_of(process, PipeFlags::OWNER_READ) {
            return Err(stale_error(*pipe, status));
        }
        self.kernel_receive_from(pipe, buf, consume)
            .map(|received| received.len)
    }
}
