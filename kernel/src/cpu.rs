//! CPU hardening that makes the kernel's user-memory discipline checkable
//! by the hardware: with SMAP the kernel faults if it ever touches a user
//! page through a user address (it must go through the page-table walk and
//! the kernel's own mapping of the frame), and with SMEP it faults if it
//! ever jumps into user code; with UMIP ring 3 cannot read the kernel's
//! descriptor-table addresses.

use x86_64::registers::control::{Cr4, Cr4Flags};

/// Which protections are on.
#[derive(Clone, Copy, Debug)]
pub struct Hardening {
    /// Supervisor-mode execution prevention.
    pub smep: bool,
    /// Supervisor-mode access prevention.
    pub smap: bool,
    /// User-mode instruction prevention: `sgdt`, `sidt`, `sldt`, `smsw`
    /// and `str` fault in ring 3 instead of revealing kernel addresses.
    pub umip: bool,
}

/// Turns on SMEP and SMAP where the CPU has them (QEMU's `-cpu max` does;
/// the default `qemu64` model does not).
pub fn harden() -> Hardening {
    // CPUID leaf 7, sub-leaf 0: EBX bit 7 = SMEP, bit 20 = SMAP; ECX
    // bit 2 = UMIP (QEMU's TCG has all three with `-cpu max`).
    let leaf = core::arch::x86_64::__cpuid_count(7, 0);
    let hardening = Hardening {
        smep: leaf.ebx & (1 << 7) != 0,
        smap: leaf.ebx & (1 << 20) != 0,
        umip: leaf.ecx & (1 << 2) != 0,
    };
    let mut flags = Cr4::read();
    if hardening.smep {
        flags |= Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION;
    }
    if hardening.smap {
        flags |= Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION;
    }
    if hardening.umip {
        flags |= Cr4Flags::USER_MODE_INSTRUCTION_PREVENTION;
    }
    // SAFETY: SMEP/SMAP/UMIP only restrict ring-0 access to user pages, which
    // the kernel never executes or touches through user addresses (user
    // copies go through `paging`, reading frames via the kernel half).
    unsafe { Cr4::write(flags) };
    hardening
}
