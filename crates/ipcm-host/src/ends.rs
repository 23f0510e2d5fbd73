//! [`Sender`] and [`Receiver`]: the two ends of a pipe as separate types,
//! so a function that should only write cannot read, and the other way
//! round; [`MessageSender`] and [`MessageReceiver`] are the same for a
//! [`MessagePipe`] of values.
//!
//! A [`Pipe`] handle can still do both; [`Pipe::split`],
//! [`Pipe::sender`] and [`Pipe::receiver`] make ends from it. Ends are
//! handles like any other: cheap to clone, usable from any thread, and they
//! keep the pipe alive (see [`Pipe`] for when a pipe is freed).
//!
//! **Disconnect**, as with crossbeam-channel, for the ends of a split:
//! when the last [`Sender`] of a [`split`](Pipe::split) (it and its
//! clones) is dropped, the pipe is *closed* (DESIGN.md §9): receivers
//! drain what is queued, then get [`Error::Closed`], and their iterators
//! end. When the last [`Receiver`] of a split is dropped, the pipe is
//! closed too: writes fail with [`Error::Closed`] rather than fill a pipe
//! nobody reads. Ends made one at a time with [`Pipe::sender`] and
//! [`Pipe::receiver`] belong to no split and never close the pipe, so a
//! short-lived end cannot close a pipe others still use. The runtime
//! closes with the kernel's authority, so the ends of any process
//! disconnect, owner or not.

use std::time::{Duration, Instant};

use std::sync::Arc;

use ipcm::{Caller, PipeId, PipeInfo};

use crate::iter::{Iter, TryIter};
use bytemuck::Pod;

use crate::sync::{AtomicUsize, Ordering};
use crate::{Error, MessagePipe, OnFull, Pipe, Written};

/// The ends of one split, counted by side.
#[derive(Debug)]
struct Link {
    senders: AtomicUsize,
    receivers: AtomicUsize,
}

/// Which side of a split an end is on.
#[derive(Clone, Copy)]
enum Side {
    Send,
    Receive,
}

impl Link {
    /// A split's link, counting its first sender and receiver.
    fn new() -> Arc<Link> {
        Arc::new(Link {
            senders: AtomicUsize::new(1),
            receivers: AtomicUsize::new(1),
        })
    }

    fn count(&self, side: Side) -> &AtomicUsize {
        match side {
            Side::Send => &self.senders,
            Side::Receive => &self.receivers,
        }
    }

    /// Count a clone of a live end of `side`. Relaxed, as `Arc`'s clone:
    /// the end cloned from keeps the count above zero meanwhile.
    fn join(link: &Option<Arc<Link>>, side: Side) -> Option<Arc<Link>> {
        let link = link.as_ref()?;
        link.count(side).fetch_add(1, Ordering::Relaxed);
        Some(Arc::clone(link))
    }

    /// Count an end of `side` of `pipe` less; the last of its side closes
    /// the pipe (already closed or destroyed: nothing left to do).
    fn leave(link: &Option<Arc<Link>>, side: Side, pipe: &Pipe) {
        if let Some(link) = link
            && link.count(side).fetch_sub(1, Ordering::AcqRel) == 1
        {
            let _ = pipe.ipc().shared.ipcm.close(Caller::Kernel, pipe.handle());
        }
    }
}

