//! DESIGN §9 in the hosted runtime: urgent writes, purge, close, sequence
//! numbers and peek-newer, indexed peek, rendezvous pipes, and `Select`.

use std::thread;
use std::time::Duration;

use ipcm_host::{Error, Ipc, Numbered, Select};

#[test]
fn write_urgent_is_read_next() {
    let ipc = Ipc::new();
    let pipe = ipc.pipe(8, 4).create().unwrap();
    pipe.write(b"a").unwrap();
    pipe.write_urgent(b"U").unwrap();
    let mut buf = [0; 8];
    assert_eq!(pipe.read(&mut buf).unwrap(), 1);
    assert_eq!(&buf[..1], b"U");
}

#[test]
fn purge_admits_a_waiting_writer_and_close_drains_then_fails() {
    let ipc = Ipc::new();
    let pipe = ipc.pipe(8, 1).create().unwrap();
    pipe.write(b"old").unwrap();
    let writer = {
        let pipe = pipe.clone();
        thread::spawn(move || pipe.write(b"new"))
    };
    while pipe.info().unwrap().pending_writers == 0 {
        thread::yield_now();
    }
    assert_eq!(pipe.purge().unwrap(), 1);
    writer.join().unwrap().unwrap();
    pipe.close().unwrap();
    assert_eq!(pipe.try_write(b"x"), Err(Error::Closed));
    let mut buf = [0; 8];
    assert_eq!(pipe.read(&mut buf).unwrap(), 3);
    assert_eq!(&buf[..3], b"new");
    assert_eq!(pipe.read(&mut buf), Err(Error::Closed));
}

#[test]
fn peek_newer_waits_for_the_next_write_and_reports_its_number() {
    let ipc = Ipc::new();
    let pipe = ipc
        .pipe(8, 1)
        .on_full(ipcm_host::OnFull::DiscardOldest)
        .create()
        .unwrap();
    pipe.write(b"v1").unwrap();
    let mut buf = [0; 8];
    let seen = pipe.peek_newer(0, &mut buf).unwrap();
    assert_eq!(seen, Numbered { len: 2, seq: 1 });
    let watcher = {
        let pipe = pipe.clone();
        thread::spawn(move || {
            let mut buf = [0; 8];
            let got = pipe.peek_newer(1, &mut buf).unwrap();
            (got, buf[..got.len].to_vec())
        })
    };
    while pipe.info().unwrap().pending_peekers == 0 {
        thread::yield_now();
    }
    pipe.write(b"v2").unwrap();
    let (got, msg) = watcher.join().unwrap();
    assert_eq!((got.seq, msg), (2, b"v2".to_vec()));
    assert_eq!(pipe.read_seq(&mut buf).unwrap().seq, 2);
}

#[test]
fn peek_at_indexes_the_queue() {
    let ipc = Ipc::new();
    let pipe = ipc.pipe(8, 3).create().unwrap();
    for msg in [b"a", b"b"] {
        pipe.write(msg).unwrap();
    }
    let mut buf = [0; 8];
    assert_eq!(
        pipe.peek_at(1, &mut buf).unwrap(),
        Numbered { len: 1, seq: 2 }
    );
    assert_eq!(&buf[..1], b"b");
    assert_eq!(pipe.peek_at(2, &mut buf), Err(Error::Empty));
}

#[test]
fn a_rendezvous_pipe_hands_a_write_to_a_waiting_reader() {
    let ipc = Ipc::new();
    let pipe = ipc.pipe(8, 0).create().unwrap();
    assert_eq!(pipe.try_write(b"x"), Err(Error::Full));
    let reader = {
        let pipe = pipe.clone();
        thread::spawn(move || {
            let mut buf = [0; 8];
            let len = pipe.read(&mut buf).unwrap();
            buf[..len].to_vec()
        })
    };
    pipe.write(b"meet").unwrap();
    assert_eq!(reader.join().unwrap(), b"meet");
    assert_eq!(pipe.info().unwrap().queued, 0);
}

