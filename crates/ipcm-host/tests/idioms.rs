//! The idioms a crossbeam-channel / flume / tokio::sync user reaches for:
//! typed ends, owned permits, iterators, `read_to_vec`, pipes freed with
//! their last handle, and errors and `Debug` output that carry the numbers.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use ipcm_host::bytemuck::{Pod, Zeroable};
use ipcm_host::{Access, Error, Ipc, MessagePipe, Pipe, PipeFlags, Sender, TokenSemaphore};

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < give_up, "never happened: {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

fn pending_readers(pipe: &Pipe) -> usize {
    pipe.info().expect("live pipe").pending_readers
}

// ---- typed ends -------------------------------------------------------

#[test]
fn typed_ends_carry_messages_between_threads_in_order() {
    let ipc = Ipc::new();
    let (tx, rx) = ipc.pipe(8, 2).name("ends").create().unwrap().split();
    assert_eq!((tx.id(), tx.name()), (rx.id(), Some("ends")));
    assert_eq!((rx.msg_size(), rx.depth()), (8, 2));
    fn produce(tx: Sender, producer: u32, count: u32) {
        for i in 0..count {
            let mut msg = [0; 8];
            msg[..4].copy_from_slice(&producer.to_le_bytes());
            msg[4..].copy_from_slice(&i.to_le_bytes());
            tx.write(&msg).unwrap(); // waits while 2 are queued
        }
    }
    let producers: Vec<_> = (0..2)
        .map(|producer| {
            let tx = tx.clone();
            thread::spawn(move || produce(tx, producer, 500))
        })
        .collect();
    drop(tx);
    let mut next = [0_u32; 2];
    let mut buf = [0; 8];
    for _ in 0..1000 {
        assert_eq!(rx.read(&mut buf), Ok(8));
        let producer = u32::from_le_bytes(buf[..4].try_into().unwrap()) as usize;
        let i = u32::from_le_bytes(buf[4..].try_into().unwrap());
        assert_eq!(i, next[producer], "each sender's messages arrive in order");
        next[producer] += 1;
    }
    for producer in producers {
        producer.join().unwrap();
    }
    assert_eq!(next, [500, 500]);
    // Every sender of the split is gone: the pipe is closed, and drained.
    assert_eq!(rx.try_read(&mut buf), Err(Error::Closed));
}

#[test]
fn ends_made_from_a_handle_share_its_pipe_and_leave_it_usable() {
    let ipc = Ipc::new();
    let pipe = ipc.pipe(4, 4).create().unwrap();
    let (tx, rx) = (pipe.sender(), pipe.receiver());
    tx.try_write(b"a").unwrap();
    pipe.write(b"b").unwrap();
    let mut buf = [0; 4];
    assert_eq!(rx.peek(&mut buf), Ok(1));
    assert_eq!(pipe.read(&mut buf), Ok(1));
    assert_eq!(rx.read_timeout(&mut buf, Duration::from_secs(5)), Ok(1));
    assert_eq!(&buf[..1], b"b");
    assert_eq!(
        rx.read_timeout(&mut buf, Duration::from_millis(1)),
        Err(Error::TimedOut)
    );
    assert_eq!(tx.info().unwrap().written, 2);
}

#[test]
fn message_ends_carry_values_and_iterate() {
    #[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
    #[repr(C)]
    #[bytemuck(crate = "ipcm_host::bytemuck")]
    struct Job {
        id: u32,
        cost: u32,
    }
    let ipc = Ipc::new();
    let (tx, rx) = MessagePipe::<Job>::create(&ipc, None, 2).unwrap().split();
    assert_eq!(tx.id(), rx.id());
    let producer = thread::spawn(move || {
        for id in 0..100 {
            tx.send(&Job { id, cost: id * 2 }).unwrap();
        }
    });
    for id in 0..100 {
        assert_eq!(rx.recv(), Ok(Job { id, cost: id * 2 }));
    }
    producer.join().unwrap();
    // The split's one sender is gone: the pipe is closed, and drained.
    assert_eq!(rx.try_recv(), Err(Error::Closed));

    // Ends made one at a time belong to no split and close nothing.
    let pipe = MessagePipe::<Job>::create(&ipc, None, 2).unwrap();
    let again = pipe.receiver();
    let tx = MessagePipe::<Job>::from_pipe(ipc.open_id(pipe.pipe().id()).unwrap())
        .unwrap()
        .sender();
    tx.try_send(&Job { id: 7, cost: 1 }).unwrap();
    drop(tx);
    let drained: Vec<Job> = again.try_iter().collect::<Result<_, _>>().unwrap();
    assert_eq!(drained, [Job { id: 7, cost: 1 }]);
    assert_eq!(
        again.recv_timeout(Duration::from_millis(1)),
        Err(Error::TimedOut)
    );
}

