//! Privileged instructions in ring 3, one per process (`arg` picks it):
//! each must kill its process with #GP, nothing else. `sgdt` is only
//! privileged with UMIP; without it the kernel's GDT address leaks.
#![no_std]
#![no_main]

use lukos_user::println;

lukos_user::entry!(main);

const NAMES: [&str; 7] = ["cli", "out", "wrmsr", "mov-cr3", "lgdt", "invlpg", "sgdt"];

fn main(arg: u64) {
    let name = NAMES.get(arg as usize).copied().unwrap_or("?");
    println!("PRIV trying {name}");
    let mut gdtr = [0u8; 10];
    // SAFETY: none needed for memory: each instruction is privileged in
    // ring 3 (#GP), which is the fault under test; `sgdt` only stores into
    // our own buffer.
    unsafe {
        match arg {
            0 => core::arch::asm!("cli"),
            1 => core::arch::asm!("out 0x80, al", in("al") 0u8),
            2 => core::arch::asm!("wrmsr", in("ecx") 0xC000_0082u32, in("eax") 0, in("edx") 0),
            3 => core::arch::asm!("mov cr3, {}", in(reg) 0u64),
            4 => core::arch::asm!("lgdt [{}]", in(reg) gdtr.as_ptr()),
            5 => core::arch::asm!("invlpg [{}]", in(reg) 0x40_0000u64),
            _ => core::arch::asm!("sgdt [{}]", in(reg) gdtr.as_mut_ptr()),
        }
    }
    let base = u64::from_le_bytes(gdtr[2..10].try_into().unwrap_or([0; 8]));
    println!("PRIV {name} executed in ring 3 (must not happen) gdt=0x{base:x}");
}
