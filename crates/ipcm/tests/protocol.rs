//! DESIGN §3 and §7: the blocking protocol — direct hand-off, FIFO service,
//! faults while completing someone else's operation, cancel, peek, destroy.

mod common;
use common::*;

#[test]
fn blocked_reader_is_woken_with_the_message_already_in_its_buffer() {
    let fx = Fixture::new();
    let (writer, reader) = (fx.actor(), fx.actor());
    let pipe = fx.pipe(16, 4, PipeFlags::empty());
    fx.clear_received(reader);
    blocked(fx.read(reader, pipe));
    let written = done(fx.write(writer, pipe, b"hand-off"));
    assert!(written.handed_off);
    assert_eq!(fx.wakes(), [(reader.tid, Status::Ok)]);
    assert_eq!(fx.received(reader), b"hand-off");
    // Direct hand-off: the queue was never used.
    let info = fx.info(pipe);
    assert_eq!((info.queued, info.written, info.read), (0, 1, 1));
}

#[test]
fn read_admits_the_oldest_pending_writer_into_the_freed_slot() {
    let fx = Fixture::new();
    let reader = fx.actor();
    let writers: Vec<Actor> = (0..3).map(|_| fx.actor()).collect();
    let pipe = fx.pipe(8, 1, PipeFlags::empty());
    fx.ipcm.kernel_write(pipe, b"queued").unwrap();
    for (i, writer) in writers.iter().enumerate() {
        blocked(fx.write(*writer, pipe, format!("w{i}").as_bytes()));
    }
    assert_eq!(fx.info(pipe).pending_writers, 3);
    let mut got = Vec::new();
    for writer in &writers {
        got.push(fx.try_read(reader, pipe).unwrap());
        // Exactly the oldest pending writer was admitted and woken.
        assert_eq!(fx.wakes(), [(writer.tid, Status::Ok)]);
        assert_eq!(fx.info(pipe).queued, 1);
    }
    got.push(fx.try_read(reader, pipe).unwrap());
    assert_eq!(got, [&b"queued"[..], b"w0", b"w1", b"w2"]);
}

#[test]
fn pending_readers_are_served_in_fifo_order() {
    let fx = Fixture::new();
    let writer = fx.actor();
    let readers: Vec<Actor> = (0..4).map(|_| fx.actor()).collect();
    let pipe = fx.pipe(4, 4, PipeFlags::empty());
    for reader in &readers {
        blocked(fx.read(*reader, pipe));
    }
    for (i, reader) in readers.iter().enumerate() {
        done(fx.write(writer, pipe, &[i as u8]));
        assert_eq!(fx.wakes(), [(reader.tid, Status::Ok)]);
        assert_eq!(fx.received(*reader), [i as u8]);
    }
}

#[test]
fn priority_pipes_serve_waiters_by_priority_fifo_within_a_priority() {
    let fx = Fixture::new();
    let writer = fx.actor();
    let pipe = fx.pipe(4, 4, PipeFlags::PRIORITY_WAITERS);
    let readers: Vec<Actor> = [1u8, 5, 1, 5, 9]
        .iter()
        .enumerate()
        .map(|(i, p)| fx.actor_in(ProcessId(100 + i as u64), Priority(*p)))
        .collect();
    for reader in &readers {
        blocked(fx.read(*reader, pipe));
    }
    let mut order = Vec::new();
    for _ in &readers {
        done(fx.write(writer, pipe, b"x"));
        order.extend(fx.wakes().into_iter().map(|(tid, _)| tid));
    }
    let expected: Vec<ThreadId> = [4, 1, 3, 0, 2].iter().map(|i| readers[*i].tid).collect();
    assert_eq!(order, expected);
}

#[test]
fn plain_pipes_ignore_priority() {
    let fx = Fixture::new();
    let writer = fx.actor();
    let pipe = fx.pipe(4, 4, PipeFlags::empty());
    let low = fx.actor_in(ProcessId(50), Priority(1));
    let high = fx.actor_in(ProcessId(51), Priority(9));
    blocked(fx.read(low, pipe));
    blocked(fx.read(high, pipe));
    done(fx.write(writer, pipe, b"x"));
    assert_eq!(fx.wakes(), [(low.tid, Status::Ok)]);
}

