//! The `Pipe` API one behaviour at a time, mostly on one thread.

use std::thread;
use std::time::{Duration, Instant};

use ipcm_host::{Access, Error, Ipc, OnFull, Pipe};

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < give_up, "never happened: {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

fn pending_readers(pipe: &Pipe) -> usize {
    let info = pipe.info().expect("live pipe");
    info.pending_readers + info.pending_peekers
}

#[test]
fn messages_keep_their_boundaries_including_empty_ones() {
    let ipc = Ipc::new();
    let pipe = ipc.pipe(8, 4).create().unwrap();
    for msg in [&b"ab"[..], b"", b"12345678"] {
        pipe.write(msg).unwrap();
    }
    let mut buf = [0xEE; 8];
    for expected in [&b"ab"[..], b"", b"12345678"] {
        let len = pipe.read(&mut buf).unwrap();
        assert_eq!(&buf[..len], expected);
    }
}

#[test]
fn try_variants_report_empty_and_full() {
    let ipc = Ipc::new();
    let pipe = ipc.pipe(4, 1).create().unwrap();
    let mut buf = [0; 4];
    assert_eq!(pipe.try_read(&mut buf), Err(Error::Empty));
    assert_eq!(pipe.try_peek(&mut buf), Err(Error::Empty));
    pipe.try_write(b"x").unwrap();
    assert_eq!(pipe.try_write(b"y"), Err(Error::Full));
    assert_eq!(pipe.try_read(&mut buf), Ok(1));
    assert_eq!(buf[0], b'x');
}

#[test]
fn too_large_message_is_rejected_with_sizes_and_not_written() {
    let ipc = Ipc::new();
    let pipe = ipc.pipe(4, 2).create().unwrap();
    assert_eq!(
        pipe.write(b"12345"),
        Err(Error::TooLarge {
            len: 5,
            msg_size: 4
        })
    );
    assert_eq!(pipe.info().unwrap().queued, 0);
}

#[test]
fn short_receive_buffer_is_bad_param_and_consumes_nothing() {
    let ipc = Ipc::new();
    let pipe = ipc.pipe(4, 2).create().unwrap();
    pipe.write(b"ab").unwrap();
    let mut short = [0; 3];
    assert!(matches!(pipe.read(&mut short), Err(Error::BadParam { .. })));
    assert!(matches!(
        pipe.try_peek(&mut short),
        Err(Error::BadParam { .. })
    ));
    assert_eq!(pipe.info().unwrap().queued, 1);
    // A longer buffer than msg_size is fine.
    assert_eq!(pipe.read(&mut [0; 100]), Ok(2));
}

#[test]
fn peek_leaves_the_message_for_the_reader() {
    let ipc = Ipc::new();
    let pipe = ipc.pipe(4, 2).create().unwrap();
    pipe.write(b"hi").unwrap();
    let mut buf = [0; 4];
    assert_eq!(pipe.peek(&mut buf), Ok(2));
    assert_eq!(pipe.try_peek(&mut buf), Ok(2));
    assert_eq!(pipe.read(&mut buf), Ok(2));
    assert_eq!(&buf[..2], b"hi");
    assert_eq!(pipe.try_peek(&mut buf), Err(Error::Empty));
}

#[test]
fn one_write_gives_every_waiting_peeker_a_copy_and_stays_queued() {
    let ipc = Ipc::new();
    let pipe = ipc.pipe(8, 2).create().unwrap();
    let peekers: Vec<_> = (0..3)
        .map(|_| {
            let pipe = pipe.clone();
            thread::spawn(move || {
                let mut buf = [0; 8];
                let len = pipe.peek(&mut buf).unwrap();
                buf[..len].to_vec()
            })
        })
        .collect();
    wait_until("3 peekers wait", || pending_readers(&pipe) == 3);
    pipe.write(b"news").unwrap();
    for peeker in peekers {
        assert_eq!(peeker.join().unwrap(), b"news");
    }
    assert_eq!(pipe.info().unwrap().queued, 1);
}

#[test]
fn a_waiting_reader_gets_the_next_message_handed_off() {
    let ipc = Ipc::new();
    let pipe = ipc.pipe(8, 2).create().unwrap();
    let reader = {
        let pipe = pipe.clone();
        thread::spawn(move || {
            let mut buf = [0; 8];
            let len = pipe.read(&mut buf).unwrap();
            buf[..len].to_vec()
        })
    };
    wait_until("reader waits", || pending_readers(&pipe) == 1);
    let written = pipe.write(b"direct").unwrap();
    assert!(written.handed_off);
    assert_eq!(reader.join().unwrap(), b"direct");
    assert_eq!(pipe.info().unwrap().queued, 0);
}

