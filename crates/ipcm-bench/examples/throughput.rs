//! One channel's 64 B throughput (depth 64), for profiling with `perf` and
//! for A/B runs of two builds alternated by a script (the `compare` binary
//! runs every peer and measurement, which is too much for either).
//!
//! `throughput ipcm|crossbeam|flume spsc|2x2|4x4|pingpong|p99|mean|async|async-pingpong [REPEATS]` prints the
//! median and every repeat in M msg/s (for `pingpong`, `p99`, `mean`: that
//! round trip of 20,000 in µs, lower is better). `4x4` is `compare`'s: 4
//! writers and 4 readers confined to CPUs 0 and 1. `async` and `async-pingpong` are
//! `compare`'s async SPSC run and ping-pong p50 (tasks on a 2-worker tokio runtime): `ipcm` is
//! ipcm-host's futures, `crossbeam` stands for `tokio::sync::mpsc` there
//! (crossbeam has no async API), `flume` is flume's async API.

use std::time::Duration;

use ipcm_bench::asynk::{self, FlumeAsync, IpcmHostAsync, TokioMpsc};
use ipcm_bench::measure::{mpmc_n_throughput, mpmc_throughput, round_trips, spsc_throughput};
use ipcm_bench::peers::{Crossbeam, Flume, IpcmHost};
use ipcm_bench::report::OVERSUBSCRIBED_CPUS;

const MESSAGES: u64 = 200_000;
const DEPTH: usize = 64;
const ROUNDS: usize = 20_000;

/// The round trip `shape` asks for (p50 for `pingpong`) of sorted
/// `samples`, scaled as a rate.
fn pick(shape: &str, samples: Vec<Duration>) -> f64 {
    let round_trip = match shape {
        "p99" => samples[samples.len() * 99 / 100],
        "mean" => samples.iter().sum::<Duration>() / samples.len() as u32,
        _ => samples[samples.len() / 2],
    };
    round_trip.as_secs_f64() * 1e12
}

/// `compare`'s async ping-pong p50, scaled as `pick` does.
fn async_p50<C: asynk::AsyncChannel>() -> std::io::Result<f64> {
    Ok(asynk::ping_pong::<C>(ROUNDS)?.p50.as_secs_f64() * 1e12)
}

/// `compare`'s 4×4 run: 8 threads on 2 CPUs.
fn mpmc4<C: ipcm_bench::peers::Channel<64>>() -> std::io::Result<Option<f64>> {
    mpmc_n_throughput::<C, 64>(DEPTH, MESSAGES, 4, Some(&OVERSUBSCRIBED_CPUS))
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let channel = args.next().unwrap_or_else(|| "ipcm".into());
    let shape = args.next().unwrap_or_else(|| "spsc".into());
    let repeats: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5).max(1);
    let mut rates = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let per_second = match (channel.as_str(), shape.as_str()) {
            ("ipcm", "2x2") => mpmc_throughput::<IpcmHost, 64>(DEPTH, MESSAGES)?,
            ("crossbeam", "2x2") => mpmc_throughput::<Crossbeam, 64>(DEPTH, MESSAGES)?,
            ("flume", "2x2") => mpmc_throughput::<Flume, 64>(DEPTH, MESSAGES)?,
            ("ipcm", "4x4") => mpmc4::<IpcmHost>()?,
            ("crossbeam", "4x4") => mpmc4::<Crossbeam>()?,
            ("flume", "4x4") => mpmc4::<Flume>()?,
            ("ipcm", "async-pingpong") => Some(async_p50::<IpcmHostAsync>()?),
            ("crossbeam", "async-pingpong") => Some(async_p50::<TokioMpsc>()?),
            ("flume", "async-pingpong") => Some(async_p50::<FlumeAsync>()?),
            ("ipcm", "async") => Some(asynk::spsc_throughput::<IpcmHostAsync>(MESSAGES)?),
            ("crossbeam", "async") => Some(asynk::spsc_throughput::<TokioMpsc>(MESSAGES)?),
            ("flume", "async") => Some(asynk::spsc_throughput::<FlumeAsync>(MESSAGES)?),
            ("ipcm", "spsc") => Some(spsc_throughput::<IpcmHost, 64>(DEPTH, MESSAGES)?),
            ("crossbeam", "spsc") => Some(spsc_throughput::<Crossbeam, 64>(DEPTH, MESSAGES)?),
            ("flume", "spsc") => Some(spsc_throughput::<Flume, 64>(DEPTH, MESSAGES)?),
            // Reported in µs, scaled so that the division below undoes it.
            ("ipcm", "pingpong" | "p99" | "mean") => {
                Some(pick(&shape, round_trips::<IpcmHost, 64>(ROUNDS)?))
            }
            ("crossbeam", "pingpong" | "p99" | "mean") => {
                Some(pick(&shape, round_trips::<Crossbeam, 64>(ROUNDS)?))
            }
            ("flume", "pingpong" | "p99" | "mean") => {
                Some(pick(&shape, round_trips::<Flume, 64>(ROUNDS)?))
            }
            _ => {
                eprintln!(
                    "usage: throughput ipcm|crossbeam|flume spsc|2x2|4x4|pingpong|p99|mean|async|async-pingpong [REPEATS]"
                );
                std::process::exit(2);
            }
        };
        rates.push(per_second.expect("both channels have two receivers") / 1e6);
    }
    rates.sort_by(f64::total_cmp);
    let median = rates[rates.len() / 2];
    let unit = if matches!(
        shape.as_str(),
        "pingpong" | "p99" | "mean" | "async-pingpong"
    ) {
        "µs"
    } else {
        "M msg/s"
    };
    println!("{channel} {shape}: median {median:.2} {unit} {rates:.2?}");
    Ok(())
}
