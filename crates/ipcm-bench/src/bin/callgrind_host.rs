//! `callgrind_host N [SIZE]`: N uncontended `try_write` + `try_read` pairs of
//! SIZE bytes (default 64) through an `ipcm-host` pipe, single thread: the
//! hosted runtime's fast path (thread record, lease, copies, result
//! mapping) on top of the core. Run under `valgrind --tool=callgrind` by
//! `scripts/callgrind.sh host`, which subtracts a run with fewer iterations
//! to get instructions per pair.

use std::hint::black_box;

fn main() {
    let mut args = std::env::args().skip(1);
    let iterations: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let size: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    let pipe = ipcm_host::Ipc::new()
        .pipe(size, 64)
        .create()
        .expect("create");
    let msg = vec![0xA5u8; size];
    let mut buf = vec![0u8; size];
    // The same form as `callgrind_crossbeam` (and `compare`'s core
    // figure): each result checked, the length received kept.
    for _ in 0..iterations {
        pipe.try_write(black_box(&msg)).expect("room");
        black_box(pipe.try_read(black_box(&mut buf)).expect("message"));
    }
}
