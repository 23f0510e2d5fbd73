//! DESIGN §9: the queue operations beyond the seed (close, purge, urgent
//! writes, sequence numbers and peek-newer, indexed peek, rendezvous pipes,
//! wake feedback), one test per behaviour.

mod common;
use common::*;
use ipcm::Received;

/// Where an actor's sequence number word goes.
const SEQ: usize = LEN + 64;

fn seq_word(fx: &Fixture, actor: Actor) -> u64 {
    fx.kernel().peek_usize(actor.pid, SEQ) as u64
}

fn read_seq(fx: &Fixture, actor: Actor, pipe: PipeId) -> Result<Progress<Received>, Status> {
    fx.ipcm.read_seq(
        &actor.tid,
        pipe,
        UserAddr(DST),
        UserAddr(LEN),
        UserAddr(SEQ),
    )
}

fn peek_newer(
    fx: &Fixture,
    actor: Actor,
    pipe: PipeId,
    after: u64,
) -> Result<Progress<Received>, Status> {
    fx.ipcm.peek_newer(
        &actor.tid,
        pipe,
        after,
        UserAddr(DST),
        UserAddr(LEN),
        UserAddr(SEQ),
    )
}

fn peek_at(fx: &Fixture, actor: Actor, pipe: PipeId, index: usize) -> Result<Vec<u8>, Status> {
    let received = fx.ipcm.peek_at(
        &actor.tid,
        pipe,
        index,
        UserAddr(DST),
        UserAddr(LEN),
        UserAddr(SEQ),
    )?;
    assert_eq!(received.seq, seq_word(fx, actor));
    Ok(fx.received(actor))
}

// --- close ---------------------------------------------------------------

#[test]
fn close_fails_every_write_pending_or_new_with_closed() {
    let fx = Fixture::new();
    let (blocked, late) = (fx.actor(), fx.actor());
    let pipe = fx.pipe(8, 1, PipeFlags::empty());
    fx.try_write(blocked, pipe, b"a").unwrap();
    blocked_on(fx.write(blocked, pipe, b"b"));
    fx.ipcm.close(Caller::Kernel, pipe).unwrap();
    assert_eq!(fx.wakes(), [(blocked.tid, Status::Closed)]);
    assert_eq!(fx.try_write(late, pipe, b"c"), Err(Status::Closed));
    assert_eq!(fx.ipcm.kernel_write(pipe, b"d"), Err(Status::Closed));
    assert_eq!(fx.drain(pipe), [b"a".to_vec()], "only the queued message");
    assert!(fx.info(pipe).closed);
}

#[test]
fn close_with_queued_messages_lets_readers_drain_then_closed() {
    let fx = Fixture::new();
    let (writer, reader) = (fx.actor(), fx.actor());
    let pipe = fx.pipe(8, 4, PipeFlags::empty());
    for msg in [b"1", b"2"] {
        fx.try_write(writer, pipe, msg).unwrap();
    }
    fx.ipcm.close(Caller::Kernel, pipe).unwrap();
    assert_eq!(fx.try_read(reader, pipe).unwrap(), b"1");
    assert_eq!(done(fx.peek(reader, pipe)), 1);
    assert_eq!(fx.try_read(reader, pipe).unwrap(), b"2");
    assert_eq!(fx.try_read(reader, pipe), Err(Status::Closed));
    assert_eq!(fx.read(reader, pipe), Err(Status::Closed), "never blocks");
    assert_eq!(fx.peek(reader, pipe), Err(Status::Closed));
    assert!(fx.wakes().is_empty());
}

#[test]
fn close_wakes_pending_readers_and_peekers_with_closed() {
    let fx = Fixture::new();
    let (reader, peeker, newer) = (fx.actor(), fx.actor(), fx.actor());
    let empty = fx.pipe(8, 2, PipeFlags::empty());
    blocked_on(fx.read(reader, empty));
    blocked_on(fx.peek(peeker, empty));
    fx.ipcm.close(Caller::Kernel, empty).unwrap();
    assert_eq!(
        fx.wakes(),
        [(reader.tid, Status::Closed), (peeker.tid, Status::Closed)]
    );
    // A peek-newer waits for a write, which can no longer come.
    let full = fx.pipe(8, 2, PipeFlags::empty());
    fx.ipcm.kernel_write(full, b"old").unwrap();
    blocked_on(peek_newer(&fx, newer, full, 1));
    fx.ipcm.close(Caller::Kernel, full).unwrap();
    assert_eq!(fx.wakes(), [(newer.tid, Status::Closed)]);
    assert_eq!(peek_newer(&fx, newer, full, 1), Err(Status::Closed));
    assert_eq!(done(peek_newer(&fx, newer, full, 0)).seq, 1, "still drains");
    assert_eq!(fx.ipcm.close(Caller::Kernel, full), Err(Status::Closed));
}

