//! DESIGN §9: select completes exactly one of its operations.

mod common;

use common::*;
use ipcm::{SELECT_MAX, SelectGroup, SelectOp, Selected};

/// A read member into the actor's buffers at `slot` (so members of one
/// select do not share buffers).
fn read(pipe: PipeId, slot: usize) -> SelectOp {
    SelectOp::Read {
        pipe,
        buf: UserAddr(DST + slot * 64),
        len_out: UserAddr(LEN + slot * 8),
    }
}

fn peek(pipe: PipeId, slot: usize) -> SelectOp {
    SelectOp::Peek {
        pipe,
        buf: UserAddr(DST + slot * 64),
        len_out: UserAddr(LEN + slot * 8),
    }
}

fn write(fx: &Fixture, actor: Actor, pipe: PipeId, slot: usize, msg: &[u8]) -> SelectOp {
    fx.kernel().poke(actor.pid, SRC + slot * 64, msg);
    SelectOp::Write {
        pipe,
        buf: UserAddr(SRC + slot * 64),
        len: msg.len(),
    }
}

fn got(fx: &Fixture, actor: Actor, slot: usize) -> Vec<u8> {
    let len = fx.kernel().peek_usize(actor.pid, LEN + slot * 8);
    fx.kernel().peek_memory(actor.pid, DST + slot * 64, len)
}

fn selected(index: usize, status: Status) -> Option<Selected> {
    Some(Selected {
        index: Some(index),
        status,
    })
}

#[test]
fn select_completes_the_first_ready_member_in_list_order_at_once() {
    let fx = Fixture::new();
    let actor = fx.actor();
    let group = SelectGroup::shared().unwrap();
    let (a, b, c) = (
        fx.pipe(8, 2, PipeFlags::empty()),
        fx.pipe(8, 2, PipeFlags::empty()),
        fx.pipe(8, 2, PipeFlags::empty()),
    );
    fx.ipcm.kernel_write(b, b"in b").unwrap();
    fx.ipcm.kernel_write(c, b"in c").unwrap();
    let done = done(
        fx.ipcm
            .select(&actor.tid, &group, &[read(a, 0), read(b, 1), read(c, 2)]),
    );
    assert_eq!(done, selected(1, Status::Ok).unwrap());
    assert_eq!(got(&fx, actor, 1), b"in b");
    assert_eq!(
        (fx.info(b).queued, fx.info(c).queued),
        (0, 1),
        "c untouched"
    );
    assert!(!fx.ipcm.is_pending(&actor.tid));
    assert!(fx.wakes().is_empty());
    assert_eq!(fx.info(a).pending_readers, 0, "a's member was withdrawn");
}

#[test]
fn select_waits_and_the_first_member_that_can_complete_completes_the_others_never_happen() {
    let fx = Fixture::new();
    let actor = fx.actor();
    let group = SelectGroup::shared().unwrap();
    let (a, b) = (
        fx.pipe(8, 2, PipeFlags::empty()),
        fx.pipe(8, 2, PipeFlags::empty()),
    );
    blocked(
        fx.ipcm
            .select(&actor.tid, &group, &[read(a, 0), read(b, 1)]),
    );
    assert!(fx.ipcm.is_pending(&actor.tid));
    assert_eq!(group.outcome(), None);
    fx.ipcm.kernel_write(b, b"second").unwrap();
    assert_eq!(fx.wakes(), [(actor.tid, Status::Ok)]);
    assert_eq!(group.outcome(), selected(1, Status::Ok));
    assert_eq!(got(&fx, actor, 1), b"second");
    // The member on `a` was withdrawn: a later write is queued, not
    // copied to the actor's buffer, and nobody is woken again.
    fx.kernel().poke(actor.pid, DST, b"untouched");
    fx.ipcm.kernel_write(a, b"first").unwrap();
    assert!(fx.wakes().is_empty());
    assert_eq!(fx.info(a).queued, 1);
    assert_eq!(fx.kernel().peek_memory(actor.pid, DST, 9), b"untouched");
    assert!(!fx.ipcm.is_pending(&actor.tid));
}

