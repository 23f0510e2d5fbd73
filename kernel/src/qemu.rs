//! Leaving QEMU with a status through the `isa-debug-exit` device
//! (`-device isa-debug-exit,iobase=0xf4,iosize=0x04`): writing `v` makes QEMU
//! exit with `(v << 1) | 1`.

use x86_64::instructions::port::Port;

/// QEMU exits with 33.
const SUCCESS: u32 = 0x10;
/// QEMU exits with 35.
const FAILURE: u32 = 0x11;

/// How the run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitCode {
    /// Every process finished.
    Success,
    /// A kernel panic, a kernel fault or a deadlock.
    Failure,
}

/// Ends the QEMU run. On real hardware (no debug-exit device) it halts.
pub fn exit(code: ExitCode) -> ! {
    let value = match code {
        ExitCode::Success => SUCCESS,
        ExitCode::Failure => FAILURE,
    };
    // SAFETY: port 0xf4 is QEMU's debug-exit device; writing it ends the VM.
    unsafe { Port::<u32>::new(0xf4).write(value) };
    loop {
        x86_64::instructions::interrupts::disable();
        x86_64::instructions::hlt();
    }
}
