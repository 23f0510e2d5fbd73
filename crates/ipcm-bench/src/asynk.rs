//! The async comparison: `ipcm-host`'s futures against the async channels
//! a user would pick instead (`tokio::sync::mpsc`, flume's async API), all
//! on the same tokio multi-thread runtime.

use std::future::Future;
use std::io;
use std::time::Instant;

use crate::measure::{Latency, median};

/// Message size of the async runs.
pub const SIZE: usize = 64;
/// Channel depth of the async throughput run.
pub const DEPTH: usize = 64;

/// A bounded channel of 64-byte messages with async send and receive.
pub trait AsyncChannel: 'static {
    /// Sending end.
    type Tx: Send + 'static;
    /// Receiving end.
    type Rx: Send + 'static;
    /// Name in reports.
    const NAME: &'static str;
    /// A channel holding at most `depth` messages.
    ///
    /// # Errors
    /// When it cannot be made.
    fn open(depth: usize) -> io::Result<(Self::Tx, Self::Rx)>;
    /// Send one message, waiting while full.
    fn send<'a>(tx: &'a mut Self::Tx, msg: &'a [u8; SIZE]) -> impl Future<Output = ()> + Send + 'a;
    /// Receive one message, waiting while empty.
    fn recv<'a>(
        rx: &'a mut Self::Rx,
        buf: &'a mut [u8; SIZE],
    ) -> impl Future<Output = ()> + Send + 'a;
}

/// `ipcm-host`'s `write_async` / `read_async`.
pub struct IpcmHostAsync;

impl AsyncChannel for IpcmHostAsync {
    type Tx = ipcm_host::Pipe;
    type Rx = ipcm_host::Pipe;
    const NAME: &'static str = "ipcm-host async";

    fn open(depth: usize) -> io::Result<(Self::Tx, Self::Rx)> {
        let pipe = ipcm_host::Ipc::new()
            .pipe(SIZE, depth)
            .create()
            .map_err(io::Error::other)?;
        Ok((pipe.clone(), pipe))
    }
    async fn send(tx: &mut Self::Tx, msg: &[u8; SIZE]) {
        let _ = tx.write_async(msg).await.expect("pipe alive");
    }
    async fn recv(rx: &mut Self::Rx, buf: &mut [u8; SIZE]) {
        let len = rx.read_async(buf).await.expect("pipe alive");
        debug_assert_eq!(len, SIZE);
    }
}

/// `tokio::sync::mpsc::channel`.
pub struct TokioMpsc;

impl AsyncChannel for TokioMpsc {
    type Tx = tokio::sync::mpsc::Sender<[u8; SIZE]>;
    type Rx = tokio::sync::mpsc::Receiver<[u8; SIZE]>;
    const NAME: &'static str = "tokio mpsc";

    fn open(depth: usize) -> io::Result<(Self::Tx, Self::Rx)> {
        Ok(tokio::sync::mpsc::channel(depth))
    }
    async fn send(tx: &mut Self::Tx, msg: &[u8; SIZE]) {
        tx.send(*msg).await.expect("receiver alive");
    }
    async fn recv(rx: &mut Self::Rx, buf: &mut [u8; SIZE]) {
        *buf = rx.recv().await.expect("sender alive");
    }
}

/// flume's `send_async` / `recv_async`.
pub struct FlumeAsync;

impl AsyncChannel for FlumeAsync {
    type Tx = flume::Sender<[u8; SIZE]>;
    type Rx = flume::Receiver<[u8; SIZE]>;
    const NAME: &'static str = "flume async";

    fn open(depth: usize) -> io::Result<(Self::Tx, Self::Rx)> {
        Ok(flume::bounded(depth))
    }
    async fn send(tx: &mut Self::Tx, msg: &[u8; SIZE]) {
        tx.send_async(*msg).await.expect("receiver alive");
    }
    async fn recv(rx: &mut Self::Rx, buf: &mut [u8; SIZE]) {
        *buf = rx.recv_async().await.expect("sender alive");
    }
}

