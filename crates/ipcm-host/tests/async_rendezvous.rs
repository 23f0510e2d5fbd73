//! Async reads of a rendezvous pipe (depth 0): a write completes only by
//! handing its message to a waiting blocking reader, so a future (which
//! waits as a peek) would wait for ever. They are refused at once with
//! `BadParam`; each test runs under a watchdog so a hang fails it.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use ipcm_host::{Error, Ipc, Select};

fn within<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || tx.send(f()).ok());
    rx.recv_timeout(Duration::from_secs(20))
        .expect("hung: no answer in 20 s")
}

#[test]
fn an_async_read_of_a_rendezvous_pipe_is_refused_at_once_not_left_hanging() {
    within(|| {
        let ipc = Ipc::new();
        let pipe = ipc.pipe(8, 0).create().unwrap();
        let mut buf = [0_u8; 8];
        let read = futures::executor::block_on(pipe.read_async(&mut buf));
        assert!(matches!(read, Err(Error::BadParam { .. })), "{read:?}");
        let read = futures::executor::block_on(pipe.read_seq_async(&mut buf));
        assert!(matches!(read, Err(Error::BadParam { .. })), "{read:?}");
        // The blocking read still meets a writer.
        let writer = {
            let pipe = pipe.clone();
            thread::spawn(move || pipe.write(b"meet").unwrap())
        };
        assert_eq!(pipe.read(&mut buf).unwrap(), 4);
        writer.join().unwrap();
    });
}

#[test]
fn an_async_select_reading_a_rendezvous_pipe_is_refused_before_anything_happens() {
    within(|| {
        let ipc = Ipc::new();
        let (ready, pipe) = (
            ipc.pipe(8, 1).create().unwrap(),
            ipc.pipe(8, 0).create().unwrap(),
        );
        ready.write(b"kept").unwrap();
        let (mut a, mut b) = ([0_u8; 8], [0_u8; 8]);
        let done = futures::executor::block_on(
            Select::new()
                .read(&ready, &mut a)
                .read(&pipe, &mut b)
                .wait_async(),
        );
        assert!(matches!(done, Err(Error::BadParam { .. })), "{done:?}");
        assert_eq!(ready.info().unwrap().queued, 1, "a member happened");
    });
}
