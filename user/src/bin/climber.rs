//! Priority climbing: a priority-1 process asks for a priority-7 thread
//! (which would starve every other process) and for one at its own
//! priority. The first must be refused, the second granted.
#![no_std]
#![no_main]

use lukos_user::{println, spawn, ticks};

lukos_user::entry!(main);

fn hog(_arg: u64) {
    // Spins for ~50 ticks: at priority 7 nobody else would run meanwhile.
    let start = ticks();
    while ticks() < start + 50 {}
    println!("CLIMBER hog spun 50 ticks");
}

fn peer(_arg: u64) {
    println!("CLIMBER peer ran");
}

fn main(_arg: u64) {
    let high = spawn(hog, 0, 7);
    println!("CLIMBER spawn-priority-7 result={:?}", high.map(|_| ()));
    let same = spawn(peer, 0, 1);
    println!("CLIMBER spawn-priority-1 result={:?}", same.map(|_| ()));
    // Let the peer run before the process ends with this thread.
    lukos_user::sleep(2);
    println!("CLIMBER done");
}
