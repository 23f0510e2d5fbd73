//! The DESIGN §9 system calls of the simulated kernel: select (one member
//! completes, the others never happen; bad lists and bad members are
//! statuses), urgent write, purge, close, numbered reads, peek-newer,
//! indexed peek, zero-depth pipes and the kernel's wake feedback.

use std::cell::RefCell;
use std::rc::Rc;

use ipcm::{Caller, PipeFlags, PipeId, Priority, ProcessId, SELECT_MAX, Status};
use lukos_sim::{
    BlockedOn, ExitReason, IpcCall, IpcValue, PAGE_SIZE, Perm, SchedConfig, SelectEntry, Sim, Step,
    Sys, ThreadState, UserError, Wait,
};

const DATA: usize = 0x10000;
const BUF: usize = DATA + 0x200;
const LEN: usize = DATA + 0x300;
const SEQ: usize = DATA + 0x380;
const LIST: usize = DATA + 0x400;
const MSG: usize = DATA + 0x800;
const UNMAPPED: usize = 0x90_0000;

fn process(sim: &mut Sim, name: &str) -> ProcessId {
    let pid = sim.create_process(name);
    sim.map(pid, DATA, 2 * PAGE_SIZE, Perm::ReadWrite);
    pid
}

fn kernel_pipe(sim: &Sim, name: &str, max_msgs: usize) -> PipeId {
    sim.ipcm()
        .create(Caller::Kernel, Some(name), 16, max_msgs, PipeFlags::empty())
        .expect("created")
}

fn returned(sim: &Sim) -> bool {
    sim.tids()
        .all(|tid| *sim.state(tid) == ThreadState::Exited(ExitReason::Returned))
}

fn read_entry(id: PipeId, k: usize) -> SelectEntry {
    SelectEntry::Read {
        id: id.to_raw(),
        dst: BUF + 0x20 * k,
        len_out: LEN + 8 * k,
    }
}

fn kernel_write(sim: &mut Sim, id: PipeId, msg: &[u8]) {
    let outcome = sim.ipc(IpcCall::KernelWrite { id, msg });
    assert!(outcome.is_ok(), "{outcome:?}");
}

fn queued(sim: &Sim, id: PipeId) -> usize {
    sim.ipcm().info(id).expect("live").queued
}

/// What a select answered: the member's index and its status.
type Selected = (Option<usize>, Status);

/// What a thread's select answered.
type Answer = Rc<RefCell<Option<Selected>>>;

/// A message and its number.
type Numbered = (Vec<u8>, u64);

/// Spawn a thread that selects once over `members` and records the answer
/// (and, for an `Ok` read member, checks nothing else: the test does).
fn selector(sim: &mut Sim, members: Vec<SelectEntry>, wait: Wait) -> (Answer, ProcessId) {
    let pid = process(sim, "selector");
    let answer: Answer = Rc::default();
    let out = answer.clone();
    sim.spawn(pid, "selector", 1, move |sys: Sys| async move {
        *out.borrow_mut() = Some(sys.pipe_select(LIST, &members, wait).await?);
        Ok(())
    });
    (answer, pid)
}

fn message_at(sim: &Sim, pid: ProcessId, k: usize) -> Vec<u8> {
    sim.machine().with_space(pid, |space| {
        let mut len = [0u8; 8];
        space.read(LEN + 8 * k, &mut len).expect("mapped");
        let mut msg = vec![0; usize::from_ne_bytes(len)];
        space.read(BUF + 0x20 * k, &mut msg).expect("mapped");
        msg
    })
}

#[test]
fn a_blocked_select_completes_the_member_written_and_the_other_never_happens() {
    let mut sim = Sim::new(1, SchedConfig::default());
    let (a, b) = (kernel_pipe(&sim, "a", 2), kernel_pipe(&sim, "b", 2));
    let (answer, pid) = selector(
        &mut sim,
        vec![read_entry(a, 0), read_entry(b, 1)],
        Wait::Forever,
    );
    assert_eq!(sim.run(100), Step::Stuck);
    assert!(matches!(
        sim.state(sim.tids().next().expect("one thread")),
        ThreadState::Blocked(BlockedOn::Select { .. })
    ));
    assert_eq!(sim.blocked_on_pipes().len(), 2, "one entry per member");
    kernel_write(&mut sim, b, b"to b");
    kernel_write(&mut sim, a, b"to a");
    assert_eq!(sim.run(100), Step::Finished);
    assert_eq!(*answer.borrow(), Some((Some(1), Status::Ok)));
    assert_eq!(message_at(&sim, pid, 1), b"to b");
    assert_eq!(queued(&sim, a), 1, "the withdrawn read of a never happened");
    assert_eq!(sim.ipcm().info(a).expect("live").pending_readers, 0);
}