#[test]
fn a_fault_completing_a_pending_read_wakes_that_reader_with_bad_address_and_loses_nothing() {
    let fx = Fixture::new();
    let writer = fx.actor();
    let (bad, good) = (fx.actor(), fx.actor());
    let pipe = fx.pipe(8, 2, PipeFlags::empty());
    blocked(fx.read(bad, pipe));
    blocked(fx.read(good, pipe));
    // The first reader's buffer disappears while it is blocked.
    fx.kernel().unmap(bad.pid, DST, SPAN);
    done(fx.write(writer, pipe, b"precious"));
    assert_eq!(
        fx.wakes(),
        [(bad.tid, Status::BadAddress), (good.tid, Status::Ok)]
    );
    assert_eq!(fx.received(good), b"precious");
    let info = fx.info(pipe);
    assert_eq!((info.queued, info.read, info.written), (0, 1, 1));
}

#[test]
fn a_faulting_pending_reader_without_a_successor_leaves_the_message_queued() {
    let fx = Fixture::new();
    let (writer, reader, late) = (fx.actor(), fx.actor(), fx.actor());
    let pipe = fx.pipe(8, 2, PipeFlags::empty());
    blocked(fx.read(reader, pipe));
    // Read-only length word: the length cannot be delivered either.
    fx.kernel().map(reader.pid, LEN, SPAN, Perm::ReadOnly);
    done(fx.write(writer, pipe, b"kept"));
    assert_eq!(fx.wakes(), [(reader.tid, Status::BadAddress)]);
    assert_eq!(fx.info(pipe).queued, 1);
    assert_eq!(fx.try_read(late, pipe).unwrap(), b"kept");
}

#[test]
fn a_fault_admitting_a_pending_writer_wakes_it_with_bad_address_and_admits_the_next() {
    let fx = Fixture::new();
    let reader = fx.actor();
    let (bad, good) = (fx.actor(), fx.actor());
    let pipe = fx.pipe(8, 1, PipeFlags::empty());
    fx.ipcm.kernel_write(pipe, b"first").unwrap();
    blocked(fx.write(bad, pipe, b"lost?"));
    blocked(fx.write(good, pipe, b"second"));
    fx.kernel().unmap(bad.pid, SRC, SPAN);
    assert_eq!(fx.try_read(reader, pipe).unwrap(), b"first");
    assert_eq!(
        fx.wakes(),
        [(bad.tid, Status::BadAddress), (good.tid, Status::Ok)]
    );
    assert_eq!(fx.try_read(reader, pipe).unwrap(), b"second");
    assert_eq!(fx.try_read(reader, pipe), Err(Status::Empty));
    assert_eq!(fx.info(pipe).written, 2);
}

#[test]
fn try_variants_never_block() {
    let fx = Fixture::new();
    let actor = fx.actor();
    let pipe = fx.pipe(4, 1, PipeFlags::empty());
    assert_eq!(fx.try_read(actor, pipe), Err(Status::Empty));
    assert_eq!(
        fx.ipcm
            .try_peek(&actor.tid, pipe, UserAddr(DST), UserAddr(LEN)),
        Err(Status::Empty)
    );
    fx.try_write(actor, pipe, b"1").unwrap();
    assert_eq!(fx.try_write(actor, pipe, b"2"), Err(Status::Full));
    let info = fx.info(pipe);
    assert_eq!(
        (
            info.pending_readers,
            info.pending_peekers,
            info.pending_writers
        ),
        (0, 0, 0)
    );
    assert!(!fx.ipcm.is_pending(&actor.tid));
    assert!(fx.wakes().is_empty());
}