/// The runtime every async run uses: tokio, multi-thread, two workers.
fn runtime() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
}

/// The producer of the SPSC runs: `messages` messages numbered from 0 in
/// their first 8 bytes, so the consumer can check their order.
async fn produce<C: AsyncChannel>(mut tx: C::Tx, messages: u64) {
    let mut msg = [0u8; SIZE];
    for i in 0..messages {
        msg[..8].copy_from_slice(&i.to_le_bytes());
        C::send(&mut tx, &msg).await;
    }
}

/// Messages per second from a producer task to a consumer task.
///
/// # Errors
/// When the channel or the runtime cannot be made.
pub fn spsc_throughput<C: AsyncChannel>(messages: u64) -> io::Result<f64> {
    let (tx, mut rx) = C::open(DEPTH)?;
    runtime()?.block_on(async move {
        let producer = tokio::spawn(produce::<C>(tx, messages));
        let start = Instant::now();
        let consumer = tokio::spawn(async move {
            let mut buf = [0u8; SIZE];
            for i in 0..messages {
                C::recv(&mut rx, &mut buf).await;
                debug_assert_eq!(buf[..8], i.to_le_bytes());
            }
        });
        consumer.await.expect("consumer");
        let elapsed = start.elapsed();
        producer.await.expect("producer");
        Ok(messages as f64 / elapsed.as_secs_f64())
    })
}

/// Round trips between two tasks, each timed.
///
/// # Errors
/// When a channel or the runtime cannot be made.
pub fn ping_pong<C: AsyncChannel>(rounds: usize) -> io::Result<Latency> {
    let (mut ping_tx, mut ping_rx) = C::open(1)?;
    let (mut pong_tx, mut pong_rx) = C::open(1)?;
    runtime()?.block_on(async move {
        let echo = tokio::spawn(async move {
            let mut buf = [0u8; SIZE];
            for _ in 0..rounds {
                C::recv(&mut ping_rx, &mut buf).await;
                C::send(&mut pong_tx, &buf).await;
            }
        });
        let timer = tokio::spawn(async move {
            let msg = [7u8; SIZE];
            let mut buf = [0u8; SIZE];
            let mut samples = Vec::with_capacity(rounds);
            for _ in 0..rounds {
                let start = Instant::now();
                C::send(&mut ping_tx, &msg).await;
                C::recv(&mut pong_rx, &mut buf).await;
                samples.push(start.elapsed());
            }
            samples
        });
        let mut samples = timer.await.expect("timer");
        echo.await.expect("echo");
        samples.sort_unstable();
        Ok(Latency {
            p50: samples[samples.len() / 2],
            p99: samples[samples.len() * 99 / 100],
        })
    })
}

/// `rounds` untimed round trips between two tasks on a single-threaded
/// tokio runtime: deterministic, for counting instructions
/// (`callgrind_async`).
///
/// # Errors
/// When a channel or the runtime cannot be made.
pub fn ping_pong_one_thread<C: AsyncChannel>(rounds: u64) -> io::Result<()> {
    let (mut ping_tx, mut ping_rx) = C::open(1)?;
    let (mut pong_tx, mut pong_rx) = C::open(1)?;
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    runtime.block_on(async move {
        let echo = tokio::spawn(async move {
            let mut buf = [0u8; SIZE];
            for _ in 0..rounds {
                C::recv(&mut ping_rx, &mut buf).await;
                C::send(&mut pong_tx, &buf).await;
            }
        });
        let msg = [7u8; SIZE];
        let mut buf = [0u8; SIZE];
        for _ in 0..rounds {
            C::send(&mut ping_tx, &msg).await;
            C::recv(&mut pong_rx, &mut buf).await;
        }
        echo.await.expect("echo");
    });
    Ok(())
}

