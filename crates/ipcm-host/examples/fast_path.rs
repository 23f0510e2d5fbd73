//! A rough measurement of the fast path, side by side with
//! crossbeam-channel in the same run (the benchmark crate is the real one):
//!
//! - uncontended: one thread writes then reads a 64-byte message, again and
//!   again (no waiting ever), ns per write+read pair;
//! - ping-pong: two threads pass a 64-byte message back and forth through
//!   two depth-1 pipes (every receive waits), the median round trip in ns.
//!
//! Each figure is the median over several runs. Run with
//! `cargo run --release -p ipcm-host --example fast_path`.

use std::hint::black_box;
use std::thread;
use std::time::Instant;

use ipcm_host::{Error, Ipc};

const PAIRS: u32 = 1_000_000;
/// `FAST_PATH_ONLY=1`: only the uncontended ipcm-host loop, once (for callgrind).
const ONLY: &str = "FAST_PATH_ONLY";
const ROUND_TRIPS: u32 = 20_000;
const RUNS: usize = 7;

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn ipcm_uncontended() -> Result<f64, Error> {
    let ipc = Ipc::new();
    let pipe = ipc.pipe(64, 8).create()?;
    let msg = [7_u8; 64];
    let mut buf = [0_u8; 64];
    let start = Instant::now();
    for _ in 0..PAIRS {
        pipe.try_write(black_box(&msg))?;
        black_box(pipe.try_read(&mut buf)?);
    }
    Ok(start.elapsed().as_nanos() as f64 / f64::from(PAIRS))
}

fn crossbeam_uncontended() -> f64 {
    let (tx, rx) = crossbeam_channel::bounded::<[u8; 64]>(8);
    let msg = [7_u8; 64];
    let start = Instant::now();
    for _ in 0..PAIRS {
        tx.try_send(black_box(msg)).expect("room");
        black_box(rx.try_recv().expect("a message"));
    }
    start.elapsed().as_nanos() as f64 / f64::from(PAIRS)
}

fn ipcm_ping_pong() -> Result<f64, Error> {
    let ipc = Ipc::new();
    let ping = ipc.pipe(64, 1).create()?;
    let pong = ipc.pipe(64, 1).create()?;
    let echo = {
        let (ping, pong) = (ping.clone(), pong.clone());
        thread::spawn(move || -> Result<(), Error> {
            let mut buf = [0_u8; 64];
            for _ in 0..ROUND_TRIPS {
                let len = ping.read(&mut buf)?;
                pong.write(&buf[..len])?;
            }
            Ok(())
        })
    };
    let msg = [7_u8; 64];
    let mut buf = [0_u8; 64];
    let mut trips = Vec::with_capacity(ROUND_TRIPS as usize);
    for _ in 0..ROUND_TRIPS {
        let start = Instant::now();
        ping.write(&msg)?;
        pong.read(&mut buf)?;
        trips.push(start.elapsed().as_nanos() as f64);
    }
    echo.join().expect("echo thread")?;
    Ok(median(trips))
}

fn crossbeam_ping_pong() -> f64 {
    let (ping_tx, ping_rx) = crossbeam_channel::bounded::<[u8; 64]>(1);
    let (pong_tx, pong_rx) = crossbeam_channel::bounded::<[u8; 64]>(1);
    let echo = thread::spawn(move || {
        for _ in 0..ROUND_TRIPS {
            let msg = ping_rx.recv().expect("ping");
            pong_tx.send(msg).expect("pong");
        }
    });
    let mut trips = Vec::with_capacity(ROUND_TRIPS as usize);
    for _ in 0..ROUND_TRIPS {
        let start = Instant::now();
        ping_tx.send([7; 64]).expect("ping");
        black_box(pong_rx.recv().expect("pong"));
        trips.push(start.elapsed().as_nanos() as f64);
    }
    echo.join().expect("echo thread");
    median(trips)
}

fn main() -> Result<(), Error> {
    if std::env::var_os(ONLY).is_some() {
        ipcm_uncontended()?;
        crossbeam_uncontended();
        return Ok(());
    }
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        ours.push(ipcm_uncontended()?);
        theirs.push(crossbeam_uncontended());
    }
    let (ours, theirs) = (median(ours), median(theirs));
    println!(
        "uncontended 64 B write+read:   ipcm-host {ours:.1} ns, crossbeam-channel {theirs:.1} ns \
         (ratio {:.2})",
        ours / theirs
    );
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        ours.push(ipcm_ping_pong()?);
        theirs.push(crossbeam_ping_pong());
    }
    let (ours, theirs) = (median(ours), median(theirs));
    println!(
        "ping-pong 64 B round trip p50: ipcm-host {ours:.0} ns, crossbeam-channel {theirs:.0} ns \
         (ratio {:.2})",
        ours / theirs
    );
    Ok(())
}
