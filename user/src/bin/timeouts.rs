//! Timeouts: an operation that cannot happen in time returns TIMED_OUT and
//! has not happened (nothing consumed, nothing written).
#![no_std]
#![no_main]

use lukos_user::{Pipe, println, sleep, spawn, thread_exit, ticks, timeout};

lukos_user::entry!(main);

fn late_writer(id: u64) {
    sleep(3);
    let _ = Pipe::from_id(id).write(&33u64.to_ne_bytes(), timeout::FOREVER);
}

fn main(_arg: u64) {
    let pipe = Pipe::create("to-pipe", 8, 1, 0).expect("create");
    let mut buf = [0u8; 8];

    let start = ticks();
    let read = pipe.read(&mut buf, 5);
    let waited = ticks() - start;
    println!(
        "CHECK read-timeout result={:?} waited={waited}",
        read.map(|_| ())
    );
    let info = pipe.info().expect("info");
    println!(
        "CHECK after-read-timeout pending_readers={} queued={} read={}",
        info.pending_readers, info.queued, info.read
    );

    pipe.write(&11u64.to_ne_bytes(), timeout::FOREVER)
        .expect("first write");
    let start = ticks();
    let write = pipe.write(&22u64.to_ne_bytes(), 3);
    let waited = ticks() - start;
    println!("CHECK write-timeout result={:?} waited={waited}", write);
    let info = pipe.info().expect("info");
    println!(
        "CHECK after-write-timeout pending_writers={} queued={} written={}",
        info.pending_writers, info.queued, info.written
    );
    let got = pipe.try_read(&mut buf).map(|_| u64::from_ne_bytes(buf));
    println!("CHECK read-after-timeouts value={:?}", got);

    // A zero timeout: "now or never", TIMED_OUT at once, nothing consumed.
    // Best of three: on several CPUs the host may deschedule this vCPU
    // across a tick boundary mid-call (zero-timeout waited=1 at 4 CPUs);
    // a kernel that really waited a tick would do so every time.
    let (mut read, mut waited) = (Ok(0), u64::MAX);
    for _ in 0..3 {
        let start = ticks();
        let attempt = pipe.read(&mut buf, 0);
        let took = ticks() - start;
        if took < waited || attempt.is_ok() {
            (read, waited) = (attempt, took);
        }
        if read.is_ok() || waited == 0 {
            break;
        }
    }
    println!(
        "CHECK zero-timeout result={:?} waited={waited}",
        read.map(|_| ())
    );
    pipe.try_write(&44u64.to_ne_bytes()).expect("write");
    let got = pipe.read(&mut buf, 0).map(|_| u64::from_ne_bytes(buf));
    println!("CHECK zero-timeout-completes value={:?}", got);

    println!(
        "CHECK try-read-empty result={:?}",
        pipe.try_read(&mut buf).map(|_| ())
    );
    pipe.try_write(&1u64.to_ne_bytes()).expect("fill");
    println!(
        "CHECK try-write-full result={:?}",
        pipe.try_write(&2u64.to_ne_bytes())
    );
    pipe.try_read(&mut buf).expect("drain");

    // A timeout that does not expire: the write arrives first.
    spawn(late_writer, pipe.id(), 2).expect("spawn");
    let got = pipe.read(&mut buf, 50).map(|_| u64::from_ne_bytes(buf));
    println!("CHECK read-within-timeout value={:?}", got);
    println!("TIMEOUTS done");
    thread_exit()
}
