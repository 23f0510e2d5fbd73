//! Upstream LuKOS's IPC app, producer side: creates "dummy-pipe" (60
//! messages of `{size_t x; size_t y;}`) and writes 120 messages, so it
//! blocks whenever the pipe is full.
#![no_std]
#![no_main]

use lukos_user::{Pipe, pair_to_bytes, println, sleep, timeout};

lukos_user::entry!(main);

/// Messages the producer sends.
const COUNT: u64 = 120;

fn main(_arg: u64) {
    let pipe = Pipe::create("dummy-pipe", 16, 60, 0).expect("create dummy-pipe");
    println!("PRODUCER created dummy-pipe id={}", pipe.id());
    for x in 0..COUNT {
        if let Err(status) = pipe.write(&pair_to_bytes(x, x * x), timeout::FOREVER) {
            println!("PRODUCER write {x} failed: {status}");
            return;
        }
    }
    println!("PRODUCER sent={COUNT}");
    // The pipe dies with us: wait until the consumer took everything and
    // says so with one more message.
    while pipe.info().is_ok_and(|info| info.read < COUNT) {
        sleep(1);
    }
    let mut ack = [0u8; 16];
    let _ = pipe.read(&mut ack, timeout::FOREVER);
}