/// The writing end of a pipe: [`write`](Sender::write) and its `try_`,
/// `_timeout` and `_deadline` forms, nothing that reads. Dropping the
/// last sender of a split closes the pipe (see below).
///
/// ```
/// use std::thread;
/// use ipcm_host::{Error, Ipc, Receiver, Sender};
///
/// fn produce(tx: Sender) -> Result<(), Error> {
///     for word in ["alpha", "beta"] {
///         tx.write(word.as_bytes())?;
///     }
///     Ok(())
/// }
/// fn first(rx: &Receiver) -> Result<Vec<u8>, Error> {
///     let mut msg = Vec::new();
///     rx.read_to_vec(&mut msg)?;
///     Ok(msg)
/// }
///
/// let ipc = Ipc::new();
/// let (tx, rx) = ipc.pipe(16, 4).create()?.split();
/// thread::spawn(move || produce(tx)).join().unwrap()?;
/// assert_eq!(first(&rx)?, b"alpha");
/// assert_eq!(rx.try_iter().collect::<Result<Vec<_>, _>>()?, [b"beta".to_vec()]);
/// # Ok::<(), Error>(())
/// ```
///
/// **Disconnect.** When the last `Sender` of a [`split`](Pipe::split) is
/// dropped, the pipe is closed: a [`Receiver`] drains what is queued, then
/// gets [`Error::Closed`], and [`Receiver::iter`] ends.
///
/// ```
/// use std::thread;
/// use ipcm_host::{Error, Ipc};
///
/// let (tx, rx) = Ipc::new().pipe(8, 4).create()?.split();
/// thread::spawn(move || {
///     tx.write(b"last")?;
///     Ok::<(), Error>(())
///     // `tx` dropped here: the pipe is closed.
/// });
/// let got: Result<Vec<_>, _> = rx.iter().collect();
/// assert_eq!(got?, [b"last".to_vec()]);
/// assert_eq!(rx.try_read(&mut [0; 8]), Err(Error::Closed));
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug)]
pub struct Sender {
    pipe: Pipe,
    /// The split this end belongs to (`None`: made by [`Pipe::sender`]).
    link: Option<Arc<Link>>,
}

/// The reading end of a pipe: reads, peeks, [`read_to_vec`] and the
/// iterators, nothing that writes. Dropping the last receiver of a split
/// closes the pipe: writes then fail with [`Error::Closed`].
///
/// [`read_to_vec`]: Receiver::read_to_vec
///
/// ```compile_fail
/// let (_tx, rx) = ipcm_host::Ipc::new().pipe(4, 1).create().unwrap().split();
/// rx.write(b"x"); // error: a Receiver has no `write`
/// ```
#[derive(Debug)]
pub struct Receiver {
    pipe: Pipe,
    /// The split this end belongs to (`None`: made by [`Pipe::receiver`]).
    link: Option<Arc<Link>>,
}

impl Clone for Sender {
    fn clone(&self) -> Self {
        Sender {
            pipe: self.pipe.clone(),
            link: Link::join(&self.link, Side::Send),
        }
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        Link::leave(&self.link, Side::Send, &self.pipe);
    }
}

impl Clone for Receiver {
    fn clone(&self) -> Self {
        Receiver {
            pipe: self.pipe.clone(),
            link: Link::join(&self.link, Side::Receive),
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        Link::leave(&self.link, Side::Receive, &self.pipe);
    }
}

impl Pipe {
    /// Split this handle into its two ends, which disconnect: when every
    /// sender (this one and its clones) or every receiver is dropped, the
    /// pipe is closed (see [`Sender`]).
    #[must_use]
    pub fn split(self) -> (Sender, Receiver) {
        let link = Link::new();
        let sender = Sender {
            pipe: self.clone(),
            link: Some(Arc::clone(&link)),
        };
        let receiver = Receiver {
            pipe: self,
            link: Some(link),
        };
        (sender, receiver)
    }

    /// A writing end of the same pipe (this handle stays usable). It
    /// belongs to no split: dropping it never closes the pipe.
    #[must_use]
    pub fn sender(&self) -> Sender {
        Sender {
            pipe: self.clone(),
            link: None,
        }
    }

