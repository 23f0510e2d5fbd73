//! Measurements: the cost of an empty system call (round trip through the
//! `syscall` entry and `sysretq`) and of a pipe ping-pong between two
//! processes (write + blocking read on each side, two context switches and
//! two address-space switches per round trip), in `rdtsc` ticks. QEMU's TCG
//! emulates rdtsc; xtask runs QEMU with `-icount shift=0`, under which
//! rdtsc advances by one per guest instruction: the numbers are
//! instruction counts (repeatable), not a real CPU's cycles.
#![no_std]
#![no_main]

use lukos_user::{Pipe, println, ticks, timeout};

lukos_user::entry!(main);

const SYSCALLS: u64 = 20_000;
const ROUND_TRIPS: u64 = 2_000;

fn rdtsc() -> u64 {
    let (low, high): (u32, u32);
    // SAFETY: rdtsc only reads the time-stamp counter (CR4.TSD is clear).
    unsafe { core::arch::asm!("rdtsc", out("eax") low, out("edx") high, options(nomem, nostack)) };
    (u64::from(high) << 32) | u64::from(low)
}

fn main(arg: u64) {
    // Arg 1 (scenario bench-cross): the echo is pinned to another CPU.
    let kind = if arg == 1 { "cross-CPU" } else { "same-CPU" };
    let (t0, c0) = (ticks(), rdtsc());
    for _ in 0..SYSCALLS {
        core::hint::black_box(ticks());
    }
    let (t1, c1) = (ticks(), rdtsc());
    println!(
        "BENCH syscall round-trip rdtsc={} ({SYSCALLS} calls in {} ticks of 10 ms; under xtask's QEMU -icount shift=0 rdtsc counts guest instructions)",
        (c1 - c0) / SYSCALLS,
        t1 - t0
    );

    let ping = Pipe::create("ping", 8, 1, 0).expect("create ping");
    let pong = Pipe::wait_for("pong");
    let mut buf = [0u8; 8];
    // One round trip first, so the echo is surely past its own start-up
    // (it may be sleeping in `wait_for`): rdtsc under -icount counts
    // virtual time, and an idle tick in the window would add ~10^7.
    ping.write(&u64::MAX.wrapping_sub(1).to_ne_bytes(), timeout::FOREVER)
        .expect("warm-up ping");
    pong.read(&mut buf, timeout::FOREVER).expect("warm-up pong");
    let (t0, c0) = (ticks(), rdtsc());
    for i in 0..ROUND_TRIPS {
        ping.write(&i.to_ne_bytes(), timeout::FOREVER)
            .expect("ping");
        pong.read(&mut buf, timeout::FOREVER).expect("pong");
        if u64::from_ne_bytes(buf) != i {
            println!("BENCH echo mismatch at {i} failed: order");
            return;
        }
    }
    let (t1, c1) = (ticks(), rdtsc());
    ping.write(&u64::MAX.to_ne_bytes(), timeout::FOREVER)
        .expect("stop");
    println!(
        "BENCH pipe-ping-pong {kind} round-trip rdtsc={} ({ROUND_TRIPS} round trips in {} ticks; 1 CPU, -icount: rdtsc = guest instructions; several CPUs, MTTCG: emulated TSC, ticks = wall time)",
        (c1 - c0) / ROUND_TRIPS,
        t1 - t0
    );
}
