//! Property test: random sequences of the owned-value idioms (`read_to_vec`,
//! `try_iter`, ends, clones and drops of handles, re-creating a named pipe)
//! against a reference model: a `VecDeque` of messages and a handle count.
//!
//! Pins down: `try_iter` and `try_read_to_vec` return exactly the queued
//! messages in order and leave the rest; a failed read leaves the `Vec` as
//! it was; the pipe (and its name) lives exactly as long as its handles.

use std::collections::VecDeque;

use ipcm_host::{Error, Ipc, Pipe};
use proptest::prelude::*;

const MSG_SIZE: usize = 8;
const DEPTH: usize = 4;
const NAME: &str = "modelled";

#[derive(Clone, Debug)]
enum Op {
    /// `try_write` of a message of this length through handle `by`.
    Write { by: usize, len: usize },
    /// `try_read_to_vec` onto a Vec holding `prefix` bytes.
    ReadToVec { prefix: usize },
    /// `try_iter().take(n)` through a `Receiver`.
    TakeSome { n: usize },
    /// Clone handle `by` (through a `Sender` or a plain clone).
    Clone { by: usize, as_sender: bool },
    /// Drop handle `by`.
    Drop { by: usize },
    /// Open by name: must find the pipe exactly while a handle lives.
    Open,
}

fn op() -> impl Strategy<Value = Op> {
    let by = 0..4_usize;
    prop_oneof![
        3 => (by.clone(), 0..=MSG_SIZE).prop_map(|(by, len)| Op::Write { by, len }),
        2 => (0..3_usize).prop_map(|prefix| Op::ReadToVec { prefix }),
        1 => (0..6_usize).prop_map(|n| Op::TakeSome { n }),
        1 => (by.clone(), any::<bool>()).prop_map(|(by, as_sender)| Op::Clone { by, as_sender }),
        1 => by.prop_map(|by| Op::Drop { by }),
        1 => Just(Op::Open),
    ]
}

/// A handle of either kind; both keep the pipe alive.
enum Handle {
    Pipe(Pipe),
    Sender(ipcm_host::Sender),
}

impl Handle {
    fn write(&self, msg: &[u8]) -> Result<(), Error> {
        match self {
            Handle::Pipe(pipe) => pipe.try_write(msg).map(drop),
            Handle::Sender(tx) => tx.try_write(msg).map(drop),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn owned_value_idioms_match_the_model(ops in proptest::collection::vec(op(), 1..80)) {
        let ipc = Ipc::new();
        let mut handles = vec![Handle::Pipe(ipc.pipe(MSG_SIZE, DEPTH).name(NAME).create().unwrap())];
        let mut queue: VecDeque<Vec<u8>> = VecDeque::new();
        let mut next = 0_u8;
        for op in ops {
            if handles.is_empty() {
                // The last handle went: the pipe and its messages are gone,
                // and the name can be taken again.
                let gone = matches!(ipc.open(NAME), Err(Error::NotFound { .. }));
                prop_assert!(gone, "the name outlived the last handle");
                prop_assert_eq!(ipc.pipe_count(), 0);
                handles.push(Handle::Pipe(ipc.pipe(MSG_SIZE, DEPTH).name(NAME).create().unwrap()));
                queue.clear();
            }
            let pick = |by: usize| by % handles.len();
            // A plain pipe handle to read through (a Sender cannot).
            let reader = || ipc.open(NAME).unwrap();
            match op {
                Op::Write { by, len } => {
                    next = next.wrapping_add(1);
                    let msg = vec![next; len];
                    let result = handles[pick(by)].write(&msg);
                    if queue.len() < DEPTH {
                        prop_assert_eq!(result, Ok(()));
                        queue.push_back(msg);
                    } else {
                        prop_assert_eq!(result, Err(Error::Full));
                    }
                }
                Op::ReadToVec { prefix } => {
                    let mut buf = vec![0xEE; prefix];
                    let result = reader().try_read_to_vec(&mut buf);
                    match queue.pop_front() {
                        Some(msg) => {
                            prop_assert_eq!(result, Ok(msg.len()));
                            prop_assert_eq!(&buf[..prefix], &vec![0xEE; prefix][..]);
                            prop_assert_eq!(&buf[prefix..], &msg[..]);
                        }
                        None => {
                            prop_assert_eq!(result, Err(Error::Empty));
                            prop_assert_eq!(buf, vec![0xEE; prefix]);
                        }
                    }
                }
                Op::TakeSome { n } => {
                    let rx = reader().receiver();
                    let got: Vec<Vec<u8>> = rx.try_iter().take(n).collect::<Result<_, _>>().unwrap();
                    let expected: Vec<Vec<u8>> = (0..n).map_while(|_| queue.pop_front()).collect();
                    prop_assert_eq!(got, expected);
                }
                Op::Clone { by, as_sender } => {
                    let handle = match &handles[pick(by)] {
                        Handle::Pipe(pipe) if as_sender => Handle::Sender(pipe.sender()),
                        Handle::Pipe(pipe) => Handle::Pipe(pipe.clone()),
                        Handle::Sender(tx) => Handle::Sender(tx.clone()),
                    };
                    handles.push(handle);
                }
                Op::Drop { by } => {
                    let index = pick(by);
                    handles.swap_remove(index);
                }
                Op::Open => {
                    let _ = reader();
                }
            }
            prop_assert_eq!(ipc.pipe_count(), usize::from(!handles.is_empty()));
        }
    }
}
