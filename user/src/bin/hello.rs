//! The boot scenario's program: prints, runs a second thread, sleeps, and
//! uses SSE so a broken context switch would show.
#![no_std]
#![no_main]

use lukos_user::{println, sleep, spawn, ticks};

lukos_user::entry!(main);

fn helper(arg: u64) {
    println!("HELLO from thread arg={arg}");
}

fn main(arg: u64) {
    println!("HELLO from user space (arg {arg}) at tick {}", ticks());
    // Not above our own priority (2 in `boot`, 3 in `sched`): the kernel
    // refuses that.
    let tid = spawn(helper, 42, 2).expect("spawn");
    println!("HELLO spawned thread {tid}");
    let mut x = 1.5f64;
    for round in 0..3 {
        sleep(5);
        x *= 2.0;
        println!("HELLO tick {} round {round} x={x}", ticks());
    }
    println!("HELLO done x={x}");
}