#[test]
fn a_select_with_two_ready_members_completes_the_first_and_leaves_the_other_queued() {
    let mut sim = Sim::new(2, SchedConfig::default());
    let (a, b) = (kernel_pipe(&sim, "a", 2), kernel_pipe(&sim, "b", 2));
    kernel_write(&mut sim, a, b"in a");
    kernel_write(&mut sim, b, b"in b");
    let (answer, pid) = selector(
        &mut sim,
        vec![read_entry(b, 0), read_entry(a, 1)],
        Wait::Forever,
    );
    assert_eq!(sim.run(100), Step::Finished);
    assert_eq!(*answer.borrow(), Some((Some(0), Status::Ok)));
    assert_eq!(message_at(&sim, pid, 0), b"in b");
    assert_eq!((queued(&sim, a), queued(&sim, b)), (1, 0));
}

#[test]
fn a_bad_select_list_is_a_status_with_no_member() {
    let mut sim = Sim::new(3, SchedConfig::default());
    let a = kernel_pipe(&sim, "a", 2);
    let pid = process(&mut sim, "p");
    let answers: Rc<RefCell<Vec<Selected>>> = Rc::default();
    let out = answers.clone();
    sim.spawn(pid, "p", 1, move |sys| async move {
        let members = vec![read_entry(a, 0); SELECT_MAX + 1];
        sys.store_select(LIST, &members)?;
        let mut got = Vec::new();
        got.push(sys.pipe_select_raw(LIST, 0, Wait::Forever).await);
        got.push(
            sys.pipe_select_raw(LIST, SELECT_MAX + 1, Wait::Forever)
                .await,
        );
        got.push(sys.pipe_select_raw(UNMAPPED, 1, Wait::Forever).await);
        // A list running into unmapped memory.
        got.push(
            sys.pipe_select_raw(DATA + 2 * PAGE_SIZE - 16, 1, Wait::Forever)
                .await,
        );
        sys.store_usize(LIST, 9)?; // an unknown kind
        got.push(sys.pipe_select_raw(LIST, 1, Wait::Forever).await);
        let stale = read_entry(PipeId::from_raw(12345), 0);
        got.push(sys.pipe_select(LIST, &[stale], Wait::Forever).await?);
        out.borrow_mut().extend(got);
        Ok(())
    });
    assert_eq!(sim.run(100), Step::Finished);
    assert!(returned(&sim));
    let statuses: Vec<Status> = answers.borrow().iter().map(|(_, s)| *s).collect();
    assert_eq!(
        statuses,
        [
            Status::BadParam,
            Status::BadParam,
            Status::BadAddress,
            Status::BadAddress,
            Status::BadParam,
            Status::NotFound
        ]
    );
    assert!(answers.borrow().iter().all(|(index, _)| index.is_none()));
}

#[test]
fn a_bad_buffer_on_one_member_fails_that_member_and_the_message_stays_queued() {
    let mut sim = Sim::new(4, SchedConfig::default());
    let (a, b) = (kernel_pipe(&sim, "a", 2), kernel_pipe(&sim, "b", 2));
    let bad = SelectEntry::Read {
        id: a.to_raw(),
        dst: UNMAPPED,
        len_out: LEN,
    };
    let (answer, _) = selector(&mut sim, vec![bad, read_entry(b, 1)], Wait::Forever);
    assert_eq!(sim.run(100), Step::Stuck);
    kernel_write(&mut sim, a, b"to a");
    assert_eq!(sim.run(100), Step::Finished);
    assert_eq!(*answer.borrow(), Some((Some(0), Status::BadAddress)));
    assert_eq!(queued(&sim, a), 1, "nobody took it");
    kernel_write(&mut sim, b, b"to b");
    assert_eq!(queued(&sim, b), 1, "the other member was withdrawn");
}

#[test]
fn destroying_or_closing_one_member_ends_the_select_with_that_member() {
    for close in [false, true] {
        let mut sim = Sim::new(5, SchedConfig::default());
        let (a, b) = (kernel_pipe(&sim, "a", 2), kernel_pipe(&sim, "b", 2));
        let (answer, _) = selector(
            &mut sim,
            vec![read_entry(a, 0), read_entry(b, 1)],
            Wait::Forever,
        );
        assert_eq!(sim.run(100), Step::Stuck);
        let (call, status) = if close {
            (
                IpcCall::Close {
                    caller: None,
                    id: b,
                },
                Status::Closed,
            )
        } else {
            (
                IpcCall::Destroy {
                    caller: None,
                    id: b,
                },
                Status::Destroyed,
            )
        };
        assert_eq!(sim.ipc(call), Ok(IpcValue::Done));
        assert_eq!(sim.run(100), Step::Finished);
        assert_eq!(*answer.borrow(), Some((Some(1), status)));
        kernel_write(&mut sim, a, b"to a");
        assert_eq!(queued(&sim, a), 1, "the read of a never happened");
    }
}

