//! System-call handlers. Each returns an [`Action`] for the scheduler; none
//! switches threads itself. User pointers are passed to the IPCM or to the
//! copy hooks as allegations ([`UserAddr`]); nothing here dereferences them.

#![forbid(unsafe_code)]

use crate::entry::TrapFrame;
use crate::ipc::{self, Hooks};
use crate::sched::{self, Action, Tid};
use crate::{account, kprintln, queue_ops, serial, timer};
use alloc::string::String;
use ipcm::{Caller, Kernel, PipeFlags, PipeId, Progress, Status, UserAddr};
use lukos_abi::{MAX_PRINT, PipeInfo, nr, status, timeout};

/// Largest message store (`msg_size * max_msgs`) one user pipe may have.
const MAX_USER_PIPE_BYTES: u64 = 256 * 1024;
/// What a pipe costs beyond its ring and lengths, at most: the shared
/// header with its locks and wait queues, the registry entry, allocator
/// rounding of each allocation.
const PIPE_OVERHEAD_BOUND: u64 = 1024;

pub(crate) fn done(status: u64) -> Action {
    Action::Return {
        status,
        value: None,
    }
}

pub(crate) fn value(value: u64) -> Action {
    Action::Return {
        status: status::OK,
        value: Some(value),
    }
}

pub(crate) fn failed(error: Status) -> Action {
    done(error.code() as u64)
}

/// The system-call arguments, read from the saved registers where they
/// are (rdi, rsi, rdx, r10, r8) rather than copied out first.
#[derive(Clone, Copy)]
pub(crate) struct Args<'a>(&'a TrapFrame);

impl core::ops::Index<usize> for Args<'_> {
    type Output = u64;
    #[inline(always)]
    fn index(&self, i: usize) -> &u64 {
        match i {
            0 => &self.0.rdi,
            1 => &self.0.rsi,
            2 => &self.0.rdx,
            3 => &self.0.r10,
            _ => &self.0.r8,
        }
    }
}

/// Handles the system call in `regs` made by `tid`. Inlined into the
/// entry path: its call frame cost ~20 guest instructions per call.
#[inline(always)]
pub fn handle(tid: Tid, regs: &TrapFrame) -> Action {
    let args = Args(regs);
    match regs.rax {
        nr::DEBUG_PRINT => debug_print(tid, args[0], args[1]),
        nr::EXIT => Action::ExitProcess(args[0]),
        nr::THREAD_EXIT => Action::ExitThread,
        nr::YIELD => Action::Yield,
        nr::SLEEP if args[0] == 0 => Action::Yield,
        nr::SLEEP => Action::Sleep {
            until: timer::now().saturating_add(args[0]),
        },
        nr::THREAD_SPAWN => {
            match sched::spawn_thread_for(tid, args[0], (args[1], args[2]), args[3]) {
                Ok(new) => value(new.0),
                Err((status, why)) => {
                    kprintln!("{}: thread_spawn refused: {}", sched::describe(tid), why);
                    failed(status)
                }
            }
        }
        nr::TICKS => value(timer::now()),
        nr::PIPE_CREATE => pipe_create(tid, args),
        nr::PIPE_ID_GET => match read_name(tid, args[0], args[1]) {
            Ok(Some(name)) => result_value(
                ipc::ipcm()
                    .lookup_by_name(&name)
                    .map(|id| id.to_raw() as u64),
            ),
            Ok(None) => failed(Status::BadParam),
            Err(e) => failed(e),
        },
        nr::PIPE_INFO_GET => pipe_info(tid, args[0], args[1]),
        nr::PIPE_WRITE => pipe_write(tid, args, Wait::Up(args[3])),
        nr::PIPE_READ => pipe_read(tid, args, Take::Consume, Wait::Up(args[3])),
        nr::PIPE_PEEK => pipe_read(tid, args, Take::Copy, Wait::Up(args[3])),
        nr::PIPE_TRY_WRITE => pipe_write(tid, args, Wait::Never),
        nr::PIPE_TRY_READ => pipe_read(tid, args, Take::Consume, Wait::Never),
        nr::PIPE_TRY_PEEK => pipe_read(tid, args, Take::Copy, Wait::Never),
        nr::PIPE_DESTROY => pipe_destroy(tid, args[0]),
        // The queue operations of DESIGN §9 (`queue_ops`).
        nr::PIPE_SELECT => queue_ops::select(tid, args),
        nr::PIPE_WRITE_URGENT => queue_ops::write_urgent(tid, args),
        nr::PIPE_WRITE_PRIO => queue_ops::write_prio(tid, args),
        nr::PIPE_PURGE => queue_ops::purge(tid, args[0]),
        nr::PIPE_CLOSE => queue_ops::close(tid, args[0]),
        nr::PIPE_READ_SEQ => queue_ops::read_seq(tid, args),
        nr::PIPE_PEEK_NEWER => queue_ops::peek_newer(tid, args),
        nr::PIPE_PEEK_AT => queue_ops::peek_at(tid, args),
        _ => done(status::NO_SYSCALL),
    }
}

