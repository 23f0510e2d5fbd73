//! An innocent process that shares the machine with a hostile one: it
//! sends 20 messages through a pipe of its own, sleeping now and then so
//! it is alive for the whole attack, and must finish whatever the attacker
//! does.
#![no_std]
#![no_main]

use lukos_user::{Pipe, println, sleep, timeout};

lukos_user::entry!(main);

fn main(arg: u64) {
    let pipe = Pipe::create("", 8, 4, 0).expect("create");
    let mut sum = 0;
    for i in 0..20u64 {
        pipe.write(&i.to_ne_bytes(), timeout::FOREVER)
            .expect("write");
        let mut buf = [0u8; 8];
        pipe.read(&mut buf, timeout::FOREVER).expect("read");
        sum += u64::from_ne_bytes(buf);
        if i % 5 == 0 {
            sleep(2);
        }
    }
    pipe.destroy().expect("destroy");
    println!("BYSTANDER done id={arg} rounds=20 sum={sum}");
}
