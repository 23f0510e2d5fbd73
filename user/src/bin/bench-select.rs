//! Measurement: a ping-pong between two processes whose echo side waits in
//! a `pipe_select` over 1, 2 or 16 request pipes (the ping always arrives
//! on the last member, which the select visits last) instead of a plain
//! read; in `rdtsc` ticks, which under xtask's QEMU `-icount shift=0` are
//! guest instructions (see `bench`).
#![no_std]
#![no_main]

use lukos_user::{LineBuf, Pipe, println, timeout};

lukos_user::entry!(main);

/// Round trips per member count.
const ROUND_TRIPS: u64 = 1_000;
/// The member counts, in the order both sides run them.
const MEMBERS: [usize; 3] = [1, 2, 16];

fn rdtsc() -> u64 {
    let (low, high): (u32, u32);
    // SAFETY: rdtsc only reads the time-stamp counter (CR4.TSD is clear).
    unsafe { core::arch::asm!("rdtsc", out("eax") low, out("edx") high, options(nomem, nostack)) };
    (u64::from(high) << 32) | u64::from(low)
}

fn main(_arg: u64) {
    let pong = Pipe::create("bsel-pong", 8, 1, 0).expect("create pong");
    let mut buf = [0u8; 8];
    for members in MEMBERS {
        let mut name = LineBuf::new();
        let _ = core::fmt::Write::write_fmt(&mut name, format_args!("bsel-{}", members - 1));
        let ping = Pipe::wait_for(core::str::from_utf8(name.as_bytes()).unwrap_or("bsel-x"));
        // A warm-up round trip (the echo may be starting or asleep).
        ping.write(&0u64.to_ne_bytes(), timeout::FOREVER)
            .expect("warm-up");
        pong.read(&mut buf, timeout::FOREVER).expect("warm-up");
        let c0 = rdtsc();
        for i in 0..ROUND_TRIPS {
            ping.write(&i.to_ne_bytes(), timeout::FOREVER)
                .expect("ping");
            pong.read(&mut buf, timeout::FOREVER).expect("pong");
            if u64::from_ne_bytes(buf) != i {
                println!("BENCH select echo mismatch at {i} failed: order");
                return;
            }
        }
        let c1 = rdtsc();
        println!(
            "BENCH select-ping-pong members={members} rdtsc={} ({ROUND_TRIPS} round trips; guest instructions under -icount)",
            (c1 - c0) / ROUND_TRIPS
        );
    }
}