#[test]
fn select_completes_exactly_one_and_the_other_pipe_keeps_its_message() {
    let ipc = Ipc::new();
    let (a, b) = (
        ipc.pipe(8, 2).create().unwrap(),
        ipc.pipe(8, 2).create().unwrap(),
    );
    let selector = {
        let (a, b) = (a.clone(), b.clone());
        thread::spawn(move || {
            let (mut buf_a, mut buf_b) = ([0; 8], [0; 8]);
            let done = Select::new()
                .read(&a, &mut buf_a)
                .read(&b, &mut buf_b)
                .wait()
                .unwrap();
            let buf = if done.index == 0 { buf_a } else { buf_b };
            (done, buf)
        })
    };
    while a.info().unwrap().pending_readers == 0 || b.info().unwrap().pending_readers == 0 {
        thread::sleep(Duration::from_millis(1));
    }
    b.write(b"B").unwrap();
    a.write(b"A").unwrap();
    let (done, buf) = selector.join().unwrap();
    assert_eq!((done.index, done.result), (1, Ok(1)));
    assert_eq!(&buf[..1], b"B");
    assert_eq!((a.info().unwrap().queued, b.info().unwrap().queued), (1, 0));
}

#[test]
fn select_write_member_and_closed_member() {
    let ipc = Ipc::new();
    let (full, other) = (
        ipc.pipe(8, 1).create().unwrap(),
        ipc.pipe(8, 1).create().unwrap(),
    );
    full.write(b"x").unwrap();
    let mut buf = [0; 8];
    // `other` has room: the write member completes at once.
    let done = Select::new()
        .write(&full, b"no room")
        .write(&other, b"room")
        .wait()
        .unwrap();
    assert_eq!((done.index, done.result), (1, Ok(0)));
    assert_eq!(other.read(&mut buf).unwrap(), 4);
    other.close().unwrap();
    let done = Select::new().read(&other, &mut buf).wait().unwrap();
    assert_eq!((done.index, done.result), (0, Err(Error::Closed)));
    assert!(matches!(Select::new().wait(), Err(Error::BadParam { .. })));
}

