//! What the kernel does with each trap. Called by the entry stubs with the
//! frame they pushed; see [`crate::entry`] for the stack discipline.

use crate::entry::{SYSCALL_VECTOR, TrapFrame};
use crate::{lapic, timer};

/// Names of the CPU exceptions, for the log.
fn exception_name(vector: u64) -> &'static str {
    match vector {
        0 => "divide error",
        1 => "debug",
        2 => "NMI",
        3 => "breakpoint",
        4 => "overflow",
        5 => "bound range exceeded",
        6 => "invalid opcode",
        7 => "device not available",
        8 => "double fault",
        10 => "invalid TSS",
        11 => "segment not present",
        12 => "stack-segment fault",
        13 => "general protection fault",
        14 => "page fault",
        16 => "x87 floating point",
        17 => "alignment check",
        18 => "machine check",
        19 => "SIMD floating point",
        _ => "exception",
    }
}

/// Describes a fault for the log ("page fault at 0x.. (error 0x..)").
pub fn describe_fault(frame: &TrapFrame) -> alloc::string::String {
    use core::fmt::Write as _;
    let mut text = alloc::string::String::new();
    let _ = write!(
        text,
        "{} (vector {}, error 0x{:x}) at rip 0x{:x}",
        exception_name(frame.vector),
        frame.vector,
        frame.error_code,
        frame.rip
    );
    if frame.vector == 14 {
        let _ = write!(
            text,
            ", address 0x{:x}",
            x86_64::registers::control::Cr2::read_raw()
        );
    }
    text
}

/// Checked on every entry: a flag ring 3 left set here (AC: SMAP off;
/// NT: the next iretq faults; DF: copies backwards) is a kernel bug.
#[inline(always)]
fn check_entry_flags(frame: &TrapFrame) {
    let flags = x86_64::registers::rflags::read_raw();
    if flags & crate::entry::ENTRY_CLEARED_FLAGS.bits() != 0 {
        bad_entry_flags(frame, flags);
    }
}

/// [`check_entry_flags`] failed: out of line, so the check on every entry
/// is a read, a test and a branch.
#[cold]
#[inline(never)]
fn bad_entry_flags(frame: &TrapFrame, flags: u64) -> ! {
    panic!(
        "kernel entered (vector {}) with RFLAGS {:?}",
        frame.vector,
        x86_64::registers::rflags::RFlags::from_bits_truncate(flags)
    );
}

/// The Rust side of the `syscall` entry (always from ring 3).
#[unsafe(no_mangle)]
extern "C" fn syscall_dispatch(frame: &mut TrapFrame) {
    check_entry_flags(frame);
    crate::sched::user_syscall(frame);
}

/// The Rust side of every interrupt and exception. For a trap taken in
/// ring 0, returns non-zero if the stub must leave to ring 3 (to the
/// thread the scheduler loaded) rather than resume the kernel.
#[unsafe(no_mangle)]
extern "C" fn trap_dispatch(frame: &mut TrapFrame) -> u64 {
    check_entry_flags(frame);
    if !frame.is_from_user() {
        return u64::from(kernel_trap(frame));
    }
    crate::sched::user_trap(frame);
    1
}

/// A trap taken in ring 0. The only legitimate one is the timer firing
/// while the idle loop waits with interrupts on; anything else is a kernel
/// bug and ends the run.
fn kernel_trap(frame: &mut TrapFrame) -> bool {
    match frame.vector {
        timer::TIMER_VECTOR => timer::on_tick(),
        33..48 => timer::acknowledge(frame.vector),
        lapic::TIMER_VECTOR | lapic::RESCHEDULE_VECTOR => lapic::eoi(),
        lapic::TLB_VECTOR => {
            crate::tlb::service();
            lapic::eoi();
        }
        lapic::SPURIOUS_VECTOR => {}
        SYSCALL_VECTOR => panic!("syscall from ring 0"),
        // The iretq to ring 3 faulted (the CPU checks the frame before it
        // changes privilege): the thread's fault, not the kernel's.
        _ if crate::entry::is_user_return(frame.rip) => {
            let reason = alloc::format!("return to ring 3 faulted: {}", describe_fault(frame));
            crate::sched::kill_current(reason);
            return true;
        }
        _ => panic!("kernel {}; rsp 0x{:x}", describe_fault(frame), frame.rsp),
    }
    false
}
