//! The behaviours, each written once against [`Substrate`]. Each function
//! panics (with what it saw) when the layer lacks the behaviour; the
//! DESIGN section it checks is in its doc comment.

use crate::{
    Admin, Cancel, Counts, Member, Op, Processes, SameThread, Spec, Status, Substrate, Wait,
    WakeFeedback,
};

/// The most members a select takes (`IPCM_SELECT_MAX`).
const SELECT_MAX: usize = ipcm::SELECT_MAX;

fn create<S: Substrate>(s: &mut S, spec: Spec) -> S::Pipe {
    s.create(spec)
        .unwrap_or_else(|status| panic!("create {spec:?}: {status:?}"))
}

#[track_caller]
fn counts<S: Substrate>(s: &mut S, pipe: &S::Pipe) -> Counts {
    s.counts(pipe)
        .unwrap_or_else(|status| panic!("counts of {pipe:?}: {status:?}"))
}

/// A write that must complete at once.
#[track_caller]
fn put<S: Substrate>(s: &mut S, pipe: &S::Pipe, msg: &[u8]) {
    let out = s.run(Op::try_write(pipe.clone(), msg));
    assert_eq!(out.status, Status::Ok, "write {msg:?} to {pipe:?}: {out:?}");
}

/// A write at message priority `prio` that must complete at once.
#[track_caller]
fn put_prio<S: Substrate>(s: &mut S, pipe: &S::Pipe, msg: &[u8], prio: u8) {
    let out = s.run(Op::try_write_prio(pipe.clone(), msg, prio));
    assert_eq!(
        out.status,
        Status::Ok,
        "write {msg:?} at {prio} to {pipe:?}: {out:?}"
    );
}

/// Read everything queued, in read order.
#[track_caller]
fn drain<S: Substrate>(s: &mut S, pipe: &S::Pipe) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let got = s.run(Op::try_read(pipe.clone()));
        match got.status {
            Status::Ok => out.push(got.message().to_vec()),
            Status::Empty => return out,
            _ => panic!("drain {pipe:?}: {got:?}"),
        }
    }
}

/// A read that must complete at once; the message.
#[track_caller]
fn take<S: Substrate>(s: &mut S, pipe: &S::Pipe) -> Vec<u8> {
    s.run(Op::try_read(pipe.clone())).message().to_vec()
}

#[track_caller]
fn status_of<S: Substrate>(s: &mut S, op: Op<S::Pipe>) -> Status {
    s.run(op).status
}

#[track_caller]
fn assert_pending<S: Substrate>(s: &mut S, pending: &S::Pending, what: &str) {
    assert!(s.is_pending(pending), "{what}: should still be pending");
}

/// §1: messages are read in the order they were written.
pub fn fifo_order<S: Substrate>(s: &mut S) {
    let pipe = create(s, Spec::new(8, 4));
    for msg in [b"one", b"two", b"thr"] {
        put(s, &pipe, msg);
    }
    for msg in [b"one", b"two", b"thr"] {
        assert_eq!(take(s, &pipe), msg);
    }
    assert_eq!(status_of(s, Op::try_read(pipe)), Status::Empty);
}

/// §1: a pipe holds exactly `depth` messages (not `depth - 1`); one more
/// is `Full` and changes nothing.
pub fn capacity_is_exactly_depth<S: Substrate>(s: &mut S) {
    let pipe = create(s, Spec::new(4, 3));
    for i in 0..3u8 {
        put(s, &pipe, &[i]);
    }
    assert_eq!(
        status_of(s, Op::try_write(pipe.clone(), b"x")),
        Status::Full
    );
    let c = counts(s, &pipe);
    assert_eq!((c.queued, c.written), (3, 3));
    assert_eq!(take(s, &pipe), [0]);
}

/// §1: boundaries are kept: each message has its own length, a message
/// of `msg_size` bytes fits, a zero-length message is a message.
pub fn boundaries_and_zero_length_messages<S: Substrate>(s: &mut S) {
    let pipe = create(s, Spec::new(16, 4));
    let full = [7u8; 16];
    put(s, &pipe, b"abc");
    put(s, &pipe, b"");
    put(s, &pipe, &full);
    put(s, &pipe, b"z");
    assert_eq!(take(s, &pipe), b"abc");
    assert_eq!(take(s, &pipe), b"");
    assert_eq!(take(s, &pipe), full);
    assert_eq!(take(s, &pipe), b"z");
}

/// §1, §6: a write is atomic: one longer than `msg_size` is `TooLarge`
/// and leaves nothing behind (no partial message, nothing counted).
pub fn too_large_write_changes_nothing<S: Substrate>(s: &mut S) {
    let pipe = create(s, Spec::new(8, 2));
    put(s, &pipe, b"kept");
    assert_eq!(
        status_of(s, Op::try_write(pipe.clone(), &[1; 9])),
        Status::TooLarge
    );
    assert_eq!(
        status_of(s, Op::write(pipe.clone(), &[1; 9])),
        Status::TooLarge
    );
    let c = counts(s, &pipe);
    assert_eq!((c.queued, c.written), (1, 1));
    assert_eq!(take(s, &pipe), b"kept");
    assert_eq!(status_of(s, Op::try_read(pipe)), Status::Empty);
}

/// §1, §3: a reader of an empty pipe waits, and is woken with the next
/// message already in its buffer.
pub fn blocking_read_is_handed_the_next_write<S: Substrate>(s: &mut S) {
    let pipe = create(s, Spec::new(8, 2));
    let reader = s.spawn(Op::read(pipe.clone()));
    assert_pending(s, &reader, "a read of an empty pipe");
    assert_eq!(counts(s, &pipe).pending_readers, 1);
    put(s, &pipe, b"wake");
    assert_eq!(s.join(reader).message(), b"wake");
}

