//! DESIGN §1: what a pipe is, and the three usage patterns.

mod common;
use common::*;

#[test]
fn capacity_is_exactly_max_msgs() {
    let fx = Fixture::new();
    let writer = fx.actor();
    let pipe = fx.pipe(8, 3, PipeFlags::empty());
    for i in 0..3u8 {
        assert!(fx.try_write(writer, pipe, &[i]).is_ok(), "message {i} fits");
    }
    assert_eq!(fx.try_write(writer, pipe, b"x"), Err(Status::Full));
    assert_eq!(fx.info(pipe).queued, 3);
    assert_eq!(fx.drain(pipe), [vec![0], vec![1], vec![2]]);
}

#[test]
fn a_message_too_large_for_a_full_pipe_is_too_large_not_full() {
    // The size is checked before room, by id, by handle and from the
    // kernel, whichever path (lock-free or locked) the call takes.
    let fx = Fixture::new();
    let writer = fx.actor();
    let pipe = fx.pipe(4, 1, PipeFlags::empty());
    assert!(fx.try_write(writer, pipe, b"full").is_ok());
    assert_eq!(fx.try_write(writer, pipe, b"large"), Err(Status::TooLarge));
    assert_eq!(fx.ipcm.kernel_write(pipe, b"large"), Err(Status::TooLarge));
    let handle = fx.ipcm.open(pipe).unwrap();
    assert_eq!(
        fx.ipcm.kernel_write(&handle, b"large"),
        Err(Status::TooLarge)
    );
    assert_eq!(fx.try_write(writer, pipe, b"room"), Err(Status::Full));
    assert_eq!(fx.drain(pipe), [b"full".to_vec()]);
}

#[test]
fn message_boundaries_and_lengths_are_preserved() {
    let fx = Fixture::new();
    let (writer, reader) = (fx.actor(), fx.actor());
    let pipe = fx.pipe(16, 8, PipeFlags::empty());
    let messages: [&[u8]; 5] = [b"a", b"", b"sixteen bytes!!!", b"xy", b"\0\0\0"];
    for msg in messages {
        fx.try_write(writer, pipe, msg).unwrap();
    }
    for msg in messages {
        assert_eq!(fx.try_read(reader, pipe).unwrap(), msg);
    }
}

#[test]
fn zero_length_message_is_a_message() {
    let fx = Fixture::new();
    let (writer, reader) = (fx.actor(), fx.actor());
    let pipe = fx.pipe(4, 1, PipeFlags::empty());
    fx.try_write(writer, pipe, b"").unwrap();
    assert_eq!(fx.info(pipe).queued, 1);
    assert_eq!(fx.try_write(writer, pipe, b""), Err(Status::Full));
    fx.kernel().poke(reader.pid, LEN, &99usize.to_ne_bytes());
    assert_eq!(fx.try_read(reader, pipe).unwrap(), b"");
    assert_eq!(fx.kernel().peek_usize(reader.pid, LEN), 0);
    assert_eq!(fx.try_read(reader, pipe), Err(Status::Empty));
}

#[test]
fn messages_may_cross_page_boundaries() {
    let fx = Fixture::new();
    let (writer, reader) = (fx.actor(), fx.actor());
    let pipe = fx.pipe(64, 2, PipeFlags::empty());
    let msg: Vec<u8> = (0..64).collect();
    let src = SRC + PAGE_SIZE - 10;
    fx.kernel().poke(writer.pid, src, &msg);
    fx.ipcm
        .try_write(&writer.tid, pipe, UserAddr(src), 64)
        .unwrap();
    let dst = DST + PAGE_SIZE - 3;
    let len = fx
        .ipcm
        .try_read(&reader.tid, pipe, UserAddr(dst), UserAddr(LEN))
        .unwrap();
    assert_eq!(fx.kernel().peek_memory(reader.pid, dst, len), msg);
}

