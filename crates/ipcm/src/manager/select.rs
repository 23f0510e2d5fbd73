//! [`Ipcm::select`]: the selecting call. The protocol (one claim word per
//! group, lazy withdrawal, never two pipe locks) is in [`crate::select`].

use crate::Shared;

use lock_api::RawMutex;

use super::{Ipcm, Progress};
use crate::kernel::{Caller, Kernel, Priority};
use crate::pipe::{Attempt, Sink, Source};
use crate::select::{Member, SELECT_MAX, SelectGroup, SelectOp, Selected};
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
    /// would. The first that completes (or fails) completes the select,
    /// provided every member before it answered `Empty`/`Full` there (not
    /// ready when looked at, as the locked pass would have found). `None`
    /// when none completed or a member needs the lock (waiters, closed,
    /// rendezvous or priority pipe): then the locked pass starts over from
    /// the first member. Only this call can claim the armed group now (it
    /// has no recorded member), so the claim always succeeds.
    #[inline]
    fn select_lock_free(
        &self,
        thread: &K::Thread,
        group: &Shared<SelectGroup>,
        generation: u64,
        ops: &[SelectOp],
        pipes: &[Option<super::Opened<'_, R, K::Thread>>],
    ) -> Option<Selected> {
        for (index, (op, pipe)) in ops.iter().zip(pipes).enumerate() {
            let pipe = pipe.as_ref()?;
            let attempt = match *op {
                SelectOp::Write { buf, len, .. } => {
                    let discard = pipe.flags().contains(PipeFlags::DISCARD_OLDEST);
                    let source = Source::User { thread, buf, len };
                    pipe.fast_write(pipe.id(), &self.kernel, &source, discard, false)?
                        .map(drop)
                }
                SelectOp::Read { buf, len_out, .. } | SelectOp::Peek { buf, len_out, .. } => {
                    let sink = Sink::User {
                        thread,
                        buf,
                        len_out,
                        seq_out: None,
                    };
                    let consume = matches!(op, SelectOp::Read { .. });
                    pipe.fast_read(pipe.id(), &self.kernel, sink, consume, false)?
                        .map(drop)
                }
            };
            let status = match attempt {
                Ok(()) => Status::Ok,
                Err(Status::Empty | Status::Full) => continue,
                Err(status) => status,
            };
            let claimed = group.claim(generation);
            debug_assert!(claimed, "only this call can claim the group now");
            group.set_outcome(Some(index as u32), status);
            return Some(Selected {
                index: Some(index),
                status,
            });
        }
        None
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