#[test]
fn a_waiting_writer_is_admitted_when_a_slot_frees() {
    let ipc = Ipc::new();
    let pipe = ipc.pipe(8, 1).create().unwrap();
    pipe.write(b"first").unwrap();
    let writer = {
        let pipe = pipe.clone();
        thread::spawn(move || pipe.write(b"second"))
    };
    wait_until("writer waits", || pipe.info().unwrap().pending_writers == 1);
    let mut buf = [0; 8];
    assert_eq!(pipe.read(&mut buf), Ok(5));
    writer.join().unwrap().unwrap();
    assert_eq!(pipe.read(&mut buf), Ok(6));
    assert_eq!(&buf[..6], b"second");
}

#[test]
fn discard_oldest_never_waits_and_reports_the_drop() {
    let ipc = Ipc::new();
    let pipe = ipc
        .pipe(1, 2)
        .on_full(OnFull::DiscardOldest)
        .create()
        .unwrap();
    assert!(!pipe.write(b"a").unwrap().dropped_oldest);
    assert!(!pipe.write(b"b").unwrap().dropped_oldest);
    assert!(pipe.write(b"c").unwrap().dropped_oldest);
    assert!(pipe.try_write(b"d").unwrap().dropped_oldest);
    let mut buf = [0; 1];
    pipe.read(&mut buf).unwrap();
    assert_eq!(buf, *b"c");
    pipe.read(&mut buf).unwrap();
    assert_eq!(buf, *b"d");
    let info = pipe.info().unwrap();
    assert_eq!((info.written, info.read, info.dropped), (4, 2, 2));
}

#[test]
fn an_operation_that_can_complete_ignores_a_past_deadline() {
    let ipc = Ipc::new();
    let pipe = ipc.pipe(4, 1).create().unwrap();
    let past = Instant::now() - Duration::from_millis(1);
    pipe.write_deadline(b"x", past).unwrap();
    assert_eq!(pipe.peek_timeout(&mut [0; 4], Duration::ZERO), Ok(1));
    assert_eq!(pipe.read_deadline(&mut [0; 4], past), Ok(1));
}

#[test]
fn an_operation_that_would_wait_past_its_deadline_times_out_and_leaves_nothing_behind() {
    let ipc = Ipc::new();
    let pipe = ipc.pipe(4, 1).create().unwrap();
    let past = Instant::now() - Duration::from_millis(1);
    assert_eq!(pipe.read_deadline(&mut [0; 4], past), Err(Error::TimedOut));
    assert_eq!(
        pipe.peek_timeout(&mut [0; 4], Duration::ZERO),
        Err(Error::TimedOut)
    );
    assert_eq!(
        pipe.read_timeout(&mut [0; 4], Duration::from_millis(5)),
        Err(Error::TimedOut)
    );
    pipe.write(b"x").unwrap();
    assert_eq!(
        pipe.write_timeout(b"y", Duration::from_millis(5)),
        Err(Error::TimedOut)
    );
    assert_eq!(pipe.write_deadline(b"y", past), Err(Error::TimedOut));
    let info = pipe.info().unwrap();
    assert_eq!(info.pending_readers + info.pending_writers, 0);
    assert_eq!((info.queued, info.written), (1, 1));
    // A huge timeout is "for ever", not a panic.
    assert_eq!(pipe.read_timeout(&mut [0; 4], Duration::MAX), Ok(1));
}

#[test]
fn open_by_name_or_id_reaches_the_same_pipe() {
    let ipc = Ipc::new();
    let pipe = ipc.pipe(4, 2).name("telemetry").create().unwrap();
    assert_eq!(pipe.name(), Some("telemetry"));
    let by_name = ipc.open("telemetry").unwrap();
    let by_id = ipc.open_id(pipe.id()).unwrap();
    by_name.write(b"1").unwrap();
    assert_eq!(by_id.read(&mut [0; 4]), Ok(1));
    assert_eq!(
        ipc.open("nope").err(),
        Some(Error::NotFound {
            name: Some("nope".into()),
            id: None
        })
    );
}

#[test]
fn destroy_frees_the_name_and_retires_the_id() {
    let ipc = Ipc::new();
    let pipe = ipc.pipe(4, 2).name("once").create().unwrap();
    let old_id = pipe.id();
    pipe.destroy().unwrap();
    let gone = Error::NotFound {
        name: None,
        id: Some(old_id),
    };
    assert_eq!(pipe.destroy(), Err(gone.clone()));
    assert_eq!(pipe.write(b"x"), Err(Error::Destroyed));
    assert_eq!(pipe.info(), Err(Error::Destroyed));
    assert!(matches!(ipc.open("once"), Err(Error::NotFound { .. })));
    let again = ipc.pipe(4, 2).name("once").create().unwrap();
    assert_ne!(again.id(), old_id);
    assert_eq!(ipc.open_id(old_id).err(), Some(gone));
    assert_eq!(ipc.pipe_count(), 1);
}

