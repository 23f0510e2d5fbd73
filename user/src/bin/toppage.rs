//! A `syscall` at the very end of the last user page below the
//! non-canonical hole: its return address (rcx) is 2^47, non-canonical,
//! which makes `sysretq` fault in ring 0 on Intel CPUs. Linked with its
//! own script (`toppage.ld`) that puts `.toppage` in that page; the kernel
//! must refuse to map it, so the program never starts.
#![no_std]
#![no_main]

use lukos_user::println;

lukos_user::entry!(main);

core::arch::global_asm!(
    ".section .toppage, \"ax\"",
    ".globl toppage_entry",
    "toppage_entry:",
    "mov eax, 6",
    ".fill 4096 - 7, 1, 0x90",
    "syscall",
);

/// Where `toppage.ld` puts `.toppage` (too far for a relative call).
const TOP_PAGE: u64 = 0x7FFF_FFFF_F000;

fn main(_arg: u64) {
    println!("TOPPAGE running: jumping to the syscall at 2^47 - 2");
    // SAFETY: none: this is the attack under test.
    unsafe {
        core::arch::asm!("call {}", in(reg) TOP_PAGE, out("rax") _, out("rcx") _, out("r11") _, clobber_abi("C"));
    }
    println!("TOPPAGE returned (must not happen)");
}
