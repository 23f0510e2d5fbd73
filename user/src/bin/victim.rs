//! A process killed by a fault while one of its threads is blocked in the
//! IPCM: the kernel must cancel that pending read and kill only us.
#![no_std]
#![no_main]

use lukos_user::{Pipe, println, spawn, timeout};

lukos_user::entry!(main);

fn blocked_reader(_arg: u64) {
    let pipe = Pipe::wait_for("victim-pipe");
    println!("VICTIM reader blocking on victim-pipe");
    let mut buf = [0u8; 8];
    let result = pipe.read(&mut buf, timeout::FOREVER);
    // Never reached: the process dies while this read is pending.
    println!("VICTIM reader woke with {:?} (must not happen)", result);
}

fn main(_arg: u64) {
    // The observer owns the pipe: it must outlive us.
    Pipe::wait_for("victim-pipe");
    spawn(blocked_reader, 0, 2).expect("spawn");
    // Fault only once the observer has seen the reader pending (by state:
    // after a fixed sleep, on several CPUs under a loaded host the kill
    // could come before the observer ever looked, and it waited for a
    // pending reader for ever).
    let mut go = [0u8; 1];
    if let Err(status) = Pipe::wait_for("victim-go").read(&mut go, timeout::FOREVER) {
        println!("VICTIM go failed: {status}");
    }
    println!("VICTIM writing to a kernel address");
    // SAFETY: none: this is the fault under test. The address is in the
    // supervisor-only kernel half, so the write faults in ring 3.
    unsafe { core::ptr::write_volatile(0xFFFF_FFFF_8020_0000 as *mut u64, 0xdead) };
    println!("VICTIM survived the write (must not happen)");
}
