//! Blackboard reader: peeks the freshest value (never consuming it) at
//! its own pace until it sees the last one.
#![no_std]
#![no_main]

use lukos_user::{Pipe, pair_from_bytes, println, sleep, timeout};

lukos_user::entry!(main);

fn main(display: u64) {
    let board = Pipe::wait_for("blackboard");
    let seen = Pipe::wait_for("blackboard-seen");
    let mut buf = [0u8; 16];
    loop {
        // Values written before the peek began (the checker wants the peek
        // to return at least the last of them: freshness by state, not by
        // how soon the print follows it).
        let before = board.info().map_or(0, |i| i.written);
        match board.peek(&mut buf, timeout::FOREVER) {
            Ok(_) => {
                let (value, last) = pair_from_bytes(&buf);
                println!("SEE d={display} v={value} before={before}");
                if last == 1 {
                    break;
                }
            }
            Err(status) => {
                println!("SEE d={display} failed: {status}");
                break;
            }
        }
        sleep(1 + display);
    }
    println!("DISPLAY d={display} done");
    // The sensor keeps the board until every display has seen the end.
    if let Err(status) = seen.write(&display.to_le_bytes(), timeout::FOREVER) {
        println!("DISPLAY d={display} seen failed: {status}");
    }
}