/// §1, §3: a writer to a full pipe waits; a read that frees a slot
/// admits its message and wakes it with `Ok`.
pub fn full_pipe_blocks_writer_until_read<S: Substrate>(s: &mut S) {
    let pipe = create(s, Spec::new(8, 1));
    put(s, &pipe, b"first");
    let writer = s.spawn(Op::write(pipe.clone(), b"second"));
    assert_pending(s, &writer, "a write to a full pipe");
    assert_eq!(counts(s, &pipe).pending_writers, 1);
    assert_eq!(take(s, &pipe), b"first");
    assert_eq!(s.join(writer).status, Status::Ok);
    assert_eq!(counts(s, &pipe).queued, 1);
    assert_eq!(take(s, &pipe), b"second");
}

/// §1, §7: discard-oldest at depth > 1 drops exactly the oldest message,
/// counts it, and never blocks the writer.
pub fn discard_oldest_drops_oldest_and_never_blocks<S: Substrate>(s: &mut S) {
    let pipe = create(s, Spec::discarding(4, 2));
    for msg in [b"a", b"b", b"c", b"d"] {
        put(s, &pipe, msg);
    }
    let blocking = s.run(Op::write(pipe.clone(), b"e"));
    assert_eq!(blocking.status, Status::Ok, "a blocking write never waits");
    let c = counts(s, &pipe);
    assert_eq!((c.queued, c.written, c.dropped), (2, 5, 3));
    assert_eq!(take(s, &pipe), b"d");
    assert_eq!(take(s, &pipe), b"e");
}

/// §3: a write that finds a pending reader goes straight into its buffer:
/// nothing is ever queued.
pub fn write_hands_off_to_pending_reader<S: Substrate>(s: &mut S) {
    let pipe = create(s, Spec::new(8, 2));
    let first = s.spawn(Op::read(pipe.clone()));
    let second = s.spawn(Op::read(pipe.clone()));
    put(s, &pipe, b"one");
    assert_eq!(s.join(first).message(), b"one", "the oldest reader first");
    assert_pending(s, &second, "the second reader");
    let c = counts(s, &pipe);
    assert_eq!((c.queued, c.written, c.read), (0, 1, 1));
    put(s, &pipe, b"two");
    assert_eq!(s.join(second).message(), b"two");
    assert_eq!(counts(s, &pipe).queued, 0);
}

/// §3, §7: a write gives every pending peeker a copy first, then the
/// oldest pending reader takes it.
pub fn pending_peekers_all_get_a_copy_then_reader_takes_it<S: Substrate>(s: &mut S) {
    let pipe = create(s, Spec::new(8, 2));
    let peekers = [
        s.spawn(Op::peek(pipe.clone())),
        s.spawn(Op::peek(pipe.clone())),
    ];
    let reader = s.spawn(Op::read(pipe.clone()));
    assert_eq!(counts(s, &pipe).pending_peekers, 2);
    put(s, &pipe, b"news");
    for peeker in peekers {
        assert_eq!(s.join(peeker).message(), b"news");
    }
    assert_eq!(s.join(reader).message(), b"news");
    assert_eq!(counts(s, &pipe).queued, 0, "the reader took it");

    // With no reader the peekers' message stays queued.
    let peeker = s.spawn(Op::peek(pipe.clone()));
    put(s, &pipe, b"stay");
    assert_eq!(s.join(peeker).message(), b"stay");
    assert_eq!(counts(s, &pipe).queued, 1);
}

/// §3, §7: a read whose deadline passes fails `TimedOut` and did not
/// happen: the next message is queued, not lost to it.
pub fn read_timeout_takes_nothing<S: Substrate>(s: &mut S) {
    let pipe = create(s, Spec::new(8, 2));
    let reader = s.spawn(Op::Read {
        pipe: pipe.clone(),
        wait: Wait::Briefly,
    });
    assert_eq!(s.join(reader).status, Status::TimedOut);
    assert_eq!(counts(s, &pipe).pending_readers, 0);
    put(s, &pipe, b"later");
    assert_eq!(counts(s, &pipe).queued, 1);
    assert_eq!(take(s, &pipe), b"later");
}

/// §3, §7: a write whose deadline passes fails `TimedOut` and wrote
/// nothing.
pub fn write_timeout_writes_nothing<S: Substrate>(s: &mut S) {
    let pipe = create(s, Spec::new(8, 1));
    put(s, &pipe, b"old");
    let writer = s.spawn(Op::Write {
        pipe: pipe.clone(),
        msg: b"lost".to_vec(),
        urgent: false,
        wait: Wait::Briefly,
    });
    assert_eq!(s.join(writer).status, Status::TimedOut);
    assert_eq!(take(s, &pipe), b"old");
    assert_eq!(status_of(s, Op::try_read(pipe.clone())), Status::Empty);
    assert_eq!(counts(s, &pipe).written, 1);
}

/// §7: with a zero timeout an operation that can complete completes; one
/// that would wait fails `TimedOut` at once.
pub fn zero_timeout_completes_when_it_can<S: Substrate>(s: &mut S) {
    let pipe = create(s, Spec::new(8, 1));
    let zero_read = |pipe: &S::Pipe| Op::Read {
        pipe: pipe.clone(),
        wait: Wait::Zero,
    };
    let zero_write = |pipe: &S::Pipe| Op::Write {
        pipe: pipe.clone(),
        msg: b"z".to_vec(),
        urgent: false,
        wait: Wait::Zero,
    };
    assert_eq!(s.run(zero_read(&pipe)).status, Status::TimedOut);
    assert_eq!(s.run(zero_write(&pipe)).status, Status::Ok);
    assert_eq!(s.run(zero_write(&pipe)).status, Status::TimedOut);
    assert_eq!(s.run(zero_read(&pipe)).message(), b"z");
    let c = counts(s, &pipe);
    assert_eq!((c.queued, c.written, c.pending()), (0, 1, 0));
}

