//! A CPU-bound program: rounds of floating-point busy work. Two of them at
//! one priority show round-robin preemption; the SSE result shows that a
//! context switch keeps each thread's XMM registers.
#![no_std]
#![no_main]

use lukos_user::println;

lukos_user::entry!(main);

fn main(id: u64) {
    let step = (id + 1) as f64;
    let mut total = 0.0f64;
    for round in 0..6 {
        let mut acc = 0.0f64;
        for i in 0..3_000_000u64 {
            acc += step;
            if i & 0xFFFF == 0 {
                core::hint::black_box(&mut acc);
            }
        }
        total += acc;
        println!("SPIN id={id} round={round} acc={acc}");
    }
    let expected = 6.0 * 3_000_000.0 * step;
    let ok = if total == expected { "ok" } else { "BROKEN" };
    println!("SPIN id={id} done total={total} expected={expected} sse={ok}");
}
