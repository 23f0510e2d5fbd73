//! The §9 queue operations through the kernel's system calls, one check
//! each: urgent write, sequence numbers, indexed peek, purge admitting a
//! pending writer, peek-newer woken by the next write and not before, a
//! rendezvous pipe, and select (two members ready at once, a write member,
//! a member closed while the select waits), message priority (read order,
//! BAD_PARAM cases, a blocked writer placed by its priority). Helper
//! threads of the same process play the other side.
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
    let board = Pipe::from_id(id);
    match board.peek_newer(1, &mut buf, timeout::FOREVER) {
        Ok(got) => println!("QOPS newer woken v={} seq={}", word(&buf), got.seq),
        Err(status) => println!("QOPS newer woken failed: {status}"),
    }
    // Tell the writer its line is out: on several CPUs this thread may be
    // woken on another one, and print after the writer's next line.
    write(board, 3);
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

fn prio_writer(id: u64) {
    let result = Pipe::from_id(id).write_prio(&7u64.to_ne_bytes(), 7, timeout::FOREVER);
    println!("QOPS prio-writer result={result:?}");
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
    // The waiter's acknowledgement (message 3), written after its line.
    let acked = board
        .peek_newer(2, &mut buf, timeout::FOREVER)
        .map(|_| word(&buf));
    println!("QOPS newer after-write acked={acked:?}");

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
    // Message priority: higher first, FIFO within a priority; a priority
    // on a plain pipe, one above 255 and a zero-depth priority pipe are
    // BAD_PARAM.
    let pq = Pipe::create("", 8, 4, flags::PRIORITY_MESSAGES).expect("create prio");
    for (v, prio) in [(1u64, 1), (2, 5), (3, 1), (4, 3)] {
        pq.write_prio(&v.to_ne_bytes(), prio, 0)
            .expect("write_prio");
    }
    let mut order = [0u64; 4];
    for slot in order.iter_mut() {
        pq.read(&mut buf, 0).expect("read prio");
        *slot = word(&buf);
    }
    let plain = p.write_prio(&5u64.to_ne_bytes(), 3, 0);
    let too_high = pq.write_prio(&6u64.to_ne_bytes(), 256, 0);
    let zero = Pipe::create("", 8, 0, flags::PRIORITY_MESSAGES).map(|_| ());
    println!(
        "QOPS prio order={order:?} plain-pipe={plain:?} prio-256={too_high:?} zero-depth={zero:?}"
    );

    // A writer blocked on a full priority pipe is admitted by the read
    // that makes room, and its message takes its place by priority.
    let pf = Pipe::create("", 8, 2, flags::PRIORITY_MESSAGES).expect("create prio");
    for v in [1u64, 2] {
        pf.write_prio(&v.to_ne_bytes(), 1, 0).expect("write_prio");
    }
    spawn(prio_writer, pf.id(), 2).expect("spawn");
    wait_until(pf, |i| i.pending_writers);
    let mut after = [0u64; 3];
    for slot in after.iter_mut() {
        pf.read(&mut buf, timeout::FOREVER).expect("read prio");
        *slot = word(&buf);
    }
    println!("QOPS prio-blocked-writer order={after:?}");

    // The closer and the prio writer print before the process ends.
    yield_now();
    println!("QOPS done");
}
