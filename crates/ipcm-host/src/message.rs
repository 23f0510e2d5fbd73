//! [`MessagePipe`]: whole values of a `T` through a pipe.

use std::marker::PhantomData;
use std::mem::size_of;
use std::time::{Duration, Instant};

use bytemuck::Pod;

use crate::{Access, Error, Ipc, OnFull, Pipe};

/// The message-passing pattern, typed: each message is one `T`, copied in
/// by [`send`](MessagePipe::send) and out by [`recv`](MessagePipe::recv).
///
/// ```
/// use bytemuck::{Pod, Zeroable};
/// use ipcm_host::{Error, Ipc, MessagePipe};
///
/// #[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
/// #[repr(C)]
/// struct Request { id: u32, op: u32 }
///
/// let ipc = Ipc::new();
/// let requests: MessagePipe<Request> = MessagePipe::create(&ipc, Some("requests"), 4)?;
/// let client: MessagePipe<Request> = MessagePipe::open(&ipc.new_process(), "requests")?;
/// client.send(&Request { id: 7, op: 1 })?;
/// assert_eq!(requests.recv()?, Request { id: 7, op: 1 });
/// # Ok::<(), Error>(())
/// ```
pub struct MessagePipe<T> {
    pipe: Pipe,
    _value: PhantomData<fn(T) -> T>,
}

impl<T> Clone for MessagePipe<T> {
    fn clone(&self) -> Self {
        MessagePipe {
            pipe: self.pipe.clone(),
            _value: PhantomData,
        }
    }
}

impl<T> MessagePipe<T> {
    /// The underlying pipe.
    #[must_use]
    pub fn pipe(&self) -> &Pipe {
        &self.pipe
    }
}

impl<T> std::fmt::Debug for MessagePipe<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessagePipe")
            .field("pipe", &self.pipe)
            .finish()
    }
}

impl<T: Pod> MessagePipe<T> {
    /// Create a pipe of `depth` values of `T` that anyone may use and whose
    /// writers wait when it is full. For other settings, build the pipe
    /// with [`Ipc::pipe`] (`msg_size` = `size_of::<T>()`) and use
    /// [`from_pipe`](MessagePipe::from_pipe).
    ///
    /// # Errors
    /// As [`PipeBuilder::create`](crate::PipeBuilder::create);
    /// [`Error::BadParam`] for a zero-sized `T`.
    pub fn create(ipc: &Ipc, name: Option<&str>, depth: usize) -> Result<Self, Error> {
        let mut builder = ipc
            .pipe(size_of::<T>(), depth)
            .on_full(OnFull::Block)
            .access(Access::Anyone);
        if let Some(name) = name {
            builder = builder.name(name);
        }
        Self::from_pipe(builder.create()?)
    }

    /// Open the message pipe called `name`.
    ///
    /// # Errors
    /// As [`Ipc::open`], and [`Error::BadParam`] if its messages are not
    /// `size_of::<T>()` bytes.
    pub fn open(ipc: &Ipc, name: &str) -> Result<Self, Error> {
        Self::from_pipe(ipc.open(name)?)
    }

    /// Use `pipe` for values of `T`.
    ///
    /// # Errors
    /// [`Error::BadParam`] if its `msg_size` is not `size_of::<T>()`.
    pub fn from_pipe(pipe: Pipe) -> Result<Self, Error> {
        if pipe.msg_size() != size_of::<T>() {
            return Err(Error::bad_param(format!(
                "the msg_size of {} is {} bytes, not the {} bytes of {}",
                pipe.describe(),
                pipe.msg_size(),
                size_of::<T>(),
                std::any::type_name::<T>(),
            )));
        }
        Ok(MessagePipe {
            pipe,
            _value: PhantomData,
        })
    }

    /// Send `value`, waiting while the pipe is full.
    ///
    /// # Errors
    /// As [`Pipe::write`].
    pub fn send(&self, value: &T) -> Result<(), Error> {
        self.pipe.write(bytemuck::bytes_of(value)).map(|_| ())
    }

