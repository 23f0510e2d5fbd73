//! The owner side of `hostile-select`: owns "hs-owned" (two messages in
//! it), which the attacker may not close or purge, and "hs-kill-a" /
//! "hs-kill-b", on which the attacker's thread is blocked in a select when
//! its process is killed. Afterwards: "hs-owned" is intact, and a write to
//! each kill pipe stays queued (the dead select's members are gone, they
//! take nothing).
#![no_std]
#![no_main]

use lukos_user::{Pipe, println, sleep, timeout};

lukos_user::entry!(main);

fn main(_arg: u64) {
    let owned = Pipe::create("hs-owned", 8, 4, 0).expect("create hs-owned");
    let a = Pipe::create("hs-kill-a", 8, 4, 0).expect("create hs-kill-a");
    let b = Pipe::create("hs-kill-b", 8, 4, 0).expect("create hs-kill-b");
    let go = Pipe::create("hs-go", 8, 1, 0).expect("create hs-go");
    // Told to the attacker once the count below is taken, so that on
    // several CPUs its fault cannot come first.
    let counted = Pipe::create("hs-counted", 8, 1, 0).expect("create hs-counted");
    owned
        .write(&1u64.to_ne_bytes(), timeout::FOREVER)
        .expect("write");
    owned
        .write(&2u64.to_ne_bytes(), timeout::FOREVER)
        .expect("write");
    // The attacker says when it tried close/purge and its select waits.
    let mut buf = [0u8; 8];
    let _ = go.read(&mut buf, timeout::FOREVER);
    let info = owned.info().expect("info");
    println!(
        "SELOWNER owned queued={} closed={} purged={}",
        info.queued, info.closed, info.purged
    );
    let waiting =
        a.info().map_or(0, |i| i.pending_readers) + b.info().map_or(0, |i| i.pending_readers);
    println!("SELOWNER before-kill select-members-waiting={waiting}");
    counted
        .write(&[0u8; 8], timeout::FOREVER)
        .expect("write hs-counted");
    // The attacker's pipe goes with its process.
    while Pipe::lookup("hs-att").is_ok() {
        sleep(1);
    }
    a.write(&7u64.to_ne_bytes(), timeout::FOREVER)
        .expect("write a");
    b.write(&8u64.to_ne_bytes(), timeout::FOREVER)
        .expect("write b");
    let (ia, ib) = (a.info().expect("info a"), b.info().expect("info b"));
    println!(
        "SELOWNER after-kill a-queued={} b-queued={} a-read={} b-read={} pending={}",
        ia.queued,
        ib.queued,
        ia.read,
        ib.read,
        ia.pending_readers + ib.pending_readers
    );
    println!("SELOWNER done");
}