    /// A reading end of the same pipe (this handle stays usable). It
    /// belongs to no split: dropping it never closes the pipe.
    #[must_use]
    pub fn receiver(&self) -> Receiver {
        Receiver {
            pipe: self.clone(),
            link: None,
        }
    }
}

/// What both ends can tell about their pipe.
macro_rules! describe_pipe {
    () => {
        /// The pipe's id (see [`Pipe::id`]).
        #[must_use]
        pub fn id(&self) -> PipeId {
            self.pipe.id()
        }

        /// The pipe's name, if it has one.
        #[must_use]
        pub fn name(&self) -> Option<&str> {
            self.pipe.name()
        }

        /// The largest message, in bytes.
        #[must_use]
        pub fn msg_size(&self) -> usize {
            self.pipe.msg_size()
        }

        /// How many messages the pipe holds when full.
        #[must_use]
        pub fn depth(&self) -> usize {
            self.pipe.depth()
        }

        /// What a write to the full pipe does.
        #[must_use]
        pub fn on_full(&self) -> OnFull {
            self.pipe.on_full()
        }

        /// A snapshot of the pipe (see [`Pipe::info`]).
        ///
        /// # Errors
        /// [`Error::Destroyed`].
        pub fn info(&self) -> Result<PipeInfo, Error> {
            self.pipe.info()
        }
    };
}

impl Sender {
    describe_pipe!();

    /// See [`Pipe::write`].
    ///
    /// # Errors
    /// As [`Pipe::write`].
    #[inline]
    pub fn write(&self, msg: &[u8]) -> Result<Written, Error> {
        self.pipe.write(msg)
    }

    /// See [`Pipe::try_write`].
    ///
    /// # Errors
    /// As [`Pipe::try_write`].
    #[inline]
    pub fn try_write(&self, msg: &[u8]) -> Result<Written, Error> {
        self.pipe.try_write(msg)
    }

    /// See [`Pipe::write_timeout`].
    ///
    /// # Errors
    /// As [`Pipe::write_timeout`].
    pub fn write_timeout(&self, msg: &[u8], timeout: Duration) -> Result<Written, Error> {
        self.pipe.write_timeout(msg, timeout)
    }

    /// See [`Pipe::write_deadline`].
    ///
    /// # Errors
    /// As [`Pipe::write_deadline`].
    pub fn write_deadline(&self, msg: &[u8], deadline: Instant) -> Result<Written, Error> {
        self.pipe.write_deadline(msg, deadline)
    }
}

impl Receiver {
    describe_pipe!();

    /// See [`Pipe::read`].
    ///
    /// # Errors
    /// As [`Pipe::read`].
    #[inline]
    pub fn read(&self, buf: &mut [u8]) -> Result<usize, Error> {
        self.pipe.read(buf)
    }

    /// See [`Pipe::try_read`].
    ///
    /// # Errors
    /// As [`Pipe::try_read`].
    #[inline]
    pub fn try_read(&self, buf: &mut [u8]) -> Result<usize, Error> {
        self.pipe.try_read(buf)
    }

    /// See [`Pipe::read_timeout`].
    ///
    /// # Errors
    /// As [`Pipe::read_timeout`].
    pub fn read_timeout(&self, buf: &mut [u8], timeout: Duration) -> Result<usize, Error> {
        self.pipe.read_timeout(buf, timeout)
    }

    /// See [`Pipe::read_deadline`].
    ///
    /// # Errors
    /// As [`Pipe::read_deadline`].
    pub fn read_deadline(&self, buf: &mut [u8], deadline: Instant) -> Result<usize, Error> {
        self.pipe.read_deadline(buf, deadline)
    }

    /// See [`Pipe::peek`].
    ///
    /// # Errors
    /// As [`Pipe::peek`].
    pub fn peek(&self, buf: &mut [u8]) -> Result<usize, Error> {
        self.pipe.peek(buf)
    }

    /// See [`Pipe::try_peek`].
    ///
    /// # Errors
    /// As [`Pipe::try_peek`].
    pub fn try_peek(&self, buf: &mut [u8]) -> Result<usize, Error> {
        self.pipe.try_peek(buf)
    }

