//! Another process trying to write to and destroy a pipe it does not own.
#![no_std]
#![no_main]

use lukos_user::{Pipe, println, sleep};

lukos_user::entry!(main);

fn main(_arg: u64) {
    let guarded = Pipe::wait_for("guarded");
    // By state, not by priority: on several CPUs this runs beside the
    // destroyer, which may not have written its message yet.
    while guarded.info().map_or(0, |i| i.queued) == 0 {
        sleep(1);
    }
    println!(
        "CHECK intruder-write result={:?}",
        guarded.try_write(&6u64.to_ne_bytes())
    );
    println!("CHECK intruder-destroy result={:?}", guarded.destroy());
    let mut buf = [0u8; 8];
    let peek = guarded.try_peek(&mut buf).map(|_| u64::from_ne_bytes(buf));
    println!("CHECK intruder-peek value={:?}", peek);
}
