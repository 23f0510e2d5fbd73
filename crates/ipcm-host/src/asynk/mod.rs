//! Futures for every executor (tokio, smol, `futures::executor`, …): this
//! crate runs no runtime, spawns no thread and needs no timer of its own.
//!
//! ```
//! use ipcm_host::{Error, Ipc};
//!
//! let ipc = Ipc::new();
//! let pipe = ipc.pipe(32, 1).create()?;
//! futures::executor::block_on(async {
//!     let mut buf = [0; 32];
//!     let (read, written) = futures::join!(pipe.read_async(&mut buf), pipe.write_async(b"hi"));
//!     assert_eq!(read?, 2);
//!     written?;
//!     Ok::<(), Error>(())
//! })?;
//! assert_eq!(pipe.info()?.queued, 0);
//! # Ok::<(), Error>(())
//! ```
//!
//! A future that must wait is one pending operation of the core, with an
//! identity of its own as a core "thread" (a task may await several
//! futures at once): the call that completes it (the write bringing a
//! message, the read making room) wakes the task's [`Waker`](std::task::Waker).
//! A future that need not wait completes in its first poll through the
//! same fast path as the blocking calls, with no allocation; one that
//! waits allocates its record once.
//!
//! Dropping a future before it resolved is always safe and quick: it
//! cancels its pending operation (one pipe lock, no waiting for anything),
//! and
//! - a read or peek consumed nothing: a read waits as a pending *peek* and
//!   takes the message with a non-blocking read inside the poll that
//!   returns it, so no message can be handed to a future nobody polls;
//! - a write either did not happen or had completed, exactly once;
//! - no copy can reach freed memory: what a pending operation lends is
//!   owned by its record, which the core keeps alive until the wake.
//!
//! A [`Select`](crate::Select) is a future too
//! ([`Select::wait_async`](crate::Select::wait_async), or `.await` on it):
//! its members wait as one group of the core, and the same rules hold.
//!
//! A read of a rendezvous pipe (depth 0) cannot be a future: a write to
//! it completes only by handing its message to a waiting reader, which a
//! future waiting as a peek is not, and a future handed the message but
//! never polled again would lose it. Such a read (a select read member
//! too) fails at once with [`Error::BadParam`](crate::Error::BadParam);
//! read those pipes with the blocking calls.
//!
//! Deadlines: race the future against the executor's own timer
//! (`tokio::time::timeout`, `tokio::select!`, `smol::Timer` with
//! `futures::select!`); the losing future is dropped, which cancels it as
//! above. Blocking and async calls mix freely on one pipe.

mod op;
mod pipe;
mod queue_ops;
mod select;
mod typed;
mod wakers;

pub(crate) use op::Task;

/// The refusal of an async read of a rendezvous pipe (see the module docs).
pub(crate) fn refuse_rendezvous_read(pipe: &crate::Pipe) -> Result<(), crate::Error> {
    if pipe.depth() == 0 {
        return Err(crate::Error::bad_param(
            "a rendezvous pipe (depth 0) cannot be read by a future: a write hands its \
             message only to a waiting blocking reader; use read() on a thread",
        ));
    }
    Ok(())
}
pub use pipe::{PeekFuture, ReadFuture, WriteFuture};
pub use queue_ops::{PeekNewerFuture, ReadSeqFuture};
pub use select::SelectFuture;
pub use typed::NewerFuture;
pub(crate) use wakers::WakerSet;
