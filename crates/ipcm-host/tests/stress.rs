//! Many threads on one pipe: nothing lost, nothing duplicated, order kept.

use std::collections::HashMap;
use std::thread;

use ipcm_host::{Error, Ipc, OnFull, Pipe};

/// A message: which writer, and its sequence number there.
fn encode(writer: u32, seq: u32) -> [u8; 8] {
    let mut msg = [0; 8];
    msg[..4].copy_from_slice(&writer.to_le_bytes());
    msg[4..].copy_from_slice(&seq.to_le_bytes());
    msg
}

fn decode(msg: &[u8]) -> (u32, u32) {
    let writer = u32::from_le_bytes(msg[..4].try_into().unwrap());
    let seq = u32::from_le_bytes(msg[4..8].try_into().unwrap());
    (writer, seq)
}

/// Readers stop at a message from writer `u32::MAX`.
const STOP: u32 = u32::MAX;

fn n_writers_m_readers(writers: u32, readers: u32, per_writer: u32, depth: usize, timed: bool) {
    let ipc = Ipc::new();
    let pipe = ipc.pipe(8, depth).create().unwrap();
    let reader_threads: Vec<_> = (0..readers)
        .map(|_| {
            let pipe: Pipe = pipe.clone();
            thread::spawn(move || {
                let mut got = Vec::new();
                let mut buf = [0; 8];
                loop {
                    let len = if timed {
                        match pipe.read_timeout(&mut buf, std::time::Duration::from_micros(50)) {
                            Err(Error::TimedOut) => continue,
                            other => other.unwrap(),
                        }
                    } else {
                        pipe.read(&mut buf).unwrap()
                    };
                    assert_eq!(len, 8);
                    let (writer, seq) = decode(&buf);
                    if writer == STOP {
                        return got;
                    }
                    got.push((writer, seq));
                }
            })
        })
        .collect();
    let writer_threads: Vec<_> = (0..writers)
        .map(|writer| {
            let pipe = pipe.clone();
            thread::spawn(move || {
                for seq in 0..per_writer {
                    let msg = encode(writer, seq);
                    if timed {
                        while let Err(error) =
                            pipe.write_timeout(&msg, std::time::Duration::from_micros(50))
                        {
                            assert_eq!(error, Error::TimedOut);
                        }
                    } else {
                        pipe.write(&msg).unwrap();
                    }
                }
            })
        })
        .collect();
    for writer in writer_threads {
        writer.join().unwrap();
    }
    for _ in 0..readers {
        pipe.write(&encode(STOP, 0)).unwrap();
    }
    let mut seen: HashMap<u32, Vec<u32>> = HashMap::new();
    for reader in reader_threads {
        let got = reader.join().unwrap();
        // Each reader sees each writer's messages in the order written.
        let mut last: HashMap<u32, u32> = HashMap::new();
        for &(writer, seq) in &got {
            if let Some(&before) = last.get(&writer) {
                assert!(seq > before, "writer {writer}: {seq} after {before}");
            }
            last.insert(writer, seq);
            seen.entry(writer).or_default().push(seq);
        }
    }
    // Every message arrived exactly once.
    assert_eq!(seen.len(), writers as usize);
    for (writer, mut seqs) in seen {
        seqs.sort_unstable();
        assert_eq!(seqs, (0..per_writer).collect::<Vec<_>>(), "writer {writer}");
    }
    let info = pipe.info().unwrap();
    let total = u64::from(writers * per_writer + readers);
    assert_eq!((info.written, info.read, info.queued), (total, total, 0));
}

#[test]
fn n_writers_m_readers_conserve_messages_and_each_writers_order() {
    n_writers_m_readers(4, 3, 3000, 4, false);
}

#[test]
fn n_writers_m_readers_on_a_depth_one_pipe() {
    n_writers_m_readers(3, 3, 2000, 1, false);
}

#[test]
fn n_writers_m_readers_with_timeouts_lose_and_duplicate_nothing() {
    n_writers_m_readers(3, 2, 1500, 2, true);
}

#[test]
fn discard_oldest_keeps_exactly_the_newest_messages() {
    let (writers, per_writer, depth) = (4_u32, 2000_u32, 8_usize);
    let ipc = Ipc::new();
    let pipe = ipc
        .pipe(8, depth)
        .on_full(OnFull::DiscardOldest)
        .create()
        .unwrap();
    let threads: Vec<_> = (0..writers)
        .map(|writer| {
            let pipe = pipe.clone();
            thread::spawn(move || {
                for seq in 0..per_writer {
                    // Never waits, never fails.
                    pipe.try_write(&encode(writer, seq)).unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let info = pipe.info().unwrap();
    let total = u64::from(writers * per_writer);
    assert_eq!((info.queued, info.written), (depth, total));
    assert_eq!(info.dropped, total - depth as u64);
    // What is left are the newest: per writer, a suffix of its sequence.
    let mut kept: HashMap<u32, Vec<u32>> = HashMap::new();
    let mut buf = [0; 8];
    while pipe.try_read(&mut buf).is_ok() {
        let (writer, seq) = decode(&buf);
        kept.entry(writer).or_default().push(seq);
    }
    for (writer, seqs) in kept {
        let newest: Vec<u32> = (per_writer - seqs.len() as u32..per_writer).collect();
        assert_eq!(seqs, newest, "writer {writer} kept an older message");
    }
}

#[test]
fn discard_oldest_with_concurrent_readers_accounts_for_every_message() {
    let ipc = Ipc::new();
    let pipe = ipc
        .pipe(8, 3)
        .on_full(OnFull::DiscardOldest)
        .create()
        .unwrap();
    let writer = {
        let pipe = pipe.clone();
        thread::spawn(move || {
            for seq in 0..20_000 {
                pipe.write(&encode(0, seq)).unwrap();
            }
            pipe.write(&encode(STOP, 0)).unwrap();
        })
    };
    let mut received = Vec::new();
    let mut buf = [0; 8];
    loop {
        pipe.read(&mut buf).unwrap();
        let (writer, seq) = decode(&buf);
        if writer == STOP {
            break;
        }
        received.push(seq);
    }
    writer.join().unwrap();
    // Increasing (drops only remove the oldest), and nothing is both
    // received and dropped.
    assert!(received.windows(2).all(|w| w[0] < w[1]));
    let info = pipe.info().unwrap();
    assert_eq!(info.read + info.dropped + info.queued as u64, info.written);
    assert_eq!(info.read, received.len() as u64 + 1);
}
