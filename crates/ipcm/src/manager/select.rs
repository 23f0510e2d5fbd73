//! [`Ipcm::select`]: the selecting call. The protocol (one claim word per
//! group, lazy withdrawal, never two pipe locks) is in [`crate::select`].

use crate::Shared;

use lock_api::RawMutex;

use super::{Ipcm, Progress};
use crate::kernel::{Caller, Kernel, Priority, ProcessId};
use crate::pipe::{Attempt, Sink, Source};
use crate::select::{
    LocalSelectOp, LocalSelected, Member, SELECT_MAX, SelectGroup, SelectOp, Selected,
};
use crate::wait::{PendingOp, Ticket};
use crate::{PipeFlags, Status};

/// What visiting one member under its pipe's lock did.
enum Visit {
    /// The member completed now with this status.
    Done(Status),
    /// The member waits; its ticket.
    Queued(Ticket),
    /// The group was claimed meanwhile (a member enqueued earlier
    /// completed): stop, the thread is or will be woken.
    Stop,
}

impl<R: RawMutex, K: Kernel> Ipcm<R, K> {
    /// Wait on several operations at once and complete exactly one
    /// (DESIGN §9). `group` is the calling thread's group record (one per
    /// thread, see [`SelectGroup`]).
    ///
    /// The members are visited in list order, each under its own pipe's
    /// lock: the first that can complete (or fails: `Closed`, `Destroyed`,
    /// `BadAddress`) completes now and the call returns `Done` with its
    /// index. Otherwise each becomes pending as a member of one group, and
    /// the call returns `Blocked`: the first member that another call can
    /// complete completes, every other one is withdrawn (it never happens),
    /// and the thread is woken once with that member's status;
    /// [`SelectGroup::outcome`] then gives its index. [`cancel`](Self::cancel)
    /// and [`cancel_op`](Self::cancel_op) with the returned ticket end the
    /// whole group (outcome with no index). A pipe may appear more than once.
    ///
    /// # Errors
    /// Before anything happens: `BadParam` (no operation, more than
    /// [`SELECT_MAX`]), `NotFound` (an unknown or stale pipe id), `Denied`,
    /// `TooLarge` (a write longer than its pipe's `msg_size`),
    /// `AlreadyPending` (the thread waits already, or `group` is in use).
    /// `NoMemory` when a member could not be recorded (the members recorded
    /// before it are withdrawn).
    pub fn select(
        &self,
        thread: &K::Thread,
        group: &Shared<SelectGroup>,
        ops: &[SelectOp],
    ) -> Result<Progress<Selected>, Status> {
        if ops.is_empty() || ops.len() > SELECT_MAX {
            return Err(Status::BadParam);
        }
        self.check_not_pending(thread)?;
        // Every check and hook before any lock (DESIGN §8).
        let mut pipes: [Option<super::Opened<'_, R, K::Thread>>; SELECT_MAX] =
            [const { None }; SELECT_MAX];
        let mut by_priority = false;
        for (op, slot) in ops.iter().zip(pipes.iter_mut()) {
            let pipe = self.find(op.pipe(), Status::NotFound)?;
            let restriction = match op {
                SelectOp::Write { .. } => PipeFlags::OWNER_WRITE,
                _ => PipeFlags::OWNER_READ,
            };
            pipe.check_access(&self.kernel, Caller::Thread(thread), restriction)?;
            if let SelectOp::Write { len, .. } = *op
                && len > pipe.msg_size()
            {
                return Err(Status::TooLarge);
            }
            by_priority |= pipe.flags().contains(PipeFlags::PRIORITY_WAITERS);
            *slot = Some(pipe);
        }
        let priority = if by_priority {
            self.kernel.priority_of(thread)
        } else {
            Priority::default()
        };
        let generation = group.arm().ok_or(Status::AlreadyPending)?;
        if let Some(selected) = self.select_lock_free(thread, group, generation, ops, &pipes) {
            return Ok(Progress::Done(selected));
        }
        let mut ticket: Option<Ticket> = None;
        for (index, (op, pipe)) in ops.iter().zip(pipes.iter()).enumerate() {
            let Some(pipe) = pipe else {
                break;
            };
            let member = Member {
                group: group.clone(),
                generation,
                index: index as u32,
                claimed: false,
            };
            let first = ticket.is_none();
            let visit = self.locked(pipe, |state, ring| {
                if !group.is_armed(generation) {
                    return Ok(Visit::Stop);
                }
                let discard = pipe.flags().contains(PipeFlags::DISCARD_OLDEST);
                let pending = pending_op(op);
                if state.member_ready(ring, &pending, discard, group) {
                    if !group.claim(generation) {
                        return Ok(Visit::Stop);
                    }
                    let status = match *op {
                        SelectOp::Write { buf, len, .. } => {
                            let source = Source::User { thread, buf, len };
                            match state.write(ring, &self.kernel, source, discard, false, 0) {
                                Ok(Attempt::Done(_)) => Status::Ok,
                                // Every pending reader of a rendezvous pipe
                                // faulted: it was tried, nobody took it.
                                Ok(Attempt::WouldBlock) => Status::Full,
                                Err(status) => status,
                            }
                        }
                        SelectOp::Read { buf, len_out, .. }
                        | SelectOp::Peek { buf, len_out, .. } => {
                            let sink = Sink::User {
                                thread,
                                buf,
                                len_out,
                                seq_out: None,
                            };
                            let consume = matches!(op, SelectOp::Read { .. });
                            match state.read(ring, &self.kernel, sink, consume) {
                                Ok(Attempt::Done(_)) => Status::Ok,
                                Ok(Attempt::WouldBlock) => Status::Empty,
                                Err(status) => status,
                            }
                        }
                    };
                    group.set_outcome(Some(index as u32), status);
                    return Ok(Visit::Done(status));
                }
                let by_priority = pipe.flags().contains(PipeFlags::PRIORITY_WAITERS);
                if first {
                    // The thread's pending entry, under this pipe's lock as
                    // `block` does, before any member can complete.
                    let ticket = self.pending.insert_with(thread, || {
                        let (slot, seq) = state.enqueue(
                            thread.clone(),
                            priority,
                            pending,
                            by_priority,
                            Some(member),
                        )?;
                        let ticket = Ticket::new(pipe.id(), slot, seq);
                        group.set_ticket(ticket);
                        Ok(ticket)
                    })?;
                    Ok(Visit::Queued(ticket))
                } else {
                    let (slot, seq) = state.enqueue(
                        thread.clone(),
                        priority,
                        pending,
                        by_priority,
                        Some(member),
                    )?;
                    Ok(Visit::Queued(Ticket::new(pipe.id(), slot, seq)))
                }
            });
            match visit {
                Ok(Visit::Queued(queued)) => {
                    ticket.get_or_insert(queued);
                }
                Ok(Visit::Stop) => break,
                Ok(Visit::Done(status)) => {
                    self.unregister(thread, ticket);
                    return Ok(Progress::Done(Selected {
                        index: Some(index),
                        status,
                    }));
                }
                // Destroyed since it was opened: that completes the select
                // with this member, if nothing else did.
                Err(Status::Destroyed) => {
                    if !group.claim(generation) {
                        break;
                    }
                    group.set_outcome(Some(index as u32), Status::Destroyed);
                    self.unregister(thread, ticket);
                    return Ok(Progress::Done(Selected {
                        index: Some(index),
                        status: Status::Destroyed,
                    }));
                }
                Err(status) => {
                    // Could not record this member: end the select (the
                    // members recorded so far are withdrawn), unless a
                    // member completed meanwhile.
                    if !group.claim(generation) {
                        break;
                    }
                    self.unregister(thread, ticket);
                    return Err(status);
                }
            }
        }
        match ticket {
            Some(ticket) => Ok(Progress::Blocked(ticket)),
            // Not reachable: the group is claimed only through a member
            // recorded (with its ticket) or by this call.
            None => Err(Status::BadParam),
        }
    }

    /// The select's first pass, with no lock and no wait record: try each
    /// member in list order on the lock-free path, as a non-blocking call
    /// would (see [`first_ready`]). Only this call can claim the armed group
    /// now (it has no recorded member), so the claim always succeeds.
    #[inline]
    fn select_lock_free(
        &self,
        thread: &K::Thread,
        group: &Shared<SelectGroup>,
        generation: u64,
        ops: &[SelectOp],
        pipes: &[Option<super::Opened<'_, R, K::Thread>>],
    ) -> Option<Selected> {
        let (index, status) = first_ready(pipes, |index, pipe| match ops[index] {
            SelectOp::Write { buf, len, .. } => {
                let discard = pipe.flags().contains(PipeFlags::DISCARD_OLDEST);
                let source = Source::User { thread, buf, len };
                pipe.fast_write(pipe.id(), &self.kernel, &source, discard, false)
                    .map(|r| r.map(drop))
            }
            SelectOp::Read { buf, len_out, .. } | SelectOp::Peek { buf, len_out, .. } => {
                let sink = Sink::User {
                    thread,
                    buf,
                    len_out,
                    seq_out: None,
                };
                let consume = matches!(ops[index], SelectOp::Read { .. });
                pipe.fast_read(pipe.id(), &self.kernel, sink, consume, false)
                    .map(|r| r.map(drop))
            }
        })?;
        let claimed = group.claim(generation);
        debug_assert!(claimed, "only this call can claim the group now");
        group.set_outcome(Some(index as u32), status);
        Some(Selected {
            index: Some(index),
            status,
        })
    }

    /// A select by a thread of `process` whose buffers are the caller's own
    /// memory (as [`try_read_as`](Self::try_read_as)), tried without a lock
    /// and without a thread: the lock-free first pass of
    /// [`select`](Self::select), after the same checks. `Some` when a
    /// member completed or failed (see [`LocalSelected`]); every other
    /// member did not happen. `None` when none could complete that way
    /// (none ready, or one needs the pipe's lock: waiters, a closed,
    /// rendezvous or priority pipe): nothing happened, and the runtime then
    /// calls [`select`](Self::select) with a thread, which can block.
    ///
    /// Like the other `_as` calls it has no thread, so no `AlreadyPending`
    /// check: call it only from a thread with no pending operation.
    ///
    /// # Errors
    /// Before anything happens, as [`select`](Self::select): `BadParam` (no
    /// operation, more than [`SELECT_MAX`], or a receive buffer shorter
    /// than its pipe's `msg_size`), `NotFound`, `Denied`, `TooLarge`.
    pub fn try_select_as(
        &self,
        process: ProcessId,
        ops: &mut [LocalSelectOp<'_>],
    ) -> Result<Option<LocalSelected>, Status> {
        if ops.is_empty() || ops.len() > SELECT_MAX {
            return Err(Status::BadParam);
        }
        let mut pipes: [Option<super::Opened<'_, R, K::Thread>>; SELECT_MAX] =
            [const { None }; SELECT_MAX];
        for (op, slot) in ops.iter().zip(pipes.iter_mut()) {
            let pipe = self.find(op.pipe(), Status::NotFound)?;
            match op {
                LocalSelectOp::Write { msg, .. } => {
                    pipe.check_access_of(process, PipeFlags::OWNER_WRITE)?;
                    if msg.len() > pipe.msg_size() {
                        return Err(Status::TooLarge);
                    }
                }
                LocalSelectOp::Read { buf, .. } | LocalSelectOp::Peek { buf, .. } => {
                    pipe.check_access_of(process, PipeFlags::OWNER_READ)?;
                    if buf.len() < pipe.msg_size() {
                        return Err(Status::BadParam);
                    }
                }
            }
            *slot = Some(pipe);
        }
        let mut len = 0;
        let Some((index, status)) =
            first_ready(&pipes[..ops.len()], |index, pipe| match &mut ops[index] {
                LocalSelectOp::Write { msg, .. } => {
                    let discard = pipe.flags().contains(PipeFlags::DISCARD_OLDEST);
                    pipe.fast_write(
                        pipe.id(),
                        &self.kernel,
                        &Source::Kernel(msg),
                        discard,
                        false,
                    )
                    .map(|r| r.map(drop))
                }
                LocalSelectOp::Read { buf, .. } => pipe
                    .fast_read(pipe.id(), &self.kernel, Sink::Kernel(buf), true, false)
                    .map(|r| r.map(|received| len = received.len)),
                LocalSelectOp::Peek { buf, .. } => pipe
                    .fast_read(pipe.id(), &self.kernel, Sink::Kernel(buf), false, false)
                    .map(|r| r.map(|received| len = received.len)),
            })
        else {
            return Ok(None);
        };
        Ok(Some(LocalSelected {
            index,
            result: match status {
                Status::Ok => Ok(len),
                status => Err(status),
            },
        }))
    }

    /// Remove the pending entry a select made (under `ticket`), when the
    /// select ended without blocking.
    fn unregister(&self, thread: &K::Thread, ticket: Option<Ticket>) {
        let Some(ticket) = ticket else {
            return;
        };
        self.pending.remove(thread, ticket);
    }
}

/// The lock-free pass over a select's opened members, in list order:
/// `attempt` tries one as a non-blocking call would (`None`: it needs the
/// lock). The first that completes (or fails) is the answer, provided
/// every member before it answered `Empty`/`Full` (not ready when looked
/// at, as the locked pass would have found). `None` when none completed or
/// one needs the lock: then nothing happened.
#[inline(always)]
fn first_ready<P>(
    pipes: &[Option<P>],
    mut attempt: impl FnMut(usize, &P) -> Option<Result<(), Status>>,
) -> Option<(usize, Status)> {
    for (index, pipe) in pipes.iter().enumerate() {
        let status = match attempt(index, pipe.as_ref()?)? {
            Ok(()) => Status::Ok,
            Err(Status::Empty | Status::Full) => continue,
            Err(status) => status,
        };
        return Some((index, status));
    }
    None
}

/// The pending operation a select member waits as.
fn pending_op(op: &SelectOp) -> PendingOp {
    match *op {
        SelectOp::Read { buf, len_out, .. } => PendingOp::Read {
            buf,
            len_out,
            seq_out: None,
        },
        SelectOp::Peek { buf, len_out, .. } => PendingOp::Peek {
            buf,
            len_out,
            seq_out: None,
            after: None,
        },
        SelectOp::Write { buf, len, .. } => PendingOp::Write {
            buf,
            len,
            urgent: false,
            prio: 0,
        },
    }
}
