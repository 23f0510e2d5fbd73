//! Random sequences of C ABI calls with random (also invalid) ids, lengths,
//! names, virtual addresses and out-pointers, through hooks that validate
//! every address against simulated address spaces.
//!
//! Checked after every call: no call returns IPCM_STATUS_INTERNAL (a caught
//! panic) or an unknown status; a thread is pending exactly when its call
//! returned BLOCKED and no wake came yet; every wake is for a pending thread
//! (exactly once); `ipcm_thread_cancel_op` succeeds exactly when its ticket
//! names the thread's pending operation (a stale ticket, from an operation
//! that ended, is NOT_FOUND and changes nothing); a pipe's counters balance (written = read + dropped +
//! queued) and queued <= max_msgs; a kernel read's length <= msg_size. At
//! the end of each input every pipe is destroyed, which must wake every
//! thread still pending.
//!
//! Kernel buffers (caller NULL) are direct pointers that the kernel vouches
//! for, so the harness only passes valid ones (or NULL); thread addresses
//! are anything.
//!
//! Run: `cd crates/ipcm-ffi/fuzz && cargo +nightly fuzz run c_abi -- -max_total_time=600`

#![no_main]

use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_void};
use std::ptr;

use arbitrary::Arbitrary;
use ipcm_ffi::*;
use libfuzzer_sys::fuzz_target;

const THREADS: usize = 4;
const SPACE: usize = 512;
const BASE: usize = 0x4000;
const KERNEL_BUF: usize = 4096;

/// A simulated thread: a process and an address space of SPACE bytes at
/// BASE; the first `readonly` bytes are read-only.
struct Sim {
    process: u64,
    readonly: usize,
    memory: [u8; SPACE],
    blocked: bool,
    /// The ticket of the pending operation, when its call asked for one.
    ticket: Option<ipcm_ticket_t>,
}

thread_local! {
    static SIMS: RefCell<Vec<Sim>> = RefCell::new(
        (0..THREADS)
            .map(|i| Sim {
                process: (i as u64 % 3) + 1,
                readonly: if i == 3 { 64 } else { 0 },
                memory: [0; SPACE],
                blocked: false,
                ticket: None,
            })
            .collect(),
    );
}

/// Distinct addresses naming the simulated threads.
static THREAD_OBJECTS: [u64; THREADS] = [0; THREADS];

fn thread_ptr(i: usize) -> *mut thread_t {
    ptr::from_ref(&THREAD_OBJECTS[i]).cast_mut().cast()
}

fn thread_index(t: *mut thread_t) -> usize {
    (0..THREADS)
        .find(|&i| thread_ptr(i) == t)
        .expect("the IPC manager passed a thread_t * it was never given")
}

fn range(va: *mut c_void, len: usize) -> Option<std::ops::Range<usize>> {
    let start = (va as usize).checked_sub(BASE)?;
    let end = start.checked_add(len)?;
    (end <= SPACE).then_some(start..end)
}

unsafe extern "C" fn copy_from_user(
    _: *mut c_void,
    t: *mut thread_t,
    va: *mut c_void,
    dst: *mut c_void,
    len: usize,
) -> c_int {
    let i = thread_index(t);
    let Some(range) = range(va, len) else {
        return 1;
    };
    SIMS.with_borrow(|sims| {
        // SAFETY: the IPC manager passes a buffer of `len` bytes.
        let dst = unsafe { std::slice::from_raw_parts_mut(dst.cast::<u8>(), len) };
        dst.copy_from_slice(&sims[i].memory[range]);
    });
    0
}

unsafe extern "C" fn copy_to_user(
    _: *mut c_void,
    t: *mut thread_t,
    va: *mut c_void,
    src: *const c_void,
    len: usize,
) -> c_int {
    let i = thread_index(t);
    let Some(range) = range(va, len) else {
        return 1;
    };
    SIMS.with_borrow_mut(|sims| {
        if len > 0 && range.start < sims[i].readonly {
            return 1;
        }
        // SAFETY: the IPC manager passes a buffer of `len` bytes.
        let src = unsafe { std::slice::from_raw_parts(src.cast::<u8>(), len) };
        sims[i].memory[range].copy_from_slice(src);
        0
    })
}

