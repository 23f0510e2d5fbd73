//! Writes carrying a message priority, for `PRIORITY_MESSAGES` pipes
//! (DESIGN §9): read order is higher priority first, FIFO within a
//! priority. The store is [`crate::prio`]; these calls take the lock like
//! every operation on such a pipe.

use lock_api::RawMutex;

use super::{Ipcm, NeverBlocks, Progress, Target};
use crate::kernel::{Kernel, UserAddr};
use crate::pipe::{Attempt, PipeState, Source, Written};
use crate::prio::PrioQueue;
use crate::ring::Held;
use crate::store::Store;
use crate::wait::PendingOp;
use crate::{PipeFlags, Status};

impl<R: RawMutex, K: Kernel> Ipcm<R, K> {
    /// [`write`](Self::write) at message priority `prio` (0 to 255, higher
    /// read first, FIFO within a priority) on a `PRIORITY_MESSAGES` pipe.
    /// A pending reader still takes it directly; a writer that blocks is
    /// admitted in turn with the other pending writers (FIFO, or by thread
    /// priority with `PRIORITY_WAITERS`), and its message then takes its
    /// place by `prio`.
    ///
    /// # Errors
    /// As `write`; `BadParam` for a `prio` other than 0 on a pipe without
    /// `PRIORITY_MESSAGES`.
    pub fn write_prio<'a>(
        &self,
        thread: &K::Thread,
        pipe: impl Into<Target<'a, R, K::Thread>>,
        src: UserAddr,
        len: usize,
        prio: u8,
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
            false,
            prio,
            Progress::Done,
            Some(|pipe: &_, state: &mut _, priority| {
                self.block(
                    pipe,
                    state,
                    thread,
                    PendingOp::Write {
                        buf: src,
                        len,
                        urgent: false,
                        prio,
                    },
                    priority,
                )
            }),
        )
    }

    /// [`write_prio`](Self::write_prio) that never blocks: `Full` instead.
    ///
    /// # Errors
    /// As `write_prio`, plus `Full`.
    pub fn try_write_prio<'a>(
        &self,
        thread: &K::Thread,
        pipe: impl Into<Target<'a, R, K::Thread>>,
        src: UserAddr,
        len: usize,
        prio: u8,
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
            false,
            prio,
            |written| written,
            None::<NeverBlocks<R, K, Written>>,
        )
    }

    /// [`kernel_write`](Self::kernel_write) at message priority `prio`.
    ///
    /// # Errors
    /// As `kernel_write`, plus `BadParam` as for
    /// [`write_prio`](Self::write_prio).
    pub fn kernel_write_prio<'a>(
        &self,
        pipe: impl Into<Target<'a, R, K::Thread>>,
        msg: &[u8],
        prio: u8,
    ) -> Result<Written, Status>
    where
        R: 'a,
        K::Thread: 'a,
    {
        self.with_pipe(pipe.into(), |pipe| {
            check_prio(pipe.flags(), prio)?;
            let discard = pipe.flags().contains(PipeFlags::DISCARD_OLDEST);
            self.locked(pipe, |state, ring| {
                let source = Source::Kernel(msg);
                match state.write(ring, &self.kernel, source, discard, false, prio)? {
                    Attempt::Done(written) => Ok(written),
                    Attempt::WouldBlock => Err(Status::Full),
                }
            })
        })
    }
}

/// `BadParam` for a message priority on a pipe that does not order by it.
#[inline]
pub(super) fn check_prio(flags: PipeFlags, prio: u8) -> Result<(), Status> {
    if prio != 0 && !flags.contains(PipeFlags::PRIORITY_MESSAGES) {
        return Err(Status::BadParam);
    }
    Ok(())
}

/// Run `f` on the state and a [`Store`] over the held ring and, for a
/// priority pipe, its queue (moved out of the state for the call and put
/// back, so that `f` may borrow both).
#[inline]
pub(super) fn with_store<T, S>(
    state: &mut PipeState<T>,
    ring: &mut Held<'_>,
    f: impl FnOnce(&mut PipeState<T>, &mut Store<'_, '_>) -> S,
) -> S {
    if state.prio.is_none() {
        return f(state, &mut Store::new(ring, None));
    }
    let mut queue: Option<PrioQueue> = state.prio.take();
    let result = f(state, &mut Store::new(ring, queue.as_mut()));
    state.prio = queue;
    result
}