    /// See [`Pipe::peek_timeout`].
    ///
    /// # Errors
    /// As [`Pipe::peek_timeout`].
    pub fn peek_timeout(&self, buf: &mut [u8], timeout: Duration) -> Result<usize, Error> {
        self.pipe.peek_timeout(buf, timeout)
    }

    /// See [`Pipe::peek_deadline`].
    ///
    /// # Errors
    /// As [`Pipe::peek_deadline`].
    pub fn peek_deadline(&self, buf: &mut [u8], deadline: Instant) -> Result<usize, Error> {
        self.pipe.peek_deadline(buf, deadline)
    }

    /// See [`Pipe::read_to_vec`].
    ///
    /// # Errors
    /// As [`Pipe::read_to_vec`].
    pub fn read_to_vec(&self, buf: &mut Vec<u8>) -> Result<usize, Error> {
        self.pipe.read_to_vec(buf)
    }

    /// See [`Pipe::try_read_to_vec`].
    ///
    /// # Errors
    /// As [`Pipe::try_read_to_vec`].
    pub fn try_read_to_vec(&self, buf: &mut Vec<u8>) -> Result<usize, Error> {
        self.pipe.try_read_to_vec(buf)
    }

    /// See [`Pipe::iter`].
    pub fn iter(&self) -> Iter<'_> {
        self.pipe.iter()
    }

    /// See [`Pipe::try_iter`].
    pub fn try_iter(&self) -> TryIter<'_> {
        self.pipe.try_iter()
    }
}

impl<'a> IntoIterator for &'a Receiver {
    type Item = Result<Vec<u8>, Error>;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// The sending end of a [`MessagePipe`]: whole values of `T`, nothing
/// that receives. Made by [`MessagePipe::split`] or
/// [`MessagePipe::sender`]; the ends of a split disconnect as for
/// [`Sender`].
///
/// ```
/// use std::thread;
/// use ipcm_host::{Error, Ipc, MessagePipe, MessageSender};
///
/// fn count_to(tx: MessageSender<u32>, n: u32) -> Result<(), Error> {
///     (1..=n).try_for_each(|i| tx.send(&i))
/// }
///
/// let ipc = Ipc::new();
/// let (tx, rx) = MessagePipe::<u32>::create(&ipc, None, 2)?.split();
/// let producer = thread::spawn(move || count_to(tx, 3));
/// assert_eq!([rx.recv()?, rx.recv()?, rx.recv()?], [1, 2, 3]);
/// producer.join().unwrap()?;
/// # Ok::<(), Error>(())
/// ```
pub struct MessageSender<T> {
    pipe: MessagePipe<T>,
    link: Option<Arc<Link>>,
}

/// The receiving end of a [`MessagePipe`]: whole values of `T`, and the
/// iterators, nothing that sends.
pub struct MessageReceiver<T> {
    pipe: MessagePipe<T>,
    link: Option<Arc<Link>>,
}

impl<T> Clone for MessageSender<T> {
    fn clone(&self) -> Self {
        MessageSender {
            pipe: self.pipe.clone(),
            link: Link::join(&self.link, Side::Send),
        }
    }
}

impl<T> Drop for MessageSender<T> {
    fn drop(&mut self) {
        Link::leave(&self.link, Side::Send, self.pipe.pipe());
    }
}

impl<T> Clone for MessageReceiver<T> {
    fn clone(&self) -> Self {
        MessageReceiver {
            pipe: self.pipe.clone(),
            link: Link::join(&self.link, Side::Receive),
        }
    }
}

impl<T> Drop for MessageReceiver<T> {
    fn drop(&mut self) {
        Link::leave(&self.link, Side::Receive, self.pipe.pipe());
    }
}

impl<T> std::fmt::Debug for MessageSender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageSender")
            .field("pipe", &self.pipe)
            .finish()
    }
}

impl<T> std::fmt::Debug for MessageReceiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageReceiver")
            .field("pipe", &self.pipe)
            .finish()
    }
}

