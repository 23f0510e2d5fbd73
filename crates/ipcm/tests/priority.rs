//! DESIGN §9: per-message priority (`PRIORITY_MESSAGES`): higher first,
//! FIFO within a priority, and how it meets urgent writes, discard-oldest,
//! peeks, sequence numbers, blocked writers and hand-off; one test per
//! behaviour, then a property test against a `BinaryHeap` reference.

mod common;
use std::collections::{BinaryHeap, VecDeque};

use common::*;
use ipcm::Received;
use proptest::prelude::*;

const PRIO: PipeFlags = PipeFlags::PRIORITY_MESSAGES;

fn write_prio(
    fx: &Fixture,
    actor: Actor,
    pipe: PipeId,
    msg: &[u8],
    prio: u8,
) -> Result<Progress<Written>, Status> {
    fx.kernel().poke(actor.pid, SRC, msg);
    fx.ipcm
        .write_prio(&actor.tid, pipe, UserAddr(SRC), msg.len(), prio)
}

fn try_write_prio(
    fx: &Fixture,
    actor: Actor,
    pipe: PipeId,
    msg: &[u8],
    prio: u8,
) -> Result<Written, Status> {
    fx.kernel().poke(actor.pid, SRC, msg);
    fx.ipcm
        .try_write_prio(&actor.tid, pipe, UserAddr(SRC), msg.len(), prio)
}

fn kernel_msgs(fx: &Fixture, pipe: PipeId, messages: &[(&[u8], u8)]) {
    for &(msg, prio) in messages {
        fx.ipcm.kernel_write_prio(pipe, msg, prio).unwrap();
    }
}

/// Every queued message, in read order, with its number, by `peek_at`.
fn peek_all(fx: &Fixture, pipe: PipeId) -> Vec<(Vec<u8>, u64)> {
    let mut buf = vec![0; fx.info(pipe).msg_size];
    (0..)
        .map_while(|index| {
            let Received { len, seq } = fx.ipcm.kernel_peek_at(pipe, index, &mut buf).ok()?;
            Some((buf[..len].to_vec(), seq))
        })
        .collect()
}

fn strings(messages: Vec<Vec<u8>>) -> Vec<String> {
    messages
        .into_iter()
        .map(|msg| String::from_utf8(msg).unwrap())
        .collect()
}

#[test]
fn priority_pipe_reads_higher_priority_first() {
    let fx = Fixture::new();
    let pipe = fx.pipe(8, 8, PRIO);
    kernel_msgs(
        &fx,
        pipe,
        &[(b"low", 1), (b"top", 255), (b"mid", 100), (b"zero", 0)],
    );
    assert_eq!(strings(fx.drain(pipe)), ["top", "mid", "low", "zero"]);
}

#[test]
fn priority_pipe_is_fifo_within_a_priority() {
    let fx = Fixture::new();
    let writer = fx.actor();
    let pipe = fx.pipe(8, 8, PRIO);
    for (msg, prio) in [(b"a1", 7), (b"b1", 3), (b"a2", 7), (b"b2", 3), (b"a3", 7)] {
        try_write_prio(&fx, writer, pipe, msg, prio).unwrap();
    }
    assert_eq!(strings(fx.drain(pipe)), ["a1", "a2", "a3", "b1", "b2"]);
}

#[test]
fn priority_pipe_try_read_sees_queued_messages() {
    // The ring of a priority pipe stays empty: a lock-free "empty" answer
    // would be wrong.
    let fx = Fixture::new();
    let (writer, reader) = (fx.actor(), fx.actor());
    let pipe = fx.pipe(8, 2, PRIO);
    try_write_prio(&fx, writer, pipe, b"x", 2).unwrap();
    fx.try_write(writer, pipe, b"y").unwrap();
    assert_eq!(fx.try_read(reader, pipe).unwrap(), b"x");
    assert_eq!(done(fx.peek(reader, pipe)), 1);
    assert_eq!(fx.try_read(reader, pipe).unwrap(), b"y");
    assert_eq!(fx.try_read(reader, pipe), Err(Status::Empty));
    try_write_prio(&fx, writer, pipe, b"1", 0).unwrap();
    try_write_prio(&fx, writer, pipe, b"2", 0).unwrap();
    assert_eq!(
        try_write_prio(&fx, writer, pipe, b"3", 9),
        Err(Status::Full)
    );
    assert_eq!(fx.info(pipe).queued, 2);
}

