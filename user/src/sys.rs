//! Raw system calls. Addresses are plain integers here: the kernel checks
//! them (a bad one is `BAD_ADDRESS`), which the fault tests rely on.

use crate::{Result, check};
use lukos_abi::nr;

/// `syscall` with up to five arguments; returns (rax status, rdx value).
#[inline(always)]
pub fn syscall5(number: u64, a0: u64, a1: u64, a2: u64, a3: u64, a4: u64) -> (u64, u64) {
    let status: u64;
    let value: u64;
    // SAFETY: the kernel's syscall ABI: it preserves every register but
    // rax/rdx (results) and rcx/r11 (clobbered by syscall/sysret), and it
    // never touches our memory except through the pointers we pass, which
    // it checks against our page tables.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") number => status,
            in("rdi") a0,
            in("rsi") a1,
            inlateout("rdx") a2 => value,
            in("r10") a3,
            in("r8") a4,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    (status, value)
}

/// `syscall` with no argument.
pub fn syscall0(number: u64) -> (u64, u64) {
    syscall5(number, 0, 0, 0, 0, 0)
}

/// `syscall` with one argument.
pub fn syscall1(number: u64, a0: u64) -> (u64, u64) {
    syscall5(number, a0, 0, 0, 0, 0)
}

/// `syscall` with four arguments.
pub fn syscall4(number: u64, a0: u64, a1: u64, a2: u64, a3: u64) -> (u64, u64) {
    syscall5(number, a0, a1, a2, a3, 0)
}

/// `debug_print`.
pub fn debug_print(ptr: u64, len: u64) -> Result<()> {
    check(syscall5(nr::DEBUG_PRINT, ptr, len, 0, 0, 0).0)
}

/// `exit`.
pub fn exit(code: u64) -> ! {
    syscall1(nr::EXIT, code);
    unreachable!("exit returned")
}

/// `thread_exit`.
pub fn thread_exit() -> ! {
    syscall0(nr::THREAD_EXIT);
    unreachable!("thread_exit returned")
}

/// `pipe_create`.
pub fn pipe_create(
    name: u64,
    name_len: u64,
    msg_size: u64,
    max_msgs: u64,
    flags: u64,
) -> Result<u64> {
    let (code, id) = syscall5(nr::PIPE_CREATE, name, name_len, msg_size, max_msgs, flags);
    check(code).map(|()| id)
}

/// `pipe_id_get`.
pub fn pipe_id_get(name: u64, name_len: u64) -> Result<u64> {
    let (code, id) = syscall5(nr::PIPE_ID_GET, name, name_len, 0, 0, 0);
    check(code).map(|()| id)
}

/// `pipe_info_get`.
pub fn pipe_info_get(id: u64, info: u64) -> Result<()> {
    check(syscall5(nr::PIPE_INFO_GET, id, info, 0, 0, 0).0)
}

/// `pipe_write`.
pub fn pipe_write(id: u64, buf: u64, len: u64, timeout: u64) -> Result<()> {
    check(syscall4(nr::PIPE_WRITE, id, buf, len, timeout).0)
}

/// `pipe_read`.
pub fn pipe_read(id: u64, buf: u64, len_out: u64, timeout: u64) -> Result<()> {
    check(syscall4(nr::PIPE_READ, id, buf, len_out, timeout).0)
}

/// `pipe_peek`.
pub fn pipe_peek(id: u64, buf: u64, len_out: u64, timeout: u64) -> Result<()> {
    check(syscall4(nr::PIPE_PEEK, id, buf, len_out, timeout).0)
}

/// `pipe_try_write`.
pub fn pipe_try_write(id: u64, buf: u64, len: u64) -> Result<()> {
    check(syscall4(nr::PIPE_TRY_WRITE, id, buf, len, 0).0)
}

/// `pipe_try_read`.
pub fn pipe_try_read(id: u64, buf: u64, len_out: u64) -> Result<()> {
    check(syscall4(nr::PIPE_TRY_READ, id, buf, len_out, 0).0)
}

/// `pipe_try_peek`.
pub fn pipe_try_peek(id: u64, buf: u64, len_out: u64) -> Result<()> {
    check(syscall4(nr::PIPE_TRY_PEEK, id, buf, len_out, 0).0)
}

/// `pipe_destroy`.
pub fn pipe_destroy(id: u64) -> Result<()> {
    check(syscall1(nr::PIPE_DESTROY, id).0)
}

/// `pipe_select`: returns (status, index of the member that completed or
/// `u64::MAX`) as the kernel answered.
pub fn pipe_select(members: u64, count: u64, timeout: u64) -> (u64, u64) {
    syscall5(nr::PIPE_SELECT, members, count, timeout, 0, 0)
}

/// `pipe_write_urgent`.
pub fn pipe_write_urgent(id: u64, buf: u64, len: u64, timeout: u64) -> Result<()> {
    check(syscall4(nr::PIPE_WRITE_URGENT, id, buf, len, timeout).0)
}

/// `pipe_write_prio`.
pub fn pipe_write_prio(id: u64, buf: u64, len: u64, prio: u64, timeout: u64) -> Result<()> {
    check(syscall5(nr::PIPE_WRITE_PRIO, id, buf, len, prio, timeout).0)
}

/// `pipe_purge`: how many messages it dropped.
pub fn pipe_purge(id: u64) -> Result<u64> {
    let (code, dropped) = syscall1(nr::PIPE_PURGE, id);
    check(code).map(|()| dropped)
}

/// `pipe_close`.
pub fn pipe_close(id: u64) -> Result<()> {
    check(syscall1(nr::PIPE_CLOSE, id).0)
}

/// `pipe_read_seq`.
pub fn pipe_read_seq(id: u64, buf: u64, out: u64, timeout: u64) -> Result<()> {
    check(syscall4(nr::PIPE_READ_SEQ, id, buf, out, timeout).0)
}

/// `pipe_peek_newer`.
pub fn pipe_peek_newer(id: u64, after: u64, buf: u64, out: u64, timeout: u64) -> Result<()> {
    check(syscall5(nr::PIPE_PEEK_NEWER, id, after, buf, out, timeout).0)
}

/// `pipe_peek_at`.
pub fn pipe_peek_at(id: u64, index: u64, buf: u64, out: u64) -> Result<()> {
    check(syscall4(nr::PIPE_PEEK_AT, id, index, buf, out).0)
}
