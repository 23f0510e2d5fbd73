//! Flooding: creates pipes of one 1-byte message until the kernel says
//! NO_MEMORY (each is tiny, so a quota that charges `msg_size * max_msgs`
//! lets millions through while the heap pays headers, lengths and names),
//! then spawns threads until refused, then exits: everything it took must
//! come back.
#![no_std]
#![no_main]

use lukos_user::{Pipe, Status, println, spawn};

lukos_user::entry!(main);

fn idle(_arg: u64) {}

fn main(_arg: u64) {
    let mut created = 0u64;
    let status = loop {
        match Pipe::create("", 1, 1, 0) {
            Ok(_) => created += 1,
            Err(Status(code)) => break code,
        }
        if created == 1_000_000 {
            break 0;
        }
    };
    println!(
        "FLOOD pipes created={created} status={}",
        lukos_user::status::name(status)
    );
    let mut threads = 0u64;
    let refused = loop {
        match spawn(idle, 0, 1) {
            Ok(_) => threads += 1,
            Err(e) => break e,
        }
        if threads == 10_000 {
            break Status(0);
        }
    };
    println!("FLOOD threads spawned={threads} refused={refused:?}");
    println!("FLOOD done");
}