#[test]
fn select_whose_two_members_become_ready_together_completes_exactly_one() {
    let fx = Fixture::new();
    let actor = fx.actor();
    let group = SelectGroup::shared().unwrap();
    let (a, b) = (
        fx.pipe(8, 2, PipeFlags::empty()),
        fx.pipe(8, 2, PipeFlags::empty()),
    );
    blocked(
        fx.ipcm
            .select(&actor.tid, &group, &[read(a, 0), read(b, 1)]),
    );
    fx.ipcm.kernel_write(a, b"A").unwrap();
    fx.ipcm.kernel_write(b, b"B").unwrap();
    assert_eq!(fx.wakes(), [(actor.tid, Status::Ok)], "woken once");
    assert_eq!(group.outcome(), selected(0, Status::Ok));
    assert_eq!((fx.info(a).queued, fx.info(b).queued), (0, 1));
    assert_eq!(
        fx.drain(b),
        [b"B".to_vec()],
        "the other pipe still holds its message"
    );
}

#[test]
fn a_write_to_a_pipe_in_two_threads_selects_hands_off_to_exactly_one() {
    let fx = Fixture::new();
    let (t1, t2) = (fx.actor(), fx.actor());
    let (g1, g2) = (
        SelectGroup::shared().unwrap(),
        SelectGroup::shared().unwrap(),
    );
    let (shared, x, y) = (
        fx.pipe(8, 2, PipeFlags::empty()),
        fx.pipe(8, 2, PipeFlags::empty()),
        fx.pipe(8, 2, PipeFlags::empty()),
    );
    blocked(fx.ipcm.select(&t1.tid, &g1, &[read(x, 0), read(shared, 1)]));
    blocked(fx.ipcm.select(&t2.tid, &g2, &[read(shared, 0), read(y, 1)]));
    fx.ipcm.kernel_write(shared, b"one").unwrap();
    assert_eq!(fx.wakes(), [(t1.tid, Status::Ok)], "the oldest waiter");
    assert_eq!(g1.outcome(), selected(1, Status::Ok));
    assert_eq!(g2.outcome(), None);
    assert_eq!(fx.info(shared).queued, 0);
    fx.ipcm.kernel_write(shared, b"two").unwrap();
    assert_eq!(fx.wakes(), [(t2.tid, Status::Ok)]);
    assert_eq!(
        (got(&fx, t1, 1), got(&fx, t2, 0)),
        (b"one".to_vec(), b"two".to_vec())
    );
}

#[test]
fn a_select_write_member_completes_when_a_read_makes_room() {
    let fx = Fixture::new();
    let actor = fx.actor();
    let group = SelectGroup::shared().unwrap();
    let (full, empty) = (
        fx.pipe(8, 1, PipeFlags::empty()),
        fx.pipe(8, 1, PipeFlags::empty()),
    );
    fx.ipcm.kernel_write(full, b"old").unwrap();
    let ops = [read(empty, 0), write(&fx, actor, full, 1, b"new")];
    blocked(fx.ipcm.select(&actor.tid, &group, &ops));
    assert_eq!(fx.info(full).pending_writers, 1);
    assert_eq!(fx.drain(full), [b"old".to_vec(), b"new".to_vec()]);
    assert_eq!(fx.wakes(), [(actor.tid, Status::Ok)]);
    assert_eq!(group.outcome(), selected(1, Status::Ok));
    fx.ipcm.kernel_write(empty, b"later").unwrap();
    assert_eq!(fx.info(empty).queued, 1, "the read member was withdrawn");
}

