//! Bad user pointers: a kernel address, an unmapped address, a read-only
//! buffer, and buffers that cross into an unmapped page, passed to every
//! call that takes a pointer. Each must be BAD_ADDRESS, change nothing,
//! and leave the kernel running.
#![no_std]
#![no_main]

use lukos_user::{Pipe, Result, Status, println, status, sys, timeout};

lukos_user::entry!(main);

/// In the kernel half (the kernel's image): present, but supervisor-only.
const KERNEL_ADDR: u64 = 0xFFFF_FFFF_8010_0000;
/// User space, never mapped.
const UNMAPPED: u64 = 0x0000_6000_0000_0000;

/// A read-only buffer (in `.rodata`).
static READ_ONLY: [u8; 16] = [0; 16];

unsafe extern "C" {
    /// First unmapped page after the program (see user.ld).
    static __user_end: u8;
}

fn check_raw(code: u64) -> Result<()> {
    if code == status::OK {
        Ok(())
    } else {
        Err(Status(code))
    }
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
        sys::pipe_try_write(id, KERNEL_ADDR, 16),
        bad,
    );
    report(
        "write-from-unmapped",
        sys::pipe_try_write(id, UNMAPPED, 16),
        bad,
    );
    report(
        "write-crossing-into-unmapped",
        sys::pipe_try_write(id, crossing, 16),
        bad,
    );
    report("write-null", sys::pipe_try_write(id, 0, 16), bad);
    let info = pipe.info().expect("info");
    println!(
        "CHECK nothing-written queued={} written={}",
        info.queued, info.written
    );

    report(
        "write-valid",
        pipe.try_write(b"0123456789abcdef"),
        status::OK,
    );
    let mut buf = [0u8; 16];
    let buf_ptr = buf.as_mut_ptr() as u64;
    report(
        "read-into-kernel-addr",
        sys::pipe_try_read(id, KERNEL_ADDR, len_ptr),
        bad,
    );
    report(
        "read-into-unmapped",
        sys::pipe_try_read(id, UNMAPPED, len_ptr),
        bad,
    );
    report(
        "read-into-read-only",
        sys::pipe_try_read(id, read_only, len_ptr),
        bad,
    );
    report(
        "read-crossing-into-unmapped",
        sys::pipe_try_read(id, crossing, len_ptr),
        bad,
    );
    report(
        "read-len-into-read-only",
        sys::pipe_try_read(id, buf_ptr, read_only),
        bad,
    );
    report(
        "read-len-into-kernel-addr",
        sys::pipe_try_read(id, buf_ptr, KERNEL_ADDR),
        bad,
    );
    report(
        "peek-into-read-only",
        sys::pipe_try_peek(id, read_only, len_ptr),
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

    // Bad parameters (not addresses): clear statuses, nothing created.
    let huge = sys::pipe_create(b"huge".as_ptr() as u64, 4, 1 << 20, 1 << 20, 0).map(|_| ());
    report("create-huge-store", huge, status::NO_MEMORY);
    // Many pipes, each allowed, cannot exhaust the kernel heap together.
    let mut created = 0;
    let mut last = Ok(());
    for i in 0..64u8 {
        let name = [b'm', b'a', b'n', b'y', b'0' + i / 10, b'0' + i % 10];
        last = sys::pipe_create(name.as_ptr() as u64, 6, 64 * 1024, 4, 0).map(|_| ());
        if last.is_err() {
            break;
        }
        created += 1;
    }
    report("create-many-until-quota", last, status::NO_MEMORY);
    println!("CHECK quota created={created}");
    // Destroying one gives its share back.
    let first = Pipe::lookup("many00").expect("many00 exists");
    report("destroy-one", first.destroy(), status::OK);
    let again = sys::pipe_create(b"again".as_ptr() as u64, 5, 64 * 1024, 4, 0).map(|_| ());
    report("create-after-destroy", again, status::OK);
    let zero = sys::pipe_create(b"zero".as_ptr() as u64, 4, 0, 4, 0).map(|_| ());
    report("create-zero-size", zero, status::BAD_PARAM);
    let overflow = sys::pipe_create(b"ovf".as_ptr() as u64, 3, u64::MAX, 2, 0).map(|_| ());
    report("create-size-overflow", overflow, status::BAD_PARAM);
    report(
        "create-bad-flags",
        sys::pipe_create(b"f".as_ptr() as u64, 1, 8, 1, 1 << 9).map(|_| ()),
        status::BAD_PARAM,
    );
    report(
        "create-name-too-long",
        sys::pipe_create(b"x".as_ptr() as u64, 65, 8, 1, 0).map(|_| ()),
        status::BAD_PARAM,
    );
    report(
        "create-name-not-utf8",
        sys::pipe_create(b"\xff".as_ptr() as u64, 1, 8, 1, 0).map(|_| ()),
        status::BAD_PARAM,
    );
    report(
        "create-name-taken",
        sys::pipe_create(b"bad".as_ptr() as u64, 3, 8, 1, 0).map(|_| ()),
        status::NAME_TAKEN,
    );
    report(
        "write-too-large",
        pipe.try_write(&[0u8; 17]),
        status::TOO_LARGE,
    );
    report(
        "read-unknown-id",
        sys::pipe_try_read(12345, buf_ptr, len_ptr),
        status::NOT_FOUND,
    );
    report(
        "unknown-syscall",
        check_raw(sys::syscall0(999).0),
        status::NO_SYSCALL,
    );

    // The kernel survived: the message is still there, intact.
    let got = pipe.try_read(&mut buf);
    let intact = got == Ok(16) && &buf == b"0123456789abcdef";
    println!("CHECK survived read={:?} intact={intact}", got);
    println!("BADADDR done");
}