#[test]
fn a_write_is_atomic_even_when_the_copy_faults_midway() {
    let fx = Fixture::new();
    let (writer, reader) = (fx.actor(), fx.actor());
    let pipe = fx.pipe(32, 2, PipeFlags::empty());
    fx.try_write(writer, pipe, b"intact").unwrap();
    // The source starts on a mapped page and runs into an unmapped one: the
    // test kernel copies the first part before it faults.
    let src = SRC + SPAN - 8;
    fx.kernel().poke(writer.pid, src, b"partial!");
    assert_eq!(
        fx.ipcm.try_write(&writer.tid, pipe, UserAddr(src), 32),
        Err(Status::BadAddress)
    );
    let info = fx.info(pipe);
    assert_eq!((info.queued, info.written), (1, 1));
    assert_eq!(fx.try_read(reader, pipe).unwrap(), b"intact");
    assert_eq!(fx.try_read(reader, pipe), Err(Status::Empty));
}

#[test]
fn reader_of_an_empty_pipe_blocks_until_a_message_is_there() {
    let fx = Fixture::new();
    let (writer, reader) = (fx.actor(), fx.actor());
    let pipe = fx.pipe(8, 2, PipeFlags::empty());
    blocked(fx.read(reader, pipe));
    assert!(fx.wakes().is_empty(), "nobody is woken before the write");
    assert_eq!(fx.info(pipe).pending_readers, 1);
    done(fx.write(writer, pipe, b"data"));
    assert_eq!(fx.wakes(), [(reader.tid, Status::Ok)]);
    assert_eq!(fx.received(reader), b"data");
}

#[test]
fn writer_to_a_full_pipe_blocks_until_there_is_room() {
    let fx = Fixture::new();
    let (writer, reader) = (fx.actor(), fx.actor());
    let pipe = fx.pipe(8, 1, PipeFlags::empty());
    done(fx.write(writer, pipe, b"first"));
    blocked(fx.write(writer, pipe, b"second"));
    assert_eq!(fx.info(pipe).pending_writers, 1);
    assert!(fx.wakes().is_empty());
    assert_eq!(fx.try_read(reader, pipe).unwrap(), b"first");
    assert_eq!(fx.wakes(), [(writer.tid, Status::Ok)]);
    assert_eq!(fx.try_read(reader, pipe).unwrap(), b"second");
}

#[test]
fn full_pipe_discards_oldest_at_any_depth() {
    for depth in [1, 2, 5] {
        let fx = Fixture::new();
        let writer = fx.actor();
        let pipe = fx.pipe(4, depth, PipeFlags::DISCARD_OLDEST);
        for i in 0..depth + 3 {
            let written = fx.try_write(writer, pipe, &[i as u8]).unwrap();
            assert_eq!(
                written.dropped_oldest,
                2 * i >= depth,
                "depth {depth}, write {i}"
            );
            // Never blocks, even with the blocking call.
            let written = done(fx.write(writer, pipe, &[100 + i as u8]));
            assert_eq!(written.dropped_oldest, 2 * i + 1 >= depth);
        }
        let info = fx.info(pipe);
        assert_eq!(info.queued, depth);
        assert_eq!(info.written, 2 * (depth as u64 + 3));
        assert_eq!(info.dropped, 2 * (depth as u64 + 3) - depth as u64);
        // Exactly the newest `depth` messages remain, oldest first.
        let all: Vec<u8> = (0..depth + 3)
            .flat_map(|i| [i as u8, 100 + i as u8])
            .collect();
        let expected: Vec<Vec<u8>> = all[all.len() - depth..].iter().map(|b| vec![*b]).collect();
        assert_eq!(fx.drain(pipe), expected);
    }
}