/// §3, §7: destroy wakes every pending operation with `Destroyed`.
pub fn destroy_wakes_every_waiter_with_destroyed<S: Substrate>(s: &mut S) {
    let empty = create(s, Spec::new(8, 1));
    let full = create(s, Spec::new(8, 1));
    put(s, &full, b"x");
    let reader = s.spawn(Op::read(empty.clone()));
    let peeker = s.spawn(Op::peek(empty.clone()));
    let writer = s.spawn(Op::write(full.clone(), b"y"));
    s.destroy(&empty).expect("destroy");
    s.destroy(&full).expect("destroy");
    assert_eq!(s.join(reader).status, Status::Destroyed);
    assert_eq!(s.join(peeker).status, Status::Destroyed);
    assert_eq!(s.join(writer).status, Status::Destroyed);
}

/// §3, §6: a destroyed pipe is gone: every operation on it fails
/// (`NotFound` by id, `Destroyed` through a handle) and a second destroy
/// fails.
pub fn destroyed_pipe_is_gone<S: Substrate>(s: &mut S) {
    let pipe = create(s, Spec::new(8, 2));
    put(s, &pipe, b"x");
    s.destroy(&pipe).expect("destroy");
    let gone = [Status::NotFound, Status::Destroyed];
    for op in [
        Op::try_write(pipe.clone(), b"y"),
        Op::try_read(pipe.clone()),
        Op::Peek {
            pipe: pipe.clone(),
            wait: Wait::Never,
        },
        Op::read(pipe.clone()),
    ] {
        let out = s.run(op.clone());
        assert!(gone.contains(&out.status), "{op:?} after destroy: {out:?}");
    }
    assert!(s.counts(&pipe).is_err(), "info of a destroyed pipe");
    let again = s.destroy(&pipe).expect_err("a second destroy");
    assert!(gone.contains(&again), "second destroy: {again:?}");
}

/// §2, §6, §9: bad sizes create nothing: zero `msg_size`, an overflowing
/// `msg_size * depth`, discard-oldest on a rendezvous pipe.
pub fn bad_create_parameters<S: Substrate>(s: &mut S) {
    for spec in [
        Spec::new(0, 4),
        Spec::new(usize::MAX / 2, 4),
        Spec::discarding(8, 0),
    ] {
        let created = s.create(spec);
        assert!(
            matches!(created, Err(Status::BadParam | Status::NoMemory)),
            "create {spec:?}: {created:?}"
        );
    }
}

fn select_read_members<S: Substrate>(pipes: &[&S::Pipe]) -> Op<S::Pipe> {
    Op::select(pipes.iter().map(|p| Member::Read((*p).clone())).collect())
}

/// §9: when several members can complete now, the first in list order
/// completes; the others never happen.
pub fn select_completes_first_ready_member<S: Substrate>(s: &mut S) {
    let (a, b, c) = (
        create(s, Spec::new(8, 2)),
        create(s, Spec::new(8, 2)),
        create(s, Spec::new(8, 2)),
    );
    put(s, &b, b"to b");
    put(s, &c, b"to c");
    let out = s.run(select_read_members::<S>(&[&a, &b, &c]));
    assert_eq!((out.status, out.index), (Status::Ok, Some(1)), "{out:?}");
    assert_eq!(out.message(), b"to b");
    assert_eq!(counts(s, &c).queued, 1, "the later member did not happen");
    assert_eq!(take(s, &c), b"to c");
}

/// §9: a select whose members both become ready completes exactly one:
/// the first write completes it by hand-off, the other member is
/// withdrawn and the other pipe keeps its message; no member stays
/// pending.
pub fn select_completes_exactly_one_and_withdraws_the_rest<S: Substrate>(s: &mut S) {
    let (a, b) = (create(s, Spec::new(8, 2)), create(s, Spec::new(8, 2)));
    let select = s.spawn(select_read_members::<S>(&[&a, &b]));
    assert_pending(s, &select, "a select over two empty pipes");
    put(s, &b, b"to b");
    put(s, &a, b"to a");
    let out = s.join(select);
    assert_eq!((out.status, out.index), (Status::Ok, Some(1)), "{out:?}");
    assert_eq!(out.message(), b"to b");
    let (ca, cb) = (counts(s, &a), counts(s, &b));
    assert_eq!(
        (ca.queued, ca.pending_readers),
        (1, 0),
        "a keeps its message"
    );
    assert_eq!((cb.queued, cb.read), (0, 1));
    assert_eq!(take(s, &a), b"to a");
}

/// §9: a write member waits on a full pipe; the read that makes room
/// admits it, and the select's read member on another pipe is withdrawn.
pub fn select_write_member_admitted_by_read<S: Substrate>(s: &mut S) {
    let (full, empty) = (create(s, Spec::new(8, 1)), create(s, Spec::new(8, 1)));
    put(s, &full, b"old");
    let select = s.spawn(Op::select(vec![
        Member::Write(full.clone(), b"new".to_vec()),
        Member::Read(empty.clone()),
    ]));
    assert_pending(s, &select, "a select over a full and an empty pipe");
    assert_eq!(take(s, &full), b"old");
    let out = s.join(select);
    assert_eq!((out.status, out.index), (Status::Ok, Some(0)), "{out:?}");
    assert_eq!(take(s, &full), b"new");
    put(s, &empty, b"kept");
    let c = counts(s, &empty);
    assert_eq!(
        (c.queued, c.pending_readers),
        (1, 0),
        "read member withdrawn"
    );
}

/// §9: a write to a pipe that is a member of two threads' selects hands
/// off to exactly one of them (the older); the other keeps waiting and
/// completes with a later write.
pub fn write_hands_off_to_exactly_one_of_two_selects<S: Substrate>(s: &mut S) {
    let (shared, b, c) = (
        create(s, Spec::new(8, 2)),
        create(s, Spec::new(8, 2)),
        create(s, Spec::new(8, 2)),
    );
    let first = s.spawn(select_read_members::<S>(&[&shared, &b]));
    let second = s.spawn(select_read_members::<S>(&[&shared, &c]));
    put(s, &shared, b"one");
    let out = s.join(first);
    assert_eq!(
        (out.index, out.message()),
        (Some(0), &b"one"[..]),
        "{out:?}"
    );
    assert_pending(s, &second, "the second select");
    assert_eq!(counts(s, &shared).queued, 0, "handed off, not queued");
    put(s, &c, b"to c");
    let out = s.join(second);
    assert_eq!(
        (out.index, out.message()),
        (Some(1), &b"to c"[..]),
        "{out:?}"
    );
    put(s, &b, b"kept");
    assert_eq!(
        counts(s, &b).queued,
        1,
        "the first select's b member withdrawn"
    );
}