#[test]
fn priority_pipe_urgent_write_is_read_next_ahead_of_every_priority() {
    let fx = Fixture::new();
    let pipe = fx.pipe(8, 8, PRIO);
    kernel_msgs(&fx, pipe, &[(b"top", 255), (b"low", 0)]);
    fx.ipcm.kernel_write_urgent(pipe, b"urgent1").unwrap();
    fx.ipcm.kernel_write_urgent(pipe, b"urgent2").unwrap();
    kernel_msgs(&fx, pipe, &[(b"top2", 255)]);
    // Each urgent message goes in front (as on any pipe: the latest first).
    assert_eq!(
        strings(fx.drain(pipe)),
        ["urgent2", "urgent1", "top", "top2", "low"]
    );
}

#[test]
fn priority_pipe_discard_oldest_drops_the_lowest_number_whatever_its_priority() {
    let fx = Fixture::new();
    let pipe = fx.pipe(8, 3, PRIO | PipeFlags::DISCARD_OLDEST);
    kernel_msgs(
        &fx,
        pipe,
        &[(b"first", 200), (b"second", 1), (b"third", 50)],
    );
    let written = fx.ipcm.kernel_write_prio(pipe, b"fourth", 0).unwrap();
    assert!(written.dropped_oldest);
    assert_eq!(fx.info(pipe).dropped, 1);
    assert_eq!(strings(fx.drain(pipe)), ["third", "second", "fourth"]);
}

#[test]
fn priority_pipe_peek_at_and_peek_newer_follow_read_order() {
    let fx = Fixture::new();
    let pipe = fx.pipe(8, 8, PRIO);
    kernel_msgs(&fx, pipe, &[(b"c", 1), (b"a", 9), (b"d", 1), (b"b", 9)]);
    let order: Vec<_> = peek_all(&fx, pipe);
    assert_eq!(
        order,
        [
            (b"a".to_vec(), 2),
            (b"b".to_vec(), 4),
            (b"c".to_vec(), 1),
            (b"d".to_vec(), 3)
        ]
    );
    let mut buf = [0; 8];
    // The first in read order numbered above 2 is "b" (4), not "d" (3).
    let newer = fx.ipcm.kernel_peek_newer(pipe, 2, &mut buf).unwrap();
    assert_eq!((&buf[..newer.len], newer.seq), (&b"b"[..], 4));
    let newer = fx.ipcm.kernel_peek_newer(pipe, 3, &mut buf).unwrap();
    assert_eq!(newer.seq, 4);
    assert_eq!(
        fx.ipcm.kernel_peek_newer(pipe, 4, &mut buf),
        Err(Status::Empty)
    );
    assert_eq!(
        fx.ipcm.kernel_peek_at(pipe, 4, &mut buf),
        Err(Status::Empty)
    );
}

#[test]
fn priority_pipe_sequence_numbers_are_arrival_order() {
    let fx = Fixture::new();
    let pipe = fx.pipe(8, 8, PRIO);
    kernel_msgs(&fx, pipe, &[(b"1", 0), (b"2", 5), (b"3", 2)]);
    let mut buf = [0; 8];
    let seqs: Vec<u64> = (0..3)
        .map(|_| fx.ipcm.kernel_read_seq(pipe, &mut buf).unwrap().seq)
        .collect();
    assert_eq!(seqs, [2, 3, 1]);
}

#[test]
fn priority_pipe_pending_reader_takes_the_first_write_directly() {
    let fx = Fixture::new();
    let (reader, writer) = (fx.actor(), fx.actor());
    let pipe = fx.pipe(8, 4, PRIO);
    blocked(fx.read(reader, pipe));
    let written = done(write_prio(&fx, writer, pipe, b"low", 0));
    assert!(written.handed_off);
    assert_eq!(fx.wakes(), [(reader.tid, Status::Ok)]);
    assert_eq!(fx.received(reader), b"low");
    try_write_prio(&fx, writer, pipe, b"high", 9).unwrap();
    assert_eq!(fx.info(pipe).queued, 1, "only the second write is queued");
}