#[test]
fn dropping_the_last_sender_of_a_split_wakes_a_blocked_receiver_with_closed() {
    let ipc = Ipc::new();
    let (tx, rx) = ipc.pipe(4, 1).create().unwrap().split();
    let pipe = ipc.open_id(rx.id()).unwrap();
    // Timed, so that a missing disconnect fails rather than hangs.
    let reader = thread::spawn(move || rx.read_timeout(&mut [0; 4], Duration::from_secs(20)));
    wait_until("the reader waits", || pending_readers(&pipe) == 1);
    let clone = tx.clone();
    drop(tx);
    // A clone keeps the split connected.
    assert_eq!(pending_readers(&pipe), 1);
    drop(clone);
    assert_eq!(reader.join().unwrap(), Err(Error::Closed));
}

#[test]
fn receivers_drain_what_is_queued_after_the_last_sender_goes() {
    let ipc = Ipc::new();
    let (tx, rx) = ipc.pipe(4, 4).create().unwrap().split();
    for msg in [b"a", b"b"] {
        tx.write(msg).unwrap();
    }
    drop(tx);
    let got: Vec<Vec<u8>> = rx.iter().collect::<Result<_, _>>().unwrap();
    assert_eq!(got, [b"a".to_vec(), b"b".to_vec()]);
    assert_eq!(rx.read(&mut [0; 4]), Err(Error::Closed));
}

#[test]
fn dropping_the_last_receiver_of_a_split_fails_writes_with_closed() {
    let ipc = Ipc::new();
    let (tx, rx) = ipc.pipe(4, 1).create().unwrap().split();
    tx.write(b"full").unwrap();
    let pipe = ipc.open_id(tx.id()).unwrap();
    let writer = thread::spawn(move || tx.write_timeout(b"more", Duration::from_secs(20)));
    wait_until("the writer waits", || {
        pipe.info().unwrap().pending_writers == 1
    });
    let clone = rx.clone();
    drop(rx);
    assert_eq!(pipe.info().unwrap().pending_writers, 1);
    drop(clone);
    assert_eq!(writer.join().unwrap(), Err(Error::Closed));
    assert_eq!(pipe.try_write(b"x"), Err(Error::Closed));
}

#[test]
fn message_ends_of_a_split_disconnect_too() {
    let ipc = Ipc::new();
    let (tx, rx) = MessagePipe::<u32>::create(&ipc, None, 2).unwrap().split();
    tx.send(&1).unwrap();
    drop(tx);
    assert_eq!(rx.iter().collect::<Result<Vec<_>, _>>(), Ok(vec![1]));
    assert_eq!(rx.recv(), Err(Error::Closed));

    let (tx, rx) = MessagePipe::<u32>::create(&ipc, None, 2).unwrap().split();
    drop(rx);
    assert_eq!(tx.try_send(&2), Err(Error::Closed));
}

#[test]
fn ends_made_one_at_a_time_never_close_the_pipe() {
    let ipc = Ipc::new();
    let pipe = ipc.pipe(4, 2).create().unwrap();
    drop(pipe.sender());
    drop(pipe.receiver());
    pipe.sender().write(b"ok").unwrap();
    assert_eq!(pipe.receiver().try_read(&mut [0; 4]), Ok(2));
    // Nor does a split of another handle of the same pipe while its ends
    // live: only the split's own last end closes.
    let (tx, rx) = pipe.clone().split();
    drop(pipe.receiver());
    tx.write(b"more").unwrap();
    assert_eq!(rx.try_read(&mut [0; 4]), Ok(4));
}

// ---- owned permits ----------------------------------------------------

