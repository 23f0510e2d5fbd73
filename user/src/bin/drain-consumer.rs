//! Close at shutdown, consumer side: reads "drain-pipe" until it reports
//! CLOSED (everything queued at the close is read first), prints each
//! message, then acknowledges the count on its own "drain-ack". It pauses
//! after `COUNT - DEPTH` messages until the producer, having closed the
//! pipe with the rest queued, says "drain-go".
#![no_std]
#![no_main]

use lukos_user::{Pipe, println, timeout};

lukos_user::entry!(main);

/// Messages the producer sends, and the pipe's depth (as there).
const COUNT: u64 = 50;
const DEPTH: u64 = 8;

fn main(_arg: u64) {
    let ack = Pipe::create("drain-ack", 8, 1, 0).expect("create drain-ack");
    let pipe = Pipe::wait_for("drain-pipe");
    let mut buf = [0u8; 8];
    let mut received = 0u64;
    let end = loop {
        match pipe.read_seq(&mut buf, timeout::FOREVER) {
            Ok(got) => {
                received += 1;
                if received == COUNT - DEPTH {
                    let go = Pipe::wait_for("drain-go");
                    let mut word = [0u8; 8];
                    if let Err(status) = go.read(&mut word, timeout::FOREVER) {
                        println!("DRAINC go failed: {status}");
                    }
                }
                println!(
                    "DRAINED x={} seq={} len={}",
                    u64::from_ne_bytes(buf),
                    got.seq,
                    got.len
                );
            }
            Err(status) => break status,
        }
    };
    // CLOSED again for a later read: the end is for good.
    let again = pipe.read(&mut buf, timeout::FOREVER).map(|_| ());
    let closed = pipe.info().map_or(0, |info| info.closed);
    println!("DRAINC end={end} received={received} again={again:?} closed={closed}");
    let _ = ack.write(&received.to_ne_bytes(), timeout::FOREVER);
}