#[test]
fn priority_pipe_blocked_writers_are_admitted_fifo_then_ordered_by_priority() {
    let fx = Fixture::new();
    let (low, high, reader) = (fx.actor(), fx.actor(), fx.actor());
    let pipe = fx.pipe(8, 2, PRIO);
    kernel_msgs(&fx, pipe, &[(b"q1", 5), (b"q2", 5)]);
    blocked(write_prio(&fx, low, pipe, b"low", 1));
    blocked(write_prio(&fx, high, pipe, b"high", 200));
    // A read frees one slot: the first blocked writer (FIFO), not the one
    // with the higher message priority.
    assert_eq!(fx.try_read(reader, pipe).unwrap(), b"q1");
    assert_eq!(fx.wakes(), [(low.tid, Status::Ok)]);
    assert_eq!(fx.try_read(reader, pipe).unwrap(), b"q2");
    assert_eq!(fx.wakes(), [(high.tid, Status::Ok)]);
    // Once admitted, each message takes its place by priority.
    assert_eq!(strings(fx.drain(pipe)), ["high", "low"]);
}

#[test]
fn priority_pipe_purge_admits_pending_writers_at_their_priority() {
    let fx = Fixture::new();
    let (a, b) = (fx.actor(), fx.actor());
    let pipe = fx.pipe(8, 1, PRIO);
    kernel_msgs(&fx, pipe, &[(b"old", 3)]);
    blocked(write_prio(&fx, a, pipe, b"a", 1));
    blocked(write_prio(&fx, b, pipe, b"b", 7));
    assert_eq!(fx.ipcm.purge(Caller::Kernel, pipe), Ok(1));
    assert_eq!(fx.wakes(), [(a.tid, Status::Ok)]);
    // Reading "a" admits "b".
    assert_eq!(strings(fx.drain(pipe)), ["a", "b"]);
    assert_eq!(fx.wakes(), [(b.tid, Status::Ok)]);
    let info = fx.info(pipe);
    assert_eq!((info.written, info.read, info.purged), (3, 2, 1));
}

#[test]
fn priority_messages_on_a_rendezvous_pipe_is_bad_param() {
    let fx = Fixture::new();
    assert_eq!(
        fx.ipcm.create(Caller::Kernel, None, 8, 0, PRIO),
        Err(Status::BadParam)
    );
}

#[test]
fn message_priority_on_a_plain_pipe_is_bad_param_except_zero() {
    let fx = Fixture::new();
    let writer = fx.actor();
    let pipe = fx.pipe(8, 2, PipeFlags::empty());
    assert_eq!(
        try_write_prio(&fx, writer, pipe, b"x", 1),
        Err(Status::BadParam)
    );
    assert_eq!(
        fx.ipcm.kernel_write_prio(pipe, b"x", 1),
        Err(Status::BadParam)
    );
    assert_eq!(fx.info(pipe).queued, 0);
    try_write_prio(&fx, writer, pipe, b"zero", 0).unwrap();
    assert_eq!(strings(fx.drain(pipe)), ["zero"]);
}

#[test]
fn priority_pipe_destroy_wakes_writers_and_frees_messages() {
    let fx = Fixture::new();
    let writer = fx.actor();
    let pipe = fx.pipe(8, 1, PRIO);
    kernel_msgs(&fx, pipe, &[(b"q", 3)]);
    blocked(write_prio(&fx, writer, pipe, b"w", 1));
    fx.ipcm.destroy(Caller::Kernel, pipe).unwrap();
    assert_eq!(fx.wakes(), [(writer.tid, Status::Destroyed)]);
    assert_eq!(
        fx.ipcm.kernel_write_prio(pipe, b"x", 1),
        Err(Status::NotFound)
    );
}

