//! Thread priorities meet the IPCM: readers of different priorities wait
//! on a PRIORITY_WAITERS pipe; messages go to the most urgent first.
#![no_std]
#![no_main]

use lukos_user::{Pipe, flags, println, sleep, spawn, thread_exit, timeout};

lukos_user::entry!(main);

fn reader(priority: u64) {
    let pipe = Pipe::wait_for("by-priority");
    let mut buf = [0u8; 8];
    match pipe.read(&mut buf, timeout::FOREVER) {
        Ok(_) => println!(
            "PRIO reader priority={priority} got={}",
            u64::from_ne_bytes(buf)
        ),
        Err(status) => println!("PRIO reader priority={priority} failed: {status}"),
    }
}

fn main(_arg: u64) {
    let pipe = Pipe::create("by-priority", 8, 4, flags::PRIORITY_WAITERS).expect("create");
    for priority in [1u8, 3, 2] {
        spawn(reader, u64::from(priority), priority).expect("spawn");
    }
    // Let every reader block (the priority-1 one shares the CPU with the
    // spinners, so give it a few rounds).
    let mut pending = 0;
    for _ in 0..100 {
        sleep(1);
        pending = pipe.info().expect("info").pending_readers;
        if pending == 3 {
            break;
        }
    }
    println!("PRIO pending_readers={pending}");
    for message in 1..=3u64 {
        pipe.try_write(&message.to_ne_bytes()).expect("write");
    }
    thread_exit()
}