#[test]
fn cancelled_read_times_out_and_consumed_nothing() {
    let fx = Fixture::new();
    let (writer, reader) = (fx.actor(), fx.actor());
    let pipe = fx.pipe(8, 2, PipeFlags::empty());
    fx.clear_received(reader);
    blocked(fx.read(reader, pipe));
    assert!(fx.ipcm.is_pending(&reader.tid));
    assert_eq!(fx.ipcm.cancel(&reader.tid, CancelReason::TimedOut), Ok(()));
    assert_eq!(fx.wakes(), [(reader.tid, Status::TimedOut)]);
    assert!(!fx.ipcm.is_pending(&reader.tid));
    // A later write is queued, not handed to the cancelled reader.
    let written = done(fx.write(writer, pipe, b"later"));
    assert!(!written.handed_off);
    assert_eq!(fx.kernel().peek_usize(reader.pid, LEN), usize::MAX);
    assert_eq!(fx.info(pipe).queued, 1);
    assert!(fx.wakes().is_empty());
}

#[test]
fn cancelled_write_never_happened() {
    let fx = Fixture::new();
    let (writer, reader) = (fx.actor(), fx.actor());
    let pipe = fx.pipe(8, 1, PipeFlags::empty());
    done(fx.write(writer, pipe, b"one"));
    blocked(fx.write(writer, pipe, b"two"));
    assert_eq!(fx.ipcm.cancel(&writer.tid, CancelReason::Cancelled), Ok(()));
    assert_eq!(fx.wakes(), [(writer.tid, Status::Cancelled)]);
    assert_eq!(fx.try_read(reader, pipe).unwrap(), b"one");
    assert!(
        fx.wakes().is_empty(),
        "the cancelled writer is not admitted"
    );
    assert_eq!(fx.try_read(reader, pipe), Err(Status::Empty));
    assert_eq!(fx.info(pipe).written, 1);
}

#[test]
fn cancel_without_a_pending_operation_is_not_found_and_changes_nothing() {
    let fx = Fixture::new();
    let actor = fx.actor();
    let pipe = fx.pipe(8, 1, PipeFlags::empty());
    fx.ipcm.kernel_write(pipe, b"x").unwrap();
    assert_eq!(
        fx.ipcm.cancel(&actor.tid, CancelReason::TimedOut),
        Err(Status::NotFound)
    );
    assert_eq!(fx.info(pipe).queued, 1);
    assert!(fx.wakes().is_empty());
}

#[test]
fn cancel_after_completion_is_not_found_so_each_operation_has_one_outcome() {
    let fx = Fixture::new();
    let (writer, reader) = (fx.actor(), fx.actor());
    let pipe = fx.pipe(8, 1, PipeFlags::empty());
    blocked(fx.read(reader, pipe));
    done(fx.write(writer, pipe, b"won"));
    assert_eq!(
        fx.ipcm.cancel(&reader.tid, CancelReason::TimedOut),
        Err(Status::NotFound)
    );
    // Cancelling twice is also one-shot.
    blocked(fx.read(reader, pipe));
    assert_eq!(fx.ipcm.cancel(&reader.tid, CancelReason::TimedOut), Ok(()));
    assert_eq!(
        fx.ipcm.cancel(&reader.tid, CancelReason::TimedOut),
        Err(Status::NotFound)
    );
    assert_eq!(
        fx.wakes(),
        [(reader.tid, Status::Ok), (reader.tid, Status::TimedOut)]
    );
}

#[test]
fn peek_copies_the_oldest_message_without_taking_it() {
    let fx = Fixture::new();
    let (writer, reader) = (fx.actor(), fx.actor());
    let pipe = fx.pipe(8, 2, PipeFlags::empty());
    done(fx.write(writer, pipe, b"first"));
    done(fx.write(writer, pipe, b"second"));
    for _ in 0..3 {
        assert_eq!(done(fx.peek(reader, pipe)), 5);
        assert_eq!(fx.received(reader), b"first");
    }
    let info = fx.info(pipe);
    assert_eq!((info.queued, info.read), (2, 0));
    assert_eq!(fx.try_read(reader, pipe).unwrap(), b"first");
}

