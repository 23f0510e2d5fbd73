//! Blackboard writer: publishes increasing values into "blackboard", a
//! depth-1 discard-oldest pipe, every two ticks. The last value is marked.
//! It keeps the board until every display has seen the last value (each
//! says so on "blackboard-seen"): on several CPUs a display may run late,
//! and a board destroyed under it would fail its peek.
#![no_std]
#![no_main]

use lukos_user::{Pipe, flags, pair_to_bytes, println, sleep, timeout};

lukos_user::entry!(main);

/// Values published (1..=LAST).
const LAST: u64 = 20;
/// Displays the scenario starts.
const DISPLAYS: usize = 3;

fn main(_arg: u64) {
    let board =
        Pipe::create("blackboard", 16, 1, flags::DISCARD_OLDEST).expect("create blackboard");
    let seen = Pipe::create("blackboard-seen", 8, DISPLAYS, 0).expect("create blackboard-seen");
    // Publish once every display waits on the empty board (by state: on
    // several CPUs under a loaded host a display that started late saw
    // fewer than the several values its check wants).
    while board.info().map_or(0, |i| i.pending_peekers) < DISPLAYS as u64 {
        sleep(1);
    }
    for value in 1..=LAST {
        let last = u64::from(value == LAST);
        // Said before it is written: on another CPU a display may see it
        // (and say so) before this line would otherwise be printed.
        println!("PUBLISH v={value}");
        if let Err(status) = board.write(&pair_to_bytes(value, last), timeout::FOREVER) {
            println!("PUBLISH v={value} failed: {status}");
        }
        sleep(2);
    }
    let mut note = [0u8; 8];
    for _ in 0..DISPLAYS {
        if let Err(status) = seen.read(&mut note, timeout::FOREVER) {
            println!("SENSOR seen failed: {status}");
        }
    }
    let info = board.info().expect("info");
    println!(
        "SENSOR done queued={} written={} read={} dropped={}",
        info.queued, info.written, info.read, info.dropped
    );
}
