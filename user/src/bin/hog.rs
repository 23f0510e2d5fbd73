//! Quota: takes every byte of pipe store the kernel lets it have, keeps a
//! named pipe with a reader of another process blocked on it, and exits.
//! The kernel must destroy its pipes (the reader woken with DESTROYED) and
//! give the bytes back.
#![no_std]
#![no_main]

use lukos_user::{Pipe, Status, println, sleep};

lukos_user::entry!(main);

fn main(_arg: u64) {
    Pipe::create("hog-pipe", 8, 1, 0).expect("create hog-pipe");
    let mut created = 0u64;
    let status = loop {
        match Pipe::create("", 1024, 255, 0) {
            Ok(_) => created += 1,
            Err(Status(code)) => break code,
        }
    };
    println!(
        "HOG created={created} status={}",
        lukos_user::status::name(status)
    );
    // Let the waiter block on hog-pipe.
    sleep(5);
    println!("HOG exiting");
}
