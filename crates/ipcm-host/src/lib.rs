//! The LuKOS IPC manager hosted on std: message pipes between the OS threads
//! of one process, with a typed, safe API.
//!
//! ```
//! use std::thread;
//! use ipcm_host::{Error, Ipc};
//!
//! let ipc = Ipc::new();
//! // A pipe of up to 4 messages of up to 32 bytes; writers wait when it is full.
//! let pipe = ipc.pipe(32, 4).name("greetings").create()?;
//!
//! let reader = {
//!     let pipe = ipc.open("greetings")?;
//!     thread::spawn(move || -> Result<Vec<u8>, Error> {
//!         let mut buf = [0; 32];
//!         let len = pipe.read(&mut buf)?; // waits for a message
//!         Ok(buf[..len].to_vec())
//!     })
//! };
//! pipe.write(b"hello")?;
//! assert_eq!(reader.join().unwrap()?, b"hello");
//! # Ok::<(), Error>(())
//! ```
//!
//! The core, [`ipcm`], is the kernel component; this crate is the std
//! "kernel" under it: a thread is an OS thread, a thread whose operation
//! cannot complete spins briefly and then parks, and the operation that
//! clears the condition completes the waiting one by copying straight
//! into (or out of) the buffer the waiting thread lent, then unparks it.
//! So a woken reader returns with its message, never to retry.
//!
//! - [`Ipc`] is one manager (there is no global one) seen from one process;
//!   [`Ipc::pipe`] creates pipes, [`Ipc::open`] finds them by name.
//! - [`Pipe`] reads, peeks and writes bytes: blocking, `try_`, `_timeout`
//!   and `_deadline` variants. An operation that needs no waiting takes the
//!   pipe's lock once: no system call, no allocation.
//! - The three usage patterns as types: [`Blackboard`] (the freshest value,
//!   for any number of readers), [`TokenSemaphore`] (N permits, released
//!   when a [`Permit`] drops) and [`MessagePipe`] (whole values of a type).
//! - Errors are an [`Error`] whose message says what to do.
//!
//! Timeouts never lose or duplicate anything: a read that times out took no
//! message, a write that times out wrote none; if the operation completed
//! while the timeout fired, the completion is what the caller sees.

#![deny(unsafe_code)]
#![warn(missing_docs)]

mod blackboard;
mod error;
mod ipc;
mod kernel;
mod message;
mod pipe;
mod queue_ops;
mod select;
mod semaphore;
mod sync;
#[allow(unsafe_code)]
mod user_copy;

pub use blackboard::{Blackboard, Snapshot};
pub use error::Error;
pub use ipc::{Access, Ipc, OnFull, PipeBuilder};
pub use ipcm::{MAX_NAME_LEN, PipeFlags, PipeId, PipeInfo, ProcessId, Status};
pub use message::MessagePipe;
pub use pipe::{Pipe, Written};
pub use queue_ops::Numbered;
pub use select::{Select, SelectDone};
pub use semaphore::{Permit, TokenSemaphore};