fn result_value(result: Result<u64, Status>) -> Action {
    match result {
        Ok(v) => value(v),
        Err(e) => failed(e),
    }
}

pub(crate) fn result_unit(result: Result<(), Status>) -> Action {
    match result {
        Ok(()) => done(status::OK),
        Err(e) => failed(e),
    }
}

/// Prints a line of the caller's to the log, prefixed with who it is;
/// drops it (OK all the same, as Linux's printk rate limit does) when its
/// process is over its rate limit (see [`crate::loglimit`]).
fn debug_print(tid: Tid, ptr: u64, len: u64) -> Action {
    let len = (len as usize).min(MAX_PRINT);
    let mut buf = [0u8; MAX_PRINT];
    if Hooks
        .copy_from_user(&tid, UserAddr(ptr as usize), &mut buf[..len])
        .is_err()
    {
        return failed(Status::BadAddress);
    }
    let text = &buf[..len];
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    let Some((source, dropped)) = sched::admit_log_line(tid) else {
        return done(status::OK);
    };
    if dropped > 0 {
        kprintln!("{source}: {dropped} log line(s) suppressed (rate limit)");
    }
    let _line = serial::lock_line();
    serial::start_line(format_args!("{source}"));
    serial::write_escaped(text);
    serial::write_bytes(b"\n");
    done(status::OK)
}

/// Copies a pipe name from user space: `len == 0` means no name.
fn read_name(tid: Tid, ptr: u64, len: u64) -> Result<Option<String>, Status> {
    if len == 0 {
        return Ok(None);
    }
    let len = usize::try_from(len)
        .ok()
        .filter(|&l| l <= ipcm::MAX_NAME_LEN)
        .ok_or(Status::BadParam)?;
    let mut buf = [0u8; ipcm::MAX_NAME_LEN];
    Hooks
        .copy_from_user(&tid, UserAddr(ptr as usize), &mut buf[..len])
        .map_err(|_| Status::BadAddress)?;
    let name = core::str::from_utf8(&buf[..len]).map_err(|_| Status::BadParam)?;
    Ok(Some(String::from(name)))
}

/// An upper bound of the heap bytes `pipe_create` takes: the ring of
/// `max_msgs + 1` slots (one staging), their lengths, the name twice (the
/// registry's and the pipe's), the header. `None` if it overflows.
fn pipe_cost_bound(msg_size: u64, max_msgs: u64, name_len: u64) -> Option<u64> {
    let slots = max_msgs.checked_add(1)?;
    let ring = slots.checked_mul(msg_size.checked_add(8)?)?;
    ring.checked_add(2 * name_len + PIPE_OVERHEAD_BOUND)
}

fn pipe_create(tid: Tid, args: Args<'_>) -> Action {
    let name = match read_name(tid, args[0], args[1]) {
        Ok(name) => name,
        Err(e) => return failed(e),
    };
    let flags = match PipeFlags::from_raw(args[4] as usize) {
        Ok(flags) => flags,
        Err(e) => return failed(e),
    };
    // `max_msgs` 0 is a rendezvous pipe (DESIGN §9).
    let (msg_size, max_msgs) = (args[2], args[3]);
    if msg_size == 0 {
        return failed(Status::BadParam);
    }
    // Kernel policy: one pipe's store is bounded, and the whole pipe is
    // charged to its creator (see `account`).
    let name_len = name.as_ref().map_or(0, |n| n.len() as u64);
    let Some(store) = msg_size.checked_mul(max_msgs) else {
        return failed(Status::BadParam);
    };
    let bound = pipe_cost_bound(msg_size, max_msgs, name_len);
    let Some(bound) = bound.filter(|_| store <= MAX_USER_PIPE_BYTES) else {
        return failed(Status::NoMemory);
    };
    let Some(pid) = sched::process_of(tid) else {
        return failed(Status::BadParam);
    };
    let created = account::charged(pid, bound, 0, || {
        ipc::ipcm().create(
            Caller::Thread(&tid),
            name.as_deref(),
            msg_size as usize,
            max_msgs as usize,
            flags,
        )
    });
    match created {
        Ok((id, bytes)) => {
            account::record_pipe(id, pid, bytes);
            value(id.to_raw() as u64)
        }
        Err(Status::NoMemory) => {
            kprintln!(
                "{}: pipe_create refused: NO_MEMORY ({} bytes asked, {} held of a {}-byte quota, {} free in the pool)",
                sched::describe(tid),
                bound,
                account::held_by(pid),
                account::PROCESS_QUOTA,
                account::pool_free()
            );
            failed(Status::NoMemory)
        }
        Err(e) => failed(e),
    }
}