#[test]
fn destroy_of_a_member_pipe_completes_the_select_with_that_member() {
    let fx = Fixture::new();
    let actor = fx.actor();
    let group = SelectGroup::shared().unwrap();
    let (a, b) = (
        fx.pipe(8, 2, PipeFlags::empty()),
        fx.pipe(8, 2, PipeFlags::empty()),
    );
    blocked(
        fx.ipcm
            .select(&actor.tid, &group, &[read(a, 0), read(b, 1)]),
    );
    fx.ipcm.destroy(Caller::Kernel, b).unwrap();
    assert_eq!(fx.wakes(), [(actor.tid, Status::Destroyed)]);
    assert_eq!(group.outcome(), selected(1, Status::Destroyed));
    fx.ipcm.kernel_write(a, b"x").unwrap();
    assert!(fx.wakes().is_empty());
    assert_eq!(fx.info(a).queued, 1);
}

#[test]
fn close_of_a_member_pipe_completes_the_select_with_closed() {
    let fx = Fixture::new();
    let actor = fx.actor();
    let group = SelectGroup::shared().unwrap();
    let (a, b) = (
        fx.pipe(8, 2, PipeFlags::empty()),
        fx.pipe(8, 2, PipeFlags::empty()),
    );
    blocked(
        fx.ipcm
            .select(&actor.tid, &group, &[read(a, 0), read(b, 1)]),
    );
    fx.ipcm.close(Caller::Kernel, a).unwrap();
    assert_eq!(fx.wakes(), [(actor.tid, Status::Closed)]);
    assert_eq!(group.outcome(), selected(0, Status::Closed));
    // And a closed member completes a new select at once.
    let done = done(
        fx.ipcm
            .select(&actor.tid, &group, &[read(b, 1), read(a, 0)]),
    );
    assert_eq!(done, selected(1, Status::Closed).unwrap());
}

#[test]
fn cancel_of_a_select_ends_the_whole_group() {
    let fx = Fixture::new();
    let actor = fx.actor();
    let group = SelectGroup::shared().unwrap();
    let (a, b) = (
        fx.pipe(8, 2, PipeFlags::empty()),
        fx.pipe(8, 2, PipeFlags::empty()),
    );
    let ticket = blocked(
        fx.ipcm
            .select(&actor.tid, &group, &[read(a, 0), read(b, 1)]),
    );
    fx.ipcm
        .cancel_op(&actor.tid, ticket, CancelReason::TimedOut)
        .unwrap();
    assert_eq!(fx.wakes(), [(actor.tid, Status::TimedOut)]);
    assert_eq!(
        group.outcome(),
        Some(Selected {
            index: None,
            status: Status::TimedOut
        })
    );
    assert!(!fx.ipcm.is_pending(&actor.tid));
    assert_eq!(
        fx.ipcm
            .cancel_op(&actor.tid, ticket, CancelReason::TimedOut),
        Err(Status::NotFound),
        "stale"
    );
    for pipe in [a, b] {
        fx.ipcm.kernel_write(pipe, b"x").unwrap();
        assert_eq!(fx.info(pipe).queued, 1);
    }
    assert!(fx.wakes().is_empty());
}

#[test]
fn a_select_may_name_one_pipe_twice() {
    let fx = Fixture::new();
    let actor = fx.actor();
    let group = SelectGroup::shared().unwrap();
    let pipe = fx.pipe(8, 2, PipeFlags::empty());
    blocked(
        fx.ipcm
            .select(&actor.tid, &group, &[peek(pipe, 0), read(pipe, 1)]),
    );
    fx.ipcm.kernel_write(pipe, b"m").unwrap();
    assert_eq!(fx.wakes(), [(actor.tid, Status::Ok)]);
    assert_eq!(
        group.outcome(),
        selected(0, Status::Ok),
        "the peek, served first"
    );
    assert_eq!(fx.info(pipe).queued, 1, "the read never happened");
}