/// Stress across OS threads: four writers, each on its own pipe, and two
/// servers each selecting over all four pipes. Every message is received
/// exactly once, in each writer's order (each server sees a writer's
/// messages in increasing order), and nothing is left behind.
#[test]
fn two_select_servers_over_four_pipes_receive_every_message_exactly_once() {
    const WRITERS: usize = 4;
    const EACH: u32 = 2000;
    let ipc = Ipc::new();
    let pipes: Vec<_> = (0..WRITERS)
        .map(|_| ipc.pipe(8, 2).create().unwrap())
        .collect();
    let writers: Vec<_> = pipes
        .iter()
        .enumerate()
        .map(|(w, pipe)| {
            let pipe = pipe.clone();
            thread::spawn(move || {
                for n in 0..EACH {
                    let mut msg = [0u8; 8];
                    msg[..4].copy_from_slice(&(w as u32).to_le_bytes());
                    msg[4..].copy_from_slice(&n.to_le_bytes());
                    pipe.write(&msg).unwrap();
                }
            })
        })
        .collect();
    let total = WRITERS * EACH as usize;
    let received = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let servers: Vec<_> = (0..2)
        .map(|_| {
            let pipes = pipes.clone();
            let received = received.clone();
            thread::spawn(move || {
                let mut got: Vec<(u32, u32)> = Vec::new();
                let mut bufs = [[0u8; 8]; WRITERS];
                while received.load(std::sync::atomic::Ordering::SeqCst) < total {
                    let [b0, b1, b2, b3] = &mut bufs;
                    let done = Select::new()
                        .read(&pipes[0], b0)
                        .read(&pipes[1], b1)
                        .read(&pipes[2], b2)
                        .read(&pipes[3], b3)
                        .wait();
                    let done = match done {
                        Ok(done) => done,
                        Err(error) => panic!("select failed: {error}"),
                    };
                    match done.result {
                        Ok(8) => {}
                        Err(Error::Closed) => break,
                        other => panic!("member {} gave {other:?}", done.index),
                    }
                    let buf = bufs[done.index];
                    let w = u32::from_le_bytes(buf[..4].try_into().unwrap());
                    let n = u32::from_le_bytes(buf[4..].try_into().unwrap());
                    assert_eq!(w as usize, done.index, "a message from another pipe");
                    got.push((w, n));
                    if received.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 == total {
                        // Wake the other server: close every pipe.
                        for pipe in &pipes {
                            let _ = pipe.close();
                        }
                    }
                }
                got
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    let mut all = Vec::new();
    for server in servers {
        let got = server.join().unwrap();
        for w in 0..WRITERS as u32 {
            let mine: Vec<u32> = got.iter().filter(|m| m.0 == w).map(|m| m.1).collect();
            assert!(
                mine.windows(2).all(|p| p[0] < p[1]),
                "writer {w} out of order"
            );
        }
        all.extend(got);
    }
    all.sort_unstable();
    let expected: Vec<(u32, u32)> = (0..WRITERS as u32)
        .flat_map(|w| (0..EACH).map(move |n| (w, n)))
        .collect();
    assert_eq!(all.len(), total, "lost or duplicated messages");
    assert_eq!(all, expected);
    for pipe in &pipes {
        assert_eq!(pipe.info().unwrap().queued, 0);
    }
}

#[test]
fn priority_pipe_reads_higher_priority_first_and_fifo_within_a_priority() {
    let ipc = Ipc::new();
    let pipe = ipc.pipe(8, 8).by_message_priority().create().unwrap();
    for (msg, prio) in [(b"b1", 1), (b"a1", 9), (b"b2", 1), (b"a2", 9)] {
        pipe.try_write_prio(msg, prio).unwrap();
    }
    pipe.write(b"c").unwrap(); // priority 0
    let mut buf = [0; 8];
    let order: Vec<_> = (0..5)
        .map(|_| {
            let len = pipe.read(&mut buf).unwrap();
            buf[..len].to_vec()
        })
        .collect();
    assert_eq!(order, [&b"a1"[..], b"a2", b"b1", b"b2", b"c"]);
}

#[test]
fn priority_pipe_waiting_writer_is_let_in_then_ordered_by_priority() {
    let ipc = Ipc::new();
    let pipe = ipc.pipe(8, 1).by_message_priority().create().unwrap();
    pipe.write_prio(b"low", 1).unwrap();
    let writer = {
        let pipe = pipe.clone();
        thread::spawn(move || pipe.write_prio(b"high", 200))
    };
    while pipe.info().unwrap().pending_writers == 0 {
        thread::yield_now();
    }
    let mut buf = [0; 8];
    assert_eq!(pipe.read(&mut buf).unwrap(), 3);
    writer.join().unwrap().unwrap();
    assert_eq!(pipe.read(&mut buf).unwrap(), 4);
    assert_eq!(&buf[..4], b"high");
}

#[test]
fn message_priority_needs_a_priority_pipe_and_a_queue() {
    let ipc = Ipc::new();
    let plain = ipc.pipe(8, 2).create().unwrap();
    assert!(matches!(
        plain.try_write_prio(b"x", 3),
        Err(Error::BadParam { .. })
    ));
    plain.try_write_prio(b"x", 0).unwrap();
    assert!(matches!(
        ipc.pipe(8, 0).by_message_priority().create(),
        Err(Error::BadParam { .. })
    ));
}

#[test]
fn typed_priority_pipe_receives_higher_priority_first() {
    let ipc = Ipc::new();
    let pipe = ipc.pipe(4, 4).by_message_priority().create().unwrap();
    let typed = ipcm_host::MessagePipe::<u32>::from_pipe(pipe).unwrap();
    typed.send_prio(&1, 0).unwrap();
    typed.try_send_prio(&2, 5).unwrap();
    assert_eq!(typed.recv().unwrap(), 2);
    assert_eq!(typed.recv().unwrap(), 1);
}

#[test]
fn select_built_in_place_completes_exactly_one() {
    let ipc = Ipc::new();
    let pipes: Vec<_> = (0..4).map(|_| ipc.pipe(8, 2).create().unwrap()).collect();
    pipes[2].write(b"two").unwrap();
    pipes[3].write(b"three").unwrap();
    let mut bufs = [[0u8; 8]; 4];
    let mut select = Select::new();
    for (pipe, buf) in pipes.iter().zip(bufs.iter_mut()) {
        select.push_read(pipe, buf);
    }
    let done = select.wait().unwrap();
    assert_eq!((done.index, done.result), (2, Ok(3)));
    assert_eq!(&bufs[2][..3], b"two");
    assert_eq!(
        pipes[3].info().unwrap().queued,
        1,
        "the other never happened"
    );
    let mut select = Select::new();
    select
        .push_peek(&pipes[0], &mut bufs[0])
        .push_write(&pipes[1], b"w");
    assert_eq!(select.wait().unwrap().index, 1);
    assert_eq!(pipes[1].info().unwrap().queued, 1);
}