// --- model check ---------------------------------------------------------

#[derive(Clone, Debug)]
enum Op {
    /// Writer `actor` writes at `prio` (urgent: `write_urgent`), blocking
    /// when full.
    Write {
        actor: usize,
        prio: u8,
        urgent: bool,
    },
    /// The reader reads, blocking when empty.
    Read,
    TryRead,
    PeekAt(usize),
    PeekNewer(u64),
    Purge,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3usize, 0..4u8, prop::bool::weighted(0.15))
            .prop_map(|(actor, prio, urgent)| Op::Write { actor, prio, urgent }),
        2 => Just(Op::Read),
        2 => Just(Op::TryRead),
        1 => (0..5usize).prop_map(Op::PeekAt),
        1 => (0..20u64).prop_map(Op::PeekNewer),
        1 => Just(Op::Purge),
    ]
}

/// A queued message of the reference: ordered by priority (urgent above
/// every priority), then urgent ones newest first, others oldest first.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    urgent: bool,
    prio: u8,
    rank: i64,
    seq: u64,
    msg: Vec<u8>,
}

impl Entry {
    fn new(msg: Vec<u8>, prio: u8, urgent: bool, seq: u64) -> Self {
        let rank = if urgent { seq as i64 } else { -(seq as i64) };
        Entry {
            urgent,
            // `write_urgent` carries no priority.
            prio: if urgent { 0 } else { prio },
            rank,
            seq,
            msg,
        }
    }
}

struct Model {
    queue: BinaryHeap<Entry>,
    capacity: usize,
    discard: bool,
    written: u64,
    /// Blocked writers, oldest first: (actor, message, prio, urgent).
    writers: VecDeque<(usize, Vec<u8>, u8, bool)>,
    reader_waits: bool,
}

impl Model {
    fn sorted(&self) -> Vec<Entry> {
        let mut all = self.queue.clone().into_sorted_vec();
        all.reverse();
        all
    }

    fn push(&mut self, msg: Vec<u8>, prio: u8, urgent: bool) {
        self.written += 1;
        self.queue.push(Entry::new(msg, prio, urgent, self.written));
    }

    /// Admit blocked writers while there is room; returns the admitted.
    fn admit(&mut self) -> Vec<usize> {
        let mut admitted = Vec::new();
        while self.queue.len() < self.capacity {
            let Some((actor, msg, prio, urgent)) = self.writers.pop_front() else {
                break;
            };
            self.push(msg, prio, urgent);
            admitted.push(actor);
        }
        admitted
    }
}

