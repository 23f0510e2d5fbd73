//! Timers due in the same tick expire in deadline order, ties in the
//! order they were armed (DESIGN §7: earlier deadlines expire first): the
//! second thread arms a 5-tick read timeout first, the main thread (lower
//! thread id) arms one with the same deadline after it; the second thread
//! must time out, and so run, first.
#![no_std]
#![no_main]

use lukos_user::{Pipe, println, spawn, ticks, yield_now};

lukos_user::entry!(main);

static PIPE: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
/// Set by the second thread once its timeout has expired and been printed.
static SECOND_DONE: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

fn wait(who: &str) {
    let pipe = Pipe::from_id(PIPE.load(core::sync::atomic::Ordering::Relaxed));
    let armed = ticks();
    let mut buf = [0u8; 8];
    let result = pipe.read(&mut buf, 5);
    println!(
        "TIMERORDER expired who={who} armed={armed} deadline={} result={result:?}",
        armed + 5
    );
}

fn second(_arg: u64) {
    wait("armed-first");
    SECOND_DONE.store(true, core::sync::atomic::Ordering::Release);
}

fn main(_arg: u64) {
    let pipe = Pipe::create("", 8, 1, 0).expect("create");
    PIPE.store(pipe.id(), core::sync::atomic::Ordering::Relaxed);
    spawn(second, 0, 2).expect("spawn");
    // Let the second thread arm its timeout first (it blocks at once).
    yield_now();
    wait("armed-second");
    // Wait for the second thread by state, not by time: on several CPUs
    // it may have armed its timeout later than this one (a slow vCPU), and
    // this process's exit would end it before it expired.
    while !SECOND_DONE.load(core::sync::atomic::Ordering::Acquire) {
        lukos_user::sleep(1);
    }
    println!("TIMERORDER done");
}
