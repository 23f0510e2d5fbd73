//! Runs after the faulting processes died: the victim's pending read must
//! be gone, and a message written now must stay for the next reader.
#![no_std]
#![no_main]

use lukos_user::{Pipe, println, sleep};

lukos_user::entry!(main);

fn main(_arg: u64) {
    let pipe = Pipe::create("victim-pipe", 8, 1, 0).expect("create");
    let go = Pipe::create("victim-go", 1, 1, 0).expect("create victim-go");
    // By order, not by time (on several CPUs the victim may run late):
    // first its reader is pending, then (once it is killed) no longer.
    let pending = || pipe.info().expect("info").pending_readers;
    while pending() == 0 {
        sleep(1);
    }
    // Seen: now the victim may fault.
    go.try_write(&[1]).expect("go");
    while pending() != 0 {
        sleep(1);
    }
    let info = pipe.info().expect("info");
    println!(
        "OBSERVE pending_readers={} pending_peekers={} pending_writers={} queued={}",
        info.pending_readers, info.pending_peekers, info.pending_writers, info.queued
    );
    pipe.try_write(&7u64.to_ne_bytes()).expect("write");
    let info = pipe.info().expect("info");
    let mut buf = [0u8; 8];
    let got = pipe.try_read(&mut buf).map(|_| u64::from_ne_bytes(buf));
    println!(
        "OBSERVE after-write queued={} read-back={:?}",
        info.queued, got
    );
    println!("OBSERVER done");
}
