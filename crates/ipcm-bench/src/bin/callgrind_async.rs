//! `callgrind_async N CHANNEL`: N round trips of 64 B between two tasks of
//! a single-threaded tokio runtime, through CHANNEL (`ipcm`, `tokio` or
//! `flume`): every wake, poll and copy of an async hand-off, with no OS
//! thread switch, so instruction counts are exact. Run under
//! `valgrind --tool=callgrind` by `scripts/callgrind.sh 64 async`.

use ipcm_bench::asynk::{FlumeAsync, IpcmHostAsync, TokioMpsc, ping_pong_one_thread};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let rounds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    match args.next().as_deref().unwrap_or("ipcm") {
        "ipcm" => ping_pong_one_thread::<IpcmHostAsync>(rounds),
        "tokio" => ping_pong_one_thread::<TokioMpsc>(rounds),
        "flume" => ping_pong_one_thread::<FlumeAsync>(rounds),
        other => Err(std::io::Error::other(format!("unknown channel {other}"))),
    }
}
