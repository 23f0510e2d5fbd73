//! A process that executes a privileged instruction: #GP, killed alone.
#![no_std]
#![no_main]

use lukos_user::{println, sleep};

lukos_user::entry!(main);

fn main(_arg: u64) {
    sleep(1);
    println!("GPFAULT executing hlt in ring 3");
    // SAFETY: none needed for memory; `hlt` in ring 3 raises #GP, which
    // is the fault under test.
    unsafe { core::arch::asm!("hlt") };
    println!("GPFAULT survived hlt (must not happen)");
}
