//! Receiving into owned values: [`Pipe::read_to_vec`] and the iterators
//! [`Iter`] (waits for each message) and [`TryIter`] (takes what is queued
//! now), as crossbeam-channel's `iter` and `try_iter`.
//!
//! Items are `Result`s, as with `BufRead::lines`: a pipe can fail in ways
//! a channel cannot (an owner-only pipe denies this process, memory runs
//! out), and an iterator must not swallow that. The natural end of the
//! stream is not an error: `Iter` ends when the pipe is destroyed (and
//! will end when it is closed, once the core has close), `TryIter` also
//! when the pipe is empty. After any error item, both are fused.

use std::iter::FusedIterator;

use bytemuck::Pod;

use crate::message::receive_value;
use crate::{Error, MessagePipe, Pipe};

/// How one item is received: from the pipe, with a scratch buffer of the
/// iterator's own.
type Receive<T> = fn(&Pipe, &mut Vec<u8>) -> Result<T, Error>;

/// Messages as they arrive, each waiting while the pipe is empty; made by
/// [`Pipe::iter`], [`Receiver::iter`](crate::Receiver::iter) and
/// [`MessagePipe::iter`]. Ends when the pipe is destroyed.
///
/// Items are `Result`s, as with `BufRead::lines`: a pipe can fail in ways
/// a channel cannot (an owner-only pipe denies this process, memory runs
/// out), and an iterator must not swallow that. The end of the stream is
/// not an error: destroy ends it (and so will close, once the core has
/// it). After an error item the iterator is fused.
#[must_use = "iterators do nothing unless consumed"]
pub struct Iter<'a, T = Vec<u8>> {
    pipe: &'a Pipe,
    receive: Receive<T>,
    scratch: Vec<u8>,
    done: bool,
}

/// The messages queued now, without waiting; made by [`Pipe::try_iter`],
/// [`Receiver::try_iter`](crate::Receiver::try_iter) and
/// [`MessagePipe::try_iter`]. Ends when the pipe is empty or destroyed.
/// Messages written while it runs are taken too. Errors as for [`Iter`].
#[must_use = "iterators do nothing unless consumed"]
pub struct TryIter<'a, T = Vec<u8>> {
    pipe: &'a Pipe,
    receive: Receive<T>,
    scratch: Vec<u8>,
    done: bool,
}

/// The next item of an iterator that ends at `Destroyed`, at `Closed`
/// (the pipe is closed and drained) and, if `empty_ends`, at `Empty`.
fn next_item<T>(
    pipe: &Pipe,
    receive: Receive<T>,
    scratch: &mut Vec<u8>,
    done: &mut bool,
    empty_ends: bool,
) -> Option<Result<T, Error>> {
    if *done {
        return None;
    }
    match receive(pipe, scratch) {
        Ok(item) => Some(Ok(item)),
        Err(Error::Destroyed | Error::Closed) => {
            *done = true;
            None
        }
        Err(Error::Empty) if empty_ends => {
            *done = true;
            None
        }
        Err(error) => {
            *done = true;
            Some(Err(error))
        }
    }
}

impl<T> Iterator for Iter<'_, T> {
    type Item = Result<T, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        next_item(
            self.pipe,
            self.receive,
            &mut self.scratch,
            &mut self.done,
            false,
        )
    }
}

impl<T> Iterator for TryIter<'_, T> {
    type Item = Result<T, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        next_item(
            self.pipe,
            self.receive,
            &mut self.scratch,
            &mut self.done,
            true,
        )
    }
}

impl<T> FusedIterator for Iter<'_, T> {}
impl<T> FusedIterator for TryIter<'_, T> {}

impl<T> std::fmt::Debug for Iter<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Iter")
            .field("pipe", &self.pipe.id())
            .finish()
    }
}

impl<T> std::fmt::Debug for TryIter<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TryIter")
            .field("pipe", &self.pipe.id())
            .finish()
    }
}

/// One message as an exact-size `Vec`, read through `scratch`.
fn owned_message(
    pipe: &Pipe,
    scratch: &mut Vec<u8>,
    read: fn(&Pipe, &mut [u8]) -> Result<usize, Error>,
) -> Result<Vec<u8>, Error> {
    scratch.resize(pipe.msg_size(), 0);
    let len = read(pipe, scratch)?;
    Ok(scratch[..len].to_vec())
}