/// `messages` untimed 64 B messages from a producer task to a consumer
/// task (depth [`DEPTH`]) on a single-threaded tokio runtime:
/// deterministic, for counting instructions (`callgrind_async`). This is
/// the shape tokio's scheduler gives the multi-thread SPSC run once it
/// puts both tasks on one worker.
///
/// # Errors
/// When the channel or the runtime cannot be made.
pub fn spsc_one_thread<C: AsyncChannel>(messages: u64) -> io::Result<()> {
    let (tx, mut rx) = C::open(DEPTH)?;
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    runtime.block_on(async move {
        let producer = tokio::spawn(produce::<C>(tx, messages));
        let mut buf = [0u8; SIZE];
        for i in 0..messages {
            C::recv(&mut rx, &mut buf).await;
            assert_eq!(buf[..8], i.to_le_bytes());
        }
        producer.await.expect("producer");
    });
    Ok(())
}

/// The async measurements of one channel, as function pointers.
pub struct AsyncRunner {
    /// Name in the report.
    pub name: &'static str,
    spsc: fn(u64) -> io::Result<f64>,
    latency: fn(usize) -> io::Result<Latency>,
}

/// The runner of async channel `C`.
#[must_use]
pub fn runner<C: AsyncChannel>() -> AsyncRunner {
    AsyncRunner {
        name: C::NAME,
        spsc: spsc_throughput::<C>,
        latency: ping_pong::<C>,
    }
}

/// Every async runner this crate knows, the subject first.
#[must_use]
pub fn runners() -> Vec<AsyncRunner> {
    vec![
        runner::<IpcmHostAsync>(),
        runner::<TokioMpsc>(),
        runner::<FlumeAsync>(),
    ]
}

/// Medians of one async channel over all repeats.
#[derive(Clone, Debug, Default)]
pub struct AsyncFigures {
    /// Name of the channel.
    pub name: &'static str,
    /// SPSC 64 B messages per second.
    pub spsc: Option<f64>,
    /// Ping-pong round trip p50, ns.
    pub p50: Option<f64>,
    /// Ping-pong round trip p99, ns.
    pub p99: Option<f64>,
    /// Every sample, in repeat order: SPSC, p50, p99.
    pub samples: [Vec<f64>; 3],
    /// Why some figure is missing, if one is.
    pub note: Option<String>,
}

/// Run every async measurement `repeats` times, interleaved across runners.
pub fn run_all(
    runners: &[AsyncRunner],
    messages: u64,
    rounds: usize,
    repeats: usize,
    mut progress: impl FnMut(&str),
) -> Vec<AsyncFigures> {
    let mut figures: Vec<AsyncFigures> = runners
        .iter()
        .map(|r| AsyncFigures {
            name: r.name,
            ..AsyncFigures::default()
        })
        .collect();
    for repeat in 0..repeats {
        for (r, f) in runners.iter().zip(&mut figures) {
            progress(&format!(
                "async repeat {}/{repeats}: {}",
                repeat + 1,
                r.name
            ));
            match (r.spsc)(messages) {
                Ok(rate) => f.samples[0].push(rate),
                Err(err) => f.note = Some(err.to_string()),
            }
            match (r.latency)(rounds) {
                Ok(l) => {
                    f.samples[1].push(l.p50.as_secs_f64() * 1e9);
                    f.samples[2].push(l.p99.as_secs_f64() * 1e9);
                }
                Err(err) => f.note = Some(err.to_string()),
            }
        }
    }
    for f in &mut figures {
        let med = |s: &[f64]| (!s.is_empty()).then(|| median(&mut s.to_vec()));
        f.spsc = med(&f.samples[0]);
        f.p50 = med(&f.samples[1]);
        f.p99 = med(&f.samples[2]);
    }
    figures
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_async_channel_moves_messages_in_every_measurement() {
        fn check<C: AsyncChannel>() {
            assert!(spsc_throughput::<C>(300).unwrap() > 0.0, "{}", C::NAME);
            let latency = ping_pong::<C>(50).unwrap();
            assert!(latency.p50 <= latency.p99, "{}", C::NAME);
            spsc_one_thread::<C>(300).unwrap();
            ping_pong_one_thread::<C>(50).unwrap();
        }
        check::<IpcmHostAsync>();
        check::<TokioMpsc>();
        check::<FlumeAsync>();
    }
}
