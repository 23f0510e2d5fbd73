//! Blackboard writer: publishes increasing values into "blackboard", a
//! depth-1 discard-oldest pipe, every two ticks. The last value is marked.
#![no_std]
#![no_main]

use lukos_user::{Pipe, flags, pair_to_bytes, println, sleep, timeout};

lukos_user::entry!(main);

/// Values published (1..=LAST).
const LAST: u64 = 20;

fn main(_arg: u64) {
    let board =
        Pipe::create("blackboard", 16, 1, flags::DISCARD_OLDEST).expect("create blackboard");
    for value in 1..=LAST {
        let last = u64::from(value == LAST);
        if let Err(status) = board.write(&pair_to_bytes(value, last), timeout::FOREVER) {
            println!("PUBLISH v={value} failed: {status}");
        }
        println!("PUBLISH v={value}");
        sleep(2);
    }
    let info = board.info().expect("info");
    println!(
        "SENSOR done queued={} written={} read={} dropped={}",
        info.queued, info.written, info.read, info.dropped
    );
}
