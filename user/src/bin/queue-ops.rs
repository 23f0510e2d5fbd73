//! The §9 queue operations through the kernel's system calls, one check
//! each: urgent write, sequence numbers, indexed peek, purge admitting a
//! pending writer, peek-newer woken by the next write and not before, a
//! rendezvous pipe, and select (two members ready at once, a write member,
//! a member closed while the select waits). Helper threads of the same
//! process play the other side.
#![no_std]
#![no_main]

use lukos_user::{
    Pipe, flags, println, select, select_read, select_write, sleep, spawn, timeout, yield_now,
};

lukos_user::entry!(main);

fn word(buf: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&buf[..8]);
    u64::from_ne_bytes(w)
}

fn write(pipe: Pipe, v: u64) {
    pipe.write(&v.to_ne_bytes(), timeout::FOREVER)
        .expect("write");
}

/// Waits until `pipe` has a waiter of the kind `count` picks.
fn wait_until(pipe: Pipe, count: fn(&lukos_user::PipeInfo) -> u64) {
    while pipe.info().map_or(0, |i| count(&i)) == 0 {
        sleep(1);
    }
}

fn blocked_writer(id: u64) {
    let result = Pipe::from_id(id).write(&3u64.to_ne_bytes(), timeout::FOREVER);
    println!("QOPS purge-writer result={result:?}");
}

fn newer_waiter(id: u64) {
    let mut buf = [0u8; 8];
    match Pipe::from_id(id).peek_newer(1, &mut buf, timeout::FOREVER) {
        Ok(got) => println!("QOPS newer woken v={} seq={}", word(&buf), got.seq),
        Err(status) => println!("QOPS newer woken failed: {status}"),
    }
}

fn rendezvous_reader(id: u64) {
    let mut buf = [0u8; 8];
    let got = Pipe::from_id(id).read(&mut buf, timeout::FOREVER);
    println!("QOPS rendezvous reader-got={:?} v={}", got, word(&buf));
}

fn drain_later(id: u64) {
    sleep(1);
    let mut buf = [0u8; 8];
    let got = Pipe::from_id(id).read(&mut buf, timeout::FOREVER);
    println!("QOPS select-write reader-got={got:?} v={}", word(&buf));
}

fn close_later(id: u64) {
    sleep(1);
    let closed = Pipe::from_id(id).close();
    println!("QOPS select-closed closer={closed:?}");
}

