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

mod account;
mod acpi;
mod boot;
mod cpu;
mod entry;
mod frames;
mod gdt;
mod heap;
mod ipc;
mod lapic;
mod loader;
mod loglimit;
mod paging;
mod percpu;
mod process;
mod programs;
mod qemu;
mod queue_ops;
mod rt;
mod scenarios;
mod sched;
mod serial;
mod smp;
mod sync;
mod syscall;
mod timer;
mod tlb;
mod trap;

use qemu::ExitCode;

/// The Rust entry point, called by `pvh_start` in long mode on the boot stack.
#[unsafe(no_mangle)]
extern "C" fn kernel_entry() -> ! {
    // GS first: the entry stubs and the scheduler reach this CPU's state
    // through it.
    percpu::init_this_cpu(0, entry::trap_stack_top_addr(0));
    serial::init();
    heap::init();
    let boot = boot::read_boot_info();
    kprintln!("LuKOS booting; command line: {:?}", boot.cmdline);
    let ram: u64 = boot.ram.iter().map(|r| r.end - r.start).sum();
    kprintln!("RAM: {} KiB in {} regions", ram / 1024, boot.ram.len());
    let selectors = gdt::init(entry::trap_stack_top_addr(0), entry::ist_stack_tops(0));
    entry::init(&selectors);
    // The GDT, IDT, stacks and everything else now live in the kernel half.
    boot::drop_identity_map();
    let (image_start, image_end) = boot::kernel_image();
    frames::init(&boot.ram, image_start, image_end);
    paging::protect_kernel().expect("frames for the kernel's page tables");
    kprintln!("kernel half: text RX, rodata R+NX, data/bss/heap RW+NX, stack guards unmapped");
    kprintln!(
        "kernel image 0x{:x}..0x{:x}; {} free frames",
        image_start,
        image_end,
        frames::free_count()
    );
    sched::init();
    account::init();
    ipc::init();
    timer::init();
    let hardening = cpu::harden();
    kprintln!(
        "SMEP {}, SMAP {}, UMIP {}",
        on_off(hardening.smep),
        on_off(hardening.smap),
        on_off(hardening.umip)
    );
    smp::start(boot.rsdp);
    kprintln!(
        "boot ok; {} free frames; {} pool bytes free",
        frames::free_count(),
        account::pool_free()
    );

    let scenario = boot
        .cmdline
        .split_whitespace()
        .find_map(|arg| arg.strip_prefix("scenario="))
        .unwrap_or("boot");
    match scenario {
        "kernel-fault" => {
            // SAFETY: deliberately executes an invalid opcode to show that
            // a kernel exception is reported and fails the run.
            unsafe { core::arch::asm!("ud2") };
        }
        "panic" => panic!("deliberate kernel panic (scenario=panic)"),
        "iret-fault" => sched::corrupt_next_iret(),
        "kernel-write-text" => {
            let text = kernel_entry as *const () as *mut u8;
            // SAFETY: deliberately writes the kernel's own code to show
            // that text is mapped read-only (W^X): this faults.
            unsafe { text.write_volatile(0xCC) };
            panic!("wrote the kernel's text (must not happen)");
        }
        "kernel-exec-data" => {
            static mut IN_DATA: [u8; 1] = [0xC3];
            // SAFETY: deliberately calls a `ret` placed in `.data` to show
            // that data is mapped no-execute: the fetch faults.
            unsafe {
                let code: extern "C" fn() = core::mem::transmute(&raw mut IN_DATA);
                code();
            }
            panic!("executed the kernel's data (must not happen)");
        }
        "kernel-stack-overflow" => {
            /// Recurses until the boot stack runs into its guard page.
            fn deeper(depth: u64) -> u64 {
                let frame = core::hint::black_box([depth; 32]);
                if core::hint::black_box(depth) == u64::MAX {
                    return 0;
                }
                deeper(depth + 1) + frame[1]
            }
            let n = deeper(0);
            panic!("recursion returned {n} (must not happen)");
        }
        _ => {}
    }
    let Some(launches) = scenarios::processes(scenario) else {
        kprintln!("unknown scenario {scenario:?}");
        qemu::exit(ExitCode::Failure);
    };
    kprintln!("scenario {scenario}: starting {} processes", launches.len());
    for launch in launches {
        let image = programs::image(launch.program).expect("scenario names an embedded program");
        match sched::spawn_process(launch.program, image, launch) {
            Ok(pid) => kprintln!(
                "started {}#{} (priority {}, arg {})",
                launch.program,
                pid.0,
                launch.priority,
                launch.arg
            ),
            // A program the kernel will not load (e.g. one that maps the
            // top user page) is refused; the others still run.
            Err(e) => kprintln!("REFUSED to start {}: {e}", launch.program),
        }
    }
    sched::start()
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off (CPU lacks it)" }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    x86_64::instructions::interrupts::disable();
    // One line (PanicInfo's own Display breaks it), so it keeps its prefix.
    match info.location() {
        Some(at) => kprintln!("KERNEL PANIC: {} (at {at})", info.message()),
        None => kprintln!("KERNEL PANIC: {}", info.message()),
    }
    qemu::exit(ExitCode::Failure)
}