fn run(ops: &[Op], capacity: usize, discard: bool) -> Result<(), TestCaseError> {
    let fx = Fixture::new();
    let writers = [fx.actor(), fx.actor(), fx.actor()];
    let reader = fx.actor();
    let mut flags = PRIO;
    if discard {
        flags |= PipeFlags::DISCARD_OLDEST;
    }
    let pipe = fx.pipe(8, capacity, flags);
    let mut model = Model {
        queue: BinaryHeap::new(),
        capacity,
        discard,
        written: 0,
        writers: VecDeque::new(),
        reader_waits: false,
    };
    let mut next = 0u32;
    let mut buf = [0; 8];
    for op in ops {
        match *op {
            Op::Write {
                actor,
                prio,
                urgent,
            } => {
                if model.writers.iter().any(|w| w.0 == actor) {
                    continue;
                }
                next += 1;
                let msg = next.to_le_bytes().to_vec();
                let who = writers[actor];
                fx.kernel().poke(who.pid, SRC, &msg);
                let got = if urgent {
                    fx.ipcm
                        .write_urgent(&who.tid, pipe, UserAddr(SRC), msg.len())
                } else {
                    fx.ipcm
                        .write_prio(&who.tid, pipe, UserAddr(SRC), msg.len(), prio)
                };
                if model.reader_waits {
                    model.reader_waits = false;
                    model.written += 1;
                    prop_assert!(matches!(got, Ok(Progress::Done(w)) if w.handed_off));
                    prop_assert_eq!(fx.wakes(), vec![(reader.tid, Status::Ok)]);
                    prop_assert_eq!(fx.received(reader), msg);
                } else if model.queue.len() >= capacity && !model.discard {
                    prop_assert!(matches!(got, Ok(Progress::Blocked(_))), "{:?}", got);
                    model.writers.push_back((actor, msg, prio, urgent));
                } else {
                    let full = model.queue.len() >= capacity;
                    if full {
                        let oldest = model.queue.iter().map(|e| e.seq).min().unwrap();
                        model.queue.retain(|e| e.seq != oldest);
                    }
                    model.push(msg, prio, urgent);
                    prop_assert!(matches!(got, Ok(Progress::Done(w)) if w.dropped_oldest == full));
                }
            }
            Op::Read | Op::TryRead => {
                if model.reader_waits {
                    continue;
                }
                let blocking = matches!(op, Op::Read);
                let got = if blocking {
                    fx.ipcm.read_seq(
                        &reader.tid,
                        pipe,
                        UserAddr(DST),
                        UserAddr(LEN),
                        UserAddr(LEN + 64),
                    )
                } else {
                    fx.ipcm.kernel_read_seq(pipe, &mut buf).map(Progress::Done)
                };
                match model.queue.pop() {
                    Some(front) => {
                        let received = match got {
                            Ok(Progress::Done(received)) => received,
                            other => return Err(TestCaseError::fail(format!("{other:?}"))),
                        };
                        prop_assert_eq!(received.seq, front.seq);
                        let msg = if blocking {
                            fx.received(reader)
                        } else {
                            buf[..received.len].to_vec()
                        };
                        prop_assert_eq!(msg, front.msg);
                        let admitted: Vec<_> = model
                            .admit()
                            .into_iter()
                            .map(|a| (writers[a].tid, Status::Ok))
                            .collect();
                        prop_assert_eq!(fx.wakes(), admitted);
                    }
                    None if blocking => {
                        prop_assert!(matches!(got, Ok(Progress::Blocked(_))), "{:?}", got);
                        model.reader_waits = true;
                    }
                    None => prop_assert_eq!(got, Err(Status::Empty)),
                }
            }
            Op::PeekAt(index) => {
                let got = fx.ipcm.kernel_peek_at(pipe, index, &mut buf);
                match model.sorted().get(index) {
                    Some(entry) => {
                        let received = got.map_err(|s| TestCaseError::fail(format!("{s:?}")))?;
                        prop_assert_eq!(received.seq, entry.seq);
                        prop_assert_eq!(&buf[..received.len], &entry.msg[..]);
                    }
                    None => prop_assert_eq!(got, Err(Status::Empty)),
                }
            }
            Op::PeekNewer(after) => {
                let got = fx.ipcm.kernel_peek_newer(pipe, after, &mut buf);
                match model.sorted().into_iter().find(|e| e.seq > after) {
                    Some(entry) => {
                        let received = got.map_err(|s| TestCaseError::fail(format!("{s:?}")))?;
                        prop_assert_eq!(received.seq, entry.seq);
                        prop_assert_eq!(&buf[..received.len], &entry.msg[..]);
                    }
                    None => prop_assert_eq!(got, Err(Status::Empty)),
                }
            }
            Op::Purge => {
                let dropped = model.queue.len();
                model.queue.clear();
                prop_assert_eq!(fx.ipcm.purge(Caller::Kernel, pipe), Ok(dropped));
                let admitted: Vec<_> = model
                    .admit()
                    .into_iter()
                    .map(|a| (writers[a].tid, Status::Ok))
                    .collect();
                prop_assert_eq!(fx.wakes(), admitted);
            }
        }
        let info = fx.info(pipe);
        prop_assert_eq!(info.queued, model.queue.len());
        prop_assert_eq!(info.written, model.written);
        prop_assert_eq!(info.pending_writers, model.writers.len());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn priority_pipe_matches_a_binary_heap_by_priority_then_number(
        ops in prop::collection::vec(op(), 1..120),
        capacity in 1..5usize,
        discard in any::<bool>(),
    ) {
        run(&ops, capacity, discard)?;
    }
}
