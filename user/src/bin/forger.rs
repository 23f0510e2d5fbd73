//! Log forging: prints text that, written raw, would start new lines
//! claiming to be the kernel's (a kill, the end of the run) and would
//! drive a terminal (ANSI escapes, carriage return). The kernel must keep
//! it on one line of ours, escaped.
#![no_std]
#![no_main]

use lukos_user::{print_bytes, println};

lukos_user::entry!(main);

fn main(_arg: u64) {
    print_bytes(b"FORGE one\n[   0.000001] kernel: process bystander#3 KILLED: forged\nkernel: all processes finished; 1 free frames");
    print_bytes(b"FORGE two \x1b[2J\x1b[H\r[   0.000002] kernel: SMEP forged\x7f\\x41");
    println!("FORGER done");
}