/// §9: a pipe may appear twice; one write completes exactly one of the
/// two members (a peek leaves the message queued, a read takes it).
pub fn select_same_pipe_twice_completes_one<S: Substrate>(s: &mut S) {
    let pipe = create(s, Spec::new(8, 2));
    let select = s.spawn(Op::select(vec![
        Member::Read(pipe.clone()),
        Member::Peek(pipe.clone()),
    ]));
    assert_pending(s, &select, "a select over an empty pipe, twice");
    put(s, &pipe, b"once");
    let out = s.join(select);
    assert_eq!(out.message(), b"once");
    let c = counts(s, &pipe);
    match out.index {
        Some(0) => assert_eq!((c.queued, c.read), (0, 1)),
        Some(1) => assert_eq!((c.queued, c.read), (1, 0)),
        other => panic!("index {other:?}"),
    }
    assert_eq!(c.pending(), 0);
}

/// §9: `Closed`/`Destroyed` on a member completes the select with that
/// member.
pub fn select_member_closed_or_destroyed_completes_select<S: Substrate>(s: &mut S) {
    let (a, b) = (create(s, Spec::new(8, 2)), create(s, Spec::new(8, 2)));
    let select = s.spawn(select_read_members::<S>(&[&a, &b]));
    s.close(&b).expect("close");
    let out = s.join(select);
    assert_eq!(
        (out.status, out.index),
        (Status::Closed, Some(1)),
        "{out:?}"
    );
    let select = s.spawn(select_read_members::<S>(&[&a, &b]));
    let out = match s.is_pending(&select) {
        // Closed and empty: the select completes at once.
        false => s.join(select),
        true => panic!("a select with a closed, drained member waits"),
    };
    assert_eq!(
        (out.status, out.index),
        (Status::Closed, Some(1)),
        "{out:?}"
    );
    let c = create(s, Spec::new(8, 2));
    let select = s.spawn(select_read_members::<S>(&[&a, &c]));
    s.destroy(&a).expect("destroy");
    let out = s.join(select);
    assert_eq!(
        (out.status, out.index),
        (Status::Destroyed, Some(0)),
        "{out:?}"
    );
    put(s, &c, b"kept");
    assert_eq!(counts(s, &c).queued, 1, "c's member withdrawn");
}

/// §9: a select with no member, or more than `SELECT_MAX`, is
/// `BadParam`; `SELECT_MAX` members are fine.
pub fn select_bad_parameters<S: Substrate>(s: &mut S) {
    let pipe = create(s, Spec::new(8, 2));
    let out = s.run(Op::Select {
        members: vec![],
        wait: Wait::Never,
    });
    assert_eq!(out.status, Status::BadParam, "{out:?}");
    let reads = |n| vec![Member::Read(pipe.clone()); n];
    let out = s.run(Op::select(reads(SELECT_MAX + 1)));
    assert_eq!(out.status, Status::BadParam, "{out:?}");
    put(s, &pipe, b"x");
    let out = s.run(Op::select(reads(SELECT_MAX)));
    assert_eq!((out.status, out.index), (Status::Ok, Some(0)), "{out:?}");
    assert_eq!(counts(s, &pipe).queued, 0);
}

/// §9: a select whose deadline passes fails as a group (`TimedOut`, no
/// member) and none of its members happened.
pub fn select_times_out_as_a_group<S: Substrate>(s: &mut S) {
    let (a, full) = (create(s, Spec::new(8, 1)), create(s, Spec::new(8, 1)));
    put(s, &full, b"old");
    let select = s.spawn(Op::Select {
        members: vec![
            Member::Read(a.clone()),
            Member::Write(full.clone(), b"new".to_vec()),
        ],
        wait: Wait::Briefly,
    });
    let out = s.join(select);
    assert_eq!((out.status, out.index), (Status::TimedOut, None), "{out:?}");
    put(s, &a, b"kept");
    assert_eq!(counts(s, &a).queued, 1);
    assert_eq!(take(s, &full), b"old");
    assert_eq!(status_of(s, Op::try_read(full)), Status::Empty, "no write");
}

/// §9: an urgent write goes to the head of the queue: read next.
pub fn urgent_write_is_read_first<S: Substrate>(s: &mut S) {
    let pipe = create(s, Spec::new(8, 4));
    put(s, &pipe, b"a");
    put(s, &pipe, b"b");
    assert_eq!(s.run(Op::urgent(pipe.clone(), b"now")).status, Status::Ok);
    assert_eq!(take(s, &pipe), b"now");
    assert_eq!(take(s, &pipe), b"a");
    assert_eq!(take(s, &pipe), b"b");
}

/// §9: an urgent write to a full discard-oldest pipe still drops the
/// oldest message, then goes in front; to a full blocking pipe a
/// try-write is `Full` and a blocking one waits, then goes in front.
pub fn urgent_write_on_full_discarding_pipe<S: Substrate>(s: &mut S) {
    let pipe = create(s, Spec::discarding(8, 2));
    put(s, &pipe, b"a");
    put(s, &pipe, b"b");
    assert_eq!(s.run(Op::urgent(pipe.clone(), b"now")).status, Status::Ok);
    let c = counts(s, &pipe);
    assert_eq!((c.queued, c.dropped), (2, 1));
    assert_eq!(take(s, &pipe), b"now");
    assert_eq!(take(s, &pipe), b"b");

    let blocking = create(s, Spec::new(8, 1));
    put(s, &blocking, b"a");
    let full = s.run(Op::Write {
        pipe: blocking.clone(),
        msg: b"now".to_vec(),
        urgent: true,
        wait: Wait::Never,
    });
    assert_eq!(full.status, Status::Full);
    let writer = s.spawn(Op::urgent(blocking.clone(), b"now"));
    assert_pending(s, &writer, "an urgent write to a full pipe");
    assert_eq!(take(s, &blocking), b"a");
    assert_eq!(s.join(writer).status, Status::Ok);
    assert_eq!(take(s, &blocking), b"now");
}