#[test]
fn a_select_timeout_ends_the_whole_group() {
    let mut sim = Sim::new(6, SchedConfig::default());
    let (a, b) = (kernel_pipe(&sim, "a", 2), kernel_pipe(&sim, "b", 2));
    let (answer, _) = selector(
        &mut sim,
        vec![read_entry(a, 0), read_entry(b, 1)],
        Wait::Ticks(30),
    );
    assert_eq!(sim.run(1000), Step::Finished);
    assert_eq!(*answer.borrow(), Some((None, Status::TimedOut)));
    assert_eq!((sim.stats().timeouts, sim.stats().select_timeouts), (1, 1));
    assert!(sim.machine().now() >= 30);
    kernel_write(&mut sim, a, b"late");
    kernel_write(&mut sim, b, b"late");
    assert_eq!((queued(&sim, a), queued(&sim, b)), (1, 1));
}

#[test]
fn a_select_that_cannot_complete_now_with_wait_never_times_out_at_once() {
    let mut sim = Sim::new(7, SchedConfig::default());
    let a = kernel_pipe(&sim, "a", 2);
    let (answer, _) = selector(&mut sim, vec![read_entry(a, 0)], Wait::Never);
    assert_eq!(sim.run(100), Step::Finished);
    assert_eq!(*answer.borrow(), Some((None, Status::TimedOut)));
    assert!(!sim.ipcm().is_pending(&sim.tids().next().expect("one")));
}

#[test]
fn killing_a_thread_blocked_in_a_select_withdraws_every_member() {
    let mut sim = Sim::new(8, SchedConfig::default());
    let (a, b) = (kernel_pipe(&sim, "a", 2), kernel_pipe(&sim, "b", 2));
    let (answer, _) = selector(
        &mut sim,
        vec![read_entry(a, 0), read_entry(b, 1)],
        Wait::Forever,
    );
    assert_eq!(sim.run(100), Step::Stuck);
    let tid = sim.tids().next().expect("one");
    assert!(sim.kill(tid));
    assert!(sim.anomalies().is_empty(), "{:?}", sim.anomalies());
    assert!(!sim.ipcm().is_pending(&tid));
    kernel_write(&mut sim, a, b"x");
    kernel_write(&mut sim, b, b"y");
    assert_eq!((queued(&sim, a), queued(&sim, b)), (1, 1));
    assert_eq!(*answer.borrow(), None);
}

#[test]
fn a_select_write_member_hands_off_to_a_reader_and_reports_its_index() {
    let mut sim = Sim::new(9, SchedConfig::default());
    let (full, open) = (kernel_pipe(&sim, "full", 1), kernel_pipe(&sim, "open", 1));
    kernel_write(&mut sim, full, b"full");
    let pid = process(&mut sim, "w");
    let answer: Answer = Rc::default();
    let out = answer.clone();
    sim.spawn(pid, "w", 1, move |sys| async move {
        sys.store(MSG, b"via select")?;
        let members = [
            SelectEntry::Write {
                id: full.to_raw(),
                src: MSG,
                len: 10,
            },
            SelectEntry::Write {
                id: open.to_raw(),
                src: MSG,
                len: 10,
            },
        ];
        *out.borrow_mut() = Some(sys.pipe_select(LIST, &members, Wait::Forever).await?);
        Ok(())
    });
    assert_eq!(sim.run(100), Step::Finished);
    assert_eq!(*answer.borrow(), Some((Some(1), Status::Ok)));
    let mut buf = [0u8; 16];
    let len = sim.ipcm().kernel_read(open, &mut buf).expect("queued");
    assert_eq!(&buf[..len], b"via select");
    assert_eq!(queued(&sim, full), 1, "the full member wrote nothing");
}