unsafe extern "C" fn wake(_: *mut c_void, t: *mut thread_t, status: c_int) {
    let i = thread_index(t);
    assert!(
        matches!(
            status,
            IPCM_STATUS_OK
                | IPCM_STATUS_BAD_ADDRESS
                | IPCM_STATUS_TIMED_OUT
                | IPCM_STATUS_CANCELLED
                | IPCM_STATUS_DESTROYED
                | IPCM_STATUS_CLOSED
                | IPCM_STATUS_FULL
        ),
        "thread {i} woken with {status}"
    );
    SIMS.with_borrow_mut(|sims| {
        assert!(sims[i].blocked, "thread {i} woken twice or never blocked");
        sims[i].blocked = false;
        sims[i].ticket = None;
    });
}

unsafe extern "C" fn process_of(_: *mut c_void, t: *mut thread_t) -> u64 {
    let i = thread_index(t);
    SIMS.with_borrow(|sims| sims[i].process)
}

unsafe extern "C" fn priority_of(_: *mut c_void, t: *mut thread_t) -> u8 {
    thread_index(t) as u8
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Who {
    Kernel,
    Thread(u8),
}

#[derive(Arbitrary, Debug)]
enum Id {
    /// One of the ids this input created (live or destroyed).
    Known(u8),
    Raw(usize),
}

#[derive(Arbitrary, Debug)]
enum Va {
    InSpace(u16),
    Null,
    Raw(usize),
}

#[derive(Arbitrary, Debug)]
enum Len {
    Small(u8),
    Raw(usize),
}

#[derive(Arbitrary, Debug)]
enum Name {
    Null,
    /// One of a few fixed names, so lookups and duplicates happen.
    Fixed(u8),
    Bytes(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum TicketChoice {
    /// One of the tickets this input was given (pending or stale).
    Known(u8),
    Raw(usize, u32, u64),
    Null,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Init,
    Create {
        owner: Who,
        name: Name,
        msg_size: Len,
        max_msgs: Len,
        flags: u8,
        null_out: bool,
    },
    Write {
        who: Who,
        id: Id,
        va: Va,
        len: Len,
        try_only: bool,
        /// Through `ipcm_pipe_write_ticket` (a blocking form).
        ticketed: bool,
    },
    Read {
        who: Who,
        id: Id,
        va: Va,
        len_va: Va,
        peek: bool,
        try_only: bool,
        /// Through the `_ticket` form (a blocking form).
        ticketed: bool,
    },
    Cancel {
        thread: u8,
        reason: i8,
    },
    CancelOp {
        thread: u8,
        ticket: TicketChoice,
        reason: i8,
    },
    Destroy {
        who: Who,
        id: Id,
    },
    Info {
        id: Id,
        null: bool,
    },
    Name {
        id: Id,
        buf_len: u8,
        null_buf: bool,
    },
    LookupName {
        name: Name,
    },
    LookupId {
        id: Id,
    },
    Poke {
        thread: u8,
        offset: u16,
        bytes: Vec<u8>,
    },
    Purge {
        who: Who,
        id: Id,
    },
    Close {
        who: Who,
        id: Id,
    },
    WriteUrgent {
        thread: u8,
        id: Id,
        va: Va,
        len: Len,
    },
    /// `ipcm_pipe_write_prio` (priorities above 255 are `BAD_PARAM`).
    WritePrio {
        thread: u8,
        id: Id,
        va: Va,
        len: Len,
        prio: u16,
    },
    /// `after`: peek-newer after it; else peek_at(index) when `at` is set,
    /// else read_seq.
    Numbered {
        thread: u8,
        id: Id,
        va: Va,
        len_va: Va,
        seq_va: Va,
        after: u64,
        index: u8,
        how: u8,
    },
    Select {
        thread: u8,
        /// (kind, pipe, buffer, length word, message length)
        members: Vec<(i8, Id, Va, Va, Len)>,
    },
}

/// One select group record per simulated thread, made once and kept for
/// the process (a static, so the leak checker sees it reachable).
static GROUPS: std::sync::OnceLock<Vec<usize>> = std::sync::OnceLock::new();

fn group_of(thread: u8) -> *mut ipcm_select_group_t {
    let groups = GROUPS.get_or_init(|| {
        (0..THREADS)
            .map(|_| ipcm_select_group_new() as usize)
            .collect()
    });
    groups[thread as usize % THREADS] as *mut ipcm_select_group_t
}

struct Run {
    ids: Vec<usize>,
    kernel_buf: Vec<u8>,
    /// Every ticket a blocking call returned in this input.
    tickets: Vec<ipcm_ticket_t>,
}

impl Run {
    fn id(&self, id: &Id) -> usize {
        match *id {
            Id::Known(i) if !self.ids.is_empty() => self.ids[i as usize % self.ids.len()],
            Id::Known(i) => i as usize,
            Id::Raw(raw) => raw,
        }
    }
}

fn thread_of(who: Who) -> *mut thread_t {
    match who {
        Who::Kernel => ptr::null_mut(),
        Who::Thread(i) => thread_ptr(i as usize % THREADS),
    }
}

fn va(va: &Va) -> *mut c_void {
    match *va {
        Va::InSpace(offset) => (BASE + offset as usize % (SPACE + 16)) as *mut c_void,
        Va::Null => ptr::null_mut(),
        Va::Raw(raw) => raw as *mut c_void,
    }
}

fn len(len: &Len) -> usize {
    match *len {
        Len::Small(n) => n as usize,
        Len::Raw(raw) => raw,
    }
}

/// A NUL-terminated name (or NULL); kept alive by the returned Vec.
fn name(name: &Name) -> Option<Vec<u8>> {
    match name {
        Name::Null => None,
        Name::Fixed(i) => Some(format!("pipe-{}\0", i % 4).into_bytes()),
        Name::Bytes(bytes) => {
            let mut bytes = bytes.clone();
            bytes.truncate(100);
            bytes.push(0);
            Some(bytes)
        }
    }
}

fn name_ptr(name: &Option<Vec<u8>>) -> *mut c_char {
    name.as_ref()
        .map_or(ptr::null_mut(), |n| n.as_ptr().cast_mut().cast())
}

fn check_status(status: c_int) {
    assert!(
        (0..=IPCM_STATUS_CLOSED).contains(&status),
        "unexpected status {status} (INTERNAL = a caught panic)"
    );
}

fn info(id: usize) -> Option<ipcm_pipe_info_t> {
    let mut info = ipcm_pipe_info_t::default();
    // SAFETY: a valid out-pointer.
    let status = unsafe { ipcm_pipe_info(id, &mut info) };
    check_status(status);
    (status == IPCM_STATUS_OK).then(|| {
        assert!(info.queued <= info.max_msgs, "{info:?}");
        assert_eq!(
            info.written,
            info.read + info.dropped + info.purged + info.queued as u64,
            "{info:?}"
        );
        info
    })
}

/// A status from a call by `who` that may block; `ticket` is what its
/// `_ticket` form stored (None: the plain form), `UNTOUCHED` if nothing.
fn after_call(run: &mut Run, who: Who, status: c_int, ticket: Option<ipcm_ticket_t>) {
    check_status(status);
    if status == IPCM_STATUS_BLOCKED {
        let Who::Thread(i) = who else {
            panic!("the kernel was told BLOCKED")
        };
        if let Some(ticket) = ticket {
            assert_ne!(ticket, UNTOUCHED, "BLOCKED without a ticket");
            assert!(!run.tickets.contains(&ticket), "a ticket handed out twice");
            run.tickets.push(ticket);
        }
        SIMS.with_borrow_mut(|sims| {
            let sim = &mut sims[i as usize % THREADS];
            assert!(!sim.blocked, "BLOCKED twice without ALREADY_PENDING");
            sim.blocked = true;
            sim.ticket = ticket;
        });
    } else if let Some(ticket) = ticket {
        assert_eq!(
            ticket, UNTOUCHED,
            "a call that did not block stored a ticket"
        );
    }
}

/// What a `_ticket` call leaves in its out-parameter unless it blocks.
const UNTOUCHED: ipcm_ticket_t = ipcm_ticket_t {
    pipe: 0,
    slot: 0,
    seq: 0,
};

fn check_pending() {
    for i in 0..THREADS {
        let blocked = SIMS.with_borrow(|sims| sims[i].blocked);
        assert_eq!(ipcm_thread_is_pending(thread_ptr(i)), blocked, "thread {i}");
    }
}

fn step(run: &mut Run, op: &Op) {
    match op {
        Op::Init => ipcm_init(),
        Op::Create {
            owner,
            name: n,
            msg_size,
            max_msgs,
            flags,
            null_out,
        } => {
            let (msg_size, max_msgs) = (len(msg_size), len(max_msgs));
            // Keep real allocations small (the fuzzer's memory limit);
            // sizes that cannot be allocated at all are fine.
            let bytes = max_msgs
                .checked_add(1)
                .and_then(|slots| slots.checked_mul(msg_size));
            if bytes.is_some_and(|b| b > 1 << 20 && b <= isize::MAX as usize) {
                return;
            }
            let n = name(n);
            // A NULL out-pointer only for named pipes, so the id can be
            // found (and the pipe destroyed at the end).
            let null_out = *null_out && n.is_some();
            let mut out = ptr::null_mut();
            let out_ptr = if null_out { ptr::null_mut() } else { &mut out };
            // SAFETY: a NUL-terminated name or NULL; a valid out-pointer or NULL.
            let status = unsafe {
                ipcm_pipe_create_as(
                    thread_of(*owner),
                    name_ptr(&n),
                    msg_size,
                    max_msgs,
                    *flags as usize,
                    out_ptr,
                )
            };
            check_status(status);
            if status == IPCM_STATUS_OK && null_out {
                // SAFETY: NUL-terminated.
                out = unsafe { ipcm_pipe_lookup_by_name(name_ptr(&n)) };
            }
            if status == IPCM_STATUS_OK {
                assert!(!out.is_null());
                run.ids.push(ipcm_pipe_id(out));
            }
        }
        Op::Write {
            who,
            id,
            va: v,
            len: l,
            try_only,
            ticketed,
        } => {
            let id = run.id(id);
            let len = len(l);
            let thread = thread_of(*who);
            let msg = match who {
                Who::Kernel => match v {
                    Va::Null => ptr::null_mut(),
                    // A real buffer of `len` bytes, or a length the library
                    // must reject (above msg_size) before reading.
                    _ if len <= KERNEL_BUF => run.kernel_buf.as_mut_ptr().cast(),
                    _ if info(id).is_some_and(|i| len <= i.msg_size) => return,
                    _ => run.kernel_buf.as_mut_ptr().cast(),
                },
                Who::Thread(_) => va(v),
            };
            let mut ticket = UNTOUCHED;
            let ticketed = *ticketed && !*try_only;
            // SAFETY: kernel buffers are valid for `len` bytes or rejected
            // first; thread buffers are addresses only; `ticket` is a valid
            // out-pointer.
            let status = unsafe {
                if *try_only {
                    ipcm_pipe_try_write(thread, id, msg, len)
                } else if ticketed {
                    ipcm_pipe_write_ticket(thread, id, msg, len, &mut ticket)
                } else {
                    ipcm_pipe_write(thread, id, msg, len)
                }
            };
            after_call(run, *who, status, ticketed.then_some(ticket));
        }
        Op::Read {
            who,
            id,
            va: v,
            len_va,
            peek,
            try_only,
            ticketed,
        } => {
            let id = run.id(id);
            let thread = thread_of(*who);
            let mut kernel_len = usize::MAX;
            let (buf, len_out): (*mut c_void, *mut usize) = match who {
                Who::Kernel => {
                    // The kernel's buffer must hold msg_size bytes.
                    if info(id).is_some_and(|i| i.msg_size > KERNEL_BUF) {
                        return;
                    }
                    let buf = if matches!(v, Va::Null) {
                        ptr::null_mut()
                    } else {
                        run.kernel_buf.as_mut_ptr().cast()
                    };
                    let len_out = if matches!(len_va, Va::Null) {
                        ptr::null_mut()
                    } else {
                        &mut kernel_len
                    };
                    (buf, len_out)
                }
                Who::Thread(_) => (va(v), va(len_va).cast()),
            };
            let msg_size = info(id).map(|i| i.msg_size);
            let mut ticket = UNTOUCHED;
            let ticketed = *ticketed && !*try_only;
            // SAFETY: kernel buffers hold msg_size bytes (checked above) or
            // are NULL; thread buffers are addresses only; `ticket` is a
            // valid out-pointer.
            let status = unsafe {
                match (peek, try_only, ticketed) {
                    (false, false, true) => {
                        ipcm_pipe_read_ticket(thread, id, buf, len_out, &mut ticket)
                    }
                    (true, false, true) => {
                        ipcm_pipe_peek_ticket(thread, id, buf, len_out, &mut ticket)
                    }
                    (false, false, false) => ipcm_pipe_read(thread, id, buf, len_out),
                    (false, true, _) => ipcm_pipe_try_read(thread, id, buf, len_out),
                    (true, false, false) => ipcm_pipe_peek(thread, id, buf, len_out),
                    (true, true, _) => ipcm_pipe_try_peek(thread, id, buf, len_out),
                }
            };
            after_call(run, *who, status, ticketed.then_some(ticket));
            if matches!(who, Who::Kernel) && status == IPCM_STATUS_OK {
                assert!(kernel_len <= msg_size.expect("read from a live pipe"));
            }
        }
        Op::Cancel { thread, reason } => {
            let i = *thread as usize % THREADS;
            let was_blocked = SIMS.with_borrow(|sims| sims[i].blocked);
            let status = ipcm_thread_cancel(thread_ptr(i), c_int::from(*reason));
            check_status(status);
            if matches!(
                c_int::from(*reason),
                IPCM_STATUS_TIMED_OUT | IPCM_STATUS_CANCELLED
            ) {
                // One outcome: cancelled (and woken) iff it was pending.
                let expected = if was_blocked {
                    IPCM_STATUS_OK
                } else {
                    IPCM_STATUS_NOT_FOUND
                };
                assert_eq!(status, expected);
            } else {
                assert_eq!(status, IPCM_STATUS_BAD_PARAM);
            }
        }
        Op::CancelOp {
            thread,
            ticket,
            reason,
        } => {
            let i = *thread as usize % THREADS;
            let (was_blocked, pending) = SIMS.with_borrow(|sims| (sims[i].blocked, sims[i].ticket));
            let chosen = match *ticket {
                TicketChoice::Known(k) if !run.tickets.is_empty() => {
                    Some(run.tickets[k as usize % run.tickets.len()])
                }
                TicketChoice::Known(_) | TicketChoice::Null => None,
                TicketChoice::Raw(pipe, slot, seq) => Some(ipcm_ticket_t { pipe, slot, seq }),
            };
            let known = matches!(*ticket, TicketChoice::Known(_));
            let ticket_ptr = chosen.as_ref().map_or(ptr::null(), ptr::from_ref);
            // SAFETY: a valid ticket or NULL.
            let status =
                unsafe { ipcm_thread_cancel_op(thread_ptr(i), ticket_ptr, c_int::from(*reason)) };
            check_status(status);
            let valid_reason = matches!(
                c_int::from(*reason),
                IPCM_STATUS_TIMED_OUT | IPCM_STATUS_CANCELLED
            );
            match chosen {
                _ if !valid_reason => assert_eq!(status, IPCM_STATUS_BAD_PARAM),
                None => assert_eq!(status, IPCM_STATUS_BAD_PARAM),
                // A ticket of this input: OK exactly when it names the
                // thread's pending operation (tickets are never reused, so
                // an older one is stale).
                Some(chosen) if known => {
                    let names_it = was_blocked && pending == Some(chosen);
                    let expected = if names_it {
                        IPCM_STATUS_OK
                    } else {
                        IPCM_STATUS_NOT_FOUND
                    };
                    assert_eq!(status, expected, "cancel_op of thread {i} with {chosen:?}");
                }
                // A made-up ticket is almost always stale; if it did name
                // the pending operation, the wake hook saw it end.
                Some(_) => assert!(
                    status == IPCM_STATUS_NOT_FOUND || (status == IPCM_STATUS_OK && was_blocked)
                ),
            }
            if status == IPCM_STATUS_OK {
                // Woken before the call returned.
                assert!(!SIMS.with_borrow(|sims| sims[i].blocked));
            }
        }
        Op::Destroy { who, id } => {
            let status = ipcm_pipe_destroy(thread_of(*who), run.id(id));
            check_status(status);
        }
        Op::Info { id, null } => {
            if *null {
                // SAFETY: NULL is allowed.
                check_status(unsafe { ipcm_pipe_info(run.id(id), ptr::null_mut()) });
            } else {
                info(run.id(id));
            }
        }
        Op::Name {
            id,
            buf_len,
            null_buf,
        } => {
            let mut buf = vec![0u8; *buf_len as usize];
            let mut name_len = usize::MAX;
            let buf_ptr = if *null_buf {
                ptr::null_mut()
            } else {
                buf.as_mut_ptr().cast()
            };
            let handle = ptr::without_provenance::<ipc_pipe_t>(run.id(id));
            // SAFETY: `buf` holds buf_len bytes (or is NULL).
            let status = unsafe { ipcm_pipe_name(handle, buf_ptr, buf.len(), &mut name_len) };
            check_status(status);
            if status == IPCM_STATUS_OK {
                assert!(name_len < buf.len() && buf[name_len] == 0);
            }
        }
        Op::LookupName { name: n } => {
            let n = name(n);
            // SAFETY: NUL-terminated or NULL.
            let pipe = unsafe { ipcm_pipe_lookup_by_name(name_ptr(&n)) };
            if !pipe.is_null() {
                assert_eq!(ipcm_pipe_lookup_by_id(ipcm_pipe_id(pipe)), pipe);
            }
        }
        Op::LookupId { id } => {
            let id = run.id(id);
            let pipe = ipcm_pipe_lookup_by_id(id);
            assert!(pipe.is_null() || ipcm_pipe_id(pipe) == id);
            assert_eq!(pipe.is_null(), info(id).is_none());
        }
        Op::Purge { who, id } => {
            let mut purged = usize::MAX;
            // SAFETY: a valid out-pointer.
            let status = unsafe { ipcm_pipe_purge(thread_of(*who), run.id(id), &mut purged) };
            check_status(status);
            assert!(status != IPCM_STATUS_OK || purged != usize::MAX);
        }
        Op::Close { who, id } => check_status(ipcm_pipe_close(thread_of(*who), run.id(id))),
        Op::WriteUrgent { thread, id, va: v, len: l } => {
            let who = Who::Thread(*thread);
            let mut ticket = UNTOUCHED;
            // SAFETY: thread addresses are data for the hooks; the ticket
            // out-pointer is valid.
            let status = unsafe {
                ipcm_pipe_write_urgent(thread_of(who), run.id(id), va(v), len(l), &mut ticket)
            };
            after_call(run, who, status, Some(ticket));
        }
        Op::WritePrio {
            thread,
            id,
            va: v,
            len: l,
            prio,
        } => {
            let who = Who::Thread(*thread);
            let mut ticket = UNTOUCHED;
            // SAFETY: thread addresses are data for the hooks; the ticket
            // out-pointer is valid.
            let status = unsafe {
                ipcm_pipe_write_prio(
                    thread_of(who),
                    run.id(id),
                    va(v),
                    len(l),
                    u32::from(*prio),
                    &mut ticket,
                )
            };
            after_call(run, who, status, Some(ticket));
        }
        Op::Numbered {
            thread,
            id,
            va: v,
            len_va,
            seq_va,
            after,
            index,
            how,
        } => {
            let who = Who::Thread(*thread);
            let (t, id) = (thread_of(who), run.id(id));
            let (buf, len_out, seq_out) = (va(v), va(len_va).cast(), va(seq_va).cast());
            let mut ticket = UNTOUCHED;
            // SAFETY: thread addresses are data for the hooks.
            let (status, ticket) = unsafe {
                match how % 3 {
                    0 => (ipcm_pipe_read_seq(t, id, buf, len_out, seq_out, &mut ticket), Some(ticket)),
                    1 => (
                        ipcm_pipe_peek_newer(t, id, *after, buf, len_out, seq_out, &mut ticket),
                        Some(ticket),
                    ),
                    _ => (
                        ipcm_pipe_peek_at(t, id, usize::from(*index), buf, len_out, seq_out),
                        None,
                    ),
                }
            };
            after_call(run, who, status, ticket);
        }
        Op::Select { thread, members } => {
            let who = Who::Thread(*thread);
            let ops: Vec<ipcm_select_op_t> = members
                .iter()
                .take(IPCM_SELECT_MAX + 1)
                .map(|(kind, id, buf, len_out, l)| ipcm_select_op_t {
                    kind: c_int::from(*kind),
                    pipe: run.id(id),
                    buf: va(buf),
                    len_out: va(len_out).cast(),
                    len: len(l),
                })
                .collect();
            let group = group_of(*thread);
            let (mut index, mut status_out, mut ticket) = (usize::MAX, -1, UNTOUCHED);
            // SAFETY: `ops` holds ops.len() entries; the group is live; the
            // out-pointers are valid.
            let status = unsafe {
                ipcm_select(
                    thread_of(who),
                    group,
                    ops.as_ptr(),
                    ops.len(),
                    &mut index,
                    &mut status_out,
                    &mut ticket,
                )
            };
            if status == IPCM_STATUS_OK {
                assert!(index < ops.len(), "completed member {index} of {}", ops.len());
                check_status(status_out);
            }
            after_call(run, who, status, Some(ticket));
        }
        Op::Poke {
            thread,
            offset,
            bytes,
        } => {
            // A thread filling its own memory (a message to send).
            SIMS.with_borrow_mut(|sims| {
                let memory = &mut sims[*thread as usize % THREADS].memory;
                let start = (*offset as usize) % SPACE;
                let n = bytes.len().min(SPACE - start);
                memory[start..start + n].copy_from_slice(&bytes[..n]);
            });
        }
    }
}

fuzz_target!(|ops: Vec<Op>| {
    static HOOKS: std::sync::Once = std::sync::Once::new();
    HOOKS.call_once(|| {
        let hooks = ipcm_hooks_t {
            ctx: ptr::null_mut(),
            copy_from_user: Some(copy_from_user),
            copy_to_user: Some(copy_to_user),
            wake: Some(wake),
            process_of: Some(process_of),
            priority_of: Some(priority_of),
        };
        // SAFETY: valid hooks.
        assert_eq!(unsafe { ipcm_install_hooks(&hooks) }, IPCM_STATUS_OK);
    });
    let mut run = Run {
        ids: Vec::new(),
        kernel_buf: vec![0x5a; KERNEL_BUF],
        tickets: Vec::new(),
    };
    for op in ops.iter().take(64) {
        step(&mut run, op);
        check_pending();
    }
    // Leave nothing behind: destroying every pipe wakes every waiter.
    for &id in &run.ids {
        let status = ipcm_pipe_destroy(ptr::null_mut(), id);
        assert!(status == IPCM_STATUS_OK || status == IPCM_STATUS_NOT_FOUND);
    }
    check_pending();
    for i in 0..THREADS {
        assert!(
            !SIMS.with_borrow(|sims| sims[i].blocked),
            "thread {i} never woken"
        );
    }
});
