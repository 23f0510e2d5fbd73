//! Spinning: never yields, never makes a system call, never ends. Time
//! slicing keeps the bystanders running; the kernel ends it when it has
//! used its CPU budget.
#![no_std]
#![no_main]

use lukos_user::println;

lukos_user::entry!(main);

fn main(_arg: u64) {
    println!("SPINFOREVER starting");
    let mut n = 0u64;
    loop {
        n = core::hint::black_box(n.wrapping_add(1));
    }
}
