//! Hostile flags: sets RFLAGS bits a kernel must not inherit and enters
//! the kernel with them: NT before a `yield` that returns to another
//! thread by `iretq` (#GP there if the kernel ran with NT), AC while the
//! timer interrupts (SMAP off in the kernel if it kept AC), DF before a
//! call whose copies would run backwards, and ID. The kernel must shrug
//! them all off; the process must finish. With `arg` 1 it sets TF
//! instead: the single-step trap (on its IST stack) kills it alone.
#![no_std]
#![no_main]

use lukos_user::{Pipe, println, spawn, ticks, timeout, yield_now};

lukos_user::entry!(main);

const NT: u64 = 1 << 14;
const AC: u64 = 1 << 18;
const ID: u64 = 1 << 21;

fn set_flags(bits: u64) {
    // SAFETY: only RFLAGS changes; popfq in ring 3 cannot touch IF/IOPL.
    unsafe {
        core::arch::asm!("pushfq", "or qword ptr [rsp], {0}", "popfq", in(reg) bits);
    }
}

fn clear_flags(bits: u64) {
    // SAFETY: as for `set_flags`.
    unsafe {
        core::arch::asm!("pushfq", "and qword ptr [rsp], {0}", "popfq", in(reg) !bits);
    }
}

fn fresh_thread(_arg: u64) {
    println!("FLAGS fresh thread ran");
}

fn main(arg: u64) {
    if arg == 1 {
        // TF: single-stepping ourselves raises #DB after the next
        // instruction; #DB runs on its own IST stack, and the kernel must
        // kill only us.
        println!("FLAGS setting TF");
        set_flags(1 << 8);
        println!("FLAGS survived TF (must not happen)");
        return;
    }
    // A thread that never ran returns to ring 3 by iretq.
    spawn(fresh_thread, 0, 2).expect("spawn");
    set_flags(NT);
    yield_now();
    clear_flags(NT);
    println!("FLAGS nt-then-yield survived");

    // AC through a timer interrupt: spin until the tick changes.
    let start = ticks();
    set_flags(AC);
    let mut spins = 0u64;
    // rdtsc-free wait: each round is a few instructions, a tick is 10^7.
    while spins < 30_000_000 {
        spins = core::hint::black_box(spins + 1);
    }
    clear_flags(AC);
    println!("FLAGS ac-through-timer survived ticks={}", ticks() - start);

    // DF and ID into system calls that copy.
    let pipe = Pipe::create("", 16, 1, 0).expect("create");
    let msg = b"0123456789abcdef";
    let status: u64;
    // SAFETY: the kernel's syscall ABI (as in `lukos_user::sys`); DF and
    // ID are set only between the two flag changes, around the syscall
    // alone (Rust code must never run with DF set).
    unsafe {
        core::arch::asm!(
            "pushfq",
            "or qword ptr [rsp], {id}",
            "popfq",
            "std",
            "syscall",
            "cld",
            "pushfq",
            "and qword ptr [rsp], {not_id}",
            "popfq",
            id = in(reg) ID,
            not_id = in(reg) !ID,
            inlateout("rax") lukos_user::nr::PIPE_TRY_WRITE => status,
            in("rdi") pipe.id(),
            in("rsi") msg.as_ptr() as u64,
            in("rdx") msg.len() as u64,
            lateout("rcx") _,
            lateout("r11") _,
        );
    }
    let wrote = lukos_user::Status(status);
    let mut buf = [0u8; 16];
    let read = pipe.read(&mut buf, timeout::FOREVER);
    println!(
        "FLAGS df-copy write={:?} read={:?} intact={}",
        wrote,
        read,
        &buf == b"0123456789abcdef"
    );
    pipe.destroy().expect("destroy");
    println!("FLAGS done");
}
