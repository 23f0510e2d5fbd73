//! What the C ABI layer costs over the Rust API, for `valgrind --tool=callgrind`
//! (instruction counts are exact and repeatable; wall-clock time is not).
//!
//! ```sh
//! cargo build -p ipcm-ffi --release --example abi_cost
//! for api in rust c; do for n in 1000 11000; do
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/abi_cost $api $n 2>&1 | grep Collected
//! done; done
//! ```
//! (count(11000) - count(1000)) / 10000 is the cost of one kernel
//! `try_write` + `try_read` pair of 64 bytes through that API.

use std::ptr;

use ipcm::{Caller, Fault, Ipcm, Kernel, PipeFlags, ProcessId, Status, UserAddr};
use ipcm_ffi::{
    IPCM_STATUS_OK, ipcm_pipe_create, ipcm_pipe_id, ipcm_pipe_read, ipcm_pipe_try_write,
};

/// Kernel callers only: no thread is ever copied to or woken.
struct KernelOnly;

impl Kernel for KernelOnly {
    type Thread = usize;
    fn copy_from_user(&self, _: &usize, _: UserAddr, _: &mut [u8]) -> Result<(), Fault> {
        Err(Fault)
    }
    fn copy_to_user(&self, _: &usize, _: UserAddr, _: &[u8]) -> Result<(), Fault> {
        Err(Fault)
    }
    fn wake(&self, _: usize, _: Status) {}
    fn process_of(&self, _: &usize) -> ProcessId {
        ProcessId(1)
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let api = args.next().unwrap_or_else(|| "c".into());
    let pairs: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let mut msg = [7u8; 64];
    let mut buf = [0u8; 64];
    match api.as_str() {
        "rust" => {
            // The same lock as the C ABI's global manager.
            let ipcm: Ipcm<parking_lot::RawMutex, KernelOnly> = Ipcm::new(KernelOnly);
            let id = ipcm
                .create(Caller::Kernel, Some("cost"), 64, 16, PipeFlags::empty())
                .expect("create");
            for _ in 0..pairs {
                ipcm.kernel_write(id, &msg).expect("write");
                let len = ipcm.kernel_read(id, &mut buf).expect("read");
                assert_eq!(len, 64);
            }
        }
        _ => {
            // SAFETY: a NUL-terminated name; kernel buffers of 64 bytes, the
            // pipe's msg_size, and a valid length out-pointer.
            unsafe {
                let id = ipcm_pipe_id(ipcm_pipe_create(c"cost".as_ptr().cast_mut(), 64, 16, 0));
                let mut len = 0usize;
                for _ in 0..pairs {
                    let w = ipcm_pipe_try_write(ptr::null_mut(), id, msg.as_mut_ptr().cast(), 64);
                    let r = ipcm_pipe_read(ptr::null_mut(), id, buf.as_mut_ptr().cast(), &mut len);
                    assert!(w == IPCM_STATUS_OK && r == IPCM_STATUS_OK && len == 64);
                }
            }
        }
    }
}
