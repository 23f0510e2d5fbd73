//! Token semaphore setup: "tokens" is a pipe of depth N pre-filled with N
//! tokens. Read = acquire (blocks when none is left), write = release.
#![no_std]
#![no_main]

use lukos_user::{Pipe, println, timeout};

lukos_user::entry!(main);

/// Tokens (the most holders at once).
const TOKENS: u64 = 2;

/// Worker threads (3 processes x 2) that report when they are done.
const WORKERS: usize = 6;

fn main(_arg: u64) {
    // Our pipes die with us: stay until every worker said it is done.
    let done = Pipe::create("sem-done", 8, WORKERS, 0).expect("create sem-done");
    let pipe = Pipe::create("tokens", 8, TOKENS as usize, 0).expect("create tokens");
    for token in 0..TOKENS {
        pipe.try_write(&token.to_ne_bytes()).expect("prefill");
    }
    // One more is a release without an acquire: refused, never blocks.
    let extra = pipe.try_write(&99u64.to_ne_bytes());
    println!(
        "TOKENS n={TOKENS} extra_release={}",
        extra.err().map_or("OK", |s| s.name())
    );
    // Only now may the workers start (they wait for this name).
    let _ready = Pipe::create("sem-ready", 8, 1, 0).expect("create sem-ready");
    let mut buf = [0u8; 8];
    for _ in 0..WORKERS {
        done.read(&mut buf, timeout::FOREVER).expect("sem-done");
    }
}
