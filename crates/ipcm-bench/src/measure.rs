//! The measurements, generic over any [`Channel`].

use std::thread;
use std::time::{Duration, Instant};

use crate::peers::Channel;

/// Messages per second from one producer thread to one consumer thread.
///
/// # Errors
/// When the channel cannot be opened.
pub fn spsc_throughput<C: Channel<N>, const N: usize>(
    depth: usize,
    messages: u64,
) -> std::io::Result<f64> {
    let (mut tx, mut rx) = C::open(depth)?;
    let producer = thread::spawn(move || {
        let mut msg = [0u8; N];
        for i in 0..messages {
            msg[..8].copy_from_slice(&i.to_le_bytes());
            C::send(&mut tx, &msg);
        }
    });
    let start = Instant::now();
    let mut buf = [0u8; N];
    for i in 0..messages {
        C::recv(&mut rx, &mut buf);
        debug_assert_eq!(buf[..8], i.to_le_bytes());
    }
    let elapsed = start.elapsed();
    producer.join().expect("producer");
    Ok(messages as f64 / elapsed.as_secs_f64())
}

/// Round-trip latency percentiles between two threads.
#[derive(Clone, Copy, Debug)]
pub struct Latency {
    /// Median round trip.
    pub p50: Duration,
    /// 99th percentile round trip.
    pub p99: Duration,
}

/// Ping-pong: one thread sends, the other echoes on a second channel;
/// each of `rounds` round trips is timed.
///
/// # Errors
/// When a channel cannot be opened.
pub fn ping_pong<C: Channel<N>, const N: usize>(rounds: usize) -> std::io::Result<Latency> {
    let samples = round_trips::<C, N>(rounds)?;
    Ok(Latency {
        p50: samples[samples.len() / 2],
        p99: samples[samples.len() * 99 / 100],
    })
}

/// Every round trip of a [`ping_pong`] run, sorted.
///
/// # Errors
/// When a channel cannot be opened.
pub fn round_trips<C: Channel<N>, const N: usize>(rounds: usize) -> std::io::Result<Vec<Duration>> {
    let rounds = rounds.max(1);
    let (mut ping_tx, mut ping_rx) = C::open(1)?;
    let (mut pong_tx, mut pong_rx) = C::open(1)?;
    let echo = thread::spawn(move || {
        let mut buf = [0u8; N];
        for _ in 0..rounds {
            C::recv(&mut ping_rx, &mut buf);
            C::send(&mut pong_tx, &buf);
        }
    });
    let msg = [7u8; N];
    let mut buf = [0u8; N];
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        C::send(&mut ping_tx, &msg);
        C::recv(&mut pong_rx, &mut buf);
        samples.push(start.elapsed());
    }
    echo.join().expect("echo");
    samples.sort_unstable();
    Ok(samples)
}

/// Messages per second with two producers and two consumers on one
/// channel; `None` for channels with a single receiver.
///
/// # Errors
/// When the channel cannot be opened.
pub fn mpmc_throughput<C: Channel<N>, const N: usize>(
    depth: usize,
    messages: u64,
) -> std::io::Result<Option<f64>> {
    mpmc_n_throughput::<C, N>(depth, messages, 2, None)
}

/// Messages per second with `pairs` producers and `pairs` consumers on one
/// channel, every thread confined to the CPUs in `cpus` when given (so
/// threads can be made to outnumber CPUs on any machine); `None` for
/// channels with a single receiver.
///
/// # Errors
/// When the channel cannot be opened.
pub fn mpmc_n_throughput<C: Channel<N>, const N: usize>(
    depth: usize,
    messages: u64,
    pairs: usize,
    cpus: Option<&[usize]>,
) -> std::io::Result<Option<f64>> {
    let (tx, rx) = C::open(depth)?;
    let mut txs = vec![tx];
    let mut rxs = vec![rx];
    for _ in 1..pairs {
        let (Some(tx), Some(rx)) = (C::clone_tx(&txs[0]), C::clone_rx(&rxs[0])) else {
            return Ok(None);
        };
        txs.push(tx);
        rxs.push(rx);
    }
    let per_producer = messages / pairs as u64;
    let cpus: Option<Vec<usize>> = cpus.map(<[usize]>::to_vec);
    let start = Instant::now();
    let producers: Vec<_> = txs
        .into_iter()
        .map(|mut tx| {
            let cpus = cpus.clone();
            thread::spawn(move || {
                crate::affinity::confine(cpus.as_deref());
                let msg = [1u8; N];
                for _ in 0..per_producer {
                    C::send(&mut tx, &msg);
                }
            })
        })
        .collect();
    let consumers: Vec<_> = rxs
        .into_iter()
        .map(|mut rx| {
            let cpus = cpus.clone();
            thread::spawn(move || {
                crate::affinity::confine(cpus.as_deref());
                let mut buf = [0u8; N];
                for _ in 0..per_producer {
                    C::recv(&mut rx, &mut buf);
                }
            })
        })
        .collect();
    for handle in producers.into_iter().chain(consumers) {
        handle.join().expect("worker");
    }
    Ok(Some(
        (pairs as u64 * per_producer) as f64 / start.elapsed().as_secs_f64(),
    ))
}

/// The median of `values` (which must not be empty).
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peers::{Crossbeam, IpcmHost, PacketPipe, PosixMq, StdSync};

    #[test]
    fn every_peer_moves_messages_in_every_measurement() {
        fn check<C: Channel<64>>() {
            assert!(
                spsc_throughput::<C, 64>(8, 200).unwrap() > 0.0,
                "{}",
                C::NAME
            );
            let latency = ping_pong::<C, 64>(50).unwrap();
            assert!(latency.p50 <= latency.p99);
            if let Some(rate) = mpmc_throughput::<C, 64>(8, 200).unwrap() {
                assert!(rate > 0.0);
            }
            if let Some(rate) = mpmc_n_throughput::<C, 64>(8, 400, 4, Some(&[0, 1])).unwrap() {
                assert!(rate > 0.0);
            }
        }
        check::<IpcmHost>();
        check::<Crossbeam>();
        check::<StdSync>();
        check::<PacketPipe>();
        match <PosixMq as Channel<64>>::open(8) {
            Ok(_) => check::<PosixMq>(),
            Err(err) => eprintln!("POSIX mq unavailable here: {err}"),
        }
    }
}