/// §9: an urgent write to a pipe with a pending reader is handed off.
pub fn urgent_write_hands_off<S: Substrate>(s: &mut S) {
    let pipe = create(s, Spec::new(8, 2));
    let reader = s.spawn(Op::read(pipe.clone()));
    assert_eq!(s.run(Op::urgent(pipe.clone(), b"now")).status, Status::Ok);
    assert_eq!(s.join(reader).message(), b"now");
    assert_eq!(counts(s, &pipe).queued, 0);
}

/// §9: purge drops every queued message (counted in `purged`), returns
/// how many, then admits pending writers FIFO while room remains.
pub fn purge_drops_queue_and_admits_pending_writers<S: Substrate>(s: &mut S) {
    let pipe = create(s, Spec::new(8, 2));
    put(s, &pipe, b"old1");
    put(s, &pipe, b"old2");
    let w1 = s.spawn(Op::write(pipe.clone(), b"new1"));
    let w2 = s.spawn(Op::write(pipe.clone(), b"new2"));
    let w3 = s.spawn(Op::write(pipe.clone(), b"new3"));
    assert_eq!(counts(s, &pipe).pending_writers, 3);
    assert_eq!(s.purge(&pipe), Ok(2));
    assert_eq!(s.join(w1).status, Status::Ok);
    assert_eq!(s.join(w2).status, Status::Ok);
    assert_pending(s, &w3, "the writer with no room left");
    let c = counts(s, &pipe);
    assert_eq!((c.queued, c.purged, c.pending_writers), (2, 2, 1));
    assert_eq!(take(s, &pipe), b"new1");
    assert_eq!(s.join(w3).status, Status::Ok);
    assert_eq!(take(s, &pipe), b"new2");
    assert_eq!(take(s, &pipe), b"new3");
    assert_eq!(s.purge(&pipe), Ok(0));
}

/// §9: purge leaves pending readers pending (it has nothing for them).
pub fn purge_leaves_pending_readers_pending<S: Substrate>(s: &mut S) {
    let pipe = create(s, Spec::new(8, 2));
    let reader = s.spawn(Op::read(pipe.clone()));
    assert_eq!(s.purge(&pipe), Ok(0));
    assert_pending(s, &reader, "a reader across a purge");
    put(s, &pipe, b"after");
    assert_eq!(s.join(reader).message(), b"after");
}

/// §9: close fails every write (pending and new) with `Closed`; readers
/// drain what is queued, then every read and peek fails `Closed`; a second
/// close is `Closed`; destroy still frees it.
pub fn close_fails_writers_and_drains_readers<S: Substrate>(s: &mut S) {
    let pipe = create(s, Spec::new(8, 2));
    put(s, &pipe, b"one");
    put(s, &pipe, b"two");
    let writer = s.spawn(Op::write(pipe.clone(), b"three"));
    assert_pending(s, &writer, "a write to a full pipe");
    s.close(&pipe).expect("close");
    assert_eq!(s.join(writer).status, Status::Closed);
    assert_eq!(
        status_of(s, Op::try_write(pipe.clone(), b"x")),
        Status::Closed
    );
    assert_eq!(status_of(s, Op::urgent(pipe.clone(), b"x")), Status::Closed);
    assert!(counts(s, &pipe).closed);
    assert_eq!(take(s, &pipe), b"one");
    assert_eq!(s.run(Op::peek(pipe.clone())).message(), b"two");
    assert_eq!(s.run(Op::read(pipe.clone())).message(), b"two");
    assert_eq!(status_of(s, Op::read(pipe.clone())), Status::Closed);
    assert_eq!(status_of(s, Op::try_read(pipe.clone())), Status::Closed);
    assert_eq!(status_of(s, Op::peek(pipe.clone())), Status::Closed);
    assert_eq!(s.close(&pipe), Err(Status::Closed));
    assert_eq!(s.destroy(&pipe), Ok(()));
}

/// §9: close wakes the readers and peekers pending on an empty pipe with
/// `Closed`.
pub fn close_wakes_pending_readers_with_closed<S: Substrate>(s: &mut S) {
    let pipe = create(s, Spec::new(8, 2));
    let reader = s.spawn(Op::read(pipe.clone()));
    let peeker = s.spawn(Op::peek(pipe.clone()));
    let newer = s.spawn(Op::peek_newer(pipe.clone(), 0));
    s.close(&pipe).expect("close");
    assert_eq!(s.join(reader).status, Status::Closed);
    assert_eq!(s.join(peeker).status, Status::Closed);
    assert_eq!(s.join(newer).status, Status::Closed);
    assert_eq!(counts(s, &pipe).pending(), 0);
}

/// §9: each accepted message is numbered with the `written` count when
/// it was accepted (1, 2, ...), dropped ones included; read and peek
/// report it.
pub fn sequence_numbers_count_accepted_messages<S: Substrate>(s: &mut S) {
    let pipe = create(s, Spec::discarding(8, 2));
    for msg in [b"m1", b"m2", b"m3"] {
        put(s, &pipe, msg);
    }
    // m1 was dropped; m2 is number 2.
    let peeked = s.run(Op::peek(pipe.clone()));
    assert_eq!(peeked.message(), b"m2");
    if let Some(seq) = peeked.seq {
        assert_eq!(seq, 2);
    }
    let at = s.run(Op::PeekAt {
        pipe: pipe.clone(),
        index: 1,
    });
    assert_eq!((at.message(), at.seq), (&b"m3"[..], Some(3)), "{at:?}");
    let read = s.run(Op::read(pipe.clone()));
    assert_eq!(
        (read.message(), read.seq),
        (&b"m2"[..], Some(2)),
        "{read:?}"
    );
    assert_eq!(s.run(Op::urgent(pipe.clone(), b"u4")).status, Status::Ok);
    let read = s.run(Op::read(pipe.clone()));
    assert_eq!(
        (read.message(), read.seq),
        (&b"u4"[..], Some(4)),
        "{read:?}"
    );
    let read = s.run(Op::read(pipe.clone()));
    assert_eq!(
        (read.message(), read.seq),
        (&b"m3"[..], Some(3)),
        "{read:?}"
    );
    // A handed-off message is numbered too.
    let reader = s.spawn(Op::read(pipe.clone()));
    put(s, &pipe, b"m5");
    let read = s.join(reader);
    assert_eq!(
        (read.message(), read.seq),
        (&b"m5"[..], Some(5)),
        "{read:?}"
    );
}