#[test]
fn an_owned_permit_moved_into_a_thread_is_released_there() {
    let ipc = Ipc::new();
    let semaphore = TokenSemaphore::create(&ipc, None, 1).unwrap();
    let permit = semaphore.acquire_owned().unwrap();
    assert_eq!(semaphore.try_acquire_owned().err(), Some(Error::Empty));
    let (release, released) = mpsc::channel::<()>();
    let holder = thread::spawn(move || {
        assert_eq!(permit.semaphore().available(), Ok(0));
        released.recv().unwrap(); // hold until told
        drop(permit);
    });
    // The main thread waits on the token the other thread holds.
    let waiter = {
        let semaphore = semaphore.clone();
        thread::spawn(move || semaphore.acquire_owned().map(drop))
    };
    wait_until("waiter waits", || pending_readers(semaphore.pipe()) == 1);
    release.send(()).unwrap();
    holder.join().unwrap();
    assert_eq!(waiter.join().unwrap(), Ok(()));
    assert_eq!(semaphore.available(), Ok(1));
    let permit = semaphore
        .acquire_owned_timeout(Duration::from_secs(5))
        .unwrap();
    permit.release().unwrap();
    assert_eq!(semaphore.available(), Ok(1));
}

#[test]
fn an_owned_permit_keeps_its_semaphore_alive() {
    let ipc = Ipc::new();
    let semaphore = TokenSemaphore::create(&ipc, Some("pool"), 2).unwrap();
    let permit = semaphore.acquire_owned().unwrap();
    drop(semaphore);
    // The permit's own handle keeps the pipe (and its name).
    let reopened = TokenSemaphore::open(&ipc, "pool").unwrap();
    assert_eq!(reopened.available(), Ok(1));
    drop(reopened);
    drop(permit);
    assert_eq!(ipc.pipe_count(), 0);
}

// ---- iterators and read_to_vec ------------------------------------------

#[test]
fn try_iter_takes_what_is_queued_in_order_then_ends() {
    let ipc = Ipc::new();
    let (tx, rx) = ipc.pipe(8, 4).create().unwrap().split();
    for msg in [&b"one"[..], b"", b"three"] {
        tx.write(msg).unwrap();
    }
    let drained: Vec<Vec<u8>> = rx.try_iter().collect::<Result<_, _>>().unwrap();
    assert_eq!(drained, [b"one".to_vec(), Vec::new(), b"three".to_vec()]);
    let mut empty = rx.try_iter();
    assert!(empty.next().is_none());
    tx.write(b"late").unwrap();
    assert!(empty.next().is_none(), "fused after its end");
    assert_eq!(rx.try_iter().count(), 1);
}

#[test]
fn iter_waits_for_each_message_and_ends_when_the_pipe_is_destroyed() {
    let ipc = Ipc::new();
    let pipe = ipc.pipe(8, 1).create().unwrap();
    let consumer = {
        let rx = pipe.receiver();
        thread::spawn(move || (&rx).into_iter().collect::<Result<Vec<_>, _>>())
    };
    for i in 0..50_u8 {
        pipe.write(&[i; 3]).unwrap();
    }
    wait_until("consumer drained and waits", || {
        let info = pipe.info().unwrap();
        info.queued == 0 && info.pending_readers == 1
    });
    pipe.destroy().unwrap();
    let got = consumer.join().unwrap().unwrap();
    let expected: Vec<Vec<u8>> = (0..50).map(|i| vec![i; 3]).collect();
    assert_eq!(got, expected);
}

#[test]
fn iterators_yield_an_error_once_then_end() {
    let owner = Ipc::new();
    let pipe = owner
        .pipe(4, 2)
        .name("private")
        .access(Access::OwnerOnly)
        .create()
        .unwrap();
    pipe.write(b"x").unwrap();
    let other = owner.new_process().open("private").unwrap();
    let mut items = other.iter();
    assert_eq!(items.next(), Some(Err(Error::Denied)));
    assert_eq!(items.next(), None);
    let mut items = other.try_iter();
    assert_eq!(items.next(), Some(Err(Error::Denied)));
    assert_eq!(items.next(), None);
    assert_eq!(pipe.info().unwrap().queued, 1, "nothing was taken");
}