    /// Send `value` at message priority `prio`, waiting while the pipe is
    /// full: on a pipe built with
    /// [`by_message_priority`](crate::PipeBuilder::by_message_priority)
    /// (and made typed with [`from_pipe`](Self::from_pipe)), higher
    /// priorities are received first.
    ///
    /// # Errors
    /// As [`Pipe::write_prio`].
    pub fn send_prio(&self, value: &T, prio: u8) -> Result<(), Error> {
        self.pipe
            .write_prio(bytemuck::bytes_of(value), prio)
            .map(|_| ())
    }

    /// [`send_prio`](Self::send_prio) if there is room now.
    ///
    /// # Errors
    /// As [`Pipe::try_write_prio`].
    pub fn try_send_prio(&self, value: &T, prio: u8) -> Result<(), Error> {
        self.pipe
            .try_write_prio(bytemuck::bytes_of(value), prio)
            .map(|_| ())
    }

    /// Send `value` if there is room now.
    ///
    /// # Errors
    /// As [`Pipe::try_write`].
    pub fn try_send(&self, value: &T) -> Result<(), Error> {
        self.pipe.try_write(bytemuck::bytes_of(value)).map(|_| ())
    }

    /// Send `value`, waiting at most `timeout` for room.
    ///
    /// # Errors
    /// As [`Pipe::write_timeout`].
    pub fn send_timeout(&self, value: &T, timeout: Duration) -> Result<(), Error> {
        self.pipe
            .write_timeout(bytemuck::bytes_of(value), timeout)
            .map(|_| ())
    }

    /// Send `value`, waiting until `deadline` at the latest.
    ///
    /// # Errors
    /// As [`Pipe::write_deadline`].
    pub fn send_deadline(&self, value: &T, deadline: Instant) -> Result<(), Error> {
        self.pipe
            .write_deadline(bytemuck::bytes_of(value), deadline)
            .map(|_| ())
    }

    /// Receive the oldest value, waiting while the pipe is empty.
    ///
    /// # Errors
    /// As [`Pipe::read`]; [`Error::BadParam`] for a message of the wrong
    /// length written through the raw pipe (it is consumed).
    pub fn recv(&self) -> Result<T, Error> {
        self.receive(|buf| self.pipe.read(buf))
    }

    /// Receive the oldest value if there is one.
    ///
    /// # Errors
    /// As [`Pipe::try_read`].
    pub fn try_recv(&self) -> Result<T, Error> {
        self.receive(|buf| self.pipe.try_read(buf))
    }

    /// Receive the oldest value, waiting at most `timeout`.
    ///
    /// # Errors
    /// As [`Pipe::read_timeout`].
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, Error> {
        self.receive(|buf| self.pipe.read_timeout(buf, timeout))
    }

    /// Receive the oldest value, waiting until `deadline` at the latest.
    ///
    /// # Errors
    /// As [`Pipe::read_deadline`].
    pub fn recv_deadline(&self, deadline: Instant) -> Result<T, Error> {
        self.receive(|buf| self.pipe.read_deadline(buf, deadline))
    }

    fn receive(&self, read: impl FnOnce(&mut [u8]) -> Result<usize, Error>) -> Result<T, Error> {
        receive_value(read)
    }
}

/// One `T` read with `read` (a read or peek of a pipe whose `msg_size` is
/// `size_of::<T>()`).
pub(crate) fn receive_value<T: Pod>(
    read: impl FnOnce(&mut [u8]) -> Result<usize, Error>,
) -> Result<T, Error> {
    let mut value = T::zeroed();
    let len = read(bytemuck::bytes_of_mut(&mut value))?;
    whole_value(value, len)
}

/// `value` if the message read into it (`len` bytes) filled it whole.
pub(crate) fn whole_value<T: Pod>(value: T, len: usize) -> Result<T, Error> {
    if len == size_of::<T>() {
        Ok(value)
    } else {
        Err(Error::bad_param(format!(
            "received a message of {len} bytes, shorter than the {} bytes of {} \
             (written through the raw pipe?); it was consumed",
            size_of::<T>(),
            std::any::type_name::<T>(),
        )))
    }
}