fn pipe_destroy(tid: Tid, id: u64) -> Action {
    let id = PipeId::from_raw(id as usize);
    let destroyed = ipc::ipcm().destroy(Caller::Thread(&tid), id);
    if destroyed.is_ok() {
        account::pipe_destroyed(id);
    }
    result_unit(destroyed)
}

fn pipe_info(tid: Tid, id: u64, out: u64) -> Action {
    let info = match ipc::ipcm().info(PipeId::from_raw(id as usize)) {
        Ok(info) => info,
        Err(e) => return failed(e),
    };
    let info = PipeInfo {
        id: info.id.to_raw() as u64,
        msg_size: info.msg_size as u64,
        max_msgs: info.max_msgs as u64,
        flags: u64::from(info.flags.bits()),
        owner: info.owner.0,
        queued: info.queued as u64,
        pending_readers: info.pending_readers as u64,
        pending_peekers: info.pending_peekers as u64,
        pending_writers: info.pending_writers as u64,
        written: info.written,
        read: info.read,
        dropped: info.dropped,
        purged: info.purged,
        closed: u64::from(info.closed),
    };
    match Hooks.copy_to_user(&tid, UserAddr(out as usize), &info.to_bytes()) {
        Ok(()) => done(status::OK),
        Err(_) => failed(Status::BadAddress),
    }
}

/// The deadline of a blocking call with this timeout argument (0: now, so
/// an operation that would block times out at once).
pub(crate) fn deadline(ticks: u64) -> Option<u64> {
    (ticks != timeout::FOREVER).then(|| timer::now().saturating_add(ticks))
}

pub(crate) fn blocked_or_done<T>(
    progress: Result<Progress<T>, Status>,
    timeout_ticks: u64,
) -> Action {
    match progress {
        Ok(Progress::Done(_)) => done(status::OK),
        Ok(Progress::Blocked(ticket)) => Action::Block {
            deadline: deadline(timeout_ticks),
            ticket,
        },
        Err(e) => failed(e),
    }
}

/// Whether a pipe call may wait.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// Block, at most `ticks` ticks ([`timeout::FOREVER`]: no limit).
    Up(u64),
    /// The try variants: FULL / EMPTY instead of blocking.
    Never,
}

/// What a read-like call does with the oldest message.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Take {
    /// Read: remove it.
    Consume,
    /// Peek: leave it.
    Copy,
}

#[inline(always)]
fn pipe_write(tid: Tid, args: Args<'_>, wait: Wait) -> Action {
    let (id, buf, len) = (
        PipeId::from_raw(args[0] as usize),
        UserAddr(args[1] as usize),
        args[2] as usize,
    );
    let ipcm = ipc::ipcm();
    match wait {
        Wait::Never => result_unit(ipcm.try_write(&tid, id, buf, len).map(|_| ())),
        Wait::Up(ticks) => blocked_or_done(ipcm.write(&tid, id, buf, len), ticks),
    }
}

#[inline(always)]
fn pipe_read(tid: Tid, args: Args<'_>, take: Take, wait: Wait) -> Action {
    let (id, buf, len_out) = (
        PipeId::from_raw(args[0] as usize),
        UserAddr(args[1] as usize),
        UserAddr(args[2] as usize),
    );
    let ipcm = ipc::ipcm();
    match (wait, take) {
        (Wait::Never, Take::Consume) => {
            result_unit(ipcm.try_read(&tid, id, buf, len_out).map(|_| ()))
        }
        (Wait::Never, Take::Copy) => result_unit(ipcm.try_peek(&tid, id, buf, len_out).map(|_| ())),
        (Wait::Up(ticks), Take::Consume) => {
            blocked_or_done(ipcm.read(&tid, id, buf, len_out), ticks)
        }
        (Wait::Up(ticks), Take::Copy) => blocked_or_done(ipcm.peek(&tid, id, buf, len_out), ticks),
    }
}