#[test]
fn message_pipe_iterators_yield_values() {
    #[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
    #[repr(C)]
    #[bytemuck(crate = "ipcm_host::bytemuck")]
    struct Sample {
        channel: u16,
        level: u16,
    }
    let ipc = Ipc::new();
    let samples: MessagePipe<Sample> = MessagePipe::create(&ipc, None, 4).unwrap();
    for channel in 0..3 {
        samples.send(&Sample { channel, level: 7 }).unwrap();
    }
    let got: Vec<Sample> = samples.try_iter().collect::<Result<_, _>>().unwrap();
    assert_eq!(got.iter().map(|s| s.channel).collect::<Vec<_>>(), [0, 1, 2]);
    samples
        .send(&Sample {
            channel: 9,
            level: 1,
        })
        .unwrap();
    let mut blocking = samples.iter();
    assert_eq!(
        blocking.next(),
        Some(Ok(Sample {
            channel: 9,
            level: 1
        }))
    );
    samples.pipe().destroy().unwrap();
    assert_eq!(blocking.next(), None);
}

#[test]
fn read_to_vec_appends_one_message_and_leaves_the_vec_alone_on_error() {
    let ipc = Ipc::new();
    let (tx, rx) = ipc.pipe(64, 2).create().unwrap().split();
    let mut buf = b"head:".to_vec();
    tx.write(b"body").unwrap();
    assert_eq!(rx.read_to_vec(&mut buf), Ok(4));
    assert_eq!(buf, b"head:body");
    assert_eq!(rx.try_read_to_vec(&mut buf), Err(Error::Empty));
    assert_eq!(buf, b"head:body");
    // A reused Vec keeps its capacity: no allocation per message.
    let capacity = buf.capacity();
    for _ in 0..10 {
        buf.clear();
        tx.write(b"again").unwrap();
        assert_eq!(rx.read_to_vec(&mut buf), Ok(5));
    }
    assert_eq!(buf.capacity(), capacity);
}

// ---- pipes freed with their last handle -----------------------------------

#[test]
fn a_named_pipe_created_and_dropped_in_a_loop_frees_its_name() {
    let ipc = Ipc::new();
    for round in 0..100_u8 {
        let pipe = ipc.pipe(4, 1).name("scratch").create().unwrap();
        pipe.write(&[round]).unwrap();
        drop(pipe);
    }
    assert_eq!(ipc.pipe_count(), 0);
}

#[test]
fn the_name_stays_taken_while_any_handle_of_any_process_lives() {
    let ipc = Ipc::new();
    let pipe = ipc.pipe(4, 1).name("kept").create().unwrap();
    let other = ipc.new_process();
    let opened = other.open("kept").unwrap();
    // Ends of no split: dropping the receiver closes nothing.
    let (tx, rx) = (opened.sender(), opened.receiver());
    drop((pipe, opened, rx));
    assert!(matches!(
        ipc.pipe(4, 1).name("kept").create(),
        Err(Error::NameTaken { .. })
    ));
    tx.write(b"x").unwrap();
    assert_eq!(ipc.open("kept").unwrap().try_read(&mut [0; 4]), Ok(1));
    drop(tx);
    assert!(matches!(ipc.open("kept"), Err(Error::NotFound { .. })));
    let _again = ipc.pipe(4, 1).name("kept").create().unwrap();
}

#[test]
fn dropping_the_handles_of_a_destroyed_pipe_frees_nothing_else() {
    let ipc = Ipc::new();
    let first = ipc.pipe(4, 1).name("d").create().unwrap();
    first.destroy().unwrap();
    let second = ipc.pipe(4, 1).name("d").create().unwrap();
    drop(first);
    assert_eq!(ipc.open("d").unwrap().id(), second.id());
}