impl Pipe {
    /// Take the oldest message, waiting while the pipe is empty, and
    /// append it to `buf` (as `io::Read::read_to_end` appends); returns its
    /// length. `buf` grows by up to [`msg_size`](Pipe::msg_size) bytes
    /// while the message is copied, then is cut to the message; reusing one
    /// `Vec` makes no allocation after the first.
    ///
    /// # Errors
    /// As [`read`](Pipe::read) (never `BadParam` for the buffer's length);
    /// `buf` is as it was then.
    pub fn read_to_vec(&self, buf: &mut Vec<u8>) -> Result<usize, Error> {
        self.append(buf, Pipe::read)
    }

    /// [`read_to_vec`](Pipe::read_to_vec), but [`Error::Empty`] instead of
    /// waiting.
    ///
    /// # Errors
    /// As [`try_read`](Pipe::try_read); `buf` is as it was then.
    pub fn try_read_to_vec(&self, buf: &mut Vec<u8>) -> Result<usize, Error> {
        self.append(buf, Pipe::try_read)
    }

    fn append(
        &self,
        buf: &mut Vec<u8>,
        read: impl FnOnce(&Pipe, &mut [u8]) -> Result<usize, Error>,
    ) -> Result<usize, Error> {
        let start = buf.len();
        buf.resize(start + self.msg_size(), 0);
        let result = read(self, &mut buf[start..]);
        buf.truncate(start + result.as_ref().map_or(0, |len| *len));
        result
    }

    /// The messages as they arrive, each taken with a blocking
    /// [`read`](Pipe::read), as `Vec`s of their exact length. Ends when
    /// the pipe is destroyed; see [`Iter`] for errors.
    ///
    /// ```
    /// # use ipcm_host::{Error, Ipc};
    /// let ipc = Ipc::new();
    /// let pipe = ipc.pipe(8, 4).create()?;
    /// let consumer = {
    ///     let rx = pipe.receiver();
    ///     std::thread::spawn(move || rx.iter().map(|m| m.map(|m| m.len())).collect())
    /// };
    /// pipe.write(b"one")?;
    /// pipe.write(b"three")?;
    /// # while pipe.info()?.queued > 0 { std::thread::yield_now(); }
    /// pipe.destroy()?; // ends the consumer's iterator
    /// let lens: Result<Vec<usize>, Error> = consumer.join().unwrap();
    /// assert_eq!(lens?, [3, 5]);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            pipe: self,
            receive: |pipe, scratch| owned_message(pipe, scratch, Pipe::read),
            scratch: Vec::new(),
            done: false,
        }
    }

    /// The messages queued now, each taken with [`try_read`](Pipe::try_read);
    /// ends when the pipe is empty (or destroyed).
    ///
    /// ```
    /// # use ipcm_host::{Error, Ipc};
    /// let ipc = Ipc::new();
    /// let pipe = ipc.pipe(8, 4).create()?;
    /// pipe.write(b"a")?;
    /// pipe.write(b"bc")?;
    /// let drained: Vec<Vec<u8>> = pipe.try_iter().collect::<Result<_, _>>()?;
    /// assert_eq!(drained, [b"a".to_vec(), b"bc".to_vec()]);
    /// assert_eq!(pipe.try_iter().count(), 0);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn try_iter(&self) -> TryIter<'_> {
        TryIter {
            pipe: self,
            receive: |pipe, scratch| owned_message(pipe, scratch, Pipe::try_read),
            scratch: Vec::new(),
            done: false,
        }
    }
}

impl<T: Pod> MessagePipe<T> {
    /// The values as they arrive, each taken with a blocking
    /// [`recv`](MessagePipe::recv). Ends when the pipe is destroyed.
    pub fn iter(&self) -> Iter<'_, T> {
        Iter {
            pipe: self.pipe(),
            receive: |pipe, _| receive_value(|buf| pipe.read(buf)),
            scratch: Vec::new(),
            done: false,
        }
    }

    /// The values queued now, each taken with
    /// [`try_recv`](MessagePipe::try_recv); ends when the pipe is empty
    /// (or destroyed).
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter {
            pipe: self.pipe(),
            receive: |pipe, _| receive_value(|buf| pipe.try_read(buf)),
            scratch: Vec::new(),
            done: false,
        }
    }
}