#[test]
fn kernel_caller_uses_direct_buffers_and_never_blocks() {
    let fx = Fixture::new();
    let pipe = fx.pipe(8, 1, PipeFlags::empty());
    let mut buf = [0u8; 8];
    assert_eq!(fx.ipcm.kernel_read(pipe, &mut buf), Err(Status::Empty));
    assert_eq!(fx.ipcm.kernel_peek(pipe, &mut buf), Err(Status::Empty));
    let written = fx.ipcm.kernel_write(pipe, b"kernel").unwrap();
    assert!(!written.handed_off && !written.dropped_oldest);
    assert_eq!(fx.ipcm.kernel_write(pipe, b"again"), Err(Status::Full));
    assert_eq!(fx.ipcm.kernel_peek(pipe, &mut buf), Ok(6));
    assert_eq!(fx.ipcm.kernel_read(pipe, &mut buf), Ok(6));
    assert_eq!(&buf[..6], b"kernel");
    let info = fx.info(pipe);
    assert_eq!((info.pending_readers, info.pending_writers), (0, 0));
    assert!(fx.wakes().is_empty());
}

#[test]
fn kernel_write_hands_off_to_a_pending_reader() {
    let fx = Fixture::new();
    let reader = fx.actor();
    let pipe = fx.pipe(8, 1, PipeFlags::empty());
    blocked(fx.read(reader, pipe));
    assert!(fx.ipcm.kernel_write(pipe, b"irq").unwrap().handed_off);
    assert_eq!(fx.wakes(), [(reader.tid, Status::Ok)]);
    assert_eq!(fx.received(reader), b"irq");
}

#[test]
fn named_pipes_are_found_by_name_and_names_are_unique() {
    let fx = Fixture::new();
    let id = fx
        .ipcm
        .create(
            Caller::Kernel,
            Some("dummy-pipe"),
            16,
            60,
            PipeFlags::empty(),
        )
        .unwrap();
    assert_eq!(fx.ipcm.lookup_by_name("dummy-pipe"), Ok(id));
    assert_eq!(fx.ipcm.lookup_by_name("other"), Err(Status::NotFound));
    assert_eq!(
        fx.ipcm.create(
            Caller::Kernel,
            Some("dummy-pipe"),
            16,
            60,
            PipeFlags::empty()
        ),
        Err(Status::NameTaken)
    );
    let handle = fx.ipcm.open(id).unwrap();
    assert_eq!(handle.name(), Some("dummy-pipe"));
    assert_eq!((handle.msg_size(), handle.max_msgs()), (16, 60));
    assert_eq!(fx.ipcm.pipe_count(), 1);
}

#[test]
fn info_reports_sizes_flags_contents_waiters_and_counters() {
    let fx = Fixture::new();
    let owner = fx.actor();
    let (reader, peeker) = (fx.actor(), fx.actor());
    let flags = PipeFlags::OWNER_WRITE | PipeFlags::PRIORITY_WAITERS;
    let pipe = fx
        .ipcm
        .create(Caller::Thread(&owner.tid), None, 24, 4, flags)
        .unwrap();
    blocked(fx.read(reader, pipe));
    blocked(fx.peek(peeker, pipe));
    let info = fx.info(pipe);
    assert_eq!(info.id, pipe);
    assert_eq!(
        (info.msg_size, info.max_msgs, info.flags, info.owner),
        (24, 4, flags, owner.pid)
    );
    assert_eq!(
        (
            info.queued,
            info.pending_readers,
            info.pending_peekers,
            info.pending_writers
        ),
        (0, 1, 1, 0)
    );
    done(fx.write(owner, pipe, b"1"));
    done(fx.write(owner, pipe, b"2"));
    let info = fx.info(pipe);
    assert_eq!(
        (info.queued, info.written, info.read, info.dropped),
        (1, 2, 1, 0)
    );
    assert_eq!((info.pending_readers, info.pending_peekers), (0, 0));
}

