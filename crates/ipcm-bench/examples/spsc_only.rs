//! Scratch: SPSC and 2x2 throughput of one channel, for `perf stat`.
use ipcm_bench::measure::{mpmc_throughput, spsc_throughput};
use ipcm_bench::peers::{Crossbeam, IpcmHost};

fn main() {
    let which = std::env::args().nth(1).unwrap_or_default();
    let mode = std::env::args().nth(2).unwrap_or_default();
    let reps: usize = std::env::args()
        .nth(3)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5);
    let mut v = Vec::new();
    for _ in 0..reps {
        let r = match (which.as_str(), mode.as_str()) {
            ("ipcm", "mpmc") => mpmc_throughput::<IpcmHost, 64>(64, 200_000)
                .unwrap()
                .unwrap(),
            ("cb", "mpmc") => mpmc_throughput::<Crossbeam, 64>(64, 200_000)
                .unwrap()
                .unwrap(),
            ("ipcm", _) => spsc_throughput::<IpcmHost, 64>(64, 200_000).unwrap(),
            _ => spsc_throughput::<Crossbeam, 64>(64, 200_000).unwrap(),
        };
        v.push(r / 1e6);
    }
    v.sort_by(f64::total_cmp);
    println!("{which} {mode}: median {:.2} M/s {:?}", v[v.len() / 2], v);
}