/// §9: `peek_newer(after)` copies, without taking it, the oldest queued
/// message numbered above `after`; with none newer and a past deadline it
/// is `TimedOut` at once.
pub fn peek_newer_returns_first_newer_message<S: Substrate>(s: &mut S) {
    let pipe = create(s, Spec::new(8, 4));
    for msg in [b"m1", b"m2", b"m3"] {
        put(s, &pipe, msg);
    }
    let out = s.run(Op::peek_newer(pipe.clone(), 1));
    assert_eq!((out.message(), out.seq), (&b"m2"[..], Some(2)), "{out:?}");
    let out = s.run(Op::peek_newer(pipe.clone(), 0));
    assert_eq!((out.message(), out.seq), (&b"m1"[..], Some(1)), "{out:?}");
    let none = s.run(Op::PeekNewer {
        pipe: pipe.clone(),
        after: 3,
        wait: Wait::Zero,
    });
    assert_eq!(none.status, Status::TimedOut, "{none:?}");
    assert_eq!(counts(s, &pipe).queued, 3, "peek_newer takes nothing");
}

/// §9: a `peek_newer` waiter is woken by the next write newer than
/// `after`, and not before: not by reads, peeks or purges, nor by a write
/// numbered at most `after`.
pub fn peek_newer_waiter_woken_only_by_newer_write<S: Substrate>(s: &mut S) {
    let pipe = create(s, Spec::new(8, 4));
    put(s, &pipe, b"m1");
    let waiter = s.spawn(Op::peek_newer(pipe.clone(), 1));
    assert_pending(s, &waiter, "peek_newer(1) with only m1 queued");
    assert_eq!(s.run(Op::peek(pipe.clone())).message(), b"m1");
    assert_eq!(take(s, &pipe), b"m1");
    assert_eq!(s.purge(&pipe), Ok(0));
    assert_pending(s, &waiter, "peek_newer(1) after a read, a peek, a purge");
    assert_eq!(counts(s, &pipe).pending_peekers, 1);
    put(s, &pipe, b"m2");
    let out = s.join(waiter);
    assert_eq!((out.message(), out.seq), (&b"m2"[..], Some(2)), "{out:?}");
    assert_eq!(counts(s, &pipe).queued, 1, "a peek leaves it queued");

    // A waiter for something newer than 5 ignores writes 3, 4 and 5.
    let far = s.spawn(Op::peek_newer(pipe.clone(), 5));
    put(s, &pipe, b"m3");
    put(s, &pipe, b"m4");
    take(s, &pipe);
    put(s, &pipe, b"m5");
    assert_pending(s, &far, "peek_newer(5) after writes 3..=5");
    take(s, &pipe);
    put(s, &pipe, b"m6");
    let out = s.join(far);
    assert_eq!((out.message(), out.seq), (&b"m6"[..], Some(6)), "{out:?}");
}

/// §9: an urgent message is numbered like any other and is the newest
/// one although it is at the front: `peek_newer` finds it.
pub fn peek_newer_finds_urgent_message_at_the_front<S: Substrate>(s: &mut S) {
    let pipe = create(s, Spec::new(8, 4));
    put(s, &pipe, b"m1");
    put(s, &pipe, b"m2");
    assert_eq!(s.run(Op::urgent(pipe.clone(), b"u3")).status, Status::Ok);
    let out = s.run(Op::peek_newer(pipe.clone(), 2));
    assert_eq!((out.message(), out.seq), (&b"u3"[..], Some(3)), "{out:?}");
    let waiter = s.spawn(Op::peek_newer(pipe.clone(), 3));
    assert_pending(s, &waiter, "peek_newer(3) with 1..=3 queued");
    assert_eq!(s.run(Op::urgent(pipe.clone(), b"u4")).status, Status::Ok);
    let out = s.join(waiter);
    assert_eq!((out.message(), out.seq), (&b"u4"[..], Some(4)), "{out:?}");
}

/// §9: `peek_at(i)` copies the message `i` places from the front, never
/// waits, takes nothing, and is `Empty` past the end.
pub fn peek_at_indexes_the_queue<S: Substrate>(s: &mut S) {
    let pipe = create(s, Spec::new(8, 4));
    let at = |pipe: &S::Pipe, index| Op::PeekAt {
        pipe: pipe.clone(),
        index,
    };
    assert_eq!(s.run(at(&pipe, 0)).status, Status::Empty);
    for msg in [b"m1", b"m2", b"m3"] {
        put(s, &pipe, msg);
    }
    for (index, msg) in [(2, b"m3"), (0, b"m1"), (1, b"m2")] {
        let out = s.run(at(&pipe, index));
        assert_eq!(out.message(), msg, "peek_at({index})");
        assert_eq!(out.seq, Some(index as u64 + 1), "{out:?}");
    }
    assert_eq!(s.run(at(&pipe, 3)).status, Status::Empty);
    assert_eq!(counts(s, &pipe).queued, 3);
    assert_eq!(s.run(Op::urgent(pipe.clone(), b"u")).status, Status::Ok);
    assert_eq!(s.run(at(&pipe, 0)).message(), b"u", "index 0 is read next");
}

