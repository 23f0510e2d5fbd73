//! The other side of the ping-pong benchmark: echoes "ping" to "pong".
#![no_std]
#![no_main]

use lukos_user::{Pipe, timeout};

lukos_user::entry!(main);

fn main(_arg: u64) {
    let pong = Pipe::create("pong", 8, 1, 0).expect("create pong");
    let ping = Pipe::wait_for("ping");
    let mut buf = [0u8; 8];
    loop {
        if ping.read(&mut buf, timeout::FOREVER).is_err() || u64::from_ne_bytes(buf) == u64::MAX {
            return;
        }
        if pong.write(&buf, timeout::FOREVER).is_err() {
            return;
        }
    }
}