/// Run one thread's `body` in a fresh sim with pipe `p` (depth `depth`,
/// owned by the thread's process); returns the sim after it ends.
fn run_one<F, Fut>(depth: usize, body: F) -> Sim
where
    F: FnOnce(Sys, PipeId) -> Fut + 'static,
    Fut: std::future::Future<Output = Result<(), UserError>> + 'static,
{
    let mut sim = Sim::new(10, SchedConfig::default());
    let pid = process(&mut sim, "p");
    sim.spawn(pid, "p", 1, move |sys| async move {
        let id = sys.pipe_create(0, 16, depth, 0).await?;
        body(sys, id).await
    });
    assert_eq!(sim.run(1000), Step::Finished);
    let states: Vec<_> = sim.tids().map(|t| sim.state(t).clone()).collect();
    assert!(returned(&sim), "{states:?}");
    sim
}

fn check(ok: bool, what: &str) -> Result<(), UserError> {
    if ok {
        Ok(())
    } else {
        Err(UserError::Check(what.into()))
    }
}

async fn write(sys: &Sys, id: PipeId, msg: &[u8], urgent: bool) -> Result<(), UserError> {
    sys.store(MSG, msg)?;
    if urgent {
        sys.pipe_write_urgent(id, MSG, msg.len(), Wait::Never)
            .await?;
    } else {
        sys.pipe_write_with(id, MSG, msg.len(), Wait::Never).await?;
    }
    Ok(())
}

async fn read(sys: &Sys, id: PipeId) -> Result<Numbered, UserError> {
    sys.pipe_read_seq(id, BUF, LEN, SEQ, true, Wait::Ticks(0))
        .await?;
    let len = sys.load_usize(LEN)?;
    let seq = u64::from_ne_bytes(sys.load(SEQ, 8)?.try_into().expect("8 bytes"));
    Ok((sys.load(BUF, len)?, seq))
}

#[test]
fn an_urgent_write_is_read_next_and_every_message_carries_its_number() {
    run_one(4, |sys, id| async move {
        write(&sys, id, b"one", false).await?;
        write(&sys, id, b"two", false).await?;
        write(&sys, id, b"now", true).await?;
        check(
            read(&sys, id).await? == (b"now".to_vec(), 3),
            "urgent first",
        )?;
        check(read(&sys, id).await? == (b"one".to_vec(), 1), "then FIFO")?;
        check(read(&sys, id).await? == (b"two".to_vec(), 2), "then FIFO")?;
        let never = sys
            .pipe_read_seq(id, BUF, LEN, SEQ, true, Wait::Never)
            .await;
        check(
            never == Err(Status::BadParam),
            "no try form reports numbers",
        )
    });
}

#[test]
fn purge_drops_the_queue_and_answers_how_many() {
    let sim = run_one(4, |sys, id| async move {
        write(&sys, id, b"a", false).await?;
        write(&sys, id, b"b", false).await?;
        check(sys.pipe_purge(id).await? == 2, "two dropped")?;
        let empty = sys.pipe_read_with(id, BUF, LEN, true, Wait::Never).await;
        check(empty == Err(Status::Empty), "nothing left")
    });
    let purged: u64 = sim.pipes().values().map(|p| p.info.purged).sum();
    assert_eq!(purged, 2);
}

#[test]
fn close_lets_readers_drain_then_fails_with_closed() {
    run_one(4, |sys, id| async move {
        write(&sys, id, b"last", false).await?;
        sys.pipe_close(id).await?;
        check(
            sys.pipe_close(id).await == Err(Status::Closed),
            "closed once",
        )?;
        let write_now = sys.pipe_write_with(id, MSG, 1, Wait::Forever).await;
        check(write_now == Err(Status::Closed), "writes fail")?;
        check(read(&sys, id).await?.0 == b"last", "drains")?;
        let after = sys.pipe_read_with(id, BUF, LEN, true, Wait::Forever).await;
        check(
            after == Err(Status::Closed),
            "then closed, without blocking",
        )
    });
}

#[test]
fn peek_at_indexes_from_the_front_and_is_empty_past_the_end() {
    run_one(4, |sys, id| async move {
        write(&sys, id, b"zero", false).await?;
        write(&sys, id, b"one", false).await?;
        sys.pipe_peek_at(id, 1, BUF, LEN, SEQ).await?;
        let len = sys.load_usize(LEN)?;
        check(sys.load(BUF, len)? == b"one", "index 1")?;
        let past = sys.pipe_peek_at(id, 2, BUF, LEN, SEQ).await;
        check(past == Err(Status::Empty), "past the end")?;
        let bad = sys.pipe_peek_at(id, 0, BUF, LEN, UNMAPPED).await;
        check(bad == Err(Status::BadAddress), "seq_out is checked")
    });
}