#[test]
fn create_rejects_bad_settings_with_a_reason() {
    let ipc = Ipc::new();
    for bad in [
        ipc.pipe(0, 1),
        ipc.pipe(1, 0).on_full(OnFull::DiscardOldest),
        ipc.pipe(usize::MAX, 2),
    ] {
        assert!(matches!(bad.create(), Err(Error::BadParam { .. })));
    }
    let long = "n".repeat(ipcm_host::MAX_NAME_LEN + 1);
    for name in ["", "nul\0", long.as_str()] {
        let result = ipc.pipe(1, 1).name(name).create();
        assert!(matches!(result, Err(Error::BadParam { .. })), "{name:?}");
        assert!(matches!(ipc.open(name), Err(Error::BadParam { .. })));
    }
    let _taken = ipc.pipe(1, 1).name("taken").create().unwrap();
    assert_eq!(
        ipc.pipe(1, 1).name("taken").create().err(),
        Some(Error::NameTaken {
            name: "taken".into()
        })
    );
    assert_eq!(ipc.pipe_count(), 1);
}

#[test]
fn owner_only_access_denies_other_processes_and_changes_nothing() {
    let owner = Ipc::new();
    let other = owner.new_process();
    assert_ne!(owner.process(), other.process());
    let reads = owner
        .pipe(4, 2)
        .name("r")
        .access(Access::OwnerReads)
        .create()
        .unwrap();
    let writes = owner
        .pipe(4, 2)
        .name("w")
        .access(Access::OwnerWrites)
        .create()
        .unwrap();
    let only = owner
        .pipe(4, 2)
        .name("o")
        .access(Access::OwnerOnly)
        .create()
        .unwrap();
    let (r, w, o) = (
        other.open("r").unwrap(),
        other.open("w").unwrap(),
        other.open("o").unwrap(),
    );
    let mut buf = [0; 4];

    r.write(b"1").unwrap();
    assert_eq!(r.try_read(&mut buf), Err(Error::Denied));
    assert_eq!(r.peek(&mut buf), Err(Error::Denied));
    assert_eq!(reads.read(&mut buf), Ok(1));

    assert_eq!(w.write(b"2"), Err(Error::Denied));
    writes.write(b"2").unwrap();
    assert_eq!(w.read(&mut buf), Ok(1));

    assert_eq!(o.write(b"3"), Err(Error::Denied));
    assert_eq!(o.read(&mut buf), Err(Error::Denied));
    assert_eq!(o.destroy(), Err(Error::Denied));
    let info = only.info().unwrap();
    assert_eq!((info.queued, info.written), (0, 0));
    only.destroy().unwrap();
}

#[test]
fn handles_are_send_sync_clone_and_debug() {
    fn assert_traits<T: Send + Sync + Clone + std::fmt::Debug>() {}
    assert_traits::<Pipe>();
    assert_traits::<Ipc>();
    assert_traits::<ipcm_host::TokenSemaphore>();
    assert_traits::<ipcm_host::Blackboard<u64>>();
    assert_traits::<ipcm_host::MessagePipe<u64>>();
}

#[test]
fn info_reports_settings_and_counters() {
    let ipc = Ipc::new();
    let pipe = ipc.pipe(16, 3).create().unwrap();
    pipe.write(b"a").unwrap();
    pipe.write(b"b").unwrap();
    pipe.read(&mut [0; 16]).unwrap();
    let info = pipe.info().unwrap();
    assert_eq!((info.msg_size, info.max_msgs), (16, 3));
    assert_eq!(
        (info.queued, info.written, info.read, info.dropped),
        (1, 2, 1, 0)
    );
    assert_eq!(info.owner, ipc.process());
    assert_eq!(
        (pipe.msg_size(), pipe.depth(), pipe.on_full()),
        (16, 3, OnFull::Block)
    );
}