/// §9: a zero-depth pipe is a rendezvous: a write completes only by
/// hand-off to a pending reader (`Full` with none, for a try-write), and
/// nothing is ever queued.
pub fn zero_depth_write_completes_only_by_hand_off<S: Substrate>(s: &mut S) {
    let pipe = create(s, Spec::new(8, 0));
    assert_eq!(
        status_of(s, Op::try_write(pipe.clone(), b"x")),
        Status::Full
    );
    assert_eq!(status_of(s, Op::try_read(pipe.clone())), Status::Empty);
    let reader = s.spawn(Op::read(pipe.clone()));
    assert_pending(s, &reader, "a read of a rendezvous pipe");
    put(s, &pipe, b"meet");
    assert_eq!(s.join(reader).message(), b"meet");
    let c = counts(s, &pipe);
    assert_eq!((c.queued, c.written, c.read), (0, 1, 1));
}

/// §9: on a zero-depth pipe a writer waits until a read takes its message
/// straight from it.
pub fn zero_depth_read_takes_pending_writer<S: Substrate>(s: &mut S) {
    let pipe = create(s, Spec::new(8, 0));
    let writer = s.spawn(Op::write(pipe.clone(), b"meet"));
    assert_pending(s, &writer, "a write to a rendezvous pipe");
    assert_eq!(counts(s, &pipe).pending_writers, 1);
    assert_eq!(take(s, &pipe), b"meet");
    assert_eq!(s.join(writer).status, Status::Ok);
    assert_eq!(counts(s, &pipe).queued, 0);
}

/// §9: a `PRIORITY_MESSAGES` pipe is read higher message priority first,
/// FIFO within a priority; an urgent message is read before all; a plain
/// write is priority 0; `peek_at` indexes read order.
pub fn priority_messages_read_highest_first_fifo_within<S: Substrate>(s: &mut S) {
    let pipe = create(s, Spec::new(8, 8).by_priority());
    for (msg, prio) in [(b"a", 1), (b"b", 5), (b"c", 1), (b"d", 3), (b"e", 0)] {
        put_prio(s, &pipe, msg, prio);
    }
    assert_eq!(s.run(Op::urgent(pipe.clone(), b"u")).status, Status::Ok);
    put(s, &pipe, b"f");
    let at = s.run(Op::PeekAt {
        pipe: pipe.clone(),
        index: 1,
    });
    assert_eq!((at.message(), at.seq), (&b"b"[..], Some(2)), "{at:?}");
    let order: Vec<Vec<u8>> = [b"u", b"b", b"d", b"a", b"c", b"e", b"f"]
        .iter()
        .map(|m| m.to_vec())
        .collect();
    assert_eq!(drain(s, &pipe), order);
}

/// §9: discard-oldest on a full priority pipe drops the oldest message
/// (the lowest number), whatever its priority, not the one read last.
pub fn priority_discard_oldest_drops_the_lowest_number<S: Substrate>(s: &mut S) {
    let pipe = create(s, Spec::discarding(4, 3).by_priority());
    // The oldest, a, is neither read first (b) nor last (d).
    for (msg, prio) in [(b"a", 1), (b"b", 9), (b"c", 5), (b"d", 0)] {
        put_prio(s, &pipe, msg, prio);
    }
    let c = counts(s, &pipe);
    assert_eq!((c.queued, c.written, c.dropped), (3, 4, 1));
    assert_eq!(
        drain(s, &pipe),
        [b"b".to_vec(), b"c".to_vec(), b"d".to_vec()]
    );
}

/// §9: a message priority other than 0 needs a `PRIORITY_MESSAGES` pipe
/// (`BadParam`, nothing written); priority 0 is a plain write; a priority
/// pipe needs a queue (depth 0 is `BadParam`).
pub fn write_prio_needs_a_priority_pipe<S: Substrate>(s: &mut S) {
    let pipe = create(s, Spec::new(8, 2));
    let refused = s.run(Op::try_write_prio(pipe.clone(), b"x", 3));
    assert_eq!(refused.status, Status::BadParam, "{refused:?}");
    let refused = s.run(Op::write_prio(pipe.clone(), b"x", 3));
    assert_eq!(refused.status, Status::BadParam, "{refused:?}");
    assert_eq!(counts(s, &pipe).written, 0, "nothing written");
    put_prio(s, &pipe, b"zero", 0);
    assert_eq!(take(s, &pipe), b"zero");
    let created = s.create(Spec::new(8, 0).by_priority());
    assert!(
        matches!(created, Err(Status::BadParam)),
        "a zero-depth priority pipe: {created:?}"
    );
}

/// §3, §9: a write with a message priority to a pipe with a pending
/// reader is handed off, whatever its priority.
pub fn write_prio_hands_off_to_pending_reader<S: Substrate>(s: &mut S) {
    let pipe = create(s, Spec::new(8, 2).by_priority());
    let reader = s.spawn(Op::read(pipe.clone()));
    assert_pending(s, &reader, "a read of an empty priority pipe");
    let out = s.run(Op::write_prio(pipe.clone(), b"hi", 7));
    assert_eq!(out.status, Status::Ok, "{out:?}");
    assert_eq!(s.join(reader).message(), b"hi");
    let c = counts(s, &pipe);
    assert_eq!((c.queued, c.written, c.read), (0, 1, 1));
}

/// §9: a writer that waits on a full priority pipe is admitted when room
/// comes, and its message then takes its place by its priority.
pub fn pending_prio_writer_is_placed_by_its_priority<S: Substrate>(s: &mut S) {
    let pipe = create(s, Spec::new(8, 2).by_priority());
    put_prio(s, &pipe, b"a", 1);
    put_prio(s, &pipe, b"b", 1);
    let writer = s.spawn(Op::write_prio(pipe.clone(), b"c", 7));
    assert_pending(s, &writer, "a write to a full priority pipe");
    assert_eq!(counts(s, &pipe).pending_writers, 1);
    assert_eq!(take(s, &pipe), b"a");
    assert_eq!(s.join(writer).status, Status::Ok);
    assert_eq!(drain(s, &pipe), [b"c".to_vec(), b"b".to_vec()]);
}

