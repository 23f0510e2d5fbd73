//! Model checks (loom) of the hosted kernel's park/wake hand-off and of a
//! timeout racing the completion of the same operation. Under loom a timed
//! wait gives way once and then finds its deadline passed, so loom explores
//! the cancel at every point of the other thread's operation.
//!
//! `RUSTFLAGS="--cfg loom" cargo test -p ipcm-host --release --test loom`
#![cfg(loom)]

use std::time::Duration;

use ipcm_host::{Error, Ipc};
use loom::thread;

fn model(test: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(test);
}

const LONG: Duration = Duration::from_secs(3600);

#[test]
fn a_blocked_reader_is_woken_with_the_message() {
    model(|| {
        let ipc = Ipc::new();
        let pipe = ipc.pipe(1, 1).create().unwrap();
        let reader = {
            let pipe = pipe.clone();
            thread::spawn(move || {
                let mut buf = [0];
                pipe.read(&mut buf).map(|_| buf[0])
            })
        };
        pipe.write(&[7]).unwrap();
        assert_eq!(reader.join().unwrap(), Ok(7));
        assert_eq!(pipe.try_read(&mut [0]), Err(Error::Empty));
    });
}

#[test]
fn a_blocked_writer_is_admitted_by_a_read() {
    model(|| {
        let ipc = Ipc::new();
        let pipe = ipc.pipe(1, 1).create().unwrap();
        pipe.write(&[1]).unwrap();
        let writer = {
            let pipe = pipe.clone();
            thread::spawn(move || pipe.write(&[2]).map(|_| ()))
        };
        let mut buf = [0];
        assert_eq!(pipe.read(&mut buf), Ok(1));
        assert_eq!(buf, [1]);
        assert_eq!(writer.join().unwrap(), Ok(()));
        assert_eq!(pipe.try_read(&mut buf), Ok(1));
        assert_eq!(buf, [2]);
    });
}

#[test]
fn a_read_timeout_racing_a_write_has_exactly_one_outcome() {
    model(|| {
        let ipc = Ipc::new();
        let pipe = ipc.pipe(1, 1).create().unwrap();
        let reader = {
            let pipe = pipe.clone();
            thread::spawn(move || {
                let mut buf = [0];
                pipe.read_timeout(&mut buf, LONG).map(|_| buf[0])
            })
        };
        pipe.write(&[7]).unwrap();
        let outcome = reader.join().unwrap();
        let left = pipe.try_read(&mut [0]);
        match outcome {
            Ok(7) => assert_eq!(left, Err(Error::Empty)),
            Err(Error::TimedOut) => assert_eq!(left, Ok(1)),
            other => panic!("unexpected {other:?}"),
        }
    });
}

#[test]
fn a_write_timeout_racing_a_read_has_exactly_one_outcome() {
    model(|| {
        let ipc = Ipc::new();
        let pipe = ipc.pipe(1, 1).create().unwrap();
        pipe.write(&[1]).unwrap();
        let writer = {
            let pipe = pipe.clone();
            thread::spawn(move || pipe.write_timeout(&[2], LONG).map(|_| ()))
        };
        let mut buf = [0];
        assert_eq!(pipe.read(&mut buf), Ok(1));
        let outcome = writer.join().unwrap();
        let left = pipe.try_read(&mut buf).map(|_| buf[0]);
        match outcome {
            Ok(()) => assert_eq!(left, Ok(2)),
            Err(Error::TimedOut) => assert_eq!(left, Err(Error::Empty)),
            other => panic!("unexpected {other:?}"),
        }
    });
}

#[test]
fn destroy_racing_a_blocked_read_wakes_it_once() {
    model(|| {
        let ipc = Ipc::new();
        let pipe = ipc.pipe(1, 1).create().unwrap();
        let reader = {
            let pipe = pipe.clone();
            thread::spawn(move || pipe.read_timeout(&mut [0], LONG))
        };
        pipe.destroy().unwrap();
        let outcome = reader.join().unwrap();
        assert!(
            matches!(outcome, Err(Error::Destroyed | Error::TimedOut)),
            "{outcome:?}"
        );
    });
}

#[test]
fn an_open_racing_the_last_drop_finds_a_live_pipe_or_none() {
    model(|| {
        let ipc = Ipc::new();
        let pipe = ipc.pipe(1, 1).name("last").create().unwrap();
        let opener = {
            let ipc = ipc.clone();
            thread::spawn(move || match ipc.open("last") {
                // A handle from open is never one to a pipe being freed.
                Ok(pipe) => pipe.try_write(&[1]).map(|_| ()),
                Err(Error::NotFound { .. }) => Ok(()),
                Err(other) => Err(other),
            })
        };
        drop(pipe);
        assert_eq!(opener.join().unwrap(), Ok(()));
        // Whichever handle went last freed the pipe and its name.
        assert_eq!(ipc.pipe_count(), 0);
    });
}