#[test]
fn a_write_gives_every_pending_peeker_a_copy_then_the_oldest_reader_takes_it() {
    let fx = Fixture::new();
    let writer = fx.actor();
    let (peeker_a, reader_a, peeker_b, reader_b) = (fx.actor(), fx.actor(), fx.actor(), fx.actor());
    let pipe = fx.pipe(8, 2, PipeFlags::empty());
    blocked(fx.peek(peeker_a, pipe));
    blocked(fx.read(reader_a, pipe));
    blocked(fx.peek(peeker_b, pipe));
    blocked(fx.read(reader_b, pipe));
    let written = done(fx.write(writer, pipe, b"news"));
    assert!(written.handed_off);
    assert_eq!(
        fx.wakes(),
        [
            (peeker_a.tid, Status::Ok),
            (peeker_b.tid, Status::Ok),
            (reader_a.tid, Status::Ok)
        ]
    );
    for actor in [peeker_a, peeker_b, reader_a] {
        assert_eq!(fx.received(actor), b"news");
    }
    let info = fx.info(pipe);
    assert_eq!(
        (info.queued, info.pending_readers, info.pending_peekers),
        (0, 1, 0)
    );
}

#[test]
fn a_write_with_only_pending_peekers_queues_the_message() {
    let fx = Fixture::new();
    let (writer, peeker, reader) = (fx.actor(), fx.actor(), fx.actor());
    let pipe = fx.pipe(8, 2, PipeFlags::empty());
    blocked(fx.peek(peeker, pipe));
    let written = done(fx.write(writer, pipe, b"stays"));
    assert!(!written.handed_off);
    assert_eq!(fx.wakes(), [(peeker.tid, Status::Ok)]);
    assert_eq!(fx.received(peeker), b"stays");
    assert_eq!(fx.try_read(reader, pipe).unwrap(), b"stays");
}

#[test]
fn destroy_wakes_every_pending_operation_with_destroyed() {
    let fx = Fixture::new();
    let readers: Vec<Actor> = (0..3).map(|_| fx.actor()).collect();
    let writers: Vec<Actor> = (0..2).map(|_| fx.actor()).collect();
    let empty = fx.pipe(8, 1, PipeFlags::empty());
    let full = fx.pipe(8, 1, PipeFlags::empty());
    fx.ipcm.kernel_write(full, b"queued").unwrap();
    for reader in &readers {
        blocked(fx.read(*reader, empty));
    }
    for writer in &writers {
        blocked(fx.write(*writer, full, b"never"));
    }
    fx.ipcm.destroy(Caller::Kernel, empty).unwrap();
    fx.ipcm.destroy(Caller::Kernel, full).unwrap();
    let expected: Vec<_> = readers
        .iter()
        .chain(&writers)
        .map(|a| (a.tid, Status::Destroyed))
        .collect();
    assert_eq!(fx.wakes(), expected);
    for actor in readers.iter().chain(&writers) {
        assert!(!fx.ipcm.is_pending(&actor.tid));
    }
}

#[test]
fn a_destroyed_id_is_not_found_forever_and_its_name_is_free_again() {
    let fx = Fixture::new();
    let actor = fx.actor();
    let old = fx
        .ipcm
        .create(Caller::Kernel, Some("reused"), 8, 1, PipeFlags::empty())
        .unwrap();
    let handle = fx.ipcm.open(old).unwrap();
    fx.ipcm.destroy(Caller::Kernel, old).unwrap();
    assert_eq!(fx.ipcm.lookup_by_name("reused"), Err(Status::NotFound));
    let new = fx
        .ipcm
        .create(Caller::Kernel, Some("reused"), 8, 1, PipeFlags::empty())
        .unwrap();
    assert_ne!(old, new);
    assert_eq!(fx.ipcm.lookup_by_name("reused"), Ok(new));
    // Many create/destroy cycles never hand the old id out again.
    for _ in 0..100 {
        let id = fx.pipe(8, 1, PipeFlags::empty());
        assert_ne!(id, old);
        fx.ipcm.destroy(Caller::Kernel, id).unwrap();
    }
    assert_eq!(fx.try_write(actor, old, b"x"), Err(Status::NotFound));
    assert_eq!(fx.try_read(actor, old), Err(Status::NotFound));
    assert_eq!(fx.ipcm.info(old), Err(Status::NotFound));
    assert_eq!(fx.ipcm.destroy(Caller::Kernel, old), Err(Status::NotFound));
    // A handle held across the destroy sees it as destroyed.
    assert_eq!(fx.ipcm.kernel_write(&handle, b"x"), Err(Status::Destroyed));
    assert_eq!(fx.ipcm.info(&handle), Err(Status::Destroyed));
    assert_eq!(
        fx.ipcm.write(&actor.tid, &handle, UserAddr(SRC), 1),
        Err(Status::Destroyed)
    );
}

