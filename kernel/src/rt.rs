//! The unwinding entry point the precompiled `core` references although we
//! abort on panic; the C memory functions come from `lukos-freestanding`.

// Link the C memory functions and the personality routine.
use lukos_freestanding as _;

/// Referenced by the precompiled `core`; never called with `panic = "abort"`.
#[unsafe(no_mangle)]
pub extern "C" fn _Unwind_Resume() -> ! {
    crate::qemu::exit(crate::qemu::ExitCode::Failure)
}
