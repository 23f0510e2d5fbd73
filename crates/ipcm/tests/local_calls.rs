//! The non-blocking calls of a runtime whose threads share the manager's
//! memory (`try_write_as`, `try_read_as`, `try_peek_as`): the same outcomes
//! as a thread's `try_*` calls, with the permissions of the named process.

mod common;
use common::*;
use ipcm::{LocalSelectOp, LocalSelected, SELECT_MAX};

fn owner_only(fx: &Fixture, owner: Actor, flags: PipeFlags) -> PipeId {
    fx.ipcm
        .create(Caller::Thread(&owner.tid), None, 8, 1, flags)
        .expect("create")
}

#[test]
fn a_local_write_is_read_by_a_thread_and_a_thread_write_is_read_locally() {
    let fx = Fixture::new();
    let thread = fx.actor();
    let pipe = fx.pipe(8, 2, PipeFlags::empty());
    let written = fx.ipcm.try_write_as(thread.pid, pipe, b"local").unwrap();
    assert!(!written.handed_off && !written.dropped_oldest);
    assert_eq!(fx.try_read(thread, pipe).unwrap(), b"local");

    fx.try_write(thread, pipe, b"thread").unwrap();
    let mut buf = [0_u8; 8];
    assert_eq!(fx.ipcm.try_peek_as(thread.pid, pipe, &mut buf), Ok(6));
    assert_eq!(fx.ipcm.try_read_as(thread.pid, pipe, &mut buf), Ok(6));
    assert_eq!(&buf[..6], b"thread");
    assert_eq!(fx.info(pipe).written, 2);
    assert_eq!(fx.info(pipe).read, 2);
}

#[test]
fn a_local_write_hands_off_to_a_pending_reader_and_wakes_it_before_returning() {
    let fx = Fixture::new();
    let reader = fx.actor();
    let pipe = fx.pipe(8, 1, PipeFlags::empty());
    assert!(matches!(fx.read(reader, pipe), Ok(Progress::Blocked(_))));
    let written = fx.ipcm.try_write_as(ProcessId(99), pipe, b"hand").unwrap();
    assert!(written.handed_off);
    assert_eq!(fx.kernel().take_wakes(), [(reader.tid, Status::Ok)]);
    assert_eq!(fx.received(reader), b"hand");
    assert_eq!(fx.info(pipe).queued, 0);
}

#[test]
fn a_local_read_admits_a_pending_writer() {
    let fx = Fixture::new();
    let writer = fx.actor();
    let pipe = fx.pipe(8, 1, PipeFlags::empty());
    fx.try_write(writer, pipe, b"first").unwrap();
    assert!(matches!(
        fx.write(writer, pipe, b"second"),
        Ok(Progress::Blocked(_))
    ));
    let mut buf = [0_u8; 8];
    assert_eq!(fx.ipcm.try_read_as(writer.pid, pipe, &mut buf), Ok(5));
    assert_eq!(&buf[..5], b"first");
    assert_eq!(fx.kernel().take_wakes(), [(writer.tid, Status::Ok)]);
    assert_eq!(fx.drain(pipe), [b"second".to_vec()]);
}

#[test]
fn local_calls_report_full_empty_too_large_short_buffers_and_closed() {
    let fx = Fixture::new();
    let pid = fx.actor().pid;
    let pipe = fx.pipe(4, 1, PipeFlags::empty());
    let mut buf = [0_u8; 4];
    assert_eq!(fx.ipcm.try_read_as(pid, pipe, &mut buf), Err(Status::Empty));
    assert_eq!(fx.ipcm.try_peek_as(pid, pipe, &mut buf), Err(Status::Empty));
    assert_eq!(
        fx.ipcm.try_write_as(pid, pipe, b"12345"),
        Err(Status::TooLarge)
    );
    fx.ipcm.try_write_as(pid, pipe, b"1234").unwrap();
    assert_eq!(fx.ipcm.try_write_as(pid, pipe, b"5"), Err(Status::Full));
    assert_eq!(
        fx.ipcm.try_read_as(pid, pipe, &mut buf[..3]),
        Err(Status::BadParam)
    );
    assert_eq!(fx.info(pipe).queued, 1);
    fx.ipcm.close(Caller::Kernel, pipe).unwrap();
    assert_eq!(fx.ipcm.try_write_as(pid, pipe, b"6"), Err(Status::Closed));
    assert_eq!(fx.ipcm.try_read_as(pid, pipe, &mut buf), Ok(4));
    assert_eq!(
        fx.ipcm.try_read_as(pid, pipe, &mut buf),
        Err(Status::Closed)
    );
    fx.ipcm.destroy(Caller::Kernel, pipe).unwrap();
    assert_eq!(fx.ipcm.try_write_as(pid, pipe, b"7"), Err(Status::NotFound));
}