#[test]
fn a_thread_with_a_pending_operation_cannot_wait_for_a_second_one() {
    let fx = Fixture::new();
    let actor = fx.actor();
    let first = fx.pipe(8, 1, PipeFlags::empty());
    let second = fx.pipe(8, 1, PipeFlags::empty());
    blocked(fx.read(actor, first));
    assert_eq!(fx.read(actor, second), Err(Status::AlreadyPending));
    assert_eq!(fx.read(actor, first), Err(Status::AlreadyPending));
    assert_eq!(fx.info(second).pending_readers, 0);
    assert_eq!(fx.info(first).pending_readers, 1);
    fx.ipcm.kernel_write(first, b"x").unwrap();
    assert_eq!(fx.wakes(), [(actor.tid, Status::Ok)]);
    // Once woken it may wait again.
    blocked(fx.read(actor, second));
}

/// The wake hook runs with no IPC manager lock held, so a kernel may call
/// back into the manager from it (e.g. to run the woken thread at once).
#[test]
fn the_wake_hook_may_call_back_into_the_manager() {
    use ipcm::{Fault, Ipcm, Kernel};
    use std::sync::{Arc, Mutex, OnceLock};

    type Raw = spin::Mutex<()>;
    #[derive(Default)]
    struct Reentrant {
        manager: OnceLock<std::sync::Weak<Ipcm<Raw, ReentrantRef>>>,
        woken: Mutex<Vec<(u32, Status, Option<ipcm::PipeInfo>)>>,
        pipe: OnceLock<PipeId>,
    }
    #[derive(Clone)]
    struct ReentrantRef(Arc<Reentrant>);
    impl Kernel for ReentrantRef {
        type Thread = u32;
        fn copy_from_user(&self, _: &u32, _: UserAddr, dst: &mut [u8]) -> Result<(), Fault> {
            dst.fill(7);
            Ok(())
        }
        fn copy_to_user(&self, _: &u32, _: UserAddr, _: &[u8]) -> Result<(), Fault> {
            Ok(())
        }
        fn wake(&self, thread: u32, status: Status) {
            let manager = self
                .0
                .manager
                .get()
                .and_then(std::sync::Weak::upgrade)
                .unwrap();
            // Would deadlock if the pipe's lock were held here.
            let info = manager.info(*self.0.pipe.get().unwrap()).ok();
            self.0.woken.lock().unwrap().push((thread, status, info));
        }
        fn process_of(&self, thread: &u32) -> ProcessId {
            ProcessId(u64::from(*thread))
        }
    }
    let kernel = ReentrantRef(Arc::default());
    let manager = Arc::new(Ipcm::<Raw, _>::new(kernel.clone()));
    kernel.0.manager.set(Arc::downgrade(&manager)).unwrap();
    let pipe = manager
        .create(Caller::Kernel, None, 4, 1, PipeFlags::empty())
        .unwrap();
    kernel.0.pipe.set(pipe).unwrap();
    blocked(manager.read(&1, pipe, UserAddr(0), UserAddr(8)));
    done(manager.write(&2, pipe, UserAddr(0), 4));
    let woken = kernel.0.woken.lock().unwrap();
    assert_eq!(woken.len(), 1);
    assert_eq!((woken[0].0, woken[0].1), (1, Status::Ok));
    assert_eq!(woken[0].2.as_ref().map(|i| i.read), Some(1));
}
