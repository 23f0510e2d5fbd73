//! LuKOS: a small bare-metal x86_64 kernel whose processes talk through the
//! IPC Manager (IPCM).
//!
//! Booted by QEMU through a PVH ELF note (see [`boot`]); logs to COM1; runs
//! user programs — separate `no_std` Rust binaries embedded in this image —
//! in ring 3, each process in its own address space, threads scheduled by
//! priority with timer preemption. The kernel itself runs with interrupts
//! off on a single trap stack (see [`entry`]).

#![no_std]
#![no_main]

extern crate alloc;

mod boot;
mod entry;
mod gdt;
mod heap;
mod qemu;
mod rt;
mod sched;
mod serial;
mod timer;
mod trap;

use qemu::ExitCode;

/// The Rust entry point, called by `pvh_start` in long mode on the boot stack.
#[unsafe(no_mangle)]
extern "C" fn kernel_entry() -> ! {
    serial::init();
    heap::init();
    let boot = boot::read_boot_info();
    kprintln!("LuKOS booting; command line: {:?}", boot.cmdline);
    let ram: u64 = boot.ram.iter().map(|r| r.end - r.start).sum();
    kprintln!("RAM: {} KiB in {} regions", ram / 1024, boot.ram.len());
    let selectors = gdt::init(entry::trap_stack_top_addr(), entry::double_fault_stack_top_addr());
    entry::init(&selectors);
    timer::init();
    kprintln!("boot ok");
    if boot.cmdline.contains("scenario=kernel-fault") {
        // SAFETY: deliberately executes an invalid opcode to show that a
        // kernel exception is reported and fails the run.
        unsafe { core::arch::asm!("ud2") };
    }
    qemu::exit(ExitCode::Success)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    x86_64::instructions::interrupts::disable();
    kprintln!("KERNEL PANIC: {}", info);
    qemu::exit(ExitCode::Failure)
}