#[test]
fn deadline_variants_of_every_helper_wait_and_time_out() {
    let ipc = Ipc::new();
    let soon = || Instant::now() + Duration::from_millis(2);
    let pipe = ipc.pipe(4, 1).create().unwrap();
    assert_eq!(
        pipe.peek_deadline(&mut [0; 4], soon()),
        Err(Error::TimedOut)
    );
    pipe.write(b"ab").unwrap();
    assert_eq!(pipe.peek_deadline(&mut [0; 4], soon()), Ok(2));

    let semaphore = ipcm_host::TokenSemaphore::create(&ipc, None, 1).unwrap();
    let permit = semaphore.acquire_deadline(soon()).unwrap();
    assert_eq!(
        semaphore.acquire_deadline(soon()).err(),
        Some(Error::TimedOut)
    );
    drop(permit);

    let typed: ipcm_host::MessagePipe<u16> = ipcm_host::MessagePipe::create(&ipc, None, 1).unwrap();
    typed.send_deadline(&1, soon()).unwrap();
    assert_eq!(typed.send_deadline(&2, soon()), Err(Error::TimedOut));
    assert_eq!(typed.recv(), Ok(1));
}

#[test]
fn a_thread_can_use_pipes_while_its_thread_locals_are_torn_down() {
    use std::cell::RefCell;

    struct WriteOnDrop(Option<Pipe>);
    impl Drop for WriteOnDrop {
        fn drop(&mut self) {
            if let Some(pipe) = self.0.take() {
                pipe.write(b"bye").unwrap();
                let mut buf = [0; 4];
                assert_eq!(pipe.try_read(&mut buf), Ok(2)); // "hi"
                pipe.write(b"bye!").unwrap();
            }
        }
    }
    thread_local! {
        static LAST_WORDS: RefCell<WriteOnDrop> = const { RefCell::new(WriteOnDrop(None)) };
    }

    let ipc = Ipc::new();
    let pipe = ipc.pipe(4, 2).create().unwrap();
    let thread = {
        let pipe = pipe.clone();
        thread::spawn(move || {
            // Registered before the crate's own thread-local, so (torn down
            // in reverse order) it runs after that one is gone.
            LAST_WORDS.with(|last| last.borrow_mut().0 = Some(pipe.clone()));
            pipe.write(b"hi").unwrap();
        })
    };
    thread.join().unwrap();
    let mut buf = [0; 4];
    assert_eq!(pipe.read(&mut buf), Ok(3));
    assert_eq!(pipe.read(&mut buf), Ok(4));
    assert_eq!(&buf, b"bye!");
}

/// A blocking reader polls the pipe for a while before it registers (see
/// the `waiting` module); a reader that registered meanwhile is still
/// served first, and every message reaches exactly one of them.
#[test]
fn a_registered_reader_is_served_before_a_later_one_that_polls() {
    let ipc = Ipc::new();
    let pipe = ipc.pipe(4, 4).create().unwrap();
    let first = {
        let pipe = pipe.clone();
        thread::spawn(move || {
            let mut buf = [0; 4];
            let len = pipe.read(&mut buf).unwrap();
            buf[..len].to_vec()
        })
    };
    wait_until("the first reader registers", || pending_readers(&pipe) == 1);
    let second = {
        let pipe = pipe.clone();
        thread::spawn(move || {
            let mut buf = [0; 4];
            let len = pipe.read(&mut buf).unwrap();
            buf[..len].to_vec()
        })
    };
    // The second reader may be polling or registered by now: either way
    // the first message is the first reader's.
    pipe.write(b"one").unwrap();
    assert_eq!(first.join().unwrap(), b"one");
    pipe.write(b"two").unwrap();
    assert_eq!(second.join().unwrap(), b"two");
    assert_eq!(pipe.info().unwrap().queued, 0);
}

/// A blocking write to a full pipe polls too, and one that times out while
/// polling leaves nothing behind: no message, no pending writer.
#[test]
fn a_write_that_times_out_while_polling_changes_nothing() {
    let ipc = Ipc::new();
    let pipe = ipc.pipe(4, 1).create().unwrap();
    pipe.write(b"old").unwrap();
    assert_eq!(
        pipe.write_timeout(b"new", Duration::from_micros(1)),
        Err(Error::TimedOut)
    );
    let info = pipe.info().unwrap();
    assert_eq!((info.queued, info.pending_writers), (1, 0));
    let mut buf = [0; 4];
    let len = pipe.read(&mut buf).unwrap();
    assert_eq!(&buf[..len], b"old");
    // Full again: a blocking writer polls (or registers) until a read
    // makes room, and its message is queued behind the one it waited on.
    pipe.write(b"one").unwrap();
    let writer = {
        let pipe = pipe.clone();
        thread::spawn(move || pipe.write(b"two").map(|_| ()))
    };
    let len = pipe.read(&mut buf).unwrap();
    assert_eq!(&buf[..len], b"one");
    writer.join().unwrap().unwrap();
    let len = pipe.try_read(&mut buf).unwrap();
    assert_eq!(&buf[..len], b"two");
}
