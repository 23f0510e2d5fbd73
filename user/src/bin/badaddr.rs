//! Bad user pointers: a kernel address, an unmapped address, a read-only
//! buffer, and buffers that cross into an unmapped page, passed to every
//! call that takes a pointer. Each must be BAD_ADDRESS, change nothing,
//! and leave the kernel running.
#![no_std]
#![no_main]

use lukos_user::{Pipe, Result, Status, println, status, sys, timeout};

lukos_user::entry!(main);

/// In the kernel's identity-mapped image: present, but supervisor-only.
const KERNEL_ADDR: u64 = 0x0010_0000;
/// User space, never mapped.
const UNMAPPED: u64 = 0x0000_6000_0000_0000;

/// A read-only buffer (in `.rodata`).
static READ_ONLY: [u8; 16] = [0; 16];

unsafe extern "C" {
    /// First unmapped page after the program (see user.ld).
    static __user_end: u8;
}

fn report(name: &str, result: Result<()>, expected: u64) {
    let got = match result {
        Ok(()) => status::OK,
        Err(Status(code)) => code,
    };
    let verdict = if got == expected { "ok" } else { "WRONG" };
    println!(
        "CHECK {name} status={} expected={} {verdict}",
        status::name(got),
        status::name(expected)
    );
}

fn main(_arg: u64) {
    let pipe = Pipe::create("bad", 16, 2, 0).expect("create");
    let id = pipe.id();
    let end = &raw const __user_end as u64;
    let crossing = end - 8;
    let mut len = 0usize;
    let len_ptr = &raw mut len as u64;
    let read_only = READ_ONLY.as_ptr() as u64;
    let bad = status::BAD_ADDRESS;

    report(
        "write-from-kernel-addr",
        sys::pipe_write(id, KERNEL_ADDR, 16, timeout::TRY),
        bad,
    );
    report(
        "write-from-unmapped",
        sys::pipe_write(id, UNMAPPED, 16, timeout::TRY),
        bad,
    );
    report(
        "write-crossing-into-unmapped",
        sys::pipe_write(id, crossing, 16, timeout::TRY),
        bad,
    );
    report("write-null", sys::pipe_write(id, 0, 16, timeout::TRY), bad);
    let info = pipe.info().expect("info");
    println!(
        "CHECK nothing-written queued={} written={}",
        info.queued, info.written
    );

    report(
        "write-valid",
        pipe.write(b"0123456789abcdef", timeout::TRY),
        status::OK,
    );
    let mut buf = [0u8; 16];
    let buf_ptr = buf.as_mut_ptr() as u64;
    report(
        "read-into-kernel-addr",
        sys::pipe_read(id, KERNEL_ADDR, len_ptr, timeout::TRY),
        bad,
    );
    report(
        "read-into-unmapped",
        sys::pipe_read(id, UNMAPPED, len_ptr, timeout::TRY),
        bad,
    );
    report(
        "read-into-read-only",
        sys::pipe_read(id, read_only, len_ptr, timeout::TRY),
        bad,
    );
    report(
        "read-crossing-into-unmapped",
        sys::pipe_read(id, crossing, len_ptr, timeout::TRY),
        bad,
    );
    report(
        "read-len-into-read-only",
        sys::pipe_read(id, buf_ptr, read_only, timeout::TRY),
        bad,
    );
    report(
        "read-len-into-kernel-addr",
        sys::pipe_read(id, buf_ptr, KERNEL_ADDR, timeout::TRY),
        bad,
    );
    report(
        "peek-into-read-only",
        sys::pipe_peek(id, read_only, len_ptr, timeout::TRY),
        bad,
    );
    report(
        "blocking-read-into-kernel-addr",
        sys::pipe_read(id, KERNEL_ADDR, len_ptr, timeout::FOREVER),
        bad,
    );
    let info = pipe.info().expect("info");
    println!(
        "CHECK nothing-consumed queued={} read={}",
        info.queued, info.read
    );

    report(
        "info-into-read-only",
        sys::pipe_info_get(id, read_only),
        bad,
    );
    report(
        "info-into-kernel-addr",
        sys::pipe_info_get(id, KERNEL_ADDR),
        bad,
    );
    report(
        "print-from-kernel-addr",
        sys::debug_print(KERNEL_ADDR, 16),
        bad,
    );
    report(
        "create-name-unmapped",
        sys::pipe_create(UNMAPPED, 4, 16, 2, 0).map(|_| ()),
        bad,
    );
    report(
        "lookup-name-kernel-addr",
        sys::pipe_id_get(KERNEL_ADDR, 4).map(|_| ()),
        bad,
    );

    // The kernel survived: the message is still there, intact.
    let got = pipe.read(&mut buf, timeout::TRY);
    let intact = got == Ok(16) && &buf == b"0123456789abcdef";
    println!("CHECK survived read={:?} intact={intact}", got);
    println!("BADADDR done");
}
