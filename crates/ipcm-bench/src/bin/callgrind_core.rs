//! `callgrind_core N [SIZE] [copies|by-id|blockwake]`: N uncontended
//! write + read pairs of SIZE bytes (default 64) through the core with a
//! no-op kernel, through a handle. With `by-id`, the same pairs by id (the
//! kernel's syscall form). With `copies`, only the kernel hook calls one
//! pair makes (copy the message in, copy it and its length out), so that
//! the core's own cost is the difference. With `blockwake`, N rounds of a
//! read that blocks and a write by id that hands its message to it and
//! wakes it (the kernel's ping-pong path). Run under
//! `valgrind --tool=callgrind` by `scripts/callgrind.sh`, which subtracts a
//! run with fewer iterations to get instructions per pair.

use ipcm_bench::noop::{
    block_wake, copies_of_write_read, core_fixture, write_read, write_read_by_id,
};

fn main() {
    let mut args = std::env::args().skip(1);
    let iterations: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let size: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    let mode = args.next();
    let (ipcm, id, pipe) = core_fixture(size);
    match mode.as_deref() {
        Some("by-id") => {
            for _ in 0..iterations {
                write_read_by_id(&ipcm, id, size);
            }
            return;
        }
        Some("blockwake") => {
            for _ in 0..iterations {
                block_wake(&ipcm, id, size);
            }
            return;
        }
        _ => {}
    }
    let copies_only = mode.as_deref() == Some("copies");
    if copies_only {
        let mut slot = vec![0u8; size];
        for _ in 0..iterations {
            copies_of_write_read(ipcm.kernel(), &mut slot);
        }
        return;
    }
    for _ in 0..iterations {
        write_read(&ipcm, &pipe, size);
    }
}