#[test]
fn handles_cloned_and_dropped_across_threads_keep_the_pipe_until_the_last() {
    let ipc = Ipc::new();
    let pipe = ipc.pipe(4, 64).name("shared").create().unwrap();
    let workers: Vec<_> = (0..8_u8)
        .map(|worker| {
            let pipe = pipe.clone();
            thread::spawn(move || {
                for _ in 0..1000 {
                    let (tx, rx) = (pipe.sender(), pipe.receiver());
                    drop(rx);
                    drop(tx.clone());
                    drop(tx);
                }
                pipe.write(&[worker]).unwrap();
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    assert_eq!(
        pipe.info().unwrap().queued,
        8,
        "the pipe outlived every clone"
    );
    drop(pipe);
    assert_eq!(ipc.pipe_count(), 0);
    assert!(matches!(ipc.open("shared"), Err(Error::NotFound { .. })));
}

#[test]
fn an_open_racing_the_last_drop_gets_a_live_pipe_or_none() {
    let ipc = Ipc::new();
    let creator = {
        let ipc = ipc.clone();
        thread::spawn(move || {
            for _ in 0..2000 {
                let builder = ipc.pipe(4, 1).name("race");
                match builder.on_full(ipcm_host::OnFull::DiscardOldest).create() {
                    Ok(pipe) => drop(pipe),
                    // The opener holds the last handle of the previous one.
                    Err(Error::NameTaken { .. }) => thread::yield_now(),
                    Err(other) => panic!("create: {other}"),
                }
            }
        })
    };
    let mut opened = 0;
    while !creator.is_finished() {
        if let Ok(pipe) = ipc.open("race") {
            // A handle from open is never one to a pipe being freed (and
            // a discarding pipe is never Full).
            assert_eq!(pipe.try_write(b"x").map(|_| ()), Ok(()));
            opened += 1;
        }
    }
    creator.join().unwrap();
    assert_eq!(ipc.pipe_count(), 0);
    eprintln!("opened {opened} times");
}

// ---- errors and Debug with the numbers in them ----------------------------

#[test]
fn a_short_receive_buffer_error_gives_both_sizes() {
    let ipc = Ipc::new();
    let pipe = ipc.pipe(64, 1).name("wide").create().unwrap();
    let error = pipe.read(&mut [0; 16]).unwrap_err();
    assert_eq!(error.status(), ipcm_host::Status::BadParam);
    let text = error.to_string();
    assert!(
        text.contains("the receive buffer is 16 bytes, shorter than the msg_size of 64 bytes"),
        "{text}"
    );
    assert!(text.contains("\"wide\""), "{text}");
}

#[test]
fn not_found_names_the_name_or_id_asked_for() {
    let ipc = Ipc::new();
    let text = ipc.open("sensors").unwrap_err().to_string();
    assert!(text.contains("no pipe is named \"sensors\""), "{text}");
    let pipe = ipc.pipe(1, 1).create().unwrap();
    let id = pipe.id();
    pipe.destroy().unwrap();
    let text = ipc.open_id(id).unwrap_err().to_string();
    assert!(text.contains(&format!("{id} does not exist")), "{text}");
    assert!(text.starts_with("pipe "), "{text}");
}

#[test]
fn bad_parameters_are_reported_with_their_values() {
    let ipc = Ipc::new();
    let text = |result: Result<Pipe, Error>| result.unwrap_err().to_string();
    let zero = text(ipc.pipe(0, 3).create());
    assert!(zero.contains("msg_size is 0 and depth is 3"), "{zero}");
    let huge = text(ipc.pipe(usize::MAX, 2).create());
    assert!(
        huge.contains(&format!("msg_size {} * depth 2", usize::MAX)),
        "{huge}"
    );
    let long = "n".repeat(65);
    let named = text(ipc.pipe(1, 1).name(&long).create());
    assert!(
        named.contains("is 65 bytes") && named.contains("1 to 64 bytes"),
        "{named}"
    );
    let nul = text(ipc.open("a\0b").map(|_| unreachable!()));
    assert!(nul.contains("with a NUL"), "{nul}");

    let _three = ipc.pipe(3, 1).name("three").create().unwrap();
    let typed = MessagePipe::<u32>::open(&ipc, "three")
        .unwrap_err()
        .to_string();
    assert!(
        typed.contains("is 3 bytes, not the 4 bytes of u32") && typed.contains("\"three\""),
        "{typed}"
    );
    let semaphore = TokenSemaphore::open(&ipc, "three").unwrap_err().to_string();
    assert!(semaphore.contains("msg_size is 3 bytes"), "{semaphore}");
}

#[test]
fn debug_of_ids_and_flags_reads_like_display() {
    let ipc = Ipc::new();
    let pipe = ipc
        .pipe(4, 1)
        .access(Access::OwnerReads)
        .on_full(ipcm_host::OnFull::DiscardOldest)
        .create()
        .unwrap();
    let id = pipe.id();
    assert_eq!(format!("{id:?}"), id.to_string());
    assert!(id.to_string().starts_with("pipe "));
    let info = format!("{:?}", pipe.info().unwrap());
    assert!(info.contains(&format!("id: {id},")), "{info}");
    assert!(
        info.contains("flags: DISCARD_OLDEST | OWNER_READ,"),
        "{info}"
    );
    let flags = PipeFlags::OWNER_WRITE;
    assert_eq!(format!("{flags:?}"), flags.to_string());
}