/// Blackboard: depth 1, discard-oldest; several peekers see the freshest value.
#[test]
fn blackboard_peekers_see_the_freshest_value() {
    let fx = Fixture::new();
    let sensor = fx.actor();
    let displays: Vec<Actor> = (0..3).map(|_| fx.actor()).collect();
    let board = fx.pipe(8, 1, PipeFlags::DISCARD_OLDEST);
    // Displays that look before anything was published wait, and all of
    // them get the first value.
    for display in &displays {
        blocked(fx.peek(*display, board));
    }
    done(fx.write(sensor, board, &1u64.to_le_bytes()));
    let woken: Vec<ThreadId> = fx
        .wakes()
        .into_iter()
        .map(|(t, s)| {
            assert_eq!(s, Status::Ok);
            t
        })
        .collect();
    assert_eq!(woken, displays.iter().map(|d| d.tid).collect::<Vec<_>>());
    for display in &displays {
        assert_eq!(fx.received(*display), 1u64.to_le_bytes());
    }
    for value in 2..20u64 {
        done(fx.write(sensor, board, &value.to_le_bytes()));
        for display in &displays {
            assert_eq!(done(fx.peek(*display, board)), 8);
            assert_eq!(fx.received(*display), value.to_le_bytes(), "freshest value");
        }
    }
    let info = fx.info(board);
    assert_eq!(
        (info.queued, info.written, info.dropped, info.read),
        (1, 19, 18, 0)
    );
}

/// Token semaphore: depth N pre-filled with N tokens; read acquires, write
/// releases, and more than N holders is impossible.
#[test]
fn token_semaphore_never_over_admits() {
    const TOKENS: usize = 3;
    let fx = Fixture::new();
    let sem = fx.pipe(1, TOKENS, PipeFlags::empty());
    for _ in 0..TOKENS {
        fx.ipcm.kernel_write(sem, b"T").unwrap();
    }
    let workers: Vec<Actor> = (0..7).map(|_| fx.actor()).collect();
    let mut holders: Vec<Actor> = Vec::new();
    let mut waiting: Vec<Actor> = Vec::new();
    let mut high_water = 0;
    for round in 0..40 {
        let worker = workers[round % workers.len()];
        if holders.contains(&worker) {
            // Release: the token goes to the oldest waiter, or back in the pipe.
            holders.retain(|h| *h != worker);
            done(fx.write(worker, sem, b"T"));
        } else if !waiting.contains(&worker) {
            match fx.read(worker, sem).unwrap() {
                Progress::Done(1) => holders.push(worker),
                Progress::Done(n) => panic!("token of length {n}"),
                Progress::Blocked(_) => waiting.push(worker),
            }
        }
        for (tid, status) in fx.wakes() {
            assert_eq!(status, Status::Ok);
            let at = waiting
                .iter()
                .position(|w| w.tid == tid)
                .expect("woken worker was waiting");
            holders.push(waiting.remove(at));
        }
        high_water = high_water.max(holders.len());
        assert!(
            holders.len() <= TOKENS,
            "{} holders of {TOKENS} tokens",
            holders.len()
        );
        assert_eq!(
            holders.len() + fx.info(sem).queued,
            TOKENS,
            "tokens are conserved"
        );
    }
    assert_eq!(high_water, TOKENS);
}

/// Message passing: a client and a server in different address spaces,
/// with a request and a reply pipe.
#[test]
fn message_passing_between_address_spaces() {
    let fx = Fixture::new();
    let (client, server) = (fx.actor(), fx.actor());
    let requests = fx
        .ipcm
        .create(
            Caller::Thread(&server.tid),
            Some("req"),
            32,
            4,
            PipeFlags::OWNER_READ,
        )
        .unwrap();
    let replies = fx
        .ipcm
        .create(
            Caller::Thread(&server.tid),
            Some("rep"),
            32,
            4,
            PipeFlags::OWNER_WRITE,
        )
        .unwrap();
    for n in 0..10u32 {
        blocked(fx.read(server, requests));
        let request = format!("square {n}");
        done(fx.write(
            client,
            fx.ipcm.lookup_by_name("req").unwrap(),
            request.as_bytes(),
        ));
        assert_eq!(fx.wakes(), [(server.tid, Status::Ok)]);
        // The request arrived in the server's own address space.
        let got = String::from_utf8(fx.received(server)).unwrap();
        assert_eq!(got, request);
        blocked(fx.read(client, replies));
        let n: u32 = got.trim_start_matches("square ").parse().unwrap();
        done(fx.write(server, replies, &(n * n).to_le_bytes()));
        assert_eq!(fx.wakes(), [(client.tid, Status::Ok)]);
        assert_eq!(fx.received(client), (n * n).to_le_bytes());
    }
    // The client's memory never held the server's buffers and vice versa.
    assert_ne!(
        fx.kernel().peek_memory(client.pid, DST, 4),
        fx.kernel().peek_memory(server.pid, DST, 4)
    );
}