#[test]
fn close_and_purge_are_owner_only() {
    let fx = Fixture::new();
    let (owner, other) = (fx.actor(), fx.actor());
    let pipe = fx
        .ipcm
        .create(Caller::Thread(&owner.tid), None, 8, 2, PipeFlags::empty())
        .unwrap();
    fx.try_write(other, pipe, b"x").unwrap();
    assert_eq!(
        fx.ipcm.close(Caller::Thread(&other.tid), pipe),
        Err(Status::Denied)
    );
    assert_eq!(
        fx.ipcm.purge(Caller::Thread(&other.tid), pipe),
        Err(Status::Denied)
    );
    assert_eq!(fx.info(pipe).queued, 1);
    assert!(!fx.info(pipe).closed);
    assert_eq!(fx.ipcm.purge(Caller::Thread(&owner.tid), pipe), Ok(1));
    assert_eq!(fx.ipcm.close(Caller::Thread(&owner.tid), pipe), Ok(()));
}

// --- purge ---------------------------------------------------------------

#[test]
fn purge_drops_every_queued_message_and_counts_them() {
    let fx = Fixture::new();
    let pipe = fx.pipe(8, 4, PipeFlags::empty());
    for msg in [b"1", b"2", b"3"] {
        fx.ipcm.kernel_write(pipe, msg).unwrap();
    }
    assert_eq!(fx.ipcm.purge(Caller::Kernel, pipe), Ok(3));
    let info = fx.info(pipe);
    assert_eq!(
        (info.queued, info.purged, info.read, info.dropped),
        (0, 3, 0, 0)
    );
    assert_eq!(fx.ipcm.purge(Caller::Kernel, pipe), Ok(0));
    fx.ipcm.kernel_write(pipe, b"4").unwrap();
    assert_eq!(fx.drain(pipe), [b"4".to_vec()]);
}

#[test]
fn purge_with_pending_writers_admits_them() {
    let fx = Fixture::new();
    let writers: Vec<Actor> = (0..3).map(|_| fx.actor()).collect();
    let pipe = fx.pipe(8, 2, PipeFlags::empty());
    fx.ipcm.kernel_write(pipe, b"q1").unwrap();
    fx.ipcm.kernel_write(pipe, b"q2").unwrap();
    for (i, w) in writers.iter().enumerate() {
        blocked_on(fx.write(*w, pipe, format!("w{i}").as_bytes()));
    }
    assert_eq!(fx.ipcm.purge(Caller::Kernel, pipe), Ok(2));
    // Two slots: the two oldest writers are admitted, FIFO, and woken.
    assert_eq!(
        fx.wakes(),
        [(writers[0].tid, Status::Ok), (writers[1].tid, Status::Ok)]
    );
    assert_eq!(fx.info(pipe).pending_writers, 1);
    let mut buf = [0; 8];
    fx.ipcm.kernel_read(pipe, &mut buf).unwrap();
    assert_eq!(&buf[..2], b"w0");
    assert_eq!(
        fx.wakes(),
        [(writers[2].tid, Status::Ok)],
        "admitted by the read"
    );
    assert_eq!(fx.drain(pipe), [b"w1".to_vec(), b"w2".to_vec()]);
}

#[test]
fn purge_leaves_pending_readers_pending() {
    let fx = Fixture::new();
    let reader = fx.actor();
    let pipe = fx.pipe(8, 2, PipeFlags::empty());
    blocked_on(fx.read(reader, pipe));
    assert_eq!(fx.ipcm.purge(Caller::Kernel, pipe), Ok(0));
    assert!(fx.wakes().is_empty());
    assert_eq!(fx.info(pipe).pending_readers, 1);
    fx.ipcm.kernel_write(pipe, b"x").unwrap();
    assert_eq!(fx.wakes(), [(reader.tid, Status::Ok)]);
    assert_eq!(fx.received(reader), b"x");
}

// --- urgent writes -------------------------------------------------------

