//! System calls for the queue operations of DESIGN §9: select, urgent
//! write, purge, close, sequence numbers, peek-newer and indexed peek
//! (rendezvous pipes are `pipe_create` with `max_msgs` 0).
//!
//! As in [`crate::syscall`], user pointers go to the IPCM as allegations
//! ([`UserAddr`]) and are checked by the copy hooks when used; a select's
//! member list is copied in once, its length bounded by [`SELECT_MAX`]
//! before anything is read. Each select member may hold a wait record in
//! its pipe, so a thread's process is charged one record per member of its
//! largest select (for the thread's life).
//!
//! Wake feedback (`kernel_write_woke`) has no caller here: no interrupt or
//! timer path of this kernel writes to a pipe (the tick only counts time
//! and expires deadlines, which cancel), so there is nothing to reschedule
//! on; the system-call paths already switch to a woken thread at least as
//! urgent as the caller (`sched::wake`).

#![forbid(unsafe_code)]

use crate::ipc::{self, Hooks};
use crate::sched::{Action, Tid};
use crate::syscall::{Args, blocked_or_done, deadline, failed, result_unit, value};
use crate::{account, kprintln, sched};
use ipcm::{Caller, Kernel, PipeId, Progress, SELECT_MAX, SelectOp, Status, UserAddr};
use lukos_abi::{SelectMember, select_op};

/// The index a select reports when no member completed.
const NO_INDEX: u64 = u64::MAX;

const _: () = assert!(lukos_abi::SELECT_MAX == SELECT_MAX);

/// A select's answer: the status, and the member's index in rdx.
fn selected(status: Status, index: Option<usize>) -> Action {
    Action::Return {
        status: status.code() as u64,
        value: Some(index.map_or(NO_INDEX, |i| i as u64)),
    }
}

/// `pipe_select(members, count, timeout)`.
pub fn select(tid: Tid, args: Args<'_>) -> Action {
    let (list, count, ticks) = (args[0], args[1], args[2]);
    let count = match usize::try_from(count) {
        Ok(n @ 1..=SELECT_MAX) => n,
        _ => {
            kprintln!(
                "{}: pipe_select refused: BAD_PARAM ({} members, 1 to {} allowed)",
                sched::describe(tid),
                count,
                SELECT_MAX
            );
            return selected(Status::BadParam, None);
        }
    };
    let mut raw = [0u8; SELECT_MAX * SelectMember::SIZE];
    let raw = &mut raw[..count * SelectMember::SIZE];
    if Hooks
        .copy_from_user(&tid, UserAddr(list as usize), raw)
        .is_err()
    {
        kprintln!(
            "{}: pipe_select refused: BAD_ADDRESS (member list at {:#x}, {} members)",
            sched::describe(tid),
            list,
            count
        );
        return selected(Status::BadAddress, None);
    }
    let mut ops = [SelectOp::Write {
        pipe: PipeId::from_raw(0),
        buf: UserAddr::NULL,
        len: 0,
    }; SELECT_MAX];
    for (bytes, op) in raw.chunks_exact(SelectMember::SIZE).zip(ops.iter_mut()) {
        let Some(member) = bytes.try_into().ok().map(SelectMember::from_bytes) else {
            return selected(Status::BadParam, None);
        };
        let Some(decoded) = decode(&member) else {
            return selected(Status::BadParam, None);
        };
        *op = decoded;
    }
    let ops = &ops[..count];
    // Marked selecting before the call: a member may complete (and wake
    // the thread) as soon as it is recorded.
    let group = match sched::begin_select(tid, count as u64) {
        Ok(group) => group,
        Err(status) => {
            kprintln!(
                "{}: pipe_select refused: {} ({} wait records do not fit: {} held of a {}-byte quota, {} free in the pool)",
                sched::describe(tid),
                lukos_abi::status::name(status.code() as u64),
                count,
                sched::process_of(tid).map_or(0, account::held_by),
                account::PROCESS_QUOTA,
                account::pool_free()
            );
            return selected(status, None);
        }
    };
    match ipc::ipcm().select(&tid, &group, ops) {
        Ok(Progress::Blocked(ticket)) => Action::Block {
            deadline: deadline(ticks),
            ticket,
        },
        Ok(Progress::Done(outcome)) => {
            sched::end_select(tid);
            selected(outcome.status, outcome.index)
        }
        Err(status) => {
            sched::end_select(tid);
            selected(status, None)
        }
    }
}

