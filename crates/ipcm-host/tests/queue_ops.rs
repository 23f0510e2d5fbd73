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