#[test]
fn urgent_write_is_read_next() {
    let fx = Fixture::new();
    let (writer, reader) = (fx.actor(), fx.actor());
    let pipe = fx.pipe(8, 4, PipeFlags::empty());
    fx.try_write(writer, pipe, b"old1").unwrap();
    fx.try_write(writer, pipe, b"old2").unwrap();
    fx.kernel().poke(writer.pid, SRC, b"URGENT");
    fx.ipcm
        .try_write_urgent(&writer.tid, pipe, UserAddr(SRC), 6)
        .unwrap();
    fx.ipcm.kernel_write_urgent(pipe, b"K").unwrap();
    assert_eq!(fx.try_read(reader, pipe).unwrap(), b"K");
    assert_eq!(fx.try_read(reader, pipe).unwrap(), b"URGENT");
    assert_eq!(fx.try_read(reader, pipe).unwrap(), b"old1");
    assert_eq!(fx.try_read(reader, pipe).unwrap(), b"old2");
}

#[test]
fn urgent_write_hands_off_to_a_pending_reader() {
    let fx = Fixture::new();
    let (writer, reader) = (fx.actor(), fx.actor());
    let pipe = fx.pipe(8, 2, PipeFlags::empty());
    blocked_on(fx.read(reader, pipe));
    fx.kernel().poke(writer.pid, SRC, b"now");
    let written = done(fx.ipcm.write_urgent(&writer.tid, pipe, UserAddr(SRC), 3));
    assert!(written.handed_off);
    assert_eq!(fx.wakes(), [(reader.tid, Status::Ok)]);
    assert_eq!(fx.received(reader), b"now");
}

#[test]
fn urgent_write_blocks_on_a_full_pipe_and_goes_first_when_admitted() {
    let fx = Fixture::new();
    let (writer, reader) = (fx.actor(), fx.actor());
    let pipe = fx.pipe(8, 2, PipeFlags::empty());
    fx.ipcm.kernel_write(pipe, b"a").unwrap();
    fx.ipcm.kernel_write(pipe, b"b").unwrap();
    fx.kernel().poke(writer.pid, SRC, b"U");
    blocked_on(fx.ipcm.write_urgent(&writer.tid, pipe, UserAddr(SRC), 1));
    assert_eq!(fx.try_read(reader, pipe).unwrap(), b"a");
    assert_eq!(fx.wakes(), [(writer.tid, Status::Ok)]);
    assert_eq!(fx.drain(pipe), [b"U".to_vec(), b"b".to_vec()]);
}

#[test]
fn urgent_write_on_a_full_discard_pipe_drops_the_oldest() {
    let fx = Fixture::new();
    let pipe = fx.pipe(8, 3, PipeFlags::DISCARD_OLDEST);
    for msg in [b"1", b"2", b"3"] {
        fx.ipcm.kernel_write(pipe, msg).unwrap();
    }
    let written = fx.ipcm.kernel_write_urgent(pipe, b"U").unwrap();
    assert!(written.dropped_oldest);
    assert_eq!(fx.info(pipe).dropped, 1);
    assert_eq!(
        fx.drain(pipe),
        [b"U".to_vec(), b"2".to_vec(), b"3".to_vec()]
    );
}

// --- sequence numbers, peek-newer ----------------------------------------

#[test]
fn every_accepted_message_is_numbered_by_the_written_count_and_read_reports_it() {
    let fx = Fixture::new();
    let (writer, reader) = (fx.actor(), fx.actor());
    let pipe = fx.pipe(8, 4, PipeFlags::empty());
    // 1 and 2 take the fast path, 3 the slow one (urgent).
    fx.try_write(writer, pipe, b"one").unwrap();
    fx.ipcm.kernel_write(pipe, b"two").unwrap();
    fx.ipcm.kernel_write_urgent(pipe, b"three").unwrap();
    let mut buf = [0; 8];
    assert_eq!(
        fx.ipcm.kernel_peek_seq(pipe, &mut buf),
        Ok(Received { len: 5, seq: 3 })
    );
    let got = done(read_seq(&fx, reader, pipe));
    assert_eq!((got.len, got.seq, seq_word(&fx, reader)), (5, 3, 3));
    assert_eq!(done(read_seq(&fx, reader, pipe)).seq, 1);
    assert_eq!(fx.ipcm.kernel_read_seq(pipe, &mut buf).unwrap().seq, 2);
    // A hand-off is numbered too, and a blocked reader finds it in memory.
    blocked_on(read_seq(&fx, reader, pipe));
    fx.try_write(writer, pipe, b"four").unwrap();
    assert_eq!(fx.wakes(), [(reader.tid, Status::Ok)]);
    assert_eq!(seq_word(&fx, reader), 4);
    assert_eq!(fx.info(pipe).written, 4);
}

