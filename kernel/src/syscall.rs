//! System-call handlers. Each returns an [`Action`] for the scheduler; none
//! switches threads itself. User pointers are passed to the IPCM or to the
//! copy hooks as allegations ([`UserAddr`]); nothing here dereferences them.

#![forbid(unsafe_code)]

use crate::entry::TrapFrame;
use crate::ipc::{self, Hooks};
use crate::sched::{self, Action, Tid};
use crate::{kprintln, serial, timer};
use alloc::string::String;
use core::sync::atomic::{AtomicU64, Ordering};
use ipcm::{Caller, Kernel, PipeFlags, PipeId, Progress, Status, UserAddr};
use lukos_abi::{MAX_PRINT, PipeInfo, nr, status, timeout};

/// Largest message store (`msg_size * max_msgs`) a user process may create.
const MAX_USER_PIPE_BYTES: u64 = 256 * 1024;
/// Largest total message store of all live pipes user processes created
/// (the kernel heap is 8 MiB; this leaves the kernel its own share).
const MAX_USER_PIPE_BYTES_TOTAL: u64 = 4 * 1024 * 1024;

/// Message-store bytes of the live pipes user processes created. Kept by
/// create/destroy (pipes outlive their creator, so this is global).
static USER_PIPE_BYTES: AtomicU64 = AtomicU64::new(0);

fn done(status: u64) -> Action {
    Action::Return {
        status,
        value: None,
    }
}

fn value(value: u64) -> Action {
    Action::Return {
        status: status::OK,
        value: Some(value),
    }
}

fn failed(error: Status) -> Action {
    done(error.code() as u64)
}

/// Handles the system call in `regs` made by `tid`.
pub fn handle(tid: Tid, regs: &TrapFrame) -> Action {
    let args = [regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8];
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
                Err(why) => {
                    kprintln!(
                        "kernel: {}: thread_spawn refused: {}",
                        sched::describe(tid),
                        why
                    );
                    failed(Status::BadParam)
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
        _ => done(status::NO_SYSCALL),
    }
}

fn result_value(result: Result<u64, Status>) -> Action {
    match result {
        Ok(v) => value(v),
        Err(e) => failed(e),
    }
}

fn result_unit(result: Result<(), Status>) -> Action {
    match result {
        Ok(()) => done(status::OK),
        Err(e) => failed(e),
    }
}

/// Prints a line of the caller's to the log, prefixed with who it is.
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
    crate::kprint!("[{:>5}] {}: ", timer::now(), sched::describe(tid));
    serial::write_bytes(text);
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

fn pipe_create(tid: Tid, args: [u64; 5]) -> Action {
    let name = match read_name(tid, args[0], args[1]) {
        Ok(name) => name,
        Err(e) => return failed(e),
    };
    let flags = match PipeFlags::from_raw(args[4] as usize) {
        Ok(flags) => flags,
        Err(e) => return failed(e),
    };
    // Kernel policy: user processes cannot take the kernel heap with their
    // pipes, neither with one nor with many (zero sizes and overflow are
    // left to the IPCM, which reports them as BAD_PARAM).
    let bytes = args[2].checked_mul(args[3]);
    if let Some(bytes) = bytes {
        let used = USER_PIPE_BYTES.load(Ordering::Relaxed);
        if bytes > MAX_USER_PIPE_BYTES || used + bytes > MAX_USER_PIPE_BYTES_TOTAL {
            return failed(Status::NoMemory);
        }
    }
    let created = ipc::ipcm().create(
        Caller::Thread(&tid),
        name.as_deref(),
        args[2] as usize,
        args[3] as usize,
        flags,
    );
    if created.is_ok() {
        USER_PIPE_BYTES.fetch_add(bytes.unwrap_or(0), Ordering::Relaxed);
    }
    result_value(created.map(|id| id.to_raw() as u64))
}

fn pipe_destroy(tid: Tid, id: u64) -> Action {
    let id = PipeId::from_raw(id as usize);
    let ipcm = ipc::ipcm();
    let owner = ipcm
        .info(id)
        .map(|info| (info.owner, (info.msg_size * info.max_msgs) as u64));
    let destroyed = ipcm.destroy(Caller::Thread(&tid), id);
    if let (Ok(()), Ok((owner, bytes))) = (destroyed, owner)
        && owner != ipcm::ProcessId::KERNEL
    {
        USER_PIPE_BYTES.fetch_sub(bytes, Ordering::Relaxed);
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
    };
    match Hooks.copy_to_user(&tid, UserAddr(out as usize), &info.to_bytes()) {
        Ok(()) => done(status::OK),
        Err(_) => failed(Status::BadAddress),
    }
}

/// The deadline of a blocking call with this timeout argument (0: now, so
/// an operation that would block times out at once).
fn deadline(ticks: u64) -> Option<u64> {
    (ticks != timeout::FOREVER).then(|| timer::now().saturating_add(ticks))
}

fn blocked_or_done<T>(progress: Result<Progress<T>, Status>, timeout_ticks: u64) -> Action {
    match progress {
        Ok(Progress::Done(_)) => done(status::OK),
        Ok(Progress::Blocked(_)) => Action::Block {
            deadline: deadline(timeout_ticks),
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

fn pipe_write(tid: Tid, args: [u64; 5], wait: Wait) -> Action {
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

fn pipe_read(tid: Tid, args: [u64; 5], take: Take, wait: Wait) -> Action {
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
