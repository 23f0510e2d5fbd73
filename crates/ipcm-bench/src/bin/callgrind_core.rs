//! `callgrind_core N [SIZE]`: N uncontended write + read pairs of SIZE bytes
//! (default 64) through the core with a no-op kernel. Run under
//! `valgrind --tool=callgrind` by `scripts/callgrind.sh`, which subtracts a
//! run with fewer iterations to get instructions per pair.

use ipcm_bench::noop::{core_fixture, write_read};

fn main() {
    let mut args = std::env::args().skip(1);
    let iterations: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let size: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    let (ipcm, _, pipe) = core_fixture(size);
    for _ in 0..iterations {
        write_read(&ipcm, &pipe, size);
    }
}