fn main(_arg: u64) {
    let mut buf = [0u8; 8];

    // Urgent write goes to the head; sequence numbers are acceptance order.
    let p = Pipe::create("", 8, 4, 0).expect("create");
    write(p, 1);
    write(p, 2);
    p.write_urgent(&9u64.to_ne_bytes(), timeout::FOREVER)
        .expect("urgent");
    let mut order = [0u64; 3];
    let mut seqs = [0u64; 3];
    for i in 0..3 {
        let got = p.read_seq(&mut buf, timeout::FOREVER).expect("read_seq");
        order[i] = word(&buf);
        seqs[i] = got.seq;
    }
    println!("QOPS urgent order={order:?} seqs={seqs:?}");

    // Indexed peek: each place, EMPTY past the end, nothing taken.
    for v in [10, 11, 12] {
        write(p, v);
    }
    let mut seen = [0u64; 3];
    for (i, slot) in seen.iter_mut().enumerate() {
        p.peek_at(i as u64, &mut buf).expect("peek_at");
        *slot = word(&buf);
    }
    let past = p.peek_at(3, &mut buf).map(|_| ());
    let queued = p.info().map_or(99, |i| i.queued);
    println!("QOPS peek-at values={seen:?} past-end={past:?} queued={queued}");

    // Purge of a full pipe with a pending writer: drops the queued ones,
    // admits the writer.
    let full = Pipe::create("", 8, 2, 0).expect("create");
    write(full, 1);
    write(full, 2);
    spawn(blocked_writer, full.id(), 2).expect("spawn");
    wait_until(full, |i| i.pending_writers);
    let dropped = full.purge();
    let info = full.info().expect("info");
    println!(
        "QOPS purge dropped={dropped:?} queued-after={} purged={} pending-writers={}",
        info.queued, info.purged, info.pending_writers
    );
    yield_now();
    let next = full.read(&mut buf, 0).map(|_| word(&buf));
    println!("QOPS purge then-read={next:?}");

    // Peek-newer: waits past the message it has seen, woken by the next
    // write and not before.
    let board = Pipe::create("", 8, 1, flags::DISCARD_OLDEST).expect("create");
    write(board, 1);
    spawn(newer_waiter, board.id(), 2).expect("spawn");
    wait_until(board, |i| i.pending_peekers);
    let now = board.peek_newer(1, &mut buf, 0).map(|_| ());
    println!("QOPS newer before-write waiting=1 try-now={now:?}");
    write(board, 2);
    yield_now();
    println!("QOPS newer after-write");

    // Rendezvous (depth 0): no reader, no room; a waiting reader takes it.
    let rv = Pipe::create("", 8, 0, 0).expect("create rendezvous");
    let alone = rv.try_write(&41u64.to_ne_bytes());
    spawn(rendezvous_reader, rv.id(), 2).expect("spawn");
    wait_until(rv, |i| i.pending_readers);
    let handoff = rv.try_write(&42u64.to_ne_bytes());
    let queued = rv.info().map_or(99, |i| i.queued);
    println!("QOPS rendezvous no-reader={alone:?} handoff={handoff:?} queued={queued}");
    yield_now();

    // Select, two members ready at once: the first completes, the other
    // pipe keeps its message and the other buffer is untouched.
    let (x, y) = (
        Pipe::create("", 8, 2, 0).expect("x"),
        Pipe::create("", 8, 2, 0).expect("y"),
    );
    write(x, 100);
    write(y, 200);
    let (mut bx, mut by) = ([0u8; 8], [0xEEu8; 8]);
    let (mut lx, mut ly) = (0, 0);
    let got = select(
        &[
            select_read(x, &mut bx, &mut lx),
            select_read(y, &mut by, &mut ly),
        ],
        timeout::FOREVER,
    );
    println!(
        "QOPS select-both-ready index={:?} status={:?} got={} y-queued={} y-buf-untouched={}",
        got.index,
        got.status,
        word(&bx),
        y.info().map_or(99, |i| i.queued),
        by == [0xEE; 8] && ly == 0
    );

    // A write member on a full pipe completes when a reader makes room.
    let z = Pipe::create("", 8, 1, 0).expect("z");
    let empty = Pipe::create("", 8, 1, 0).expect("empty");
    write(z, 76);
    spawn(drain_later, z.id(), 2).expect("spawn");
    let msg = 77u64.to_ne_bytes();
    let (mut be, mut le) = ([0u8; 8], 0);
    let got = select(
        &[select_write(z, &msg), select_read(empty, &mut be, &mut le)],
        timeout::FOREVER,
    );
    let next = z.read(&mut buf, 0).map(|_| word(&buf));
    println!(
        "QOPS select-write index={:?} status={:?} z-then-holds={next:?}",
        got.index, got.status
    );

    // A member closed while the select waits completes it with CLOSED.
    let e2 = Pipe::create("", 8, 1, 0).expect("e2");
    spawn(close_later, e2.id(), 2).expect("spawn");
    let (mut b2, mut l2) = ([0u8; 8], 0);
    let got = select(
        &[
            select_read(empty, &mut be, &mut le),
            select_read(e2, &mut b2, &mut l2),
        ],
        timeout::FOREVER,
    );
    println!(
        "QOPS select-closed index={:?} status={:?} empty-pending={}",
        got.index,
        got.status,
        empty.info().map_or(99, |i| i.pending_readers)
    );
    // The closer prints before the process ends.
    yield_now();
    println!("QOPS done");
}