#[test]
fn local_calls_apply_the_named_process_owner_only_checks() {
    let fx = Fixture::new();
    let owner = fx.actor();
    let stranger = fx.actor();
    let mut buf = [0_u8; 8];

    let pipe = owner_only(&fx, owner, PipeFlags::OWNER_WRITE);
    assert_eq!(
        fx.ipcm.try_write_as(stranger.pid, pipe, b"no"),
        Err(Status::Denied)
    );
    assert_eq!(fx.info(pipe).written, 0);
    fx.ipcm.try_write_as(owner.pid, pipe, b"yes").unwrap();
    // Reading is open to all on an owner-write pipe.
    assert_eq!(fx.ipcm.try_peek_as(stranger.pid, pipe, &mut buf), Ok(3));

    let pipe = owner_only(&fx, owner, PipeFlags::OWNER_READ);
    fx.ipcm.try_write_as(stranger.pid, pipe, b"in").unwrap();
    assert_eq!(
        fx.ipcm.try_read_as(stranger.pid, pipe, &mut buf),
        Err(Status::Denied)
    );
    assert_eq!(
        fx.ipcm.try_peek_as(stranger.pid, pipe, &mut buf),
        Err(Status::Denied)
    );
    assert_eq!(fx.info(pipe).queued, 1);
    assert_eq!(fx.ipcm.try_read_as(owner.pid, pipe, &mut buf), Ok(2));
}

// `try_select_as`: the lock-free first pass of a select, with local buffers.

fn read_op(pipe: PipeId, buf: &mut [u8]) -> LocalSelectOp<'_> {
    LocalSelectOp::Read { pipe, buf }
}

#[test]
fn a_local_select_completes_the_first_ready_member_in_list_order_and_no_other() {
    let fx = Fixture::new();
    let pid = fx.actor().pid;
    let (empty, full, ready, also_ready) = (
        fx.pipe(8, 1, PipeFlags::empty()),
        fx.pipe(8, 1, PipeFlags::empty()),
        fx.pipe(8, 2, PipeFlags::empty()),
        fx.pipe(8, 2, PipeFlags::empty()),
    );
    fx.ipcm.try_write_as(pid, full, b"full").unwrap();
    fx.ipcm.try_write_as(pid, ready, b"ready").unwrap();
    fx.ipcm.try_write_as(pid, also_ready, b"also").unwrap();
    let (mut a, mut b, mut c) = ([0_u8; 8], [0_u8; 8], [0_u8; 8]);
    let mut ops = [
        LocalSelectOp::Peek {
            pipe: empty,
            buf: &mut a,
        },
        LocalSelectOp::Write {
            pipe: full,
            msg: b"more",
        },
        read_op(ready, &mut b),
        read_op(also_ready, &mut c),
    ];
    assert_eq!(
        fx.ipcm.try_select_as(pid, &mut ops),
        Ok(Some(LocalSelected {
            index: 2,
            result: Ok(5)
        }))
    );
    assert_eq!(&b[..5], b"ready");
    assert_eq!(c, [0; 8], "a later member was copied to");
    assert_eq!(fx.drain(full), [b"full".to_vec()]);
    assert_eq!(fx.drain(also_ready), [b"also".to_vec()]);
    assert_eq!(fx.info(ready).queued, 0);
}

