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
//! cannot complete spins for at most what a park costs on this machine
//! (learned as it runs) and then parks, and the operation that
//! clears the condition completes the waiting one by copying straight
//! into (or out of) the buffer the waiting thread lent, then unparks it.
//! So a woken reader returns with its message, never to retry.
//!
//! - [`Ipc`] is one manager (there is no global one) seen from one process;
//!   [`Ipc::pipe`] creates pipes, [`Ipc::open`] finds them by name.
//! - [`Pipe`] reads, peeks and writes bytes: blocking, `try_`, `_timeout`
//!   and `_deadline` variants. An operation that needs no waiting takes the
//!   pipe's lock once: no system call, no allocation. [`Pipe::read_to_vec`]
//!   appends a message to a `Vec`; [`Pipe::iter`] and [`Pipe::try_iter`]
//!   iterate over received messages, waiting or not.
//! - [`Sender`] and [`Receiver`] are a pipe's two ends as types
//!   ([`Pipe::split`]), [`MessageSender`] and [`MessageReceiver`] those of
//!   a [`MessagePipe`]; the ends of a split disconnect (see [`Sender`]).
//! - A pipe lives until it is destroyed or its last handle is dropped,
//!   which frees its name (see [`Pipe`]).
//! - The three usage patterns as types: [`Blackboard`] (the freshest value,
//!   for any number of readers), [`TokenSemaphore`] (N permits, released
//!   when a [`Permit`] or [`OwnedPermit`] drops) and [`MessagePipe`]
//!   (whole values of a type).
//! - Async: [`Pipe::read_async`], [`Pipe::peek_async`],
//!   [`Pipe::write_async`], [`MessagePipe::send_async`] /
//!   [`MessagePipe::recv_async`] and [`Blackboard::wait_newer_async`] are
//!   futures for any executor (no runtime of their own); a waiting future is
//!   a pending operation of the core, woken by the call that completes it,
//!   and dropping one is always safe (see [`ReadFuture`]).
//! - Errors are an [`Error`] whose message says what to do.
//!
//! Timeouts never lose or duplicate anything: a read that times out took no
//! message, a write that times out wrote none; if the operation completed
//! while the timeout fired, the completion is what the caller sees.
//!
//! # Message types
//!
//! [`MessagePipe`] and [`Blackboard`] carry any `bytemuck::Pod` type.
//! This crate re-exports `bytemuck` with its `derive` feature on, so a
//! message type needs no dependency of its own: derive `Pod` and
//! `Zeroable` on a `#[repr(C)]` struct with no padding, and point the
//! derive at the re-export with `#[bytemuck(crate = "ipcm_host::bytemuck")]`
//! (or depend on `bytemuck` with `features = ["derive"]` and drop that
//! line).
//!
//! ```
//! use ipcm_host::bytemuck::{Pod, Zeroable};
//! use ipcm_host::{Error, Ipc, MessagePipe};
//!
//! #[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
//! #[repr(C)]
//! #[bytemuck(crate = "ipcm_host::bytemuck")]
//! struct Reading {
//!     sensor: u32,
//!     millivolts: i32,
//! }
//!
//! let ipc = Ipc::new();
//! let readings: MessagePipe<Reading> = MessagePipe::create(&ipc, None, 8)?;
//! readings.send(&Reading { sensor: 3, millivolts: -120 })?;
//! assert_eq!(readings.recv()?, Reading { sensor: 3, millivolts: -120 });
//! # Ok::<(), Error>(())
//! ```

#![deny(unsafe_code)]
#![warn(missing_docs)]

mod asynk;
mod blackboard;
mod ends;
mod error;
mod handles;
mod ipc;
mod iter;
mod kernel;
mod message;
mod pipe;
mod queue_ops;
mod select;
mod semaphore;
mod sync;
#[allow(unsafe_code)]
mod user_copy;
mod waiting;

pub use asynk::{
    NewerFuture, PeekFuture, PeekNewerFuture, ReadFuture, ReadSeqFuture, SelectFuture, WriteFuture,
};
pub use blackboard::{Blackboard, Snapshot};
/// The `Pod` machinery message types need, with `derive` on (see
/// [Message types](crate#message-types)).
pub use bytemuck;
pub use ends::{MessageReceiver, MessageSender, Receiver, Sender};
pub use error::Error;
pub use ipc::{Access, Ipc, OnFull, PipeBuilder};
pub use ipcm::{MAX_NAME_LEN, PipeFlags, PipeId, PipeInfo, ProcessId, Status};
pub use iter::{Iter, TryIter};
pub use message::MessagePipe;
pub use pipe::{Pipe, Written};
pub use queue_ops::Numbered;
pub use select::{Select, SelectDone};
pub use semaphore::{OwnedPermit, Permit, TokenSemaphore};
#[cfg(all(not(loom), feature = "emulate-park-cost"))]
pub use waiting::emulate_park_cost;

/// The README's example, compiled and run as a doctest so it cannot go
/// stale.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