#[test]
fn peek_newer_waiter_is_woken_by_the_next_write_and_not_before() {
    let fx = Fixture::new();
    let (writer, watcher) = (fx.actor(), fx.actor());
    // A blackboard: depth 1, discard-oldest.
    let pipe = fx.pipe(8, 1, PipeFlags::DISCARD_OLDEST);
    fx.try_write(writer, pipe, b"v1").unwrap();
    let seen = done(peek_newer(&fx, watcher, pipe, 0));
    assert_eq!((seen.seq, fx.received(watcher)), (1, b"v1".to_vec()));
    // Nothing newer than 1 yet: it waits, and stays waiting through
    // operations that bring nothing new.
    blocked_on(peek_newer(&fx, watcher, pipe, seen.seq));
    let mut buf = [0; 8];
    fx.ipcm.kernel_peek(pipe, &mut buf).unwrap();
    assert!(fx.wakes().is_empty(), "woken before a write");
    fx.try_write(writer, pipe, b"v2").unwrap();
    assert_eq!(fx.wakes(), [(watcher.tid, Status::Ok)]);
    assert_eq!(fx.received(watcher), b"v2");
    assert_eq!(seq_word(&fx, watcher), 2);
    assert_eq!(fx.info(pipe).queued, 1, "a peek takes nothing");
}

#[test]
fn peek_newer_returns_the_oldest_message_numbered_above_after() {
    let fx = Fixture::new();
    let watcher = fx.actor();
    let pipe = fx.pipe(8, 4, PipeFlags::empty());
    for msg in [b"1", b"2", b"3"] {
        fx.ipcm.kernel_write(pipe, msg).unwrap();
    }
    let got = done(peek_newer(&fx, watcher, pipe, 1));
    assert_eq!((got.seq, fx.received(watcher)), (2, b"2".to_vec()));
    let mut buf = [0; 8];
    assert_eq!(
        fx.ipcm.kernel_peek_newer(pipe, 3, &mut buf),
        Err(Status::Empty)
    );
    // A write numbered at most `after` does not satisfy it.
    blocked_on(peek_newer(&fx, watcher, pipe, 10));
    fx.ipcm.kernel_write(pipe, b"4").unwrap();
    assert!(fx.wakes().is_empty());
    assert_eq!(fx.info(pipe).pending_peekers, 1);
}

#[test]
fn peek_newer_finds_an_urgent_message_in_front_of_older_ones() {
    // Found by `lukos-sim check`: the newest number is at the front after
    // an urgent write, and the back-only shortcut answered `Empty`.
    let fx = Fixture::new();
    let watcher = fx.actor();
    let pipe = fx.pipe(8, 4, PipeFlags::empty());
    fx.ipcm.kernel_write(pipe, b"1").unwrap();
    fx.ipcm.kernel_write_urgent(pipe, b"2").unwrap();
    let got = done(peek_newer(&fx, watcher, pipe, 1));
    assert_eq!((got.seq, fx.received(watcher)), (2, b"2".to_vec()));
}

#[test]
fn peek_newer_waiter_is_served_by_a_writer_a_read_admits() {
    let fx = Fixture::new();
    let (writer, watcher) = (fx.actor(), fx.actor());
    let pipe = fx.pipe(8, 1, PipeFlags::empty());
    fx.ipcm.kernel_write(pipe, b"1").unwrap();
    blocked_on(peek_newer(&fx, watcher, pipe, 1));
    blocked_on(fx.write(writer, pipe, b"2"));
    let mut buf = [0; 8];
    fx.ipcm.kernel_read(pipe, &mut buf).unwrap();
    let mut wakes = fx.wakes();
    wakes.sort_by_key(|w| w.0);
    let mut expected = vec![(watcher.tid, Status::Ok), (writer.tid, Status::Ok)];
    expected.sort_by_key(|w| w.0);
    assert_eq!(wakes, expected);
    assert_eq!(
        (fx.received(watcher), seq_word(&fx, watcher)),
        (b"2".to_vec(), 2)
    );
}

// --- indexed peek --------------------------------------------------------