/// §6: a process that does not own a pipe may not purge, close or destroy
/// it (`Denied`), and nothing changes; it may still write and read it.
pub fn stranger_may_not_purge_close_or_destroy<S: Processes>(s: &mut S) {
    let pipe = s
        .create_foreign(Spec::new(8, 2))
        .unwrap_or_else(|status| panic!("create a foreign pipe: {status:?}"));
    put(s, &pipe, b"kept");
    for admin in [Admin::Purge, Admin::Close, Admin::Destroy] {
        let refused = s.admin_as_user(admin, &pipe);
        assert_eq!(refused, Err(Status::Denied), "{admin:?} by a stranger");
    }
    let c = counts(s, &pipe);
    assert_eq!((c.queued, c.purged, c.closed), (1, 0, false), "{c:?}");
    put(s, &pipe, b"more");
    assert_eq!(take(s, &pipe), b"kept");
    assert_eq!(take(s, &pipe), b"more");
}

/// §3, §7: the kernel cancelling a thread's pending operation (a kill)
/// wakes it `Cancelled` and the operation never happens: a cancelled
/// reader takes nothing (the next message is queued, not lost to it), a
/// cancelled writer writes nothing, a cancelled select completes no
/// member; a second cancel finds nothing (`NotFound`).
pub fn cancel_ends_pending_op_cancelled_and_loses_nothing<S: Cancel>(s: &mut S) {
    let pipe = create(s, Spec::new(8, 1));
    let reader = s.spawn(Op::read(pipe.clone()));
    assert_pending(s, &reader, "a read of an empty pipe");
    assert_eq!(s.cancel(&reader), Ok(()));
    assert_eq!(s.cancel(&reader), Err(Status::NotFound), "one-shot");
    assert_eq!(s.join(reader).status, Status::Cancelled);
    assert_eq!(counts(s, &pipe).pending_readers, 0);
    put(s, &pipe, b"kept");
    assert_eq!(
        counts(s, &pipe).queued,
        1,
        "not lost to the cancelled reader"
    );

    let writer = s.spawn(Op::write(pipe.clone(), b"lost"));
    assert_pending(s, &writer, "a write to a full pipe");
    assert_eq!(s.cancel(&writer), Ok(()));
    assert_eq!(s.join(writer).status, Status::Cancelled);
    assert_eq!(take(s, &pipe), b"kept");
    assert_eq!(status_of(s, Op::try_read(pipe.clone())), Status::Empty);
    assert_eq!(
        counts(s, &pipe).written,
        1,
        "the cancelled write wrote nothing"
    );

    let (a, b) = (create(s, Spec::new(8, 1)), create(s, Spec::new(8, 1)));
    let select = s.spawn(select_read_members::<S>(&[&a, &b]));
    assert_pending(s, &select, "a select over two empty pipes");
    assert_eq!(s.cancel(&select), Ok(()));
    let out = s.join(select);
    assert_eq!(
        (out.status, out.index),
        (Status::Cancelled, None),
        "{out:?}"
    );
    put(s, &a, b"to a");
    put(s, &b, b"to b");
    let (ca, cb) = (counts(s, &a), counts(s, &b));
    assert_eq!((ca.queued, cb.queued), (1, 1), "no member happened");
}

/// §3: a thread waits for one thing at a time: one with a pending
/// operation that starts another gets `AlreadyPending`, and neither the
/// new operation nor the pending one is disturbed.
pub fn second_operation_of_pending_thread_is_already_pending<S: SameThread>(s: &mut S) {
    let (empty, full) = (create(s, Spec::new(8, 1)), create(s, Spec::new(8, 1)));
    put(s, &full, b"old");
    let reader = s.spawn(Op::read(empty.clone()));
    assert_pending(s, &reader, "a read of an empty pipe");
    for op in [
        Op::try_read(full.clone()),
        Op::try_write(empty.clone(), b"x"),
        Op::read(full.clone()),
    ] {
        let out = s.run_as(&reader, op.clone());
        assert_eq!(out.status, Status::AlreadyPending, "{op:?}: {out:?}");
    }
    let (ce, cf) = (counts(s, &empty), counts(s, &full));
    assert_eq!((ce.written, ce.pending_readers), (0, 1), "{ce:?}");
    assert_eq!((cf.queued, cf.read), (1, 0), "{cf:?}");
    assert_pending(s, &reader, "the first read");
    put(s, &empty, b"wake");
    assert_eq!(s.join(reader).message(), b"wake");
}

/// §9: a kernel write reports whether it woke a thread of priority above
/// the given one (an interrupt handler then reschedules).
pub fn wake_feedback<S: WakeFeedback>(s: &mut S) {
    let pipe = create(s, Spec::new(8, 2));
    assert_eq!(
        s.kernel_write_woke(&pipe, b"none", 0),
        Ok(false),
        "no waiter"
    );
    assert_eq!(take(s, &pipe), b"none");
    let high = s.spawn_at(Op::read(pipe.clone()), 5);
    assert_eq!(s.kernel_write_woke(&pipe, b"hi", 3), Ok(true), "5 above 3");
    assert_eq!(s.join(high).message(), b"hi");
    let low = s.spawn_at(Op::read(pipe.clone()), 2);
    assert_eq!(s.kernel_write_woke(&pipe, b"lo", 3), Ok(false), "2 below 3");
    assert_eq!(s.join(low).message(), b"lo");
    let equal = s.spawn_at(Op::read(pipe.clone()), 3);
    assert_eq!(
        s.kernel_write_woke(&pipe, b"eq", 3),
        Ok(false),
        "3 not above 3"
    );
    assert_eq!(s.join(equal).message(), b"eq");
}

#[cfg(test)]
mod tests {
    use crate::{Outcome, Status};

    #[test]
    #[should_panic(expected = "expected a message")]
    fn a_failed_outcome_has_no_message() {
        let _ = Outcome::status(Status::Empty).message();
    }
}
