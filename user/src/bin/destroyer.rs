//! Pipe destruction and ownership: destroying a pipe wakes every pending
//! operation with DESTROYED, its id is never valid again, its name is free
//! again; and only the owner may destroy or (with OWNER_WRITE) write.
#![no_std]
#![no_main]

use lukos_user::{Pipe, flags, println, sleep, spawn, thread_exit, timeout};

lukos_user::entry!(main);

fn blocked_reader(id: u64) {
    let mut buf = [0u8; 8];
    let result = Pipe::from_id(id).read(&mut buf, timeout::FOREVER);
    println!("CHECK reader-woken result={:?}", result.map(|_| ()));
}

fn blocked_peeker(id: u64) {
    let mut buf = [0u8; 8];
    let result = Pipe::from_id(id).peek(&mut buf, timeout::FOREVER);
    println!("CHECK peeker-woken result={:?}", result.map(|_| ()));
}

fn main(_arg: u64) {
    let guarded = Pipe::create("guarded", 8, 2, flags::OWNER_WRITE).expect("create guarded");
    guarded
        .try_write(&5u64.to_ne_bytes())
        .expect("owner writes");

    let doomed = Pipe::create("doomed", 8, 1, 0).expect("create doomed");
    spawn(blocked_reader, doomed.id(), 2).expect("spawn");
    spawn(blocked_peeker, doomed.id(), 2).expect("spawn");
    sleep(2);
    let info = doomed.info().expect("info");
    println!(
        "CHECK before-destroy pending_readers={} pending_peekers={}",
        info.pending_readers, info.pending_peekers
    );
    println!("CHECK destroy result={:?}", doomed.destroy());
    sleep(1);
    let mut buf = [0u8; 8];
    println!(
        "CHECK stale-id-read result={:?}",
        doomed.try_read(&mut buf).map(|_| ())
    );
    println!("CHECK stale-id-info result={:?}", doomed.info().map(|_| ()));
    let again = Pipe::create("doomed", 8, 1, 0).expect("name is free again");
    println!(
        "CHECK name-reused new-id-differs={}",
        again.id() != doomed.id()
    );

    // Let the intruder try its luck, then check the guarded pipe is intact.
    sleep(5);
    let info = guarded.info().expect("guarded still exists");
    println!(
        "CHECK guarded-after-intruder queued={} written={}",
        info.queued, info.written
    );
    println!("DESTROYER done");
    thread_exit()
}