/// The IPCM operation a member record names (`None`: unknown op code).
fn decode(member: &SelectMember) -> Option<SelectOp> {
    let pipe = PipeId::from_raw(member.pipe as usize);
    let buf = UserAddr(member.buf as usize);
    Some(match member.op {
        select_op::READ => SelectOp::Read {
            pipe,
            buf,
            len_out: UserAddr(member.arg as usize),
        },
        select_op::PEEK => SelectOp::Peek {
            pipe,
            buf,
            len_out: UserAddr(member.arg as usize),
        },
        select_op::WRITE => SelectOp::Write {
            pipe,
            buf,
            len: usize::try_from(member.arg).ok()?,
        },
        _ => return None,
    })
}

/// `pipe_write_urgent(id, buf, len, timeout)`.
pub fn write_urgent(tid: Tid, args: Args<'_>) -> Action {
    let (id, buf, len) = (
        PipeId::from_raw(args[0] as usize),
        UserAddr(args[1] as usize),
        args[2] as usize,
    );
    blocked_or_done(ipc::ipcm().write_urgent(&tid, id, buf, len), args[3])
}

/// `pipe_write_prio(id, buf, len, prio, timeout)`: `prio` is a register,
/// so above 255 is BAD_PARAM before anything else (as the C ABI's).
pub fn write_prio(tid: Tid, args: Args<'_>) -> Action {
    let (id, buf, len) = (
        PipeId::from_raw(args[0] as usize),
        UserAddr(args[1] as usize),
        args[2] as usize,
    );
    let Ok(prio) = u8::try_from(args[3]) else {
        return failed(Status::BadParam);
    };
    blocked_or_done(ipc::ipcm().write_prio(&tid, id, buf, len, prio), args[4])
}

/// Logs a refused purge or close (who asked, for whose pipe).
fn refused(tid: Tid, call: &str, id: PipeId, status: Status) {
    if status == Status::Denied {
        let owner = ipc::ipcm().info(id).map_or(u64::MAX, |info| info.owner.0);
        kprintln!(
            "{}: {} refused: DENIED (pipe {} is owned by process {})",
            sched::describe(tid),
            call,
            id.to_raw(),
            owner
        );
    }
}

/// `pipe_purge(id) -> dropped` (owner only).
pub fn purge(tid: Tid, id: u64) -> Action {
    let id = PipeId::from_raw(id as usize);
    match ipc::ipcm().purge(Caller::Thread(&tid), id) {
        Ok(dropped) => value(dropped as u64),
        Err(status) => {
            refused(tid, "pipe_purge", id, status);
            failed(status)
        }
    }
}

/// `pipe_close(id)` (owner only).
pub fn close(tid: Tid, id: u64) -> Action {
    let id = PipeId::from_raw(id as usize);
    let closed = ipc::ipcm().close(Caller::Thread(&tid), id);
    if let Err(status) = closed {
        refused(tid, "pipe_close", id, status);
    }
    result_unit(closed)
}

/// The length and sequence-number addresses of a [`lukos_abi::Received`]
/// record at `out` (`None` if it would wrap around the address space).
fn received_at(out: u64) -> Option<(UserAddr, UserAddr)> {
    let seq = out.checked_add(8)?;
    Some((UserAddr(out as usize), UserAddr(seq as usize)))
}

/// `pipe_read_seq(id, buf, out, timeout)`.
pub fn read_seq(tid: Tid, args: Args<'_>) -> Action {
    let Some((len_out, seq_out)) = received_at(args[2]) else {
        return failed(Status::BadAddress);
    };
    let (id, buf) = (
        PipeId::from_raw(args[0] as usize),
        UserAddr(args[1] as usize),
    );
    let read = ipc::ipcm().read_seq(&tid, id, buf, len_out, seq_out);
    blocked_or_done(read, args[3])
}

/// `pipe_peek_newer(id, after, buf, out, timeout)`.
pub fn peek_newer(tid: Tid, args: Args<'_>) -> Action {
    let Some((len_out, seq_out)) = received_at(args[3]) else {
        return failed(Status::BadAddress);
    };
    let (id, after, buf) = (
        PipeId::from_raw(args[0] as usize),
        args[1],
        UserAddr(args[2] as usize),
    );
    let peeked = ipc::ipcm().peek_newer(&tid, id, after, buf, len_out, seq_out);
    blocked_or_done(peeked, args[4])
}

/// `pipe_peek_at(id, index, buf, out)`: never blocks.
pub fn peek_at(tid: Tid, args: Args<'_>) -> Action {
    let Some((len_out, seq_out)) = received_at(args[3]) else {
        return failed(Status::BadAddress);
    };
    let (id, buf) = (
        PipeId::from_raw(args[0] as usize),
        UserAddr(args[2] as usize),
    );
    let Ok(index) = usize::try_from(args[1]) else {
        return failed(Status::Empty);
    };
    let peeked = ipc::ipcm().peek_at(&tid, id, index, buf, len_out, seq_out);
    result_unit(peeked.map(|_| ()))
}
