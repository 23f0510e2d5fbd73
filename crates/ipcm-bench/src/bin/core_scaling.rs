//! `core_scaling [REPEATS] [ITERATIONS]`: two ratios of the core on its own
//! (no-op kernel, 64 B write + read pairs), DESIGN §8 "no global lock on the
//! data path":
//! - by id / by handle, one thread (the cost of the lookup by id);
//! - two threads on two disjoint pipes / one thread, total pairs per second,
//!   by id and by handle (1.0: no scaling at all; 2.0: perfect).
//!
//! - the same two-thread / one-thread ratio for pure arithmetic (no memory
//!   shared at all), in the same repeats: what the machine allows now (on
//!   a machine loaded by other work it is below 2.0 too).
//!
//! Repeats are interleaved (by handle, by id, one thread, two threads, ...)
//! and each ratio is the median of the per-repeat ratios, so a machine
//! loaded by other work moves both sides of a ratio alike. Wall-clock: do
//! not read the absolute figures across machines.

use std::sync::Barrier;
use std::time::Instant;

use ipcm::{Caller, PipeFlags, PipeId};
use ipcm_bench::measure::median;
use ipcm_bench::noop::{CoreIpcm, NoopKernel, ns_per_op, write_read, write_read_by_id};

fn pipes(ipcm: &CoreIpcm, n: usize) -> Vec<PipeId> {
    (0..n)
        .map(|_| {
            ipcm.create(Caller::Kernel, None, 64, 64, PipeFlags::empty())
                .expect("create")
        })
        .collect()
}

/// Pairs per second of `threads` threads, each on its own pipe.
fn throughput(
    ipcm: &CoreIpcm,
    ids: &[PipeId],
    threads: usize,
    iterations: u64,
    by_id: bool,
) -> f64 {
    let start = Barrier::new(threads + 1);
    let elapsed = std::thread::scope(|scope| {
        let workers: Vec<_> = ids[..threads]
            .iter()
            .map(|&id| {
                let start = &start;
                scope.spawn(move || {
                    let handle = ipcm.open(id).expect("open");
                    start.wait();
                    let begin = Instant::now();
                    for _ in 0..iterations {
                        if by_id {
                            write_read_by_id(ipcm, id, 64);
                        } else {
                            write_read(ipcm, &handle, 64);
                        }
                    }
                    begin.elapsed()
                })
            })
            .collect();
        start.wait();
        workers
            .into_iter()
            .map(|w| w.join().expect("worker"))
            .max()
            .expect("a worker")
    });
    (threads as f64 * iterations as f64) / elapsed.as_secs_f64()
}

/// Iterations per second of `threads` threads, each running `work` on
/// its own data (an arithmetic chain, as long as about a write + read).
fn arithmetic_throughput(threads: usize, iterations: u64) -> f64 {
    let start = Barrier::new(threads + 1);
    let elapsed = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|seed| {
                let start = &start;
                scope.spawn(move || {
                    let mut x = seed as u64 + 1;
                    start.wait();
                    let begin = Instant::now();
                    for _ in 0..iterations {
                        for _ in 0..16 {
                            x = std::hint::black_box(
                                x.wrapping_mul(6364136223846793005)
                                    .wrapping_add(1442695040888963407),
                            );
                        }
                    }
                    std::hint::black_box(x);
                    begin.elapsed()
                })
            })
            .collect();
        start.wait();
        workers
            .into_iter()
            .map(|w| w.join().expect("worker"))
            .max()
            .expect("a worker")
    });
    (threads as f64 * iterations as f64) / elapsed.as_secs_f64()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let repeats: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(9);
    let iterations: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    let ipcm = CoreIpcm::new(NoopKernel);
    let ids = pipes(&ipcm, 2);
    let handle = ipcm.open(ids[0]).expect("open");

    let (mut handle_ns, mut id_ns, mut lookup_ratio) = (Vec::new(), Vec::new(), Vec::new());
    let (mut scale_id, mut scale_handle, mut scale_control) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..repeats {
        let by_handle = ns_per_op(iterations, || write_read(&ipcm, &handle, 64));
        let by_id = ns_per_op(iterations, || write_read_by_id(&ipcm, ids[0], 64));
        handle_ns.push(by_handle);
        id_ns.push(by_id);
        lookup_ratio.push(by_id / by_handle);
        let one = throughput(&ipcm, &ids, 1, iterations, true);
        let two = throughput(&ipcm, &ids, 2, iterations, true);
        scale_id.push(two / one);
        let one = throughput(&ipcm, &ids, 1, iterations, false);
        let two = throughput(&ipcm, &ids, 2, iterations, false);
        scale_handle.push(two / one);
        let one = arithmetic_throughput(1, iterations);
        let two = arithmetic_throughput(2, iterations);
        scale_control.push(two / one);
    }
    println!("core write+read 64 B, {repeats} interleaved repeats of {iterations} pairs, medians:");
    println!(
        "  by handle {:.1} ns, by id {:.1} ns: by id / by handle = {:.2}",
        median(&mut handle_ns),
        median(&mut id_ns),
        median(&mut lookup_ratio)
    );
    println!(
        "  two threads on two disjoint pipes / one thread: by id {:.2}x, by handle {:.2}x",
        median(&mut scale_id),
        median(&mut scale_handle)
    );
    println!(
        "  the same for pure arithmetic (what the machine allows now): {:.2}x",
        median(&mut scale_control)
    );
}
