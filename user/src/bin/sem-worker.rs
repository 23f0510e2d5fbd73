//! Token semaphore workers: each process runs two worker threads; each
//! worker acquires a token, works while holding it (being preempted), and
//! releases it, three times.
#![no_std]
#![no_main]

use lukos_user::{Pipe, println, sleep, spawn, thread_exit, timeout};

lukos_user::entry!(main);

const ROUNDS: u64 = 3;

fn worker(id: u64) {
    work(id);
    // sem-init (the owner of the pipes) waits for this before it exits.
    let _ = Pipe::wait_for("sem-done").write(&id.to_ne_bytes(), timeout::FOREVER);
}

fn work(id: u64) {
    // "sem-ready" exists once sem-init has filled "tokens" and checked it
    // (on several CPUs a worker would otherwise take a token first).
    Pipe::wait_for("sem-ready");
    let tokens = Pipe::wait_for("tokens");
    let mut token = [0u8; 8];
    for round in 0..ROUNDS {
        if let Err(status) = tokens.read(&mut token, timeout::FOREVER) {
            println!("ACQUIRE w={id} failed: {status}");
            return;
        }
        println!("ACQUIRE w={id} round={round}");
        // Hold the token across a tick or two of work and a sleep.
        let mut acc = 0u64;
        for i in 0..400_000u64 {
            acc = acc.wrapping_add(i);
        }
        core::hint::black_box(acc);
        sleep(1);
        println!("RELEASE w={id} round={round}");
        if let Err(status) = tokens.try_write(&token) {
            println!("RELEASE w={id} failed: {status}");
        }
    }
}

fn main(process: u64) {
    spawn(worker, process * 2 + 1, 2).expect("spawn worker");
    worker(process * 2);
    thread_exit()
}
