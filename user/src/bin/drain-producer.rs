//! Close at shutdown (DESIGN §9), producer side: writes 50 numbered
//! messages into "drain-pipe" (depth 8), closes it with messages still
//! queued, checks that a write after the close fails CLOSED, lets the
//! consumer read on ("drain-go"), then waits for its acknowledgement
//! before it exits (its exit would destroy the pipe).
//!
//! The consumer stops after `COUNT - DEPTH` messages until told to go on,
//! so exactly `DEPTH` are queued at the close: on several CPUs a consumer
//! that kept reading could empty the pipe before it (seen 4 runs in 8).
#![no_std]
#![no_main]

use lukos_user::{Pipe, println, timeout};

lukos_user::entry!(main);

/// Messages sent.
const COUNT: u64 = 50;
/// The pipe's depth.
const DEPTH: usize = 8;

fn main(_arg: u64) {
    let go = Pipe::create("drain-go", 8, 1, 0).expect("create drain-go");
    let pipe = Pipe::create("drain-pipe", 8, DEPTH, 0).expect("create drain-pipe");
    for x in 0..COUNT {
        if let Err(status) = pipe.write(&x.to_ne_bytes(), timeout::FOREVER) {
            println!("DRAINP write {x} failed: {status}");
            return;
        }
    }
    let queued = pipe.info().map_or(0, |info| info.queued);
    let closed = pipe.close();
    let after = pipe.write(&COUNT.to_ne_bytes(), timeout::FOREVER);
    let again = pipe.close();
    println!(
        "DRAINP sent={COUNT} close={closed:?} queued-at-close={queued} write-after-close={after:?} close-again={again:?}"
    );
    if let Err(status) = go.write(&0u64.to_ne_bytes(), timeout::FOREVER) {
        println!("DRAINP go failed: {status}");
    }
    let ack = Pipe::wait_for("drain-ack");
    let mut buf = [0u8; 8];
    match ack.read(&mut buf, timeout::FOREVER) {
        Ok(_) => println!("DRAINP ack received={}", u64::from_ne_bytes(buf)),
        Err(status) => println!("DRAINP ack failed: {status}"),
    }
}