#[test]
fn a_local_select_write_member_writes_and_answers_zero() {
    let fx = Fixture::new();
    let pid = fx.actor().pid;
    let (empty, room) = (
        fx.pipe(8, 1, PipeFlags::empty()),
        fx.pipe(8, 1, PipeFlags::empty()),
    );
    let mut buf = [0_u8; 8];
    let mut ops = [
        read_op(empty, &mut buf),
        LocalSelectOp::Write {
            pipe: room,
            msg: b"sent",
        },
    ];
    assert_eq!(
        fx.ipcm.try_select_as(pid, &mut ops),
        Ok(Some(LocalSelected {
            index: 1,
            result: Ok(0)
        }))
    );
    assert_eq!(fx.drain(room), [b"sent".to_vec()]);
    assert_eq!(fx.info(empty).read, 0);
}

#[test]
fn a_local_select_that_needs_the_lock_or_finds_nothing_does_nothing() {
    let fx = Fixture::new();
    let pid = fx.actor().pid;
    let reader = fx.actor();
    let (empty, waited_on, ready) = (
        fx.pipe(8, 1, PipeFlags::empty()),
        fx.pipe(8, 1, PipeFlags::empty()),
        fx.pipe(8, 1, PipeFlags::empty()),
    );
    let mut buf = [0_u8; 8];
    assert_eq!(
        fx.ipcm.try_select_as(pid, &mut [read_op(empty, &mut buf)]),
        Ok(None)
    );
    // A pipe with a pending reader takes its lock: the whole pass gives up,
    // before a later member that is ready.
    assert!(matches!(
        fx.read(reader, waited_on),
        Ok(Progress::Blocked(_))
    ));
    fx.ipcm.try_write_as(pid, ready, b"later").unwrap();
    let mut ops = [
        read_op(empty, &mut buf),
        LocalSelectOp::Write {
            pipe: waited_on,
            msg: b"hand",
        },
        LocalSelectOp::Peek {
            pipe: ready,
            buf: &mut [0; 8],
        },
    ];
    assert_eq!(fx.ipcm.try_select_as(pid, &mut ops), Ok(None));
    assert!(fx.kernel().take_wakes().is_empty(), "the reader was woken");
    assert_eq!(fx.info(waited_on).written, 0);
    assert_eq!(fx.drain(ready), [b"later".to_vec()]);
}

#[test]
fn a_local_select_checks_every_member_before_anything_happens() {
    let fx = Fixture::new();
    let owner = fx.actor();
    let stranger = fx.actor();
    let ready = fx.pipe(4, 2, PipeFlags::empty());
    let closed_to_strangers = owner_only(&fx, owner, PipeFlags::OWNER_WRITE);
    let gone = fx.pipe(4, 1, PipeFlags::empty());
    fx.ipcm.destroy(Caller::Kernel, gone).unwrap();
    fx.ipcm.try_write_as(owner.pid, ready, b"keep").unwrap();
    let mut buf = [0_u8; 4];
    let mut short = [0_u8; 3];
    let cases: [(LocalSelectOp<'_>, Status); 4] = [
        (read_op(gone, &mut short), Status::NotFound),
        (
            LocalSelectOp::Write {
                pipe: closed_to_strangers,
                msg: b"no",
            },
            Status::Denied,
        ),
        (
            LocalSelectOp::Write {
                pipe: ready,
                msg: b"12345",
            },
            Status::TooLarge,
        ),
        (
            LocalSelectOp::Peek {
                pipe: ready,
                buf: &mut [0; 3],
            },
            Status::BadParam,
        ),
    ];
    for (bad, status) in cases {
        // The ready member comes first: it must not be taken.
        let mut ops = [read_op(ready, &mut buf), bad];
        assert_eq!(fx.ipcm.try_select_as(stranger.pid, &mut ops), Err(status));
        assert_eq!(fx.info(ready).queued, 1, "{status:?}: a member happened");
    }
    assert_eq!(
        fx.ipcm.try_select_as(stranger.pid, &mut []),
        Err(Status::BadParam)
    );
    let mut bufs = [[0_u8; 4]; SELECT_MAX + 1];
    let mut too_many: Vec<_> = bufs.iter_mut().map(|b| read_op(ready, b)).collect();
    assert_eq!(
        fx.ipcm.try_select_as(stranger.pid, &mut too_many),
        Err(Status::BadParam)
    );
    assert_eq!(fx.drain(ready), [b"keep".to_vec()]);
}