#[test]
fn a_peek_newer_waiter_is_woken_by_the_next_write_and_not_before() {
    let mut sim = Sim::new(11, SchedConfig::default());
    let id = kernel_pipe(&sim, "board", 1);
    sim.ipcm().kernel_write(id, b"old").expect("written"); // number 1
    let pid = process(&mut sim, "watcher");
    let seen: Rc<RefCell<Option<Numbered>>> = Rc::default();
    let out = seen.clone();
    sim.spawn(pid, "watcher", 1, move |sys| async move {
        sys.pipe_peek_newer(id, 1, BUF, LEN, SEQ, Wait::Forever)
            .await?;
        let len = sys.load_usize(LEN)?;
        let seq = u64::from_ne_bytes(sys.load(SEQ, 8)?.try_into().expect("8 bytes"));
        *out.borrow_mut() = Some((sys.load(BUF, len)?, seq));
        Ok(())
    });
    assert_eq!(sim.run(100), Step::Stuck, "message 1 is not newer than 1");
    let write = |msg: &'static [u8]| IpcCall::KernelWrite { id, msg };
    // A discard-oldest board would be the usual blackboard; a full depth-1
    // pipe refuses the kernel's write, so the watcher still waits.
    assert_eq!(sim.ipc(write(b"refused")), Err(Status::Full));
    assert_eq!(sim.run(100), Step::Stuck);
    sim.ipcm().kernel_read(id, &mut [0u8; 16]).expect("drained");
    assert!(sim.ipc(write(b"fresh")).is_ok());
    assert_eq!(sim.run(100), Step::Finished);
    assert_eq!(*seen.borrow(), Some((b"fresh".to_vec(), 2)));
}

#[test]
fn a_zero_depth_pipe_passes_messages_only_hand_to_hand() {
    let mut sim = Sim::new(12, SchedConfig::default());
    let id = kernel_pipe(&sim, "rendezvous", 0);
    let pid = process(&mut sim, "p");
    let got: Rc<RefCell<Vec<u8>>> = Rc::default();
    let out = got.clone();
    sim.spawn(pid, "writer", 1, move |sys| async move {
        sys.store(MSG, b"hand")?;
        let alone = sys.pipe_write_with(id, MSG, 4, Wait::Never).await;
        check(alone == Err(Status::Full), "no reader: full")?;
        sys.pipe_write(id, MSG, 4).await?;
        Ok(())
    });
    sim.spawn(pid, "reader", 1, move |sys| async move {
        sys.sleep(20).await;
        sys.pipe_read(id, BUF + 0x100, LEN + 0x40).await?;
        let len = sys.load_usize(LEN + 0x40)?;
        *out.borrow_mut() = sys.load(BUF + 0x100, len)?;
        Ok(())
    });
    assert_eq!(sim.run(1000), Step::Finished);
    assert!(returned(&sim));
    assert_eq!(*got.borrow(), b"hand");
    assert_eq!(queued(&sim, id), 0);
}

#[test]
fn kernel_write_woke_reports_a_woken_thread_of_higher_priority() {
    for (than, higher) in [(1, true), (2, false)] {
        let mut sim = Sim::new(13, SchedConfig::default());
        let id = kernel_pipe(&sim, "irq", 2);
        let pid = process(&mut sim, "driver");
        sim.spawn(pid, "driver", 2, move |sys| async move {
            sys.pipe_read(id, BUF, LEN).await?;
            Ok(())
        });
        assert_eq!(sim.run(100), Step::Stuck);
        let outcome = sim.ipc(IpcCall::KernelWriteWoke {
            id,
            msg: b"irq",
            than: Priority(than),
        });
        match outcome {
            Ok(IpcValue::WokeWritten(woke)) => assert_eq!(woke.higher_priority, higher),
            other => panic!("{other:?}"),
        }
        assert_eq!(sim.run(100), Step::Finished);
    }
}

#[test]
fn peek_newer_finds_an_urgent_message_queued_in_front_of_older_ones() {
    // DESIGN §9: peek_newer(after) returns the oldest queued message
    // numbered above `after`. An urgent write is numbered when accepted and
    // goes to the front, so the newest number need not be at the back
    // (found by `check`; the core looked at the back only).
    let sim = Sim::new(14, SchedConfig::default());
    let id = kernel_pipe(&sim, "p", 4);
    sim.ipcm().kernel_write(id, b"first").expect("written"); // number 1
    sim.ipcm()
        .kernel_write_urgent(id, b"urgent")
        .expect("written"); // number 2
    let mut buf = [0u8; 16];
    let newer = sim.ipcm().kernel_peek_newer(id, 1, &mut buf);
    assert_eq!(
        newer.map(|r| (r.seq, buf[..r.len].to_vec())),
        Ok((2, b"urgent".to_vec()))
    );
}
