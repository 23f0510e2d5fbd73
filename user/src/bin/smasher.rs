//! Stack smashing. `arg` 0: points rsp at the kernel half, at nothing and
//! at a misaligned address and enters the kernel from there (a syscall, a
//! timer interrupt): the kernel must never use the user stack, and the
//! process finishes. `arg` 1: unbounded recursion runs into the unmapped
//! guard below its stack and is killed by the page fault.
#![no_std]
#![no_main]

use lukos_user::{nr, println};

lukos_user::entry!(main);

fn recurse(depth: u64) -> u64 {
    let buf = core::hint::black_box([depth; 64]);
    // Always true, but the compiler cannot know: the recursion is unbounded.
    if core::hint::black_box(depth) != u64::MAX {
        recurse(depth + 1) + buf[3]
    } else {
        buf[3]
    }
}

fn main(arg: u64) {
    if arg == 1 {
        println!("SMASH recursing");
        let n = recurse(0);
        println!("SMASH recursion returned {n} (must not happen)");
        return;
    }
    for (name, rsp) in [
        ("kernel", 0xFFFF_FFFF_8010_0000u64),
        ("null", 0u64),
        ("odd", 0x7F00_0000_0003u64),
    ] {
        let ticks: u64;
        // SAFETY: rsp is saved in r12 and restored before any Rust code
        // runs; nothing between uses the stack (the syscall and a timer
        // interrupt taken while spinning run on the kernel's stack).
        unsafe {
            core::arch::asm!(
                "mov r12, rsp",
                "mov rsp, {bad}",
                "mov ecx, 20000000",
                "2:",
                "dec ecx",
                "jnz 2b",
                "mov eax, {ticks}",
                "syscall",
                "mov rsp, r12",
                bad = in(reg) rsp,
                ticks = const nr::TICKS,
                out("r12") _,
                lateout("rax") _,
                lateout("rdx") ticks,
                lateout("rcx") _,
                lateout("r11") _,
            );
        }
        println!("SMASH rsp={name} survived ticks={ticks}");
    }
    println!("SMASHER done");
}