impl<T: Pod> MessagePipe<T> {
    /// Split this handle into its two ends, which disconnect as those of
    /// [`Pipe::split`].
    #[must_use]
    pub fn split(self) -> (MessageSender<T>, MessageReceiver<T>) {
        let link = Link::new();
        let sender = MessageSender {
            pipe: self.clone(),
            link: Some(Arc::clone(&link)),
        };
        let receiver = MessageReceiver {
            pipe: self,
            link: Some(link),
        };
        (sender, receiver)
    }

    /// A sending end of the same pipe (this handle stays usable); it
    /// belongs to no split and never closes the pipe.
    #[must_use]
    pub fn sender(&self) -> MessageSender<T> {
        MessageSender {
            pipe: self.clone(),
            link: None,
        }
    }

    /// A receiving end of the same pipe (this handle stays usable); it
    /// belongs to no split and never closes the pipe.
    #[must_use]
    pub fn receiver(&self) -> MessageReceiver<T> {
        MessageReceiver {
            pipe: self.clone(),
            link: None,
        }
    }
}

impl<T: Pod> MessageSender<T> {
    /// The pipe's id.
    #[must_use]
    pub fn id(&self) -> PipeId {
        self.pipe.pipe().id()
    }

    /// See [`MessagePipe::send`].
    ///
    /// # Errors
    /// As [`MessagePipe::send`].
    pub fn send(&self, value: &T) -> Result<(), Error> {
        self.pipe.send(value)
    }

    /// See [`MessagePipe::try_send`].
    ///
    /// # Errors
    /// As [`MessagePipe::try_send`].
    pub fn try_send(&self, value: &T) -> Result<(), Error> {
        self.pipe.try_send(value)
    }

    /// See [`MessagePipe::send_timeout`].
    ///
    /// # Errors
    /// As [`MessagePipe::send_timeout`].
    pub fn send_timeout(&self, value: &T, timeout: Duration) -> Result<(), Error> {
        self.pipe.send_timeout(value, timeout)
    }

    /// See [`MessagePipe::send_deadline`].
    ///
    /// # Errors
    /// As [`MessagePipe::send_deadline`].
    pub fn send_deadline(&self, value: &T, deadline: Instant) -> Result<(), Error> {
        self.pipe.send_deadline(value, deadline)
    }
}

impl<T: Pod> MessageReceiver<T> {
    /// The pipe's id.
    #[must_use]
    pub fn id(&self) -> PipeId {
        self.pipe.pipe().id()
    }

    /// See [`MessagePipe::recv`].
    ///
    /// # Errors
    /// As [`MessagePipe::recv`].
    pub fn recv(&self) -> Result<T, Error> {
        self.pipe.recv()
    }

    /// See [`MessagePipe::try_recv`].
    ///
    /// # Errors
    /// As [`MessagePipe::try_recv`].
    pub fn try_recv(&self) -> Result<T, Error> {
        self.pipe.try_recv()
    }

    /// See [`MessagePipe::recv_timeout`].
    ///
    /// # Errors
    /// As [`MessagePipe::recv_timeout`].
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, Error> {
        self.pipe.recv_timeout(timeout)
    }

    /// See [`MessagePipe::recv_deadline`].
    ///
    /// # Errors
    /// As [`MessagePipe::recv_deadline`].
    pub fn recv_deadline(&self, deadline: Instant) -> Result<T, Error> {
        self.pipe.recv_deadline(deadline)
    }

    /// See [`MessagePipe::iter`].
    pub fn iter(&self) -> Iter<'_, T> {
        self.pipe.iter()
    }

    /// See [`MessagePipe::try_iter`].
    pub fn try_iter(&self) -> TryIter<'_, T> {
        self.pipe.try_iter()
    }
}

impl<'a, T: Pod> IntoIterator for &'a MessageReceiver<T> {
    type Item = Result<T, Error>;
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}
