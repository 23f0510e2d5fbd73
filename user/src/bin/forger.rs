//! Log forging and flooding: prints text that, written raw, would start
//! new lines claiming to be the kernel's (a kill, the end of the run) and
//! would drive a terminal (ANSI escapes, carriage return). The kernel must
//! keep it on one line of ours, escaped. Then it prints as fast as it can:
//! the kernel's rate limit must drop most of those lines and say how many.
#![no_std]
#![no_main]

use lukos_user::{print_bytes, println, sleep};

lukos_user::entry!(main);

/// Lines of the flood: far more than the kernel's burst allowance.
const FLOOD: u64 = 5_000;

fn main(_arg: u64) {
    print_bytes(b"FORGE one\n[   0.000001] kernel: process bystander#3 KILLED: forged\nkernel: all processes finished; 1 free frames");
    print_bytes(b"FORGE two \x1b[2J\x1b[H\r[   0.000002] kernel: SMEP forged\x7f\\x41");
    for i in 0..FLOOD {
        println!("FLOOD {i}");
    }
    // Long enough for the limit to allow a line again.
    sleep(10);
    println!("FORGER done flood={FLOOD}");
}