/// DESIGN §5: a copy done under a pipe's lock is bounded by `msg_size` (the
/// length word aside), whatever lengths callers allege.
#[test]
fn copies_under_the_lock_are_bounded_by_msg_size() {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use ipcm::testing::SpinLock;
    use ipcm::{Fault, Ipcm, Kernel};

    struct Recording {
        inner: TestKernel,
        longest: AtomicUsize,
    }
    impl Kernel for Recording {
        type Thread = ThreadId;
        fn copy_from_user(&self, t: &ThreadId, src: UserAddr, dst: &mut [u8]) -> Result<(), Fault> {
            self.longest.fetch_max(dst.len(), Ordering::Relaxed);
            self.inner.copy_from_user(t, src, dst)
        }
        fn copy_to_user(&self, t: &ThreadId, dst: UserAddr, src: &[u8]) -> Result<(), Fault> {
            self.longest.fetch_max(src.len(), Ordering::Relaxed);
            self.inner.copy_to_user(t, dst, src)
        }
        fn wake(&self, t: ThreadId, status: Status) {
            self.inner.wake(t, status);
        }
        fn process_of(&self, t: &ThreadId) -> ProcessId {
            self.inner.process_of(t)
        }
    }

    const MSG_SIZE: usize = 24;
    let ipcm = Ipcm::<SpinLock, _>::new(Recording {
        inner: TestKernel::new(),
        longest: AtomicUsize::new(0),
    });
    let kernel = &ipcm.kernel().inner;
    let actors: Vec<ThreadId> = (1..=4)
        .map(|pid| {
            let tid = kernel.spawn(ProcessId(pid), Priority::default());
            for base in [SRC, DST, LEN] {
                kernel.map(ProcessId(pid), base, SPAN, Perm::ReadWrite);
            }
            tid
        })
        .collect();
    let pipe = ipcm
        .create(Caller::Kernel, None, MSG_SIZE, 2, PipeFlags::empty())
        .unwrap();
    let (src, dst, len) = (UserAddr(SRC), UserAddr(DST), UserAddr(LEN));
    // Oversized allegations are refused before any copy.
    for alleged in [MSG_SIZE + 1, SPAN, usize::MAX] {
        assert_eq!(
            ipcm.try_write(&actors[0], pipe, src, alleged),
            Err(Status::TooLarge)
        );
    }
    // Every path that copies: queue, peek, read, hand-off to readers and
    // peekers, admission of pending writers.
    assert!(matches!(
        ipcm.peek(&actors[1], pipe, dst, len),
        Ok(Progress::Blocked(_))
    ));
    assert!(matches!(
        ipcm.read(&actors[2], pipe, dst, len),
        Ok(Progress::Blocked(_))
    ));
    let _ = ipcm.try_write(&actors[0], pipe, src, MSG_SIZE).unwrap();
    for _ in 0..3 {
        let _ = ipcm.write(&actors[0], pipe, src, MSG_SIZE).unwrap();
    }
    assert!(matches!(
        ipcm.write(&actors[3], pipe, src, MSG_SIZE),
        Ok(Progress::Blocked(_))
    ));
    assert_eq!(ipcm.try_peek(&actors[1], pipe, dst, len), Ok(MSG_SIZE));
    assert_eq!(ipcm.try_read(&actors[1], pipe, dst, len), Ok(MSG_SIZE));
    let longest = ipcm.kernel().longest.load(Ordering::Relaxed);
    assert_eq!(longest, MSG_SIZE.max(size_of::<usize>()));
}
