//! The panic firewall: every `extern "C"` call runs its body through one of
//! these, so no unwinding ever reaches C (which would be undefined
//! behaviour). A caught panic is a bug in the IPC manager; the caller gets
//! [`IPCM_STATUS_INTERNAL`] or NULL and the process goes on.

#![forbid(unsafe_code)]

use core::ffi::c_int;
use std::panic::{AssertUnwindSafe, catch_unwind};

use ipcm::Status;

use crate::abi::IPCM_STATUS_INTERNAL;

/// Run a call that returns a status.
pub(crate) fn status(body: impl FnOnce() -> Result<(), Status>) -> c_int {
    // AssertUnwindSafe: after a panic the manager may hold half-done state
    // of one pipe; that is still memory-safe (the core has no unsafe code)
    // and is reported to the caller as INTERNAL.
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => Status::Ok.code(),
        Ok(Err(status)) => status.code(),
        Err(_) => IPCM_STATUS_INTERNAL,
    }
}

/// Run a call that returns some value, `on_panic` if it panicked.
pub(crate) fn value<T>(on_panic: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(on_panic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_call_returns_internal_instead_of_unwinding() {
        assert_eq!(status(|| panic!("bug")), IPCM_STATUS_INTERNAL);
        assert_eq!(value(7, || panic!("bug")), 7);
    }

    #[test]
    fn results_map_to_their_codes() {
        assert_eq!(status(|| Ok(())), 0);
        assert_eq!(status(|| Err(Status::Full)), Status::Full.code());
        assert_eq!(value(0, || 5), 5);
    }
}
