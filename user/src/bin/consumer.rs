//! Upstream LuKOS's IPC app, consumer side: looks "dummy-pipe" up by name
//! and prints every message it receives.
#![no_std]
#![no_main]

use lukos_user::{Pipe, pair_from_bytes, println, timeout};

lukos_user::entry!(main);

const COUNT: u64 = 120;

fn main(_arg: u64) {
    let pipe = Pipe::wait_for("dummy-pipe");
    println!("CONSUMER found dummy-pipe id={}", pipe.id());
    // Evidence of the blocking protocol: the producer (which ran first)
    // filled the pipe and is parked as a pending writer.
    let info = pipe.info().expect("info");
    println!(
        "CONSUMER first look queued={} pending_writers={}",
        info.queued, info.pending_writers
    );
    let mut buf = [0u8; 16];
    for _ in 0..COUNT {
        match pipe.read(&mut buf, timeout::FOREVER) {
            Ok(16) => {
                let (x, y) = pair_from_bytes(&buf);
                println!("RECV x={x} y={y}");
            }
            Ok(len) => println!("RECV bad length {len}"),
            Err(status) => println!("RECV failed: {status}"),
        }
    }
    let info = pipe.info().expect("info");
    println!(
        "CONSUMER done received={COUNT} queued={} written={} read={}",
        info.queued, info.written, info.read
    );
    // The producer owns the pipe and waits for this before it exits.
    let _ = pipe.write(&[0u8; 16], timeout::FOREVER);
}
