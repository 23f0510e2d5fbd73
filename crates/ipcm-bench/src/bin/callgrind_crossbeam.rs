//! `callgrind_crossbeam N [SIZE]`: N uncontended `try_send` + `try_recv`
//! pairs of 64-byte arrays through a bounded crossbeam-channel, single
//! thread: the peer's figure for `scripts/callgrind.sh host`, measured the
//! same way in the same run. SIZE must be 64 (the message is an array).

use std::hint::black_box;

fn main() {
    let mut args = std::env::args().skip(1);
    let iterations: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let size: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    if size != 64 {
        eprintln!("callgrind_crossbeam: only 64-byte messages");
        std::process::exit(2);
    }
    let (tx, rx) = crossbeam_channel::bounded::<[u8; 64]>(64);
    let msg = [0xA5u8; 64];
    // As `compare` measures it: the message passed through `black_box`,
    // the one received too.
    for _ in 0..iterations {
        tx.try_send(black_box(msg)).expect("room");
        black_box(rx.try_recv().expect("message"));
    }
}
