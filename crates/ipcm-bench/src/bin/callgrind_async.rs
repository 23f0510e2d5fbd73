//! `callgrind_async N CHANNEL [pingpong|spsc]`: through CHANNEL (`ipcm`,
//! `tokio` or `flume`) on a single-threaded tokio runtime, either N round
//! trips of 64 B between two tasks (`pingpong`, the default) or N messages
//! of 64 B from a producer task to a consumer task, depth 64 (`spsc`):
//! every wake, poll and copy of an async hand-off, with no OS thread
//! switch, so instruction counts are exact. Run under
//! `valgrind --tool=callgrind` by `scripts/callgrind.sh 64 async`.

use ipcm_bench::asynk::{
    AsyncChannel, FlumeAsync, IpcmHostAsync, TokioMpsc, ping_pong_one_thread, spsc_one_thread,
};

fn run<C: AsyncChannel>(n: u64, shape: &str) -> std::io::Result<()> {
    match shape {
        "pingpong" => ping_pong_one_thread::<C>(n),
        "spsc" => spsc_one_thread::<C>(n),
        other => Err(std::io::Error::other(format!("unknown shape {other}"))),
    }
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let channel = args.next().unwrap_or_else(|| "ipcm".into());
    let shape = args.next().unwrap_or_else(|| "pingpong".into());
    match channel.as_str() {
        "ipcm" => run::<IpcmHostAsync>(n, &shape),
        "tokio" => run::<TokioMpsc>(n, &shape),
        "flume" => run::<FlumeAsync>(n, &shape),
        other => Err(std::io::Error::other(format!("unknown channel {other}"))),
    }
}