#[test]
fn peek_at_indexes_from_the_oldest_and_is_empty_past_the_end() {
    let fx = Fixture::new();
    let reader = fx.actor();
    let pipe = fx.pipe(8, 3, PipeFlags::empty());
    // Wrap the ring first, so indices cross its end.
    for _ in 0..2 {
        fx.ipcm.kernel_write(pipe, b"x").unwrap();
        fx.drain(pipe);
    }
    for msg in [b"a", b"b", b"c"] {
        fx.ipcm.kernel_write(pipe, msg).unwrap();
    }
    assert_eq!(peek_at(&fx, reader, pipe, 0).unwrap(), b"a");
    assert_eq!(peek_at(&fx, reader, pipe, 2).unwrap(), b"c");
    assert_eq!(seq_word(&fx, reader), 5);
    assert_eq!(peek_at(&fx, reader, pipe, 3), Err(Status::Empty));
    assert_eq!(peek_at(&fx, reader, pipe, usize::MAX), Err(Status::Empty));
    let mut buf = [0; 8];
    assert_eq!(fx.ipcm.kernel_peek_at(pipe, 1, &mut buf).unwrap().seq, 4);
    assert_eq!(fx.info(pipe).queued, 3);
}

// --- rendezvous (zero-depth) pipes ---------------------------------------

#[test]
fn zero_depth_try_write_without_a_reader_is_full() {
    let fx = Fixture::new();
    let writer = fx.actor();
    let pipe = fx.pipe(8, 0, PipeFlags::empty());
    assert_eq!(fx.try_write(writer, pipe, b"x"), Err(Status::Full));
    assert_eq!(fx.ipcm.kernel_write(pipe, b"x"), Err(Status::Full));
    let info = fx.info(pipe);
    assert_eq!((info.max_msgs, info.queued, info.written), (0, 0, 0));
    let mut buf = [0; 8];
    assert_eq!(fx.ipcm.kernel_read(pipe, &mut buf), Err(Status::Empty));
}

#[test]
fn zero_depth_write_completes_by_hand_off_to_a_pending_reader() {
    let fx = Fixture::new();
    let (writer, reader) = (fx.actor(), fx.actor());
    let pipe = fx.pipe(8, 0, PipeFlags::empty());
    blocked_on(fx.read(reader, pipe));
    let written = fx.try_write(writer, pipe, b"meet").unwrap();
    assert!(written.handed_off);
    assert_eq!(fx.wakes(), [(reader.tid, Status::Ok)]);
    assert_eq!(fx.received(reader), b"meet");
    assert_eq!(fx.info(pipe).queued, 0);
}

#[test]
fn zero_depth_read_takes_a_pending_writers_message() {
    let fx = Fixture::new();
    let (bad, writer, reader) = (fx.actor(), fx.actor(), fx.actor());
    let pipe = fx.pipe(8, 0, PipeFlags::empty());
    // A writer whose buffer faults is woken BadAddress; the next one serves.
    blocked_on(fx.ipcm.write(&bad.tid, pipe, UserAddr(0x7000_0000), 4));
    blocked_on(fx.write(writer, pipe, b"mine"));
    assert_eq!(fx.try_read(reader, pipe).unwrap(), b"mine");
    assert_eq!(
        fx.wakes(),
        [(bad.tid, Status::BadAddress), (writer.tid, Status::Ok)]
    );
    assert_eq!(fx.info(pipe).written, 1);
    assert_eq!(fx.try_read(reader, pipe), Err(Status::Empty));
}

// --- wake feedback -------------------------------------------------------

#[test]
fn wake_feedback_reports_a_woken_thread_of_higher_priority() {
    let fx = Fixture::new();
    let low = fx.actor_in(ProcessId(50), Priority(1));
    let high = fx.actor_in(ProcessId(51), Priority(9));
    let pipe = fx.pipe(8, 2, PipeFlags::empty());
    let than = Priority(5);
    // Nobody waits: nobody woken.
    let woke = fx.ipcm.kernel_write_woke(pipe, b"a", than).unwrap();
    assert!(!woke.higher_priority);
    fx.drain(pipe);
    blocked_on(fx.read(low, pipe));
    assert!(
        !fx.ipcm
            .kernel_write_woke(pipe, b"b", than)
            .unwrap()
            .higher_priority
    );
    blocked_on(fx.read(high, pipe));
    let woke = fx.ipcm.kernel_write_woke(pipe, b"c", than).unwrap();
    assert!(woke.higher_priority && woke.result.handed_off);
    // A read that admits a higher-priority writer reports it too.
    fx.ipcm.kernel_write(pipe, b"d").unwrap();
    fx.ipcm.kernel_write(pipe, b"e").unwrap();
    blocked_on(fx.write(high, pipe, b"f"));
    let mut buf = [0; 8];
    let woke = fx.ipcm.kernel_read_woke(pipe, &mut buf, than).unwrap();
    assert!(woke.higher_priority);
    assert_eq!(woke.result.seq, 4);
}

fn blocked_on<T: std::fmt::Debug>(progress: Result<Progress<T>, Status>) -> Ticket {
    blocked(progress)
}
