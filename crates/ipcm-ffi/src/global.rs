//! The one IPC manager of the C ABI (the core has no global state; the C
//! interface, like the seed, has exactly one manager per kernel).

#![forbid(unsafe_code)]

use std::sync::OnceLock;

use ipcm::Ipcm;

use crate::hooks::FfiKernel;

/// The lock of the C ABI's manager: parking_lot's, which spins briefly
/// before parking (docs/design.md §7), safe for many OS threads.
pub(crate) type Lock = parking_lot::RawMutex;

/// The manager type behind the C ABI.
pub(crate) type GlobalIpcm = Ipcm<Lock, FfiKernel>;

static IPCM: OnceLock<GlobalIpcm> = OnceLock::new();

/// The global manager, created on first use (so every call works before
/// `ipcm_init`, and `ipcm_init` twice changes nothing).
pub(crate) fn ipcm() -> &'static GlobalIpcm {
    IPCM.get_or_init(|| Ipcm::new(FfiKernel::new()))
}