#[test]
fn a_select_member_with_a_bad_buffer_completes_it_with_bad_address() {
    let fx = Fixture::new();
    let actor = fx.actor();
    let group = SelectGroup::shared().unwrap();
    let (a, b) = (
        fx.pipe(8, 2, PipeFlags::empty()),
        fx.pipe(8, 2, PipeFlags::empty()),
    );
    let bad = SelectOp::Read {
        pipe: a,
        buf: UserAddr(0x7000_0000),
        len_out: UserAddr(LEN),
    };
    blocked(fx.ipcm.select(&actor.tid, &group, &[bad, read(b, 1)]));
    fx.ipcm.kernel_write(a, b"x").unwrap();
    assert_eq!(fx.wakes(), [(actor.tid, Status::BadAddress)]);
    assert_eq!(group.outcome(), selected(0, Status::BadAddress));
    assert_eq!(fx.info(a).queued, 1, "the message went on to the queue");
}

#[test]
fn select_rejects_bad_lists_before_anything_happens() {
    let fx = Fixture::new();
    let actor = fx.actor();
    let group = SelectGroup::shared().unwrap();
    let pipe = fx.pipe(4, 2, PipeFlags::empty());
    assert_eq!(
        fx.ipcm.select(&actor.tid, &group, &[]),
        Err(Status::BadParam)
    );
    let many = vec![read(pipe, 0); SELECT_MAX + 1];
    assert_eq!(
        fx.ipcm.select(&actor.tid, &group, &many),
        Err(Status::BadParam)
    );
    assert_eq!(
        fx.ipcm.select(
            &actor.tid,
            &group,
            &[read(pipe, 0), read(PipeId::from_raw(999), 1)]
        ),
        Err(Status::NotFound)
    );
    assert_eq!(
        fx.ipcm.select(
            &actor.tid,
            &group,
            &[read(pipe, 0), write(&fx, actor, pipe, 1, b"too long")]
        ),
        Err(Status::TooLarge)
    );
    assert_eq!(fx.info(pipe).pending_readers, 0);
    // SELECT_MAX members are fine, and a pending thread cannot select.
    let max = vec![read(pipe, 0); SELECT_MAX];
    blocked(fx.ipcm.select(&actor.tid, &group, &max));
    assert_eq!(fx.info(pipe).pending_readers, SELECT_MAX);
    assert_eq!(
        fx.ipcm.select(&actor.tid, &group, &max),
        Err(Status::AlreadyPending)
    );
    fx.ipcm.kernel_write(pipe, b"x").unwrap();
    assert_eq!(fx.wakes(), [(actor.tid, Status::Ok)]);
    assert_eq!(fx.info(pipe).pending_readers, 0, "the other 15 withdrawn");
}

#[test]
fn a_select_whose_zero_depth_writer_a_faulting_reader_claimed_still_ends_by_its_timeout() {
    // Found by `lukos-sim check`: a read of a rendezvous pipe claims the
    // oldest pending writer, then its own buffer faults. A select writing
    // there (not as its first member) kept the claim and stayed pending,
    // its other members withdrawn: the select's ticket named a withdrawn
    // record, so no timeout, cancel or kill could end it.
    let fx = Fixture::new();
    let (selector, reader) = (fx.actor(), fx.actor());
    let group = SelectGroup::shared().unwrap();
    let (idle, rendezvous) = (
        fx.pipe(8, 2, PipeFlags::empty()),
        fx.pipe(8, 0, PipeFlags::empty()),
    );
    let ops = [read(idle, 0), write(&fx, selector, rendezvous, 1, b"hand")];
    let ticket = blocked(fx.ipcm.select(&selector.tid, &group, &ops));
    let bad = fx.ipcm.try_read(
        &reader.tid,
        rendezvous,
        UserAddr(0x9000_0000),
        UserAddr(LEN),
    );
    assert_eq!(bad, Err(Status::BadAddress));
    // Either the select ended already, or its timeout ends it now.
    let timed_out = fx
        .ipcm
        .cancel_op(&selector.tid, ticket, CancelReason::TimedOut);
    assert!(
        !fx.ipcm.is_pending(&selector.tid),
        "the select still waits (cancel_op: {timed_out:?}, wakes {:?})",
        fx.wakes()
    );
    assert_eq!(fx.wakes().len(), 1, "woken once: {:?}", fx.wakes());
}
